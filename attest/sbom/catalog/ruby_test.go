package catalog

import (
	"os"
	"path/filepath"
	"reflect"
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

func TestRubyParseGemspec(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Package
		ok       bool
	}{
		{"stub form", "Gem::Specification.new do |s|\n  s.name = \"rack\".freeze\n  s.version = \"2.2.22\"\n" +
			"  s.authors = [\"Andr\\u00E9 Arko\".freeze, \"B\".freeze]\n  s.licenses = [\"MIT\".freeze, \"Ruby\".freeze]\n" +
			"  s.rubygems_version = \"3.3.15\".freeze\n  s.required_ruby_version = Gem::Requirement.new(\">= 2.3.0\".freeze)\nend\n",
			Package{Name: "rack", Version: "2.2.22", Type: "gem", PURL: "pkg:gem/rack@2.2.22",
				Licenses: []string{"MIT", "Ruby"}, Supplier: "Andr\u00e9 Arko, B"}, true},
		{"other receiver, single quotes", "Gem::Specification.new do |spec|\n spec.name    = 'x-y'\n spec.version = '1.0.0.pre'\nend\n",
			Package{Name: "x-y", Version: "1.0.0.pre", Type: "gem", PURL: "pkg:gem/x-y@1.0.0.pre"}, true},
		{"last assignment wins", "s.name = \"a\"\ns.version = \"1\"\ns.version = \"2\"\n",
			Package{Name: "a", Version: "2", Type: "gem", PURL: "pkg:gem/a@2"}, true},
		{"computed version", "s.name = \"a\"\ns.version = A::VERSION\n", Package{}, false},
		{"comparison is no assignment", "s.name == \"a\"\ns.version = \"1\"\n", Package{}, false},
		{"empty", "", Package{}, false},
	} {
		got, ok, err := rubyParseGemspec(strings.NewReader(tc.in))
		if err != nil || ok != tc.ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v %v %v, want %+v %v", tc.name, got, ok, err, tc.want, tc.ok)
		}
	}
	// A line over the bound is skipped whole, not buffered.
	long := "s.name = \"a\"\ns.version = \"" + strings.Repeat("9", rubyMaxLine) + "\"\ns.version = \"1\"\n"
	if got, ok, _ := rubyParseGemspec(strings.NewReader(long)); !ok || got.Version != "1" {
		t.Errorf("long line: got %+v %v", got, ok)
	}
}

func TestRubyWants(t *testing.T) {
	c := rubyCataloger{}
	for _, tc := range []struct {
		path string
		size int64
		want bool
	}{
		{"usr/lib/ruby/gems/3.1.0/specifications/rake-13.0.6.gemspec", 100, true},
		{"usr/lib/ruby/gems/3.1.0/specifications/default/json-2.6.1.gemspec", 100, true},
		{"usr/share/rubygems-integration/all/specifications/rack-2.2.22.gemspec", 100, true},
		{"specifications/a-1.gemspec", 100, true},
		{"app/a.gemspec", 100, false}, // a source tree's gemspec: not installed
		{"usr/lib/ruby/gems/3.1.0/specifications/rake-13.0.6.gemspec", rubyMaxGemspec + 1, false},
		{"usr/lib/ruby/gems/3.1.0/specifications/rake.rb", 100, false},
	} {
		if got := c.Wants(tc.path, 0o644, tc.size); got != tc.want {
			t.Errorf("Wants(%q, %d) = %v", tc.path, tc.size, got)
		}
	}
}

func FuzzRubyGemspec(f *testing.F) {
	f.Add("s.name = \"a\".freeze\ns.version = \"1\"\ns.licenses = [\"MIT\"]\ns.authors = [\"\\u00E9\"]\n")
	f.Add("x.name='\"'\nx.version=\"'\n")
	f.Fuzz(func(t *testing.T, in string) {
		p, ok, err := rubyParseGemspec(strings.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		if ok && (p.Name == "" || p.Version == "" || !strings.HasPrefix(p.PURL, "pkg:gem/")) {
			t.Fatalf("bad package %+v", p)
		}
	})
}
