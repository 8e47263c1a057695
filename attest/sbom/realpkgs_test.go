package sbom

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// realPkgs returns the directory testdata/sbom/make-realpkgs.sh fills with
// two layer tarballs of real published packages (Debian .debs unpacked with
// and without their dpkg database, npm tarballs, an npm-resolved lock file),
// running the script when they are not cached yet.
func realPkgs(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("downloads real Debian and npm packages and builds a Go program")
	}
	for _, tool := range []string{"apt-get", "dpkg-deb", "npm", "go", "cargo", "objcopy", "composer"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "%s is not installed (%v): the real-package fixtures need apt-get, dpkg-deb, npm, go, cargo, objcopy and composer (tools/system-deps.sh)", tool, err)
		}
	}
	cmd := exec.Command("sh", filepath.Join("..", "..", "testdata", "sbom", "make-realpkgs.sh"))
	cmd.Env = append(os.Environ(), "IMGSIGN_TOOLS_DIR="+filepath.Dir(testenv.ToolsBin()))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make-realpkgs.sh: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// realGoBinary builds a program requiring two modules from the module
// proxy, with its version set through -ldflags as release builds do.
func realGoBinary(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"go.mod": "module example.com/realapp\n\ngo 1.22\n\nrequire (\n\tgithub.com/google/uuid v1.6.0\n\tgolang.org/x/sync v0.24.0\n)\n",
		"main.go": "package main\n\nimport (\n\t\"fmt\"\n\n\t\"github.com/google/uuid\"\n\t\"golang.org/x/sync/errgroup\"\n)\n\n" +
			"var version = \"dev\"\n\nfunc main() {\n\tvar g errgroup.Group\n\tg.Go(func() error { fmt.Println(version, uuid.NewString()); return nil })\n\t_ = g.Wait()\n}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "realapp")
	cmd := exec.Command("go", "build", "-o", bin, "-ldflags=-X main.version=1.2.3", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod -buildvcs=false", "GOWORK=off",
		"GOTOOLCHAIN=local", "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Where make-realpkgs.sh puts the Rust, PHP and .NET files (paths of the
// Debian and npm packages they come from).
const (
	rustBook        = "usr/src/rustc-1.63.0/src/doc/book/listings/"
	rustBookV3      = rustBook + "ch02-guessing-game-tutorial/listing-02-04/Cargo.lock"
	rustBookV1      = rustBook + "ch19-advanced-features/listing-19-31/hello_macro/hello_macro_derive/Cargo.lock"
	dompdfInstalled = "usr/share/icingaweb2/library/vendor/dompdf/vendor/composer/installed.json"
	fableDeps       = "usr/local/lib/node_modules/fable-compiler/bin/fable-cli/Fable.Cli.deps.json"
)

// tarNames lists the regular files of a layer tarball whose names contain
// sub and end in suffix.
func tarNames(t *testing.T, tarPath, sub, suffix string) []string {
	t.Helper()
	f, err := os.Open(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		if h.Typeflag == tar.TypeReg && strings.Contains(name, sub) && strings.HasSuffix(name, suffix) {
			names = append(names, name)
		}
	}
}

// tarFile reads one file out of a layer tarball.
func tarFile(t *testing.T, tarPath, name string) string {
	t.Helper()
	f, err := os.Open(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("%s: no %s", tarPath, name)
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimPrefix(h.Name, "./") == name {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
}

// TestRealPackages scans an image assembled from real packages and asserts
// the exact package set: Node.js in the Debian layout (scoped @types/* too),
// a global install, an app's node_modules and a lock file with nothing
// installed beside it; Python, Java and Ruby gems from Debian; Go binaries
// from Debian (built without module information) and from the module proxy;
// Cargo.lock files and a cargo auditable binary; Composer's installed.json
// and composer.lock; a .NET deps.json; and, in the
// second layer, packages whose files dpkg owns, reported once, as debs.
func TestRealPackages(t *testing.T) {
	dir := realPkgs(t)
	nodb := &fileLayer{path: filepath.Join(dir, "nodb.tar")}
	db := &fileLayer{path: filepath.Join(dir, "db.tar")}
	goLayer := layer(t, gzipped, entry{name: "usr/local/bin/realapp", body: string(realGoBinary(t)), mode: 0o755})
	res := scan(t, image(t, nodb, db, goLayer), Default())

	gv := strings.TrimPrefix(runtime.Version(), "go")
	if i := strings.IndexByte(gv, ' '); i >= 0 {
		gv = gv[:i]
	}
	// type name version purl location
	want := []string{
		// Debian's Go packages are built without module information: the
		// main package's path and the Go version are all there is.
		"golang github.com/direnv/direnv  pkg:golang/github.com/direnv/direnv usr/bin/direnv",
		"golang github.com/google/uuid v1.6.0 pkg:golang/github.com/google/uuid@v1.6.0 usr/local/bin/realapp",
		"golang example.com/realapp v1.2.3 pkg:golang/example.com/realapp@v1.2.3 usr/local/bin/realapp",
		"golang github.com/junegunn/fzf  pkg:golang/github.com/junegunn/fzf usr/bin/fzf",
		"golang golang.org/x/sync v0.24.0 pkg:golang/golang.org/x/sync@v0.24.0 usr/local/bin/realapp",
		"golang stdlib 1.19.8 pkg:golang/stdlib@1.19.8 usr/bin/direnv",
		"golang stdlib 1.19.8 pkg:golang/stdlib@1.19.8 usr/bin/fzf",
		"golang stdlib " + gv + " pkg:golang/stdlib@" + gv + " usr/local/bin/realapp",
		"maven commons-lang3 3.12.0 pkg:maven/org.apache.commons/commons-lang3@3.12.0 usr/share/java/commons-lang3.jar",
		"maven jcl-over-slf4j 1.7.32 pkg:maven/org.slf4j/jcl-over-slf4j@1.7.32 usr/share/java/jcl-over-slf4j.jar",
		"maven jul-to-slf4j 1.7.32 pkg:maven/org.slf4j/jul-to-slf4j@1.7.32 usr/share/java/jul-to-slf4j.jar",
		"maven log4j-over-slf4j 1.7.32 pkg:maven/org.slf4j/log4j-over-slf4j@1.7.32 usr/share/java/log4j-over-slf4j.jar",
		"maven slf4j-api 1.7.32 pkg:maven/org.slf4j/slf4j-api@1.7.32 usr/share/java/slf4j-api.jar",
		"maven slf4j-jcl 1.7.32 pkg:maven/org.slf4j/slf4j-jcl@1.7.32 usr/share/java/slf4j-jcl.jar",
		"maven slf4j-jdk14 1.7.32 pkg:maven/org.slf4j/slf4j-jdk14@1.7.32 usr/share/java/slf4j-jdk14.jar",
		"maven slf4j-log4j12 1.7.32 pkg:maven/org.slf4j/slf4j-log4j12@1.7.32 usr/share/java/slf4j-log4j12.jar",
		"maven slf4j-migrator 1.7.32 pkg:maven/org.slf4j/slf4j-migrator@1.7.32 usr/share/java/slf4j-migrator.jar",
		"maven slf4j-nop 1.7.32 pkg:maven/org.slf4j/slf4j-nop@1.7.32 usr/share/java/slf4j-nop.jar",
		"maven slf4j-simple 1.7.32 pkg:maven/org.slf4j/slf4j-simple@1.7.32 usr/share/java/slf4j-simple.jar",
		"npm @types/debug 4.1.7 pkg:npm/%40types/debug@4.1.7 usr/share/nodejs/@types/debug/package.json",
		"npm @types/minimatch 5.1.2 pkg:npm/%40types/minimatch@5.1.2 usr/share/nodejs/@types/minimatch/package.json",
		"npm @types/ms 0.7.31 pkg:npm/%40types/ms@0.7.31 usr/share/nodejs/@types/ms/package.json",
		"npm @types/node 20.11.30 pkg:npm/%40types/node@20.11.30 srv/app/node_modules/@types/node/package.json",
		"npm @types/semver 7.3.9 pkg:npm/%40types/semver@7.3.9 usr/share/nodejs/@types/semver/package.json",
		"npm balanced-match 2.0.0 pkg:npm/balanced-match@2.0.0 usr/share/nodejs/balanced-match/package.json",
		"npm brace-expansion 2.0.1 pkg:npm/brace-expansion@2.0.1 usr/share/nodejs/brace-expansion/package.json",
		"npm debug 4.3.4 pkg:npm/debug@4.3.4 srv/lockapp/package-lock.json",
		"npm debug 4.3.4 pkg:npm/debug@4.3.4 usr/share/nodejs/debug/package.json",
		"npm lodash 4.17.21 pkg:npm/lodash@4.17.21 usr/local/lib/node_modules/lodash/package.json",
		"npm lru-cache 6.0.0 pkg:npm/lru-cache@6.0.0 srv/lockapp/package-lock.json",
		"npm minimatch 5.1.1 pkg:npm/minimatch@5.1.1 usr/share/nodejs/minimatch/package.json",
		"npm ms 2.1.2 pkg:npm/ms@2.1.2 srv/app/node_modules/ms/package.json",
		"npm ms 2.1.2 pkg:npm/ms@2.1.2 srv/lockapp/package-lock.json",
		"npm ms 2.1.3 pkg:npm/ms@2.1.3 usr/share/nodejs/ms/package.json",
		"npm semver 7.3.5 pkg:npm/semver@7.3.5 usr/share/nodejs/semver/package.json",
		"npm semver 7.6.0 pkg:npm/semver@7.6.0 srv/lockapp/package-lock.json",
		"npm yallist 4.0.0 pkg:npm/yallist@4.0.0 srv/lockapp/package-lock.json",
		"pypi certifi 2022.9.24 pkg:pypi/certifi@2022.9.24 usr/lib/python3/dist-packages/certifi-2022.9.24.egg-info/PKG-INFO",
		"pypi idna 3.3 pkg:pypi/idna@3.3 usr/lib/python3/dist-packages/idna-3.3.egg-info/PKG-INFO",
		"pypi six 1.16.0 pkg:pypi/six@1.16.0 usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO",

		// Rust: the Rust book's two Cargo.lock files (the crate being built
		// is local: no purl), and the crates cargo auditable data says are
		// in auditdemo (autocfg, a build dependency, is not).
		"cargo auditdemo 0.3.1 pkg:cargo/auditdemo@0.3.1 usr/local/bin/auditdemo",
		"cargo cfg-if 1.0.0 pkg:cargo/cfg-if@1.0.0 usr/local/bin/auditdemo",
		"cargo itoa 1.0.1 pkg:cargo/itoa@1.0.1 usr/local/bin/auditdemo",
		"cargo hello_macro_derive 0.1.0  " + rustBookV1,
		"cargo proc-macro2 1.0.8 pkg:cargo/proc-macro2@1.0.8 " + rustBookV1,
		"cargo quote 1.0.2 pkg:cargo/quote@1.0.2 " + rustBookV1,
		"cargo syn 1.0.14 pkg:cargo/syn@1.0.14 " + rustBookV1,
		"cargo unicode-xid 0.2.0 pkg:cargo/unicode-xid@0.2.0 " + rustBookV1,
		"cargo guessing_game 0.1.0  " + rustBookV3,
		"cargo cfg-if 1.0.0 pkg:cargo/cfg-if@1.0.0 " + rustBookV3,
		"cargo getrandom 0.2.2 pkg:cargo/getrandom@0.2.2 " + rustBookV3,
		"cargo libc 0.2.86 pkg:cargo/libc@0.2.86 " + rustBookV3,
		"cargo ppv-lite86 0.2.10 pkg:cargo/ppv-lite86@0.2.10 " + rustBookV3,
		"cargo rand 0.8.3 pkg:cargo/rand@0.8.3 " + rustBookV3,
		"cargo rand_chacha 0.3.0 pkg:cargo/rand_chacha@0.3.0 " + rustBookV3,
		"cargo rand_core 0.6.2 pkg:cargo/rand_core@0.6.2 " + rustBookV3,
		"cargo rand_hc 0.3.0 pkg:cargo/rand_hc@0.3.0 " + rustBookV3,
		"cargo wasi 0.10.2+wasi-snapshot-preview1 pkg:cargo/wasi@0.10.2%2Bwasi-snapshot-preview1 " + rustBookV3,
		// PHP: icingaweb2's installed.json (dompdf's version as its tag,
		// v2.0.1) and the composer.lock Composer wrote for the same five.
		"composer dompdf/dompdf 2.0.1 pkg:composer/dompdf/dompdf@2.0.1 srv/phpapp/composer.lock",
		"composer masterminds/html5 2.7.6 pkg:composer/masterminds/html5@2.7.6 srv/phpapp/composer.lock",
		"composer phenx/php-font-lib 0.5.4 pkg:composer/phenx/php-font-lib@0.5.4 srv/phpapp/composer.lock",
		"composer phenx/php-svg-lib 0.5.0 pkg:composer/phenx/php-svg-lib@0.5.0 srv/phpapp/composer.lock",
		"composer sabberworm/php-css-parser 8.4.0 pkg:composer/sabberworm/php-css-parser@8.4.0 srv/phpapp/composer.lock",
		"composer dompdf/dompdf v2.0.1 pkg:composer/dompdf/dompdf@v2.0.1 " + dompdfInstalled,
		"composer masterminds/html5 2.7.6 pkg:composer/masterminds/html5@2.7.6 " + dompdfInstalled,
		"composer phenx/php-font-lib 0.5.4 pkg:composer/phenx/php-font-lib@0.5.4 " + dompdfInstalled,
		"composer phenx/php-svg-lib 0.5.0 pkg:composer/phenx/php-svg-lib@0.5.0 " + dompdfInstalled,
		"composer sabberworm/php-css-parser 8.4.0 pkg:composer/sabberworm/php-css-parser@8.4.0 " + dompdfInstalled,
		// .NET: the libraries of Fable.Cli.deps.json that claim an assembly
		// (not Fable.Transforms, another project, nor the two that claim
		// none), and the npm package it came in.
		"npm fable-compiler 2.13.0 pkg:npm/fable-compiler@2.13.0 usr/local/lib/node_modules/fable-compiler/package.json",
		"nuget Dotnet.ProjInfo 0.39.1 pkg:nuget/Dotnet.ProjInfo@0.39.1 " + fableDeps,
		"nuget FSharp.Compiler.Service 22.0.3.0 pkg:nuget/FSharp.Compiler.Service@22.0.3.0 " + fableDeps,
		"nuget FSharp.Core 4.7.2 pkg:nuget/FSharp.Core@4.7.2 " + fableDeps,
		"nuget Fable.Cli 1.0.0 pkg:nuget/Fable.Cli@1.0.0 " + fableDeps,
		"nuget Newtonsoft.Json 12.0.3 pkg:nuget/Newtonsoft.Json@12.0.3 " + fableDeps,
	}
	// Ruby: ruby-rack and ruby-json's specifications, at the version
	// RubyGems names each file with (NAME-VERSION.gemspec): the Debian
	// packages are taken at the archive's current version.
	var gemNames []string
	for _, g := range tarNames(t, nodb.path, "/specifications/", ".gemspec") {
		full := strings.TrimSuffix(filepath.Base(g), ".gemspec")
		i := strings.LastIndexByte(full, '-')
		gemNames = append(gemNames, full[:i])
		want = append(want, "gem "+full[:i]+" "+full[i+1:]+" pkg:gem/"+full[:i]+"@"+full[i+1:]+" "+g)
	}
	if sort.Strings(gemNames); strings.Join(gemNames, " ") != "json rack" {
		t.Errorf("gem specifications in nodb.tar: %q, want json's and rack's", gemNames)
	}
	sort.Strings(want)
	// The debs are those of db.tar's status file, versions included: the
	// Debian revision may move with a stable point release.
	debs, _ := statusOracle(t, db.path)
	rows := func(res *Result) (got, gotDebs []string) {
		for _, p := range res.Packages {
			if p.Type == "deb" {
				if !strings.HasPrefix(p.PURL, "pkg:deb/debian/"+p.Name+"@") || p.Location != "var/lib/dpkg/status" {
					t.Errorf("deb %+v", p)
				}
				gotDebs = append(gotDebs, p.Name+" "+p.Version)
				continue
			}
			got = append(got, strings.Join([]string{p.Type, p.Name, p.Version, p.PURL, p.Location}, " "))
		}
		sort.Strings(got)
		sort.Strings(gotDebs)
		return got, gotDebs
	}
	got, gotDebs := rows(res)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("packages differ:\n%s", diffLines(got, want))
	}
	if len(debs) != 6 || !reflect.DeepEqual(gotDebs, debs) {
		t.Errorf("debs = %q, want the 6 of the status file %q", gotDebs, debs)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings: %v", res.Warnings)
	}

	// Each package says where it was found, file and layer, in both formats.
	layerOf := map[string]string{"usr/share/nodejs/@types/semver/package.json": digestOf(t, nodb),
		"var/lib/dpkg/status": digestOf(t, db), "usr/local/bin/realapp": digestOf(t, goLayer)}
	for _, p := range res.Packages {
		if d, ok := layerOf[p.Location]; ok && p.Layer != d {
			t.Errorf("%s %s: layer %s, want %s", p.Name, p.Location, p.Layer, d)
		}
	}
	spdx, err := SPDX(res, Subject{Name: "real", Digest: "sha256:" + strings.Repeat("0", 64)})
	if err != nil {
		t.Fatal(err)
	}
	cdx, err := CycloneDX(res, Subject{Name: "real", Digest: "sha256:" + strings.Repeat("0", 64)})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"/usr/share/nodejs/@types/semver/package.json", digestOf(t, nodb), "/usr/local/bin/realapp", digestOf(t, goLayer)} {
		for name, doc := range map[string][]byte{"SPDX": spdx, "CycloneDX": cdx} {
			if !strings.Contains(string(doc), s) {
				t.Errorf("%s output does not mention %s", name, s)
			}
		}
	}
	var cd struct {
		Components []struct {
			Purl       string `json:"purl"`
			Properties []struct{ Name, Value string }
		} `json:"components"`
	}
	if err := json.Unmarshal(cdx, &cd); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(spdx), "go.build:-ldflags: -X main.version=1.2.3") {
		t.Error("SPDX: realapp's build settings are not in its comment")
	}
	for _, c := range cd.Components {
		if c.Purl == "pkg:golang/example.com/realapp@v1.2.3" {
			props := map[string]string{}
			for _, p := range c.Properties {
				props[p.Name] = p.Value
			}
			if props["imgsign:go.build:-ldflags"] != "-X main.version=1.2.3" || props["imgsign:go.build:GOOS"] != "linux" {
				t.Errorf("CycloneDX realapp properties = %v", props)
			}
		}
		if c.Purl == "pkg:npm/%40types/semver@7.3.9" {
			props := map[string]string{}
			for _, p := range c.Properties {
				props[p.Name] = p.Value
			}
			if props[PropertyLocation] != "/usr/share/nodejs/@types/semver/package.json" || props[PropertyLayer] != digestOf(t, nodb) {
				t.Errorf("CycloneDX @types/semver properties = %v", props)
			}
		}
	}

	// Installing into the lock file's app (a real package.json from the
	// first layer) shadows the lock file: what is installed is what runs.
	ms := tarFile(t, nodb.path, "srv/app/node_modules/ms/package.json")
	install := layer(t, gzipped, file("srv/lockapp/node_modules/ms/package.json", ms))
	res = scan(t, image(t, nodb, db, goLayer, install), Default())
	var npmLock []string
	got, _ = rows(res)
	for _, r := range got {
		if strings.Contains(r, "srv/lockapp/") {
			npmLock = append(npmLock, r)
		}
	}
	if w := []string{"npm ms 2.1.2 pkg:npm/ms@2.1.2 srv/lockapp/node_modules/ms/package.json"}; !reflect.DeepEqual(npmLock, w) {
		t.Errorf("with node_modules installed, srv/lockapp gives %q, want %q", npmLock, w)
	}

	// Removing dpkg's file list of node-lru-cache (as a distroless image
	// keeps only status) makes its package.json unowned: reported again.
	unlist := layer(t, gzipped, whiteout("var/lib/dpkg/info/node-lru-cache.list"))
	res = scan(t, image(t, nodb, db, goLayer, unlist), Default())
	found := false
	for _, p := range res.Packages {
		if p.Type == "npm" && p.Name == "lru-cache" && p.Version == "7.14.1" && p.Location == "usr/share/nodejs/lru-cache/package.json" {
			found = true
		}
	}
	if !found {
		t.Error("lru-cache 7.14.1 not reported once no file list owns it")
	}
}

// TestRealPackagesDistroless rewrites the dpkg database of the second layer
// the way distroless images keep it — one status.d/NAME stanza and
// status.d/NAME.md5sums per package, no info/ — and checks that the files
// it lists still make dpkg their owner.
func TestRealPackagesDistroless(t *testing.T) {
	dir := realPkgs(t)
	f, err := os.Open(filepath.Join(dir, "db.tar"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var entries []entry
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case name == "var/lib/dpkg/status":
			for _, stanza := range strings.Split(strings.TrimSpace(string(b)), "\n\n") {
				pkg, _, _ := strings.Cut(strings.TrimPrefix(stanza, "Package: "), "\n")
				entries = append(entries, file("var/lib/dpkg/status.d/"+pkg, stanza+"\n"))
			}
		case strings.HasPrefix(name, "var/lib/dpkg/info/"):
			if base := strings.TrimPrefix(name, "var/lib/dpkg/info/"); strings.HasSuffix(base, ".md5sums") {
				entries = append(entries, file("var/lib/dpkg/status.d/"+base, string(b)))
			}
		default:
			entries = append(entries, entry{name: name, body: string(b), mode: h.Mode})
		}
	}
	res := scan(t, image(t, layer(t, gzipped, entries...)), Default())
	var got []string
	for _, p := range res.Packages {
		got = append(got, p.Type+" "+p.Name+" "+p.Location)
	}
	sort.Strings(got)
	want := []string{
		"deb direnv var/lib/dpkg/status.d/direnv",
		"deb libcommons-io-java var/lib/dpkg/status.d/libcommons-io-java",
		"deb node-inherits var/lib/dpkg/status.d/node-inherits",
		"deb node-lru-cache var/lib/dpkg/status.d/node-lru-cache",
		"deb node-yallist var/lib/dpkg/status.d/node-yallist",
		"deb python3-chardet var/lib/dpkg/status.d/python3-chardet",
		"golang github.com/direnv/direnv usr/bin/direnv",
		"golang stdlib usr/bin/direnv",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("packages differ:\n%s", diffLines(got, want))
	}
}

// diffLines lists what only one side has.
func diffLines(got, want []string) string {
	g, w := map[string]bool{}, map[string]bool{}
	for _, s := range got {
		g[s] = true
	}
	for _, s := range want {
		w[s] = true
	}
	var b strings.Builder
	for _, s := range got {
		if !w[s] {
			b.WriteString("  unexpected: " + s + "\n")
		}
	}
	for _, s := range want {
		if !g[s] {
			b.WriteString("  missing:    " + s + "\n")
		}
	}
	if b.Len() == 0 {
		b.WriteString("  (same set, different multiplicity)\n")
	}
	return b.String()
}

// TestRealLockFiles scans lock files written by npm 11 (package-lock.json
// v1, v2, v3), Yarn 1 and 4 and pnpm 7, 8 and 9 for one app depending on
// debug 4.3.4 (which brings ms 2.1.2) and @types/ms 0.7.31, with semver
// 7.6.0 (lru-cache 6.0.0, yallist 4.0.0) as a development dependency. Where
// the lock file tells development dependencies apart (npm, pnpm) they are
// left out; yarn.lock does not.
func TestRealLockFiles(t *testing.T) {
	dir := realPkgs(t)
	res := scan(t, image(t, &fileLayer{path: filepath.Join(dir, "locks.tar")}), Default())
	got := map[string][]string{}
	for _, p := range res.Packages {
		if p.Type != "npm" {
			t.Errorf("unexpected %+v", p)
			continue
		}
		got[p.Location] = append(got[p.Location], p.PURL)
	}
	prod := []string{"pkg:npm/%40types/ms@0.7.31", "pkg:npm/debug@4.3.4", "pkg:npm/ms@2.1.2"}
	all := append(append([]string{}, prod...), "pkg:npm/lru-cache@6.0.0", "pkg:npm/semver@7.6.0", "pkg:npm/yallist@4.0.0")
	sort.Strings(all)
	want := map[string][]string{
		"srv/locks/npm1/package-lock.json": prod,
		"srv/locks/npm2/package-lock.json": prod,
		"srv/locks/npm3/package-lock.json": prod,
		"srv/locks/pnpm7/pnpm-lock.yaml":   prod,
		"srv/locks/pnpm8/pnpm-lock.yaml":   prod,
		"srv/locks/pnpm9/pnpm-lock.yaml":   prod,
		"srv/locks/yarn1/yarn.lock":        all,
		"srv/locks/yarn4/yarn.lock":        all,
	}
	for _, v := range got {
		sort.Strings(v)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
