package catalog

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func osSortedStrings(s []string) []string { return slices.Sorted(slices.Values(s)) }

func osDirEntries(dir string) ([]string, error) {
	es, err := os.ReadDir(dir)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names, err
}

func TestParseOSRelease(t *testing.T) {
	tests := []struct {
		name, in string
		want     OSRelease
		distro   string
	}{
		{"debian", string(osFixture(t, "os-release.debian")), OSRelease{ID: "debian", VersionID: "12", VersionCodename: "bookworm", Name: "Debian GNU/Linux", PrettyName: "Debian GNU/Linux 12 (bookworm)"}, "debian-12"},
		{"alpine", string(osFixture(t, "os-release.alpine")), OSRelease{ID: "alpine", VersionID: "3.19.1", Name: "Alpine Linux", PrettyName: "Alpine Linux v3.19"}, "alpine-3.19.1"},
		{"rhel quoting", "NAME='Red Hat Enterprise Linux'\nID=\"rhel\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"9.3\"\n# comment\nPRETTY_NAME=\"Red Hat \\\"Enterprise\\\" Linux 9.3\"\n", OSRelease{ID: "rhel", IDLike: []string{"fedora"}, VersionID: "9.3", Name: "Red Hat Enterprise Linux", PrettyName: `Red Hat "Enterprise" Linux 9.3`}, "rhel-9.3"},
		{"sid", "ID=debian\nPRETTY_NAME=\"Debian GNU/Linux trixie/sid\"\nVERSION_CODENAME=trixie\n", OSRelease{ID: "debian", VersionCodename: "trixie", PrettyName: "Debian GNU/Linux trixie/sid"}, "debian-trixie"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseOSRelease(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
			if d := got.Distro(); d != tt.distro {
				t.Errorf("Distro() = %q, want %q", d, tt.distro)
			}
		})
	}
	if _, err := ParseOSRelease(strings.NewReader("NAME=nothing\n")); err == nil {
		t.Error("os-release without ID: no error")
	}
}

func TestQualify(t *testing.T) {
	deb := OSRelease{ID: "debian", VersionID: "12"}
	ubuntu := OSRelease{ID: "ubuntu", VersionID: "22.04"}
	rhel := OSRelease{ID: "rhel", VersionID: "9.3"}
	alpine := OSRelease{ID: "alpine", VersionID: "3.19.1"}
	tests := []struct {
		os   OSRelease
		in   Package
		want string
	}{
		{deb, Package{Type: "deb", PURL: "pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64&upstream=glibc"}, "pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64&distro=debian-12&upstream=glibc"},
		{ubuntu, Package{Type: "deb", PURL: "pkg:deb/debian/bash@5.1-6ubuntu1?arch=amd64"}, "pkg:deb/ubuntu/bash@5.1-6ubuntu1?arch=amd64&distro=ubuntu-22.04"},
		{rhel, Package{Type: "rpm", PURL: "pkg:rpm/rpm/bash@5.1.8-6.el9?arch=x86_64&epoch=1"}, "pkg:rpm/redhat/bash@5.1.8-6.el9?arch=x86_64&distro=rhel-9.3&epoch=1"},
		{alpine, Package{Type: "apk", PURL: "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64"}, "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1"},
		{deb, Package{Type: "npm", PURL: "pkg:npm/lodash@4.17.21"}, "pkg:npm/lodash@4.17.21"},
		{OSRelease{}, Package{Type: "deb", PURL: "pkg:deb/debian/x@1"}, "pkg:deb/debian/x@1"},
		{deb, Package{Type: "deb", PURL: "pkg:deb/debian/x@1?distro=debian-11"}, "pkg:deb/debian/x@1?distro=debian-12"},
	}
	for _, tt := range tests {
		if got := tt.os.Qualify(tt.in).PURL; got != tt.want {
			t.Errorf("%s on %s: got %s, want %s", tt.in.PURL, tt.os.ID, got, tt.want)
		}
	}
}

func TestPURLRoundTrip(t *testing.T) {
	for _, p := range []purl{
		{typ: "deb", namespace: "debian", name: "libstdc++6", version: "1:12.2.0-14+b1", qualifiers: [][2]string{{"upstream", "gcc-12@12.2.0-14"}, {"arch", "amd64"}}},
		{typ: "rpm", namespace: "redhat", name: "a b", version: "1.0", qualifiers: [][2]string{{"arch", "x86_64"}}},
	} {
		s := p.String()
		q, err := parsePURL(s)
		if err != nil {
			t.Fatal(err)
		}
		if q.String() != s || q.name != p.name || q.version != p.version {
			t.Errorf("%s re-renders as %s (name %q version %q)", s, q.String(), q.name, q.version)
		}
	}
}
