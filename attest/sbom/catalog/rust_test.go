package catalog

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Debian's rust-src ships the Rust book's example projects with the
// Cargo.lock files Cargo wrote for them (format 3, and format 1 with its
// [metadata] checksum table) and rustfmt's.
const (
	rustSrcDeb  = "rust-src=1.63.0+dfsg1-2"
	rustSrcRoot = "usr/src/rustc-1.63.0/"
	rustBookV3  = rustSrcRoot + "src/doc/book/listings/ch02-guessing-game-tutorial/listing-02-04/Cargo.lock"
	rustBookV1  = rustSrcRoot + "src/doc/book/listings/ch19-advanced-features/listing-19-31/hello_macro/hello_macro_derive/Cargo.lock"
	rustfmtLock = rustSrcRoot + "src/tools/rustfmt/Cargo.lock"
)

func cargoPkg(name, version, loc string, local bool) Package {
	p := Package{Name: name, Version: version, Type: "cargo", Location: loc, Layer: "sha256:layer"}
	if !local {
		p.PURL = langPURL("cargo", "", name, version)
	}
	return p
}

func TestRustDebianCargoLock(t *testing.T) {
	root := t.TempDir()
	debUnpack(t, debFetch(t, rustSrcDeb), root, "./"+rustBookV3, "./"+rustBookV1, "./"+rustfmtLock)
	var want []Package
	for _, nv := range []string{"cfg-if 1.0.0", "getrandom 0.2.2", "libc 0.2.86", "ppv-lite86 0.2.10",
		"rand 0.8.3", "rand_chacha 0.3.0", "rand_core 0.6.2", "rand_hc 0.3.0", "wasi 0.10.2+wasi-snapshot-preview1"} {
		n, v, _ := strings.Cut(nv, " ")
		want = append(want, cargoPkg(n, v, rustBookV3, false))
	}
	want = append(want, cargoPkg("guessing_game", "0.1.0", rustBookV3, true))
	for _, nv := range []string{"proc-macro2 1.0.8", "quote 1.0.2", "syn 1.0.14", "unicode-xid 0.2.0"} {
		n, v, _ := strings.Cut(nv, " ")
		want = append(want, cargoPkg(n, v, rustBookV1, false))
	}
	want = append(want, cargoPkg("hello_macro_derive", "0.1.0", rustBookV1, true))
	// rustfmt's lock: an oracle independent of the parser, a regular
	// expression over the whole file for each [[package]] table.
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rustfmtLock)))
	if err != nil {
		t.Fatal(err)
	}
	table := regexp.MustCompile(`(?m)^\[\[package\]\]\nname = "([^"]+)"\nversion = "([^"]+)"\n(source = ")?`)
	for _, m := range table.FindAllStringSubmatch(string(data), -1) {
		want = append(want, cargoPkg(m[1], m[2], rustfmtLock, m[3] == ""))
	}
	if n := strings.Count(string(data), "[[package]]"); n != 82 {
		t.Fatalf("rustfmt's Cargo.lock has %d packages, want 82", n)
	}
	sortPackages(want)
	comparePackages(t, catalogTreeType(t, root, "cargo"), want)
}

func TestRustParseLock(t *testing.T) {
	in := `# comment
version = 4

[[package]]
name = "a"
version = "1.0.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "00"
dependencies = [
 "b",
]

[[package]]
name = 'lit'
version = "0.1.0" # trailing comment
source = "git+https://example.com/x#abc"

[[package]]
name = "no-version"

[[package]]
name = "esc\u0061ped"
version = "2.0.0"

[patch.unused]
name = "not-a-package"
version = "9"
`
	got, err := rustParseLock(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{
		{Name: "a", Version: "1.0.0", Type: "cargo", PURL: "pkg:cargo/a@1.0.0"},
		{Name: "lit", Version: "0.1.0", Type: "cargo", PURL: "pkg:cargo/lit@0.1.0"},
		{Name: "escaped", Version: "2.0.0", Type: "cargo"},
	}
	comparePackages(t, got, want)
}

func FuzzRustParseLock(f *testing.F) {
	f.Add("[[package]]\nname = \"a\"\nversion = \"1\"\nsource = \"x\"\n")
	f.Add("[[package]]\nname = \"\\u00e9\"\nversion = '1'\n[metadata]\n")
	f.Fuzz(func(t *testing.T, in string) {
		pkgs, err := rustParseLock(strings.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" {
				t.Fatalf("empty name or version: %+v", p)
			}
		}
	})
}
