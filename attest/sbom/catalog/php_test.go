package catalog

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// icingaweb2 ships the vendor tree Composer 2 installed for dompdf, with its
// vendor/composer/installed.json, unchanged from upstream. The candidate
// version is taken (2.11.4-2+deb12u1 when written): a pinned one disappears
// from the archive with the next point release, while the vendored files
// change only if Debian updates dompdf, which the exact assertions report.
const icingaDeb = "icingaweb2"

const icingaVendor = "usr/share/icingaweb2/library/vendor/dompdf/vendor"

func composerPkg(name, version, loc, supplier string, licenses ...string) Package {
	vendor, n, _ := strings.Cut(name, "/")
	return Package{Name: name, Version: version, Type: "composer",
		PURL:     "pkg:composer/" + vendor + "/" + n + "@" + version,
		Licenses: licenses, Supplier: supplier, Location: loc, Layer: "sha256:layer"}
}

// TestPHPDebianInstalledJSON catalogs the Composer 2 installed.json in
// Debian's icingaweb2 package.
func TestPHPDebianInstalledJSON(t *testing.T) {
	root := t.TempDir()
	debUnpack(t, debFetch(t, icingaDeb), root, "./"+icingaVendor+"/composer/installed.json")
	loc := icingaVendor + "/composer/installed.json"
	want := []Package{
		composerPkg("dompdf/dompdf", "v2.0.1", loc, "The Dompdf Community", "LGPL-2.1"),
		composerPkg("masterminds/html5", "2.7.6", loc, "Matt Butcher", "MIT"),
		composerPkg("phenx/php-font-lib", "0.5.4", loc, "Fabien M\u00e9nager", "LGPL-3.0"),
		composerPkg("phenx/php-svg-lib", "0.5.0", loc, "Fabien M\u00e9nager", "LGPL-3.0"),
		composerPkg("sabberworm/php-css-parser", "8.4.0", loc, "Raphael Schweikert", "MIT"),
	}
	comparePackages(t, catalogTreeType(t, root, "composer"), want)
}

