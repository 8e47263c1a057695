package catalog

import (
	"reflect"
	"testing"
)

func TestAPK(t *testing.T) {
	pkgs, err := osCatalog(t, APK(), "lib/apk/db/installed", osFixture(t, "apk/installed"))
	if err != nil {
		t.Fatal(err)
	}
	want := []osBrief{
		{"musl", "1.2.4_git20230717-r4", "x86_64", "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64", "Timo Teräs <timo.teras@iki.fi>"},
		{"libcrypto3", "3.1.4-r5", "x86_64", "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&upstream=openssl", "Ariadne Conill <ariadne@dereferenced.org>"},
		{"busybox", "1.36.1-r15", "x86_64", "pkg:apk/alpine/busybox@1.36.1-r15?arch=x86_64", "Sören Tempel <soeren+alpine@soeren-tempel.net>"},
	}
	if got := osBriefs(pkgs); !reflect.DeepEqual(got, want) {
		t.Errorf("packages:\n got %+v\nwant %+v", got, want)
	}
	lic := map[string][]string{}
	for _, p := range pkgs {
		lic[p.Name] = p.Licenses
		if p.Type != "apk" || p.Location != "lib/apk/db/installed" || p.Layer != "sha256:l1" {
			t.Errorf("%s: type %q location %q layer %q", p.Name, p.Type, p.Location, p.Layer)
		}
	}
	if want := map[string][]string{"musl": {"MIT"}, "libcrypto3": {"Apache-2.0"}, "busybox": {"GPL-2.0-only"}}; !reflect.DeepEqual(lic, want) {
		t.Errorf("licenses = %v, want %v", lic, want)
	}
}

func TestAPKWants(t *testing.T) {
	for p, want := range map[string]bool{
		"lib/apk/db/installed":     true,
		"lib/apk/db/installed.old": false,
		"usr/lib/apk/db/installed": false,
		"lib/apk/db/triggers":      false,
	} {
		if got := APK().Wants(p, 0o644, 1); got != want {
			t.Errorf("Wants(%q) = %v", p, got)
		}
	}
}
