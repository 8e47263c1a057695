package sbom

import (
	"reflect"
	"testing"
)

// TestOwnedLanguagePackages: language packages whose metadata file an OS
// package lists are dropped (apk's F:/R: lines, dpkg lists naming the
// merged-/usr spelling), Go modules of an owned binary are not, and a file
// list deleted by a later layer owns nothing any more.
func TestOwnedLanguagePackages(t *testing.T) {
	apkDB := "P:py3-six\nV:1.16.0-r9\nA:noarch\nF:usr/lib/python3.11/site-packages/six-1.16.0.dist-info\nR:METADATA\n\n"
	six := "Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\n\n"
	l1 := layer(t, gzipped,
		file("lib/apk/db/installed", apkDB),
		file("usr/lib/python3.11/site-packages/six-1.16.0.dist-info/METADATA", six),
		file("opt/venv/lib/python3.11/site-packages/six-1.16.0.dist-info/METADATA", six),
		file("var/lib/dpkg/status", "Package: python3-idna\nStatus: install ok installed\nVersion: 3.3-1\nArchitecture: all\n"),
		// dpkg lists /lib/…; the merged-/usr layer has usr/lib/….
		file("var/lib/dpkg/info/python3-idna.list", "/.\n/lib/python3/dist-packages/idna-3.3.egg-info/PKG-INFO\n"),
		file("usr/lib/python3/dist-packages/idna-3.3.egg-info/PKG-INFO", "Metadata-Version: 1.2\nName: idna\nVersion: 3.3\n"),
	)
	res := scan(t, image(t, l1), Default())
	want := []string{
		"apk py3-six 1.16.0-r9 lib/apk/db/installed",
		"deb python3-idna 3.3-1 var/lib/dpkg/status",
		"pypi six 1.16.0 opt/venv/lib/python3.11/site-packages/six-1.16.0.dist-info/METADATA",
	}
	if got := names(res); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	// Deleting the list (not the status entry) leaves idna unowned.
	res = scan(t, image(t, l1, layer(t, gzipped, whiteout("var/lib/dpkg/info/python3-idna.list"))), Default())
	want = append(want[:2:2], "pypi idna 3.3 usr/lib/python3/dist-packages/idna-3.3.egg-info/PKG-INFO", want[2])
	if got := names(res); !reflect.DeepEqual(got, want) {
		t.Errorf("after deleting the list:\n got  %q\nwant %q", got, want)
	}
}

// TestLockShadowedByInstall: a lock file's packages count only where
// nothing is installed in the node_modules beside it, at the root and in
// directories with dots alike.
func TestLockShadowedByInstall(t *testing.T) {
	lock := `{"lockfileVersion": 3, "packages": {"node_modules/ms": {"version": "2.1.2"}}}`
	ms := `{"name": "ms", "version": "2.1.3"}`
	res := scan(t, image(t, layer(t, gzipped,
		file("package-lock.json", lock),
		file("node_modules/ms/package.json", ms),
		file(".hidden/app/package-lock.json", lock),
		file(".hidden/app/node_modules/ms/package.json", ms),
		file("srv/other/npm-shrinkwrap.json", lock),
		file("srv/yet/package-lock.json", lock),
		file("srv/yet/sub/node_modules/ms/package.json", ms),
	)), Default())
	want := []string{
		"npm ms 2.1.2 srv/other/npm-shrinkwrap.json",
		"npm ms 2.1.2 srv/yet/package-lock.json",
		"npm ms 2.1.3 .hidden/app/node_modules/ms/package.json",
		"npm ms 2.1.3 node_modules/ms/package.json",
		"npm ms 2.1.3 srv/yet/sub/node_modules/ms/package.json",
	}
	if got := names(res); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
