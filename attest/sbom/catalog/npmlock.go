package catalog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"go.yaml.in/yaml/v3"
)

// npmLockMax bounds a lock file: the largest real ones (monorepos) are a
// few tens of MiB.
const npmLockMax = 64 << 20

// npmLockCataloger reads npm, Yarn and pnpm lock files: package-lock.json
// (lockfileVersion 1, 2 and 3; npm-shrinkwrap.json is the same format),
// yarn.lock (Yarn 1 and Yarn 2+ "berry") and pnpm-lock.yaml (versions 5
// to 9). Development dependencies are left out, as syft's lock cataloger
// does by default, where the lock file tells them apart (package-lock.json,
// pnpm's dev: true, pnpm 9's dependency graph): they are not installed in
// production. yarn.lock does not say; all its packages are listed.
//
// A lock file says what an install would put in node_modules. The walker
// keeps its packages only when no package is installed under the
// node_modules beside it (sbom's squash, dropShadowedLocks): what is
// installed is what runs. Lock files inside node_modules (npm's hidden
// node_modules/.package-lock.json, packages' own locks) are not read.
type npmLockCataloger struct{}

func (npmLockCataloger) Name() string { return "npm-lock" }

func (npmLockCataloger) Wants(path string, _ fs.FileMode, size int64) bool {
	if size > npmLockMax {
		return false
	}
	dir, base := langSplitDir(path)
	switch base {
	case "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml":
	default:
		return false
	}
	return !strings.Contains("/"+dir+"/", "/node_modules/")
}

