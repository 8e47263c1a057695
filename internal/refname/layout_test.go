package refname

import (
	"strings"
	"testing"
)

func TestLayoutRepository(t *testing.T) {
	for _, dir := range []string{"/", "/srv/layouts/app", "/home/u/My Layouts/a:b", "/" + strings.Repeat("x", MaxLayoutDir-1)} {
		n, err := LayoutRepository(dir)
		if err != nil {
			t.Fatalf("%q: %v", dir, err)
		}
		host, path, _ := strings.Cut(n, "/")
		if host != LayoutHost || CheckPath(path) != nil || len(path) > maxPathLen {
			t.Errorf("%q → %q: not a valid repository name (%v)", dir, n, CheckPath(path))
		}
		got, ok, err := LayoutDir(n)
		if !ok || err != nil || got != dir {
			t.Errorf("LayoutDir(%q) = %q, %v, %v; want %q", n, got, ok, err, dir)
		}
		if d := DisplayReference(n + "@sha256:ab"); d != "oci:"+dir+"@sha256:ab" {
			t.Errorf("DisplayReference = %q", d)
		}
	}
	for _, bad := range []string{"rel/dir", "/a/../b", "/a/", "/" + strings.Repeat("x", MaxLayoutDir)} {
		if _, err := LayoutRepository(bad); err == nil {
			t.Errorf("LayoutRepository(%q) accepted", bad)
		}
	}
	n, _ := LayoutRepository("/srv/app")
	// Other spellings of the same directory are not names of it.
	for _, other := range []string{strings.Replace(n, "/", "/a/", 1) + "x", LayoutHost + "/mfzwizlbobya", n + "/"} {
		if _, ok, err := LayoutDir(other); ok && err == nil {
			t.Errorf("LayoutDir(%q) accepted", other)
		}
	}
	if _, ok, _ := LayoutDir("ghcr.io/acme/app"); ok {
		t.Error("a registry repository read as a layout")
	}
	if d := DisplayReference("ghcr.io/acme/app:v1"); d != "ghcr.io/acme/app:v1" {
		t.Errorf("DisplayReference of a registry reference: %q", d)
	}
}
