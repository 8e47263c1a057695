package catalog

import (
	"bytes"
	"strings"
	"testing"
)

func TestRPM(t *testing.T) {
	tests := []struct {
		name, fixture, path string
		want                []osBrief
		licenses            map[string]string
	}{
		{
			name: "sqlite", fixture: "rpm/rpmdb.sqlite.gz", path: "var/lib/rpm/rpmdb.sqlite",
			want: []osBrief{
				{"hello", "2.12.1-3.el9", "noarch", "pkg:rpm/redhat/hello@2.12.1-3.el9?arch=noarch&upstream=hello-2.12.1-3.el9.src.rpm", "Red Hat, Inc."},
				{"openssl-libs", "1:3.0.7-27.el9", "noarch", "pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?arch=noarch&epoch=1&upstream=openssl-libs-3.0.7-27.el9.src.rpm", "Red Hat, Inc."},
				{"tzdata", "2024a-1.el9", "noarch", "pkg:rpm/redhat/tzdata@2024a-1.el9?arch=noarch&upstream=tzdata-2024a-1.el9.src.rpm", "Red Hat, Inc."},
			},
			licenses: map[string]string{"hello": "GPL-3.0-or-later", "openssl-libs": "Apache-2.0", "tzdata": "LicenseRef-Fedora-Public-Domain"},
		},
		{
			name: "sqlite in sysimage", fixture: "rpm/rpmdb.sqlite.gz", path: "usr/lib/sysimage/rpm/rpmdb.sqlite",
			want: []osBrief{
				{"hello", "2.12.1-3.el9", "noarch", "pkg:rpm/redhat/hello@2.12.1-3.el9?arch=noarch&upstream=hello-2.12.1-3.el9.src.rpm", "Red Hat, Inc."},
				{"openssl-libs", "1:3.0.7-27.el9", "noarch", "pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?arch=noarch&epoch=1&upstream=openssl-libs-3.0.7-27.el9.src.rpm", "Red Hat, Inc."},
				{"tzdata", "2024a-1.el9", "noarch", "pkg:rpm/redhat/tzdata@2024a-1.el9?arch=noarch&upstream=tzdata-2024a-1.el9.src.rpm", "Red Hat, Inc."},
			},
		},
		{
			name: "berkeleydb", fixture: "rpm/Packages.bdb.gz", path: "var/lib/rpm/Packages",
			want: []osBrief{
				{"libuuid", "2.32.1-42.el8_8", "x86_64", "pkg:rpm/redhat/libuuid@2.32.1-42.el8_8?arch=x86_64&upstream=util-linux-2.32.1-42.el8_8.src.rpm", "Red Hat, Inc."},
			},
			licenses: map[string]string{"libuuid": "BSD"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := RPM()
			c.TempDir = t.TempDir()
			pkgs, err := osCatalog(t, c, tt.path, osFixture(t, tt.fixture))
			if err != nil {
				t.Fatal(err)
			}
			sortBriefs := func(b []osBrief) string {
				var s []string
				for _, x := range b {
					s = append(s, x.Name+" "+x.Version+" "+x.Arch+" "+x.PURL+" "+x.Supplier)
				}
				return strings.Join(osSortedStrings(s), "\n")
			}
			if got, want := sortBriefs(osBriefs(pkgs)), sortBriefs(tt.want); got != want {
				t.Errorf("packages:\n got %s\nwant %s", got, want)
			}
			for _, p := range pkgs {
				if p.Type != "rpm" || p.Location != tt.path || p.Layer != "sha256:l1" {
					t.Errorf("%s: type %q location %q layer %q", p.Name, p.Type, p.Location, p.Layer)
				}
				if w, ok := tt.licenses[p.Name]; ok && (len(p.Licenses) != 1 || p.Licenses[0] != w) {
					t.Errorf("%s licenses = %q, want %q", p.Name, p.Licenses, w)
				}
			}
			// Spooled databases must not outlive the call.
			if left, _ := osDirEntries(c.TempDir); len(left) != 0 {
				t.Errorf("left behind in temp dir: %v", left)
			}
		})
	}
}

func TestRPMLimitsAndGarbage(t *testing.T) {
	db := osFixture(t, "rpm/rpmdb.sqlite.gz")
	c := &RPMCataloger{MaxDBSize: int64(len(db) - 1), TempDir: t.TempDir()}
	if _, err := osCatalog(t, c, "var/lib/rpm/rpmdb.sqlite", db); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("over-limit database: err = %v, want a limit error", err)
	}
	// A file that lies about its size is cut at the limit while spooling.
	err := spool(c.TempDir+"/x", bytes.NewReader(db), int64(len(db)-1))
	if err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("spool past limit: err = %v", err)
	}
	for name, in := range map[string][]byte{
		"empty":         {},
		"garbage":       bytes.Repeat([]byte("not a database "), 1000),
		"sqlite header": append([]byte("SQLite format 3\x00"), make([]byte, 4096)...),
		"truncated bdb": osFixture(t, "rpm/Packages.bdb.gz")[:8192],
	} {
		t.Run(name, func(t *testing.T) {
			c := &RPMCataloger{TempDir: t.TempDir()}
			pkgs, err := osCatalog(t, c, "var/lib/rpm/Packages", in)
			if err == nil || len(pkgs) != 0 {
				t.Errorf("got %d packages, err %v; want an error", len(pkgs), err)
			}
		})
	}
}

func TestRPMWants(t *testing.T) {
	for p, want := range map[string]bool{
		"var/lib/rpm/Packages":              true,
		"var/lib/rpm/Packages.db":           true,
		"var/lib/rpm/rpmdb.sqlite":          true,
		"usr/lib/sysimage/rpm/Packages.db":  true,
		"usr/lib/sysimage/rpm/rpmdb.sqlite": true,
		"var/lib/rpm/rpmdb.sqlite-shm":      false,
		"var/lib/rpm/Name":                  false,
		"opt/var/lib/rpm/Packages":          false,
		"Packages":                          false,
	} {
		if got := RPM().Wants(p, 0o644, 1); got != want {
			t.Errorf("Wants(%q) = %v", p, got)
		}
	}
}
