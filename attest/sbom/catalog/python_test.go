package catalog

import (
	"bytes"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestPythonFixtureTree(t *testing.T) {
	got := catalogTree(t, filepath.Join(langFixtures, "python"))
	pkg := func(name, version, purl, loc, supplier string, licenses ...string) Package {
		return Package{Name: name, Version: version, Type: "pypi", PURL: purl, Licenses: licenses,
			Supplier: supplier, Location: loc, Layer: "sha256:layer"}
	}
	const dp, sp = "usr/lib/python3/dist-packages/", "usr/local/lib/python3.11/site-packages/"
	want := []Package{
		pkg("Jinja2", "3.1.2", "pkg:pypi/jinja2@3.1.2", sp+"Jinja2-3.1.2.dist-info/METADATA",
			"Pallets", "BSD-3-Clause"),
		pkg("python-apt", "2.4.0", "pkg:pypi/python-apt@2.4.0", dp+"python_apt-2.4.0.egg-info",
			"APT Development Team", "GNU GPL"),
		pkg("requests", "2.31.0", "pkg:pypi/requests@2.31.0", dp+"requests-2.31.0.dist-info/METADATA",
			"Kenneth Reitz", "Apache 2.0"),
		pkg("setuptools", "68.0.0", "pkg:pypi/setuptools@68.0.0", sp+"setuptools-68.0.0-py3.11.egg-info/PKG-INFO",
			"Python Packaging Authority", "MIT License"),
		pkg("six", "1.16.0", "pkg:pypi/six@1.16.0", sp+"six-1.16.0-py3.11.egg/EGG-INFO/PKG-INFO",
			"Benjamin Peterson", "MIT"),
		pkg("typing_extensions", "4.8.0", "pkg:pypi/typing-extensions@4.8.0", sp+"typing_extensions-4.8.0.dist-info/METADATA",
			`"Guido van Rossum, Jukka Lehtosalo, Łukasz Langa, Michael Lee" <levkivskyi@gmail.com>`,
			"Python Software Foundation License"),
		pkg("zope.interface", "6.1", "pkg:pypi/zope-interface@6.1", sp+"zope.interface-6.1.dist-info/METADATA",
			"Zope Foundation and Contributors", "ZPL-2.1"),
	}
	comparePackages(t, got, want)
}

func TestPythonWants(t *testing.T) {
	c := pythonCataloger{}
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA", true},
		{"requests-2.31.0.dist-info/METADATA", true},
		{"x/foo.egg-info/PKG-INFO", true},
		{"x/foo-1.0-py3.11.egg/EGG-INFO/PKG-INFO", true},
		{"x/python_apt-2.4.0.egg-info", true},
		{"x/foo.dist-info/RECORD", false},
		{"x/foo.dist-info/METADATA.bak", false},
		{"x/docs/METADATA", false},
		{"METADATA", false},
		{"x/sdist/PKG-INFO", false},
		{"x/EGG-INFO/PKG-INFO", false},
		{"x/foo.egg-info/SOURCES.txt", false},
	} {
		if got := c.Wants(tc.path, 0o644, 100); got != tc.want {
			t.Errorf("Wants(%q) = %v", tc.path, got)
		}
	}
}

