package catalog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRubyDebianGems catalogs the gem specifications of real Debian packages:
// ruby-rack (an architecture-independent gem, in rubygems-integration/all),
// ruby-json (a gem with a C extension, in the multiarch directory) and
// libruby3.1 (Ruby's default and bundled gems). The expected set comes from
// an oracle independent of the parser: RubyGems names every specification
// file NAME-VERSION.gemspec, and Debian's version of ruby-rack and ruby-json
// is the gem's.
func TestRubyDebianGems(t *testing.T) {
	root := t.TempDir()
	var want []Package
	debVersions := map[string]string{}
	for _, name := range []string{"ruby-rack", "ruby-json", "libruby3.1"} {
		deb := debFetch(t, name)
		debUnpack(t, deb, root)
		debVersions[strings.TrimPrefix(name, "ruby-")] = debUpstream(debVersion(t, deb))
	}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".gemspec") {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if !strings.Contains(rel, "/specifications/") {
			return nil // bundler's newgem template and the like
		}
		full := strings.TrimSuffix(filepath.Base(p), ".gemspec")
		i := strings.LastIndexByte(full, '-')
		name, version := full[:i], full[i+1:]
		if v, ok := debVersions[name]; ok && !strings.Contains(rel, "/gems/3.1.0/") && v != version {
			t.Errorf("%s: file name says %s, Debian's version %s", rel, version, v)
		}
		want = append(want, Package{Name: name, Version: version, Type: "gem",
			PURL: "pkg:gem/" + name + "@" + version, Location: rel, Layer: "sha256:layer"})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 80 {
		t.Fatalf("only %d gem specifications unpacked", len(want))
	}
	got := catalogTreeType(t, root, "gem")
	// Licences and authors are checked below on a few; the set is checked
	// on (name, version, purl, location).
	for i := range got {
		got[i].Licenses, got[i].Supplier = nil, ""
	}
	sortPackages(want)
	comparePackages(t, got, want)

	// Spot checks against the files' own text.
	byName := map[string]Package{}
	for _, p := range catalogTreeType(t, root, "gem") {
		byName[p.Name] = p
	}
	for _, tc := range []struct{ name, supplier, license string }{
		{"rack", "Leah Neukirchen", "MIT"},
		{"json", "Florian Frank", "Ruby"},
		{"debug", "Koichi Sasada", "Ruby"},
		{"bundler", "Andr\u00e9 Arko, Samuel Giddins, Colby Swandale, Hiroshi Shibata, David Rodr\u00edguez, Grey Baker, Stephanie Morillo, Chris Morris, James Wen, Tim Moore, Andr\u00e9 Medeiros, Jessica Lynn Suttles, Terence Lee, Carl Lerche, Yehuda Katz", "MIT"},
	} {
		p, ok := byName[tc.name]
		if !ok {
			t.Errorf("no %s gem", tc.name)
			continue
		}
		if p.Supplier != tc.supplier || len(p.Licenses) == 0 || p.Licenses[0] != tc.license {
			t.Errorf("%s: supplier %q licences %q, want %q and %q first", tc.name, p.Supplier, p.Licenses, tc.supplier, tc.license)
		}
	}
}

// catalogTreeType is catalogTree's packages of one type.
func catalogTreeType(t *testing.T, root, typ string) []Package {
	t.Helper()
	var out []Package
	for _, p := range catalogTree(t, root) {
		if p.Type == typ {
			out = append(out, p)
		}
	}
	return out
}