// TestPHPComposerGenerated has the real Composer (Debian's composer
// package) lock and install, offline, the five packages of icingaweb2's
// dompdf vendor tree from their own upstream composer.json files (path
// repositories, versions as upstream released them), and catalogs the
// composer.lock and vendor/composer/installed.json it writes.
func TestPHPComposerGenerated(t *testing.T) {
	composer, err := exec.LookPath("composer")
	if err != nil {
		if testing.Short() {
			t.Skip("needs composer")
		}
		testenv.Missing(t, "composer is not installed (%v): apt-get install composer", err)
	}
	src := t.TempDir()
	debUnpack(t, debFetch(t, icingaDeb), src, "./"+icingaVendor)
	versions := map[string]string{
		"dompdf/dompdf": "2.0.1", "masterminds/html5": "2.7.6", "phenx/php-font-lib": "0.5.4",
		"phenx/php-svg-lib": "0.5.0", "sabberworm/php-css-parser": "8.4.0",
	}
	repos := []any{map[string]any{"packagist.org": false}}
	for name, v := range versions {
		repos = append(repos, map[string]any{
			"type": "path", "url": filepath.Join(src, icingaVendor, name),
			"options": map[string]any{"symlink": false, "versions": map[string]string{name: v}},
		})
	}
	project := map[string]any{
		"name":         "imgsign/fixture",
		"require":      map[string]string{"dompdf/dompdf": "2.0.1"},
		"repositories": repos,
		"config":       map[string]any{"allow-plugins": false},
	}
	app := filepath.Join(t.TempDir(), "app")
	if err := os.MkdirAll(app, 0o755); err != nil {
		t.Fatal(err)
	}
	data, _ := json.MarshalIndent(project, "", "  ")
	if err := os.WriteFile(filepath.Join(app, "composer.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(composer, "install", "--no-interaction", "--ignore-platform-reqs", "--no-scripts", "--no-plugins", "--no-autoloader")
	cmd.Dir = app
	cmd.Env = append(os.Environ(), "COMPOSER_HOME="+t.TempDir(), "COMPOSER_ALLOW_SUPERUSER=1", "COMPOSER_DISABLE_NETWORK=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("composer install: %v\n%s", err, out.String())
	}
	// Only the two files Composer wrote are kept: the packages' own
	// composer.json files are not what is being tested.
	root := t.TempDir()
	for _, f := range []string{"composer.lock", "vendor/composer/installed.json"} {
		b, err := os.ReadFile(filepath.Join(app, f))
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(root, "app", f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var want []Package
	for _, loc := range []string{"app/composer.lock", "app/vendor/composer/installed.json"} {
		want = append(want,
			composerPkg("dompdf/dompdf", "2.0.1", loc, "The Dompdf Community", "LGPL-2.1"),
			composerPkg("masterminds/html5", "2.7.6", loc, "Matt Butcher", "MIT"),
			composerPkg("phenx/php-font-lib", "0.5.4", loc, "Fabien M\u00e9nager", "LGPL-3.0"),
			composerPkg("phenx/php-svg-lib", "0.5.0", loc, "Fabien M\u00e9nager", "LGPL-3.0"),
			composerPkg("sabberworm/php-css-parser", "8.4.0", loc, "Raphael Schweikert", "MIT"),
		)
	}
	sortPackages(want)
	comparePackages(t, catalogTreeType(t, root, "composer"), want)
	if diffs := compareWithSyft(t, root); len(diffs) > 0 {
		t.Errorf("differences with syft:\n%s", strings.Join(diffs, "\n"))
	}
}

func TestPHPParse(t *testing.T) {
	v1 := `[{"name":"monolog/monolog","version":"1.27.1","license":["MIT"],"authors":[{"name":"Jordi Boggiano"}]},
	        {"name":"odd/three/parts","version":"1.0","license":"BSD-3-Clause"},
	        {"name":"noversion"}]`
	got, err := phpCataloger{}.Catalog(File{Path: "app/vendor/composer/installed.json", Layer: "l", Content: strings.NewReader(v1)})
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{
		{Name: "monolog/monolog", Version: "1.27.1", Type: "composer", PURL: "pkg:composer/monolog/monolog@1.27.1",
			Licenses: []string{"MIT"}, Supplier: "Jordi Boggiano", Location: "app/vendor/composer/installed.json", Layer: "l"},
		{Name: "odd/three/parts", Version: "1.0", Type: "composer", PURL: "pkg:composer/odd/three-parts@1.0",
			Licenses: []string{"BSD-3-Clause"}, Location: "app/vendor/composer/installed.json", Layer: "l"},
	}
	comparePackages(t, got, want)

	// composer.lock: packages-dev are not installed in production.
	lock := `{"packages":[{"name":"a/b","version":"v1.0.0"}],"packages-dev":[{"name":"phpunit/phpunit","version":"9.0.0"}]}`
	got, err = phpCataloger{}.Catalog(File{Path: "composer.lock", Content: strings.NewReader(lock)})
	if err != nil || len(got) != 1 || got[0].PURL != "pkg:composer/a/b@v1.0.0" {
		t.Errorf("composer.lock: %+v %v", got, err)
	}
	// Another tool's installed.json is not Composer's: no error.
	if got, err := (phpCataloger{}).Catalog(File{Path: "opt/x/installed.json", Content: strings.NewReader("not json")}); err != nil || got != nil {
		t.Errorf("foreign installed.json: %v %v", got, err)
	}
	if _, err := (phpCataloger{}).Catalog(File{Path: "vendor/composer/installed.json", Content: strings.NewReader("{")}); err == nil {
		t.Error("broken vendor/composer/installed.json: no error")
	}
	// Over the bound: refused, not buffered.
	big := io.MultiReader(strings.NewReader(`{"packages":[`), strings.NewReader(strings.Repeat(" ", phpMaxFile)))
	if _, err := (phpCataloger{}).Catalog(File{Path: "composer.lock", Content: big}); err == nil {
		t.Error("oversized composer.lock: no error")
	}
}

func FuzzPHPComposer(f *testing.F) {
	f.Add(`{"packages":[{"name":"a/b","version":"1","license":["MIT"],"authors":[{"name":"x"}]}]}`, false)
	f.Add(`[{"name":"a","version":"1","license":"MIT"}]`, false)
	f.Add(`{"packages":[{"name":"a/b/c","version":"1"}],"packages-dev":[]}`, true)
	f.Fuzz(func(t *testing.T, in string, lock bool) {
		path := "vendor/composer/installed.json"
		if lock {
			path = "composer.lock"
		}
		pkgs, err := phpCataloger{}.Catalog(File{Path: path, Content: strings.NewReader(in)})
		if err != nil {
			return
		}
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" || !strings.HasPrefix(p.PURL, "pkg:composer/") {
				t.Fatalf("bad package %+v", p)
			}
		}
	})
}
