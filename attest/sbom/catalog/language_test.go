package catalog

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// langFixtures is the fixture root shared by the language cataloger tests.
var langFixtures = filepath.Join("..", "..", "..", "testdata", "sbom", "lang")

// catalogTree feeds every regular file under root, as the walker would, to
// each language cataloger that wants it, and returns all packages sorted by
// PURL and Location. Locations are relative to root.
func catalogTree(t *testing.T, root string) []Package {
	t.Helper()
	var pkgs []Package
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		for _, c := range Language() {
			if !c.Wants(rel, fi.Mode(), fi.Size()) {
				continue
			}
			fh, err := os.Open(p)
			if err != nil {
				return err
			}
			got, err := c.Catalog(File{Path: rel, Size: fi.Size(), Mode: fi.Mode(), Layer: "sha256:layer", Content: fh})
			fh.Close()
			if err != nil {
				t.Errorf("%s: %s: %v", c.Name(), rel, err)
			}
			pkgs = append(pkgs, got...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sortPackages(pkgs)
	return pkgs
}

func sortPackages(pkgs []Package) {
	sort.Slice(pkgs, func(i, j int) bool {
		if pkgs[i].PURL != pkgs[j].PURL {
			return pkgs[i].PURL < pkgs[j].PURL
		}
		return pkgs[i].Location < pkgs[j].Location
	})
}

func comparePackages(t *testing.T, got, want []Package) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d packages, want %d", len(got), len(want))
	}
	for i := 0; i < len(got) || i < len(want); i++ {
		var g, w Package
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("package %d:\n got  %+v\n want %+v", i, g, w)
		}
	}
}

func TestLanguageCatalogers(t *testing.T) {
	names := map[string]bool{}
	for _, c := range Language() {
		if names[c.Name()] {
			t.Errorf("duplicate cataloger name %q", c.Name())
		}
		names[c.Name()] = true
	}
	for _, n := range []string{"go-binary", "python", "npm", "java-archive"} {
		if !names[n] {
			t.Errorf("Language() lacks %q", n)
		}
	}
}

