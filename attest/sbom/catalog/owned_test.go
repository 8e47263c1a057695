package catalog

import (
	"testing"
)

// TestOwnedFiles: the OS catalogers return what each package installed,
// in the walker's path form, for dropping language packages they own.
func TestOwnedFiles(t *testing.T) {
	apk, err := osCatalog(t, APK(), "lib/apk/db/installed", osFixture(t, "apk/installed"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]string{}
	for _, p := range apk {
		files[p.Name] = p.Files
	}
	if f := files["musl"]; len(f) != 2 || f[0] != "lib/ld-musl-x86_64.so.1" || f[1] != "lib/libc.musl-x86_64.so.1" {
		t.Errorf("apk musl files = %q", f)
	}
	if f := files["busybox"]; len(f) == 0 || f[0] != "bin/busybox" {
		t.Errorf("apk busybox files = %q", f)
	}

	for _, fx := range []struct{ fixture, path, pkg, file string }{
		// (rpmdb.sqlite.gz's packages were built without files.)
		{"rpm/Packages.bdb.gz", "var/lib/rpm/Packages", "libuuid", "usr/lib64/libuuid.so.1"},
	} {
		pkgs, err := osCatalog(t, RPM(), fx.path, osFixture(t, fx.fixture))
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, p := range pkgs {
			for _, f := range p.Files {
				if p.Name == fx.pkg && f == fx.file {
					found = true
				}
			}
		}
		if !found {
			for _, p := range pkgs {
				t.Logf("%s: %q", p.Name, p.Files)
			}
			t.Errorf("rpm %s: %s does not own %s", fx.fixture, fx.pkg, fx.file)
		}
	}

	list := "/.\n/usr\n/usr/share/nodejs/semver/package.json\n"
	pkgs, err := osCatalog(t, Dpkg(), "var/lib/dpkg/info/node-semver:all.list", []byte(list))
	if err != nil || len(pkgs) != 1 || pkgs[0].Type != DpkgFilesType || pkgs[0].Name != "node-semver" ||
		len(pkgs[0].Files) != 2 || pkgs[0].Files[1] != "usr/share/nodejs/semver/package.json" {
		t.Errorf("dpkg list: %+v, %v", pkgs, err)
	}
	md5 := "d41d8cd98f00b204e9800998ecf8427e  usr/share/nodejs/semver/package.json\n"
	pkgs, err = osCatalog(t, Dpkg(), "var/lib/dpkg/status.d/node-semver.md5sums", []byte(md5))
	if err != nil || len(pkgs) != 1 || pkgs[0].Type != DpkgFilesType || len(pkgs[0].Files) != 1 || pkgs[0].Files[0] != "usr/share/nodejs/semver/package.json" {
		t.Errorf("distroless md5sums: %+v, %v", pkgs, err)
	}
}
