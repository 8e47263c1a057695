package catalog

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestNPMFixtureTree(t *testing.T) {
	got := catalogTree(t, filepath.Join(langFixtures, "npm"))
	pkg := func(name, version, purl, loc, supplier string, licenses ...string) Package {
		return Package{Name: name, Version: version, Type: "npm", PURL: purl, Licenses: licenses,
			Supplier: supplier, Location: loc, Layer: "sha256:layer"}
	}
	const nm = "app/node_modules/"
	want := []Package{
		pkg("@babel/core", "7.23.0", "pkg:npm/%40babel/core@7.23.0", nm+"@babel/core/package.json", "The Babel Team", "MIT"),
		pkg("JSONStream", "1.3.5", "pkg:npm/jsonstream@1.3.5", nm+"JSONStream/package.json",
			"Dominic Tarr <dominic.tarr@gmail.com> (http://bit.ly/dominictarr)", "(MIT OR Apache-2.0)"),
		pkg("legacy-licenses", "0.2.0", "pkg:npm/legacy-licenses@0.2.0", nm+"legacy-licenses/package.json", "", "MIT", "Apache-2.0"),
		pkg("lodash", "4.17.21", "pkg:npm/lodash@4.17.21", nm+"lodash/package.json",
			"John-David Dalton <john.david.dalton@gmail.com>", "MIT"),
		pkg("ms", "2.1.3", "pkg:npm/ms@2.1.3", nm+".pnpm/ms@2.1.3/node_modules/ms/package.json", "", "MIT"),
		pkg("npm", "10.2.4", "pkg:npm/npm@10.2.4", "usr/lib/node_modules/npm/package.json", "GitHub Inc.", "Artistic-2.0"),
		pkg("semver", "6.3.1", "pkg:npm/semver@6.3.1", nm+"@babel/core/node_modules/semver/package.json",
			"GitHub Inc. <npm@github.com>", "ISC"),
	}
	comparePackages(t, got, want)
}

func TestNPMWants(t *testing.T) {
	c := npmCataloger{}
	for _, tc := range []struct {
		path string
		size int64
		want bool
	}{
		{"node_modules/lodash/package.json", 100, true},
		{"app/node_modules/lodash/package.json", 100, true},
		{"app/node_modules/@babel/core/package.json", 100, true},
		{"node_modules/@babel/core/package.json", 100, true},
		{"a/node_modules/b/node_modules/c/package.json", 100, true},
		{"usr/lib/node_modules/npm/node_modules/@npmcli/arborist/package.json", 100, true},
		{"app/node_modules/.pnpm/ms@2.1.3/node_modules/ms/package.json", 100, true},
		{"usr/local/lib/node_modules/npm/package.json", 100, true},
		{"usr/share/nodejs/semver/package.json", 100, true},
		{"usr/share/nodejs/@types/node/package.json", 100, true},
		{"usr/lib/nodejs/bcrypt/package.json", 100, true},
		{"usr/lib/x86_64-linux-gnu/nodejs/leveldown/package.json", 100, true},
		{"usr/lib/aarch64-linux-gnu/nodejs/@serialport/bindings/package.json", 100, true},
		{"usr/share/nodejs/@types/package.json", 100, false},
		{"usr/share/nodejs/package.json", 100, false},
		{"usr/share/nodejs/semver/lib/package.json", 100, false},
		{"usr/share/nodejs/@types/node/ts4.8/package.json", 100, false},
		{"usr/share/nodejs/.bin/package.json", 100, false},
		{"usr/lib/python3/nodejs/x/package.json", 100, false},
		{"usr/share/nodejs/semver/node_modules/lru-cache/package.json", 100, true},
		{"app/package.json", 100, false},
		{"package.json", 100, false},
		{"node_modules/package.json", 100, false},
		{"node_modules/@babel/package.json", 100, false},
		{"app/node_modules/lodash/test/package.json", 100, false},
		{"app/node_modules/@babel/core/lib/package.json", 100, false},
		{"app/node_modules/lodash/package.json.bak", 100, false},
		{"app/node_modules/lodash/lodash.js", 100, false},
		{"app/node_modules/lodash/package.json", npmMaxManifest + 1, false},
		{"app/node_modules/lodash/package.json", npmMaxManifest, true},
	} {
		if got := c.Wants(tc.path, 0o644, tc.size); got != tc.want {
			t.Errorf("Wants(%q, %d) = %v", tc.path, tc.size, got)
		}
	}
}

