package catalog

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// phpMaxFile bounds installed.json and composer.lock (Wants skips bigger
// files): they list a few hundred packages at most, a few MiB.
const phpMaxFile = 16 << 20

// phpCataloger reads Composer's record of installed packages,
// vendor/composer/installed.json (Composer 1 wrote a JSON array of
// packages, Composer 2 an object with a "packages" array), and
// composer.lock, whose "packages" are the locked runtime dependencies
// ("packages-dev" are not installed in production images and, as syft does,
// are not reported). Like syft it takes every installed.json, whatever its
// directory, but only those that parse as Composer's.
type phpCataloger struct{}

func (phpCataloger) Name() string { return "php-composer" }

func (phpCataloger) Wants(path string, _ fs.FileMode, size int64) bool {
	if size > phpMaxFile {
		return false
	}
	_, base := langSplitDir(path)
	return base == "installed.json" || base == "composer.lock"
}

// phpPackage is one package entry of installed.json or composer.lock.
type phpPackage struct {
	Name    string          `json:"name"`
	Version string          `json:"version"`
	License json.RawMessage `json:"license"`
	Authors []struct {
		Name string `json:"name"`
	} `json:"authors"`
}

func (phpCataloger) Catalog(f File) ([]Package, error) {
	data, err := io.ReadAll(io.LimitReader(f.Content, phpMaxFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > phpMaxFile {
		return nil, fmt.Errorf("composer file %s: %w", f.Path, errLangTooLarge{"composer file", phpMaxFile})
	}
	_, base := langSplitDir(f.Path)
	entries, err := phpParse(data, base == "composer.lock")
	if err != nil {
		// Other tools name files installed.json too: only Composer's own
		// directory (vendor/composer) says this one should have parsed.
		if dir, _ := langSplitDir(f.Path); base == "installed.json" && !strings.HasSuffix("/"+dir, "/composer") {
			return nil, nil
		}
		return nil, fmt.Errorf("composer file %s: %w", f.Path, err)
	}
	var pkgs []Package
	for _, e := range entries {
		if e.Name == "" || e.Version == "" {
			continue
		}
		p := Package{
			Name: e.Name, Version: e.Version, Type: "composer",
			PURL:     phpPURL(e.Name, e.Version),
			Licenses: phpLicenses(e.License),
			Location: f.Path, Layer: f.Layer,
		}
		if len(e.Authors) > 0 {
			p.Supplier = e.Authors[0].Name
		}
		pkgs = append(pkgs, p)
	}
	return langDedup(pkgs), nil
}

// phpParse returns the package entries of a composer.lock (lock) or an
// installed.json in either format.
func phpParse(data []byte, lock bool) ([]phpPackage, error) {
	trimmed := strings.TrimLeft(string(data[:min(len(data), 64)]), " \t\r\n\ufeff")
	if !lock && strings.HasPrefix(trimmed, "[") {
		var v1 []phpPackage
		err := json.Unmarshal(data, &v1)
		return v1, err
	}
	var doc struct {
		Packages []phpPackage `json:"packages"`
	}
	err := json.Unmarshal(data, &doc)
	return doc.Packages, err
}

// phpLicenses reads "license": an array of SPDX identifiers as Composer
// writes it, or a single string as some hand-edited files have.
func phpLicenses(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return list
	}
	var one string
	if json.Unmarshal(raw, &one) == nil && one != "" {
		return []string{one}
	}
	return nil
}

// phpPURL builds pkg:composer/VENDOR/NAME@VERSION; a name with more than
// one '/' keeps the first segment as the vendor and joins the rest with '-'
// (as syft does).
func phpPURL(name, version string) string {
	vendor, rest, ok := strings.Cut(name, "/")
	if !ok {
		return langPURL("composer", "", name, version)
	}
	return langPURL("composer", vendor, strings.ReplaceAll(rest, "/", "-"), version)
}