func TestPythonParseMetadata(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    Package
		wantErr bool
	}{
		{
			name: "minimal no trailing newline",
			in:   "Name: Foo_Bar.baz\nVersion: 1.0",
			want: Package{Name: "Foo_Bar.baz", Version: "1.0", Type: "pypi", PURL: "pkg:pypi/foo-bar-baz@1.0"},
		},
		{
			name: "license expression wins",
			in:   "Name: a\nVersion: 1\nLicense: MIT License\nLicense-Expression: MIT OR Apache-2.0\nClassifier: License :: OSI Approved :: MIT License\n",
			want: Package{Name: "a", Version: "1", Type: "pypi", PURL: "pkg:pypi/a@1", Licenses: []string{"MIT OR Apache-2.0"}},
		},
		{
			name: "UNKNOWN license falls back to classifiers, several kept",
			in: "Name: a\nVersion: 1\nLicense: UNKNOWN\nAuthor: UNKNOWN\nAuthor-email: a@b.c\n" +
				"Classifier: License :: OSI Approved :: MIT License\nClassifier: License :: OSI Approved :: Apache Software License\n" +
				"Classifier: License :: OSI Approved :: MIT License\nClassifier: Topic :: Software Development\n",
			want: Package{Name: "a", Version: "1", Type: "pypi", PURL: "pkg:pypi/a@1", Supplier: "a@b.c",
				Licenses: []string{"MIT License", "Apache Software License"}},
		},
		{
			name: "long single-line license is text, not a name",
			in:   "Name: a\nVersion: 1\nLicense: " + strings.Repeat("x", pyMaxLicenseField+1) + "\n",
			want: Package{Name: "a", Version: "1", Type: "pypi", PURL: "pkg:pypi/a@1"},
		},
		{
			name: "first value of a repeated field; headers end at the first empty line",
			in:   "Name: a\nName: b\nVersion: 2!1.0+local\n\nName: c\nLicense: GPL\n",
			want: Package{Name: "a", Version: "2!1.0+local", Type: "pypi", PURL: "pkg:pypi/a@2%211.0%2Blocal"},
		},
		{
			name: "garbage lines ignored",
			in:   "this is not a header\nName: a\n\tstray continuation\nVersion: 1\n",
			want: Package{Name: "a", Version: "1", Type: "pypi", PURL: "pkg:pypi/a@1"},
		},
		{name: "empty: not metadata", in: ""},
		{name: "blank line first: not metadata", in: "\nName: a\nVersion: 1\n"},
		{name: "no header line: not metadata", in: "just text\nmore text\n"},
		{name: "no version", in: "Name: a\n", wantErr: true},
		{name: "version after the header block", in: "Name: a\n\nVersion: 1\n", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := pyParseMetadata(strings.NewReader(tc.in))
			if (err != nil) != tc.wantErr || ok != (tc.want.Name != "") {
				t.Fatalf("ok = %v, err = %v", ok, err)
			}
			if ok && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestPyNormalizeName(t *testing.T) {
	for in, want := range map[string]string{
		"Django": "django", "typing_extensions": "typing-extensions", "zope.interface": "zope-interface",
		"A__B-.-C": "a-b-c", "ruamel.yaml.clib": "ruamel-yaml-clib", "x_": "x-", "_x": "-x",
	} {
		if got := pyNormalizeName(in); got != want {
			t.Errorf("pyNormalizeName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPythonReadBound feeds a header block that never ends: the parser stops
// at pyMaxHeader bytes.
func TestPythonReadBound(t *testing.T) {
	for _, tail := range []string{"x", "Classifier: License :: x\n", " continuation\n"} {
		cr := &countingReader{r: io.MultiReader(strings.NewReader("Name: a\nVersion: 1\nLicense: "), endless([]byte(tail)))}
		p, ok, err := pyParseMetadata(cr)
		if err != nil || !ok || p.Name != "a" {
			t.Errorf("%q: %+v, %v", tail, p, err)
		}
		if cr.n > pyMaxHeader {
			t.Errorf("%q: read %d bytes, bound %d", tail, cr.n, pyMaxHeader)
		}
	}
}

func FuzzPythonMetadata(f *testing.F) {
	f.Add([]byte("Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nLicense: Apache 2.0\nClassifier: License :: OSI Approved :: MIT License\n\nbody"))
	f.Add([]byte("Name: a\r\nVersion: 1\r\nLicense: x\r\n        y\r\n\r\n"))
	f.Add([]byte("Name:\nVersion:\n:\n \n\t\nClassifier: License ::\nClassifier: ::\n"))
	f.Add([]byte("\xff\xfe\x00Name: \x00\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var r io.Reader = bytes.NewReader(data)
		if len(data)%8 == 0 {
			// Endless input after the fuzz data (for some inputs, to keep
			// the fuzzer fast): parsing must stop at the bound.
			r = io.MultiReader(r, endless(bytes.Repeat([]byte("a"), 4096)))
		}
		cr := &countingReader{r: r}
		p, ok, err := pyParseMetadata(cr)
		if cr.n > pyMaxHeader {
			t.Fatalf("read %d bytes", cr.n)
		}
		if ok && (err != nil || p.Name == "" || p.Version == "" || !strings.HasPrefix(p.PURL, "pkg:pypi/")) {
			t.Fatalf("incomplete package without error: %+v", p)
		}
	})
}
