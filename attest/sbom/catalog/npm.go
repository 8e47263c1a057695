package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// npmMaxManifest bounds a package.json: larger files are not wanted, and no
// more than this is ever read.
const npmMaxManifest = 1 << 20

// npmCataloger reads the package.json of packages installed under a
// node_modules directory.
//
// Only node_modules/NAME/package.json and node_modules/@SCOPE/NAME/package.json
// are read (at any depth, so nested node_modules, global installs under
// usr/lib/node_modules and pnpm's node_modules/.pnpm/X/node_modules/NAME all
// count). An application's own package.json (/app/package.json) is a
// manifest of what to install, not an installed package, and is not read; nor
// are package.json files deeper inside a package (test fixtures, "exports"
// stubs such as NAME/esm/package.json), which would report phantom packages.
type npmCataloger struct{}

func (npmCataloger) Name() string { return "npm" }

func (npmCataloger) Wants(path string, _ fs.FileMode, size int64) bool {
	if size > npmMaxManifest {
		return false
	}
	dir, base := langSplitDir(path)
	if base != "package.json" {
		return false
	}
	if npmDistroPackage(dir) {
		return true
	}
	parent, name := langSplitDir(dir)
	if name == "" || name == "node_modules" {
		return false
	}
	grand, p := langSplitDir(parent)
	if p == "node_modules" {
		return name[0] != '@' // a scope directory is not a package
	}
	if len(p) > 1 && p[0] == '@' {
		_, gp := langSplitDir(grand)
		return gp == "node_modules"
	}
	return false
}

// npmDistroPackage reports whether dir is a package directory of the
// Debian/Ubuntu layouts: usr/share/nodejs/NAME, usr/lib/nodejs/NAME and the
// multi-arch usr/lib/TRIPLET/nodejs/NAME, or @SCOPE/NAME under any of them.
// Packages under a distribution package's own node_modules are matched by
// the node_modules rule.
func npmDistroPackage(dir string) bool {
	var rest string
	switch {
	case strings.HasPrefix(dir, "usr/share/nodejs/"):
		rest = dir[len("usr/share/nodejs/"):]
	case strings.HasPrefix(dir, "usr/lib/nodejs/"):
		rest = dir[len("usr/lib/nodejs/"):]
	case strings.HasPrefix(dir, "usr/lib/"):
		triplet, r, ok := strings.Cut(dir[len("usr/lib/"):], "/")
		if !ok || !strings.HasSuffix(triplet, "-gnu") && !strings.HasSuffix(triplet, "-gnueabihf") && !strings.HasSuffix(triplet, "-gnuabi64") {
			return false
		}
		rest, ok = strings.CutPrefix(r, "nodejs/")
		if !ok {
			return false
		}
	default:
		return false
	}
	scope, name, scoped := strings.Cut(rest, "/")
	if !scoped {
		return rest != "" && rest[0] != '@' && rest[0] != '.'
	}
	return len(scope) > 1 && scope[0] == '@' && name != "" && !strings.Contains(name, "/")
}

func (npmCataloger) Catalog(f File) ([]Package, error) {
	p, ok, err := npmParseManifest(f.Content)
	if err != nil {
		return nil, fmt.Errorf("npm package %s: %w", f.Path, err)
	}
	if !ok {
		return nil, nil
	}
	p.Location, p.Layer = f.Path, f.Layer
	return []Package{p}, nil
}

// npmParseManifest decodes a package.json (at most npmMaxManifest bytes).
// ok is false for manifests that declare no installable package: no name,
// no version, or "private": true.
func npmParseManifest(r io.Reader) (p Package, ok bool, err error) {
	data, err := io.ReadAll(io.LimitReader(r, npmMaxManifest+1))
	if err != nil {
		return Package{}, false, err
	}
	if len(data) > npmMaxManifest {
		return Package{}, false, errLangTooLarge{"package.json", npmMaxManifest}
	}
	var m struct {
		Name     json.RawMessage `json:"name"`
		Version  json.RawMessage `json:"version"`
		Private  json.RawMessage `json:"private"`
		License  json.RawMessage `json:"license"`
		Licenses json.RawMessage `json:"licenses"`
		Author   json.RawMessage `json:"author"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return Package{}, false, err
	}
	name, version := npmString(m.Name), npmString(m.Version)
	if name == "" || version == "" || bytes.Equal(bytes.TrimSpace(m.Private), []byte("true")) {
		return Package{}, false, nil
	}
	var licenses []string
	if l := npmLicense(m.License); l != "" {
		licenses = append(licenses, l)
	}
	var legacy []json.RawMessage
	if json.Unmarshal(m.Licenses, &legacy) == nil {
		for _, raw := range legacy {
			if l := npmLicense(raw); l != "" {
				licenses = append(licenses, l)
			}
		}
	} else if l := npmLicense(m.Licenses); l != "" {
		licenses = append(licenses, l)
	}
	return Package{
		Name:     name,
		Version:  version,
		Type:     "npm",
		PURL:     npmPURL(name, version),
		Licenses: licenses,
		Supplier: npmPerson(m.Author),
	}, true, nil
}

// npmString returns raw as a trimmed JSON string, "" when it is not one.
func npmString(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return strings.TrimSpace(s)
}

// npmLicense reads "MIT" or the legacy {"type": "MIT", "url": …}.
func npmLicense(raw json.RawMessage) string {
	if s := npmString(raw); s != "" {
		return s
	}
	var o struct {
		Type json.RawMessage `json:"type"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &o) != nil {
		return ""
	}
	return npmString(o.Type)
}

// npmPerson reads "Name <email> (url)" or {"name", "email", "url"}.
func npmPerson(raw json.RawMessage) string {
	if s := npmString(raw); s != "" {
		return s
	}
	var o struct {
		Name  json.RawMessage `json:"name"`
		Email json.RawMessage `json:"email"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &o) != nil {
		return ""
	}
	name, email := npmString(o.Name), npmString(o.Email)
	switch {
	case name != "" && email != "":
		return name + " <" + email + ">"
	case name != "":
		return name
	}
	return email
}

// npmPURL builds pkg:npm/NAME@VERSION or pkg:npm/%40SCOPE/NAME@VERSION; the
// npm purl type has scope and name lower-cased.
func npmPURL(name, version string) string {
	name = strings.ToLower(name)
	var ns string
	if strings.HasPrefix(name, "@") {
		if s, n, ok := strings.Cut(name, "/"); ok {
			ns, name = s, n
		}
	}
	return langPURL("npm", ns, name, version)
}
