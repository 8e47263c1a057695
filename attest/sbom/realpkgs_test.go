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
	for _, tool := range []string{"apt-get", "dpkg-deb", "npm", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "%s is not installed (%v): the real-package fixtures need apt-get, dpkg-deb, npm and go", tool, err)
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
// installed beside it; Python and Java from Debian; Go binaries from Debian
// (built without module information) and from the module proxy; and, in the
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