func (npmLockCataloger) Catalog(f File) ([]Package, error) {
	var (
		pkgs []Package
		err  error
	)
	_, base := langSplitDir(f.Path)
	switch base {
	case "package-lock.json", "npm-shrinkwrap.json":
		pkgs, err = npmParsePackageLock(f.Content)
	case "yarn.lock":
		pkgs, err = npmParseYarnLock(f.Content)
	case "pnpm-lock.yaml":
		var data []byte
		data, err = io.ReadAll(io.LimitReader(f.Content, npmLockMax))
		if err == nil {
			pkgs, err = npmParsePnpmLock(bytes.NewReader(data))
		}
		if err == nil {
			pkgs = pnpmDropDev(data, pkgs)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("npm lock file %s: %w", f.Path, err)
	}
	pkgs = langDedup(pkgs)
	for i := range pkgs {
		pkgs[i].Location, pkgs[i].Layer = f.Path, f.Layer
	}
	return pkgs, nil
}

func npmLockPackage(name, version string) (Package, bool) {
	name, version = strings.TrimSpace(name), strings.TrimSpace(version)
	if name == "" || version == "" {
		return Package{}, false
	}
	// An alias ("my-lodash": "npm:lodash@4.17.21") installs the real package.
	if real, ok := strings.CutPrefix(version, "npm:"); ok {
		if i := strings.LastIndexByte(real, '@'); i > 0 {
			name, version = real[:i], real[i+1:]
		}
	}
	// Local, linked and workspace entries have no registry identity.
	for _, pfx := range []string{"file:", "link:", "workspace:", "portal:", "patch:"} {
		if strings.HasPrefix(version, pfx) {
			return Package{}, false
		}
	}
	return Package{Name: name, Version: version, Type: "npm", PURL: npmPURL(name, version)}, true
}

// npmParsePackageLock reads package-lock.json. Version 2 and 3 list every
// installed path under "packages" ("node_modules/a/node_modules/@s/b");
// version 1 has only the nested "dependencies" tree.
func npmParsePackageLock(r io.Reader) ([]Package, error) {
	type dep struct {
		Version      string          `json:"version"`
		Dev          bool            `json:"dev"`
		Dependencies json.RawMessage `json:"dependencies"`
	}
	var lock struct {
		LockfileVersion int `json:"lockfileVersion"`
		Packages        map[string]struct {
			Name    string `json:"name"`
			Version string `json:"version"`
			Dev     bool   `json:"dev"`
			Link    bool   `json:"link"`
		} `json:"packages"`
		Dependencies json.RawMessage `json:"dependencies"`
	}
	if err := json.NewDecoder(io.LimitReader(r, npmLockMax)).Decode(&lock); err != nil {
		return nil, err
	}
	var pkgs []Package
	if len(lock.Packages) > 0 {
		for key, e := range lock.Packages {
			i := strings.LastIndex(key, "node_modules/")
			if i < 0 || e.Link || e.Dev {
				continue // the root project, workspace sources, links
			}
			name := key[i+len("node_modules/"):]
			if e.Name != "" {
				name = e.Name
			}
			if p, ok := npmLockPackage(name, e.Version); ok {
				pkgs = append(pkgs, p)
			}
		}
		return pkgs, nil
	}
	var walk func(raw json.RawMessage, depth int) error
	walk = func(raw json.RawMessage, depth int) error {
		if len(raw) == 0 || depth > 64 {
			return nil
		}
		var deps map[string]dep
		if err := json.Unmarshal(raw, &deps); err != nil {
			return err
		}
		for name, d := range deps {
			if d.Dev {
				continue
			}
			if p, ok := npmLockPackage(name, d.Version); ok {
				pkgs = append(pkgs, p)
			}
			if err := walk(d.Dependencies, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(lock.Dependencies, 0); err != nil {
		return nil, err
	}
	return pkgs, nil
}

// npmParseYarnLock reads yarn.lock, streaming. An entry is a line of
// comma-separated specifiers at column 0 ending in ':' ("lodash@^4.17.0",
// "@babel/core@npm:^7.0.0"), followed by indented fields; Yarn 1 writes
// `version "1.2.3"`, berry `version: 1.2.3` and a resolution naming the
// protocol, of which only npm: is a registry package.
func npmParseYarnLock(r io.Reader) ([]Package, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var pkgs []Package
	var name, version, resolution string
	flush := func() {
		if name != "" && version != "" && version != "0.0.0-use.local" &&
			(resolution == "" || strings.Contains(resolution, "@npm:")) {
			if p, ok := npmLockPackage(name, version); ok {
				pkgs = append(pkgs, p)
			}
		}
		name, version, resolution = "", "", ""
	}
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] != ' ' {
			flush()
			if strings.HasPrefix(line, "__metadata:") {
				continue
			}
			first, _, _ := strings.Cut(strings.TrimSuffix(line, ":"), ",")
			name = yarnSpecName(strings.Trim(strings.TrimSpace(first), `"`))
			continue
		}
		field := strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(field, "version"); ok && (strings.HasPrefix(v, " ") || strings.HasPrefix(v, ":")) {
			version = strings.Trim(strings.TrimSpace(strings.TrimPrefix(v, ":")), `"`)
		} else if v, ok := strings.CutPrefix(field, "resolution:"); ok {
			resolution = strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	flush()
	return pkgs, sc.Err()
}

// yarnSpecName is the package name of "name@range" or "@scope/name@range".
func yarnSpecName(spec string) string {
	i := strings.LastIndexByte(spec, '@')
	if i <= 0 {
		return spec
	}
	// berry: "name@npm:^1.0.0", but also "alias@npm:real@^1.0.0".
	if j := strings.Index(spec[1:], "@"); j >= 0 {
		return spec[:j+1]
	}
	return spec[:i]
}

// npmParsePnpmLock reads the keys of pnpm-lock.yaml's top-level "packages:"
// map without a YAML decoder (lock files are large and the keys say all):
// "/name/1.2.3" (v5), "/name@1.2.3" (v6), "name@1.2.3" (v9), scoped names
// and a peer-dependency suffix ("_react@18.2.0", "(react@18.2.0)") allowed.
// "dev: true" under an entry (v5, v6) leaves it out.
func npmParsePnpmLock(r io.Reader) ([]Package, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var pkgs []Package
	inPackages := false
	var cur Package
	have, dev := false, false
	flush := func() {
		if have && !dev {
			pkgs = append(pkgs, cur)
		}
		have, dev = false, false
	}
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \r")
		if line == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if line[0] != ' ' {
			flush()
			inPackages = line == "packages:"
			continue
		}
		if !inPackages {
			continue
		}
		if strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   ") {
			flush()
			key := strings.TrimSuffix(strings.TrimSpace(line), ":")
			key = strings.Trim(key, `'"`)
			name, version := pnpmKey(key)
			cur, have = npmLockPackage(name, version)
			continue
		}
		if strings.TrimSpace(line) == "dev: true" {
			dev = true
		}
	}
	flush()
	return pkgs, sc.Err()
}

// pnpmKey splits a packages: key into name and version.
func pnpmKey(key string) (name, version string) {
	key = strings.TrimPrefix(key, "/")
	if i := strings.IndexByte(key, '('); i >= 0 {
		key = key[:i] // v6/v9 peer suffix
	}
	// v6 and v9: name@version (the scope's '@' is at 0).
	if i := strings.LastIndexByte(key, '@'); i > 0 {
		name, version = key[:i], key[i+1:]
		slashes := strings.Count(name, "/")
		if name[0] == '@' && slashes == 1 || name[0] != '@' && slashes == 0 {
			return name, version
		}
	}
	// v5: name/version or @scope/name/version, peers after '_'.
	i := strings.LastIndexByte(key, '/')
	if i <= 0 {
		return "", ""
	}
	name, version = key[:i], key[i+1:]
	if j := strings.IndexByte(version, '_'); j >= 0 {
		version = version[:j]
	}
	return name, version
}

// pnpmDropDev leaves out development-only packages of a pnpm 9 lock file,
// which no longer marks them: what the importers' dependencies and
// optionalDependencies reach through the snapshots' dependencies is kept.
// A lock file without importers or snapshots (5.4, 6.0, which mark dev
// themselves) is returned as it is.
func pnpmDropDev(data []byte, pkgs []Package) []Package {
	type deps struct {
		Dependencies         map[string]any `yaml:"dependencies"`
		OptionalDependencies map[string]any `yaml:"optionalDependencies"`
	}
	var lock struct {
		Importers map[string]deps `yaml:"importers"`
		Snapshots map[string]deps `yaml:"snapshots"`
	}
	if yaml.Unmarshal(data, &lock) != nil || len(lock.Importers) == 0 || len(lock.Snapshots) == 0 {
		return pkgs
	}
	// version is "1.2.3", "1.2.3(peer@1)", or {specifier, version} in importers.
	ref := func(name string, v any) string {
		if m, ok := v.(map[string]any); ok {
			v = m["version"]
		}
		s, _ := v.(string)
		return name + "@" + s
	}
	reached := map[string]bool{}
	var queue []string
	visit := func(d deps) {
		for _, m := range []map[string]any{d.Dependencies, d.OptionalDependencies} {
			for name, v := range m {
				if r := ref(name, v); !reached[r] {
					reached[r] = true
					queue = append(queue, r)
				}
			}
		}
	}
	for _, imp := range lock.Importers {
		visit(imp)
	}
	for len(queue) > 0 {
		r := queue[0]
		queue = queue[1:]
		visit(lock.Snapshots[r])
	}
	kept := map[string]bool{}
	for r := range reached {
		if i := strings.IndexByte(r[1:], '('); i >= 0 {
			r = r[:i+1]
		}
		kept[r] = true
	}
	out := pkgs[:0]
	for _, p := range pkgs {
		if kept[p.Name+"@"+p.Version] {
			out = append(out, p)
		}
	}
	return out
}
