package sbom

import (
	"strings"
	"testing"

	"github.com/imgsign/imgsign/attest/sbom/catalog"
)

// Crates compiled into an OS-owned executable stay, like Go modules; a
// Cargo.lock or gem specification an OS package installed is that package's
// and is dropped.
func TestDropOwnedCompiledIn(t *testing.T) {
	owned := [][]string{{"usr/bin/rg", "usr/src/x/Cargo.lock",
		"usr/share/rubygems-integration/all/specifications/rack-2.2.22.gemspec"}}
	pkgs := []catalog.Package{
		{Name: "ripgrep", Type: "deb", Location: "var/lib/dpkg/status"},
		{Name: "regex", Type: "cargo", Location: "usr/bin/rg"},
		{Name: "rand", Type: "cargo", Location: "usr/src/x/Cargo.lock"},
		{Name: "rack", Type: "gem", Location: "usr/share/rubygems-integration/all/specifications/rack-2.2.22.gemspec"},
		{Name: "itoa", Type: "cargo", Location: "usr/local/bin/app"},
	}
	var got []string
	for _, p := range dropOwned(pkgs, owned) {
		got = append(got, p.Name)
	}
	if want := "ripgrep regex itoa"; strings.Join(got, " ") != want {
		t.Errorf("kept %q, want %q", strings.Join(got, " "), want)
	}
}