func TestNPMParseManifest(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    Package
		ok      bool
		wantErr bool
	}{
		{
			name: "plain",
			in:   `{"name":"a","version":"1.0.0","license":"MIT","author":"Me"}`,
			want: Package{Name: "a", Version: "1.0.0", Type: "npm", PURL: "pkg:npm/a@1.0.0", Licenses: []string{"MIT"}, Supplier: "Me"},
			ok:   true,
		},
		{
			name: "scoped upper case, prerelease build metadata",
			in:   `{"name":"@Types/Node","version":"20.0.0-beta.1+sha.abc"}`,
			want: Package{Name: "@Types/Node", Version: "20.0.0-beta.1+sha.abc", Type: "npm", PURL: "pkg:npm/%40types/node@20.0.0-beta.1%2Bsha.abc"},
			ok:   true,
		},
		{
			name: "license and licenses both, author email only",
			in:   `{"name":"a","version":"1","license":{"type":"BSD"},"licenses":["ISC",{"type":"GPL"},{"url":"x"},7],"author":{"email":"a@b"}}`,
			want: Package{Name: "a", Version: "1", Type: "npm", PURL: "pkg:npm/a@1", Licenses: []string{"BSD", "ISC", "GPL"}, Supplier: "a@b"},
			ok:   true,
		},
		{
			name: "licenses as a single object",
			in:   `{"name":"a","version":"1","licenses":{"type":"MIT"}}`,
			want: Package{Name: "a", Version: "1", Type: "npm", PURL: "pkg:npm/a@1", Licenses: []string{"MIT"}},
			ok:   true,
		},
		{
			name: "odd types are ignored, not fatal",
			in:   `{"name":"a","version":"1","license":["x"],"author":42,"private":"false"}`,
			want: Package{Name: "a", Version: "1", Type: "npm", PURL: "pkg:npm/a@1"},
			ok:   true,
		},
		{name: "private", in: `{"name":"a","version":"1","private":true}`},
		{name: "no version", in: `{"name":"a"}`},
		{name: "no name", in: `{"version":"1"}`},
		{name: "version not a string", in: `{"name":"a","version":1}`},
		{name: "not an object", in: `[]`, wantErr: true},
		{name: "not JSON", in: `{"name":`, wantErr: true},
		{name: "empty", in: ``, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := npmParseManifest(strings.NewReader(tc.in))
			if (err != nil) != tc.wantErr || ok != tc.ok {
				t.Fatalf("ok=%v err=%v", ok, err)
			}
			if tc.ok && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestNPMReadBound(t *testing.T) {
	cr := &countingReader{r: io.MultiReader(strings.NewReader(`{"name":"a","version":"1","x":"`), endless([]byte("a")))}
	_, _, err := npmParseManifest(cr)
	var tl errLangTooLarge
	if !errors.As(err, &tl) {
		t.Errorf("err = %v, want errLangTooLarge", err)
	}
	if cr.n > npmMaxManifest+1 {
		t.Errorf("read %d bytes", cr.n)
	}
}

func FuzzNPMPackageJSON(f *testing.F) {
	f.Add([]byte(`{"name":"@babel/core","version":"7.23.0","license":"MIT","author":{"name":"x","email":"y"}}`))
	f.Add([]byte(`{"name":"a","version":"1","licenses":[{"type":"MIT"},"ISC",null],"author":"z"}`))
	f.Add([]byte(`{"name":"@","version":"\u0000","private":true}`))
	f.Add([]byte(`{"name":"@a/","version":" "}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, ok, err := npmParseManifest(bytes.NewReader(data))
		if ok && (err != nil || p.Name == "" || p.Version == "" || !strings.HasPrefix(p.PURL, "pkg:npm/")) {
			t.Fatalf("bad package: %+v, %v", p, err)
		}
		if len(data)%8 == 0 {
			// Endless input after the fuzz data (for some inputs, to keep
			// the fuzzer fast): reading must stop at the bound.
			cr := &countingReader{r: io.MultiReader(bytes.NewReader(data), endless(bytes.Repeat([]byte(" "), 4096)))}
			_, _, _ = npmParseManifest(cr)
			if cr.n > npmMaxManifest+1 {
				t.Fatalf("read %d bytes", cr.n)
			}
		}
	})
}