// TestLanguageWantsNoAlloc checks Wants is allocation-free, as the walker
// calls it for every file of every layer.
func TestLanguageWantsNoAlloc(t *testing.T) {
	paths := []string{
		"usr/share/doc/libc6/changelog.Debian.gz",
		"usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA",
		"usr/lib/python3/dist-packages/x.egg-info",
		"app/node_modules/@babel/core/package.json",
		"app/node_modules/lodash/lodash.js",
		"opt/app/lib/Foo-1.2.JAR",
		"usr/bin/ls",
	}
	for _, c := range Language() {
		allocs := testing.AllocsPerRun(100, func() {
			for _, p := range paths {
				c.Wants(p, 0o755, 4096)
				c.Wants(p, 0o644, 4096)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: Wants allocates (%v per run)", c.Name(), allocs)
		}
	}
}

func TestLangPURL(t *testing.T) {
	for _, tc := range []struct {
		typ, ns, name, version string
		want                   string
	}{
		{"golang", "github.com/BurntSushi", "toml", "v1.3.2", "pkg:golang/github.com/BurntSushi/toml@v1.3.2"},
		{"golang", "github.com/BurntSushi", "toml", "v2.0.0-RC1+incompatible", "pkg:golang/github.com/BurntSushi/toml@v2.0.0-RC1%2Bincompatible"},
		{"golang", "example.com", "app", "(devel)", "pkg:golang/example.com/app@%28devel%29"},
		{"golang", "", "stdlib", "go1.22.1", "pkg:golang/stdlib@go1.22.1"},
		{"golang", "/a//b/", "c", "", "pkg:golang/a/b/c"},
		{"npm", "@babel", "core", "7.23.0", "pkg:npm/%40babel/core@7.23.0"},
		{"npm", "", "lodash", "4.17.21", "pkg:npm/lodash@4.17.21"},
		{"pypi", "", "zope-interface", "6.1", "pkg:pypi/zope-interface@6.1"},
		{"maven", "org.apache.commons", "commons-lang3", "3.12.0", "pkg:maven/org.apache.commons/commons-lang3@3.12.0"},
		{"MAVEN", "g", "a", "1", "pkg:maven/g/a@1"},
		// Colon is never encoded; everything outside [A-Za-z0-9.-_~:] is.
		{"maven", "g", "a", "1:2", "pkg:maven/g/a@1:2"},
		{"maven", "my group", "a b", "1 0", "pkg:maven/my%20group/a%20b@1%200"},
		{"npm", "", "caf\u00e9", "1.0.0", "pkg:npm/caf%C3%A9@1.0.0"},
		{"generic", "", "a/b", "1@2", "pkg:generic/a%2Fb@1%402"},
		{"generic", "", "n", "v?x=1#f&y%", "pkg:generic/n@v%3Fx%3D1%23f%26y%25"},
		{"generic", "", "n", "~_.-", "pkg:generic/n@~_.-"},
	} {
		got := langPURL(tc.typ, tc.ns, tc.name, tc.version)
		if got != tc.want {
			t.Errorf("langPURL(%q, %q, %q, %q) = %q, want %q", tc.typ, tc.ns, tc.name, tc.version, got, tc.want)
		}
	}
}

// TestLangPURLRoundTrip checks every component decodes back to its input.
func TestLangPURLRoundTrip(t *testing.T) {
	inputs := []string{"plain", "a b", "a+b", "@scope", "v1.0.0+incompatible", "ü/é", "%41", "x?y#z&w=v", "(devel)", "c:d"}
	for _, s := range inputs {
		p := langPURL("generic", "", s, s)
		rest := strings.TrimPrefix(p, "pkg:generic/")
		name, version, ok := strings.Cut(rest, "@")
		if !ok {
			t.Fatalf("%q: no version in %q", s, p)
		}
		for _, enc := range []string{name, version} {
			if strings.ContainsAny(enc, "/@?#&=+ ") {
				t.Errorf("%q: separator left unencoded in %q", s, enc)
			}
			dec, err := url.PathUnescape(enc)
			if err != nil || dec != s {
				t.Errorf("%q: decodes to %q, %v", s, dec, err)
			}
		}
	}
}

func TestLangSpool(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 100) // 1000 bytes
	for _, tc := range []struct {
		name            string
		hint, mem, lim  int64
		wantErr, inFile bool
	}{
		{"memory", 1000, 4096, 4096, false, false},
		{"file", 1000, 100, 4096, false, true},
		{"hint lies low", 10, 100, 4096, false, true},
		{"unknown size", -1, 4096, 4096, false, true},
		{"over limit", 1000, 4096, 999, true, false},
		{"hint over limit", 5000, 4096, 4096, true, false},
		{"exactly at limit", 1000, 100, 1000, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp, err := langSpool(bytes.NewReader(data), tc.hint, tc.mem, tc.lim, "test")
			if tc.wantErr {
				var tl errLangTooLarge
				if !errors.As(err, &tl) {
					t.Fatalf("err = %v, want errLangTooLarge", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer sp.Close()
			if _, isFile := sp.ReaderAt.(*os.File); isFile != tc.inFile {
				t.Errorf("in file = %v, want %v", isFile, tc.inFile)
			}
			got, err := io.ReadAll(io.NewSectionReader(sp, 0, sp.Size))
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("content differs (%d bytes, %v)", len(got), err)
			}
			if f, ok := sp.ReaderAt.(*os.File); ok {
				name := f.Name()
				sp.Close()
				if _, err := os.Stat(name); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("temporary file %s left behind", name)
				}
			}
		})
	}
}

func TestLangHelpers(t *testing.T) {
	for _, tc := range []struct {
		s, suf string
		want   bool
	}{
		{"a.JAR", ".jar", true}, {"a.jar", ".jar", true}, {"a.jars", ".jar", false}, {"ar", ".jar", false}, {".Jar", ".jar", true},
	} {
		if got := langHasSuffixFold(tc.s, tc.suf); got != tc.want {
			t.Errorf("langHasSuffixFold(%q, %q) = %v", tc.s, tc.suf, got)
		}
	}
	for _, tc := range [][3]string{{"a/b/c", "a/b", "c"}, {"c", "", "c"}, {"/c", "", "c"}, {"a/", "a", ""}} {
		if d, b := langSplitDir(tc[0]); d != tc[1] || b != tc[2] {
			t.Errorf("langSplitDir(%q) = %q, %q", tc[0], d, b)
		}
	}
	got := langDedup([]Package{{PURL: "a"}, {PURL: "b"}, {PURL: "a"}, {PURL: "c"}, {PURL: "b"}})
	if len(got) != 3 || got[0].PURL != "a" || got[1].PURL != "b" || got[2].PURL != "c" {
		t.Errorf("langDedup: %+v", got)
	}
}

// countingReader counts what is read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// endlessReader yields b repeated forever.
type endlessReader struct {
	b   []byte
	off int
}

func endless(b []byte) io.Reader { return &endlessReader{b: b} }

func (e *endlessReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], e.b[e.off:])
		n += c
		e.off = (e.off + c) % len(e.b)
	}
	return n, nil
}
