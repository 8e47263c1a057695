package catalog

import (
	"reflect"
	"sort"
	"strings"
	"testing"
)

func TestNPMLockWants(t *testing.T) {
	c := npmLockCataloger{}
	for p, want := range map[string]bool{
		"app/package-lock.json":                         true,
		"package-lock.json":                             true,
		"app/npm-shrinkwrap.json":                       true,
		"srv/yarn.lock":                                 true,
		"srv/pnpm-lock.yaml":                            true,
		"app/node_modules/.package-lock.json":           false,
		"app/node_modules/foo/package-lock.json":        false,
		"app/node_modules/foo/yarn.lock":                false,
		"node_modules/foo/pnpm-lock.yaml":               false,
		"app/package.json":                              false,
		"app/yarn.lock.bak":                             false,
		"usr/share/nodejs/foo/node_modules/x/yarn.lock": false,
	} {
		if got := c.Wants(p, 0o644, 100); got != want {
			t.Errorf("Wants(%q) = %v", p, got)
		}
	}
	if c.Wants("app/package-lock.json", 0o644, npmLockMax+1) {
		t.Error("over the bound: wanted")
	}
}

func TestPnpmKey(t *testing.T) {
	for key, want := range map[string]string{
		"/ms/2.1.2":                              "ms 2.1.2",
		"/@types/ms/0.7.31":                      "@types/ms 0.7.31",
		"/react-dom/18.2.0_react@18.2.0":         "react-dom 18.2.0",
		"/@emotion/react/11.0.0_@types+react@18": "@emotion/react 11.0.0",
		"/ms@2.1.2":                              "ms 2.1.2",
		"/@types/ms@0.7.31":                      "@types/ms 0.7.31",
		"/react-dom@18.2.0(react@18.2.0)":        "react-dom 18.2.0",
		"ms@2.1.2":                               "ms 2.1.2",
		"@types/ms@0.7.31":                       "@types/ms 0.7.31",
		"@emotion/react@11.0.0(@types/react@18)": "@emotion/react 11.0.0",
	} {
		n, v := pnpmKey(key)
		if got := n + " " + v; got != want {
			t.Errorf("pnpmKey(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestYarnSpecName(t *testing.T) {
	for spec, want := range map[string]string{
		"lodash@^4.17.0":         "lodash",
		"@babel/core@^7.0.0":     "@babel/core",
		"@babel/core@npm:^7.0.0": "@babel/core",
		"lodash@npm:4.17.21":     "lodash",
		"my-app@workspace:.":     "my-app",
		"left-pad":               "left-pad",
	} {
		if got := yarnSpecName(spec); got != want {
			t.Errorf("yarnSpecName(%q) = %q, want %q", spec, got, want)
		}
	}
}

// TestNPMLockAliasesAndLinks: aliases install the real package; local,
// linked and workspace entries have no registry identity.
func TestNPMLockAliasesAndLinks(t *testing.T) {
	lock := `{"lockfileVersion": 3, "packages": {
		"": {"name": "app", "version": "1.0.0"},
		"node_modules/my-lodash": {"name": "lodash", "version": "4.17.21"},
		"node_modules/local": {"resolved": "packages/local", "link": true},
		"packages/local": {"name": "local", "version": "0.1.0"},
		"node_modules/devonly": {"version": "1.0.0", "dev": true},
		"node_modules/a/node_modules/@s/b": {"version": "2.0.0"},
		"node_modules/f": {"version": "file:../f"}
	}}`
	pkgs, err := npmParsePackageLock(strings.NewReader(lock))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pkgs {
		got = append(got, p.PURL)
	}
	sort.Strings(got)
	if want := []string{"pkg:npm/%40s/b@2.0.0", "pkg:npm/lodash@4.17.21"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func FuzzNPMLocks(f *testing.F) {
	f.Add("lockfileVersion: '9.0'\npackages:\n  ms@2.1.2:\n    resolution: {}\n")
	f.Add("importers:\n  .:\n    dependencies:\n      a:\n        version: 1.0.0(b@2)\npackages:\n  a@1.0.0:\n    resolution: {}\nsnapshots:\n  a@1.0.0(b@2):\n    dependencies:\n      c: 3.0.0\n")
	f.Add("\"a@npm:1\":\n  version: 1.0.0\n  resolution: \"a@npm:1.0.0\"\n")
	f.Add(`{"dependencies": {"a": {"version": "1.0.0", "dependencies": {"b": {"version": "npm:c@2"}}}}}`)
	f.Fuzz(func(t *testing.T, s string) {
		pkgs, _ := npmParsePnpmLock(strings.NewReader(s))
		_ = pnpmDropDev([]byte(s), pkgs)
		_, _ = npmParseYarnLock(strings.NewReader(s))
		_, _ = npmParsePackageLock(strings.NewReader(s))
	})
}
