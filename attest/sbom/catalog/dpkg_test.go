package catalog

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// osFixture reads a file under testdata/sbom, inflating .gz files.
func osFixture(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "sbom", filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(rel, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// osCatalog runs c on content as if the walker found it at path.
func osCatalog(t testing.TB, c Cataloger, path string, content []byte) ([]Package, error) {
	t.Helper()
	if !c.Wants(path, 0o644, int64(len(content))) {
		t.Fatalf("%s does not want %s", c.Name(), path)
	}
	return c.Catalog(File{Path: path, Size: int64(len(content)), Mode: 0o644, Layer: "sha256:l1", Content: bytes.NewReader(content)})
}

// osBrief is what the tests compare: the fields every OS package has.
type osBrief struct{ Name, Version, Arch, PURL, Supplier string }

func osBriefs(pkgs []Package) []osBrief {
	out := make([]osBrief, 0, len(pkgs))
	for _, p := range pkgs {
		out = append(out, osBrief{p.Name, p.Version, p.Arch, p.PURL, p.Supplier})
	}
	return out
}

func TestDpkgWants(t *testing.T) {
	c := Dpkg()
	for p, want := range map[string]bool{
		"var/lib/dpkg/status":                        true,
		"var/lib/dpkg/status-old":                    false,
		"var/lib/dpkg/status.d/libc6":                true,
		"var/lib/dpkg/status.d/libstdc++6":           true,
		"var/lib/dpkg/status.d/libc6.md5sums":        true, // ownership
		"var/lib/dpkg/status.d/sub/x":                false,
		"var/lib/dpkg/info/libc6.list":               true, // ownership
		"var/lib/dpkg/info/libc6:amd64.list":         true,
		"var/lib/dpkg/info/libc6.md5sums":            false,
		"var/lib/dpkg/info/sub/libc6.list":           false,
		"usr/share/doc/adduser/copyright":            true,
		"usr/share/doc/adduser/examples/copyright":   false,
		"usr/share/doc/copyright":                    false,
		"usr/local/share/doc/adduser/copyright":      false,
		"opt/var/lib/dpkg/status":                    false,
		"usr/share/doc/libssl3/changelog.Debian.gz":  false,
		"usr/share/doc-base/adduser/copyright":       false,
		"usr/share/doc/python3.11-minimal/copyright": true,
	} {
		if got := c.Wants(p, 0o644, 100); got != want {
			t.Errorf("Wants(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestDpkgStatus(t *testing.T) {
	pkgs, err := osCatalog(t, Dpkg(), "var/lib/dpkg/status", osFixture(t, "dpkg/status"))
	if err != nil {
		t.Fatal(err)
	}
	want := []osBrief{
		{"adduser", "3.134", "all", "pkg:deb/debian/adduser@3.134?arch=all", "Debian Adduser Developers <adduser@packages.debian.org>"},
		{"libc6", "2.36-9+deb12u14", "amd64", "pkg:deb/debian/libc6@2.36-9+deb12u14?arch=amd64&upstream=glibc", "GNU Libc Maintainers <debian-glibc@lists.debian.org>"},
		{"tzdata", "2026b-0+deb12u1", "all", "pkg:deb/debian/tzdata@2026b-0+deb12u1?arch=all", "GNU Libc Maintainers <debian-glibc@lists.debian.org>"},
		// ncurses-base is "deinstall ok config-files": only its conffiles remain.
		{"bsdutils", "1:2.38.1-5+deb12u3", "amd64", "pkg:deb/debian/bsdutils@1:2.38.1-5+deb12u3?arch=amd64&upstream=util-linux%402.38.1-5%2Bdeb12u3", "util-linux packagers <util-linux@packages.debian.org>"},
	}
	if got := osBriefs(pkgs); !reflect.DeepEqual(got, want) {
		t.Errorf("packages:\n got %+v\nwant %+v", got, want)
	}
	for _, p := range pkgs {
		if p.Type != "deb" || p.Location != "var/lib/dpkg/status" || p.Layer != "sha256:l1" {
			t.Errorf("%s: type %q location %q layer %q", p.Name, p.Type, p.Location, p.Layer)
		}
	}
}

func TestDpkgStatusD(t *testing.T) {
	tests := []struct {
		file string
		want []osBrief
	}{
		{"base-files", []osBrief{{"base-files", "12.4+deb12u5", "amd64", "pkg:deb/debian/base-files@12.4+deb12u5?arch=amd64", "Santiago Vila <sanvila@debian.org>"}}},
		{"libssl3", []osBrief{{"libssl3", "3.0.11-1~deb12u2", "amd64", "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&upstream=openssl", "Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>"}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			p := "var/lib/dpkg/status.d/" + tt.file
			pkgs, err := osCatalog(t, Dpkg(), p, osFixture(t, "dpkg/status.d/"+tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if got := osBriefs(pkgs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDpkgCopyright(t *testing.T) {
	pkgs, err := osCatalog(t, Dpkg(), "usr/share/doc/adduser/copyright", osFixture(t, "dpkg/adduser.copyright"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{{Name: "adduser", Type: DpkgLicenseType, Licenses: []string{"GPL-2", "GPL-2+"}, Location: "usr/share/doc/adduser/copyright", Layer: "sha256:l1"}}
	if !reflect.DeepEqual(pkgs, want) {
		t.Errorf("got %+v, want %+v", pkgs, want)
	}
}

func TestParseCopyright(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"not DEP-5", "This is the Debian prepackaged version of foo.\nSee /usr/share/common-licenses/GPL-2.\n", nil},
		{"DEP-5", "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: BSD-3-clause\n\nFiles: debian/*\nLicense: GPL-2+ or Artistic\n\nLicense: GPL-2+\n On Debian systems, see /usr/share/common-licenses/GPL-2.\n", []string{"BSD-3-clause", "GPL-2", "GPL-2+"}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCopyright(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 && len(tt.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDpkgNotAStatusFile(t *testing.T) {
	tests := map[string]string{
		"empty":       "",
		"binary":      "\x00\x01\x02garbage\n\n\xff",
		"no versions": "Package: foo\nStatus: install ok installed\n",
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			pkgs, err := osCatalog(t, Dpkg(), "var/lib/dpkg/status", []byte(in))
			if err != nil || len(pkgs) != 0 {
				t.Errorf("got %v, %v; want nothing", pkgs, err)
			}
		})
	}
}

// A line longer than the cataloger buffers is an error, not a huge buffer.
func TestDpkgLineLimit(t *testing.T) {
	in := "Package: foo\nVersion: 1\nDescription: " + strings.Repeat("x", maxLine+10) + "\n"
	_, err := osCatalog(t, Dpkg(), "var/lib/dpkg/status", []byte(in))
	if err == nil || !strings.Contains(err.Error(), "var/lib/dpkg/status") {
		t.Errorf("err = %v, want a line-too-long error naming the file", err)
	}
}

func TestOSCatalogersNotWantingOthers(t *testing.T) {
	for _, c := range OSPackages() {
		for _, p := range []string{"etc/os-release", "usr/bin/bash", "lib/apk/db/installed.old", "var/lib/rpm/Basenames"} {
			if c.Wants(p, fs.FileMode(0o755), 1000) {
				t.Errorf("%s wants %s", c.Name(), p)
			}
		}
	}
}
