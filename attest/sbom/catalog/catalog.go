// Package catalog recognises software packages from the files of an image's
// squashed filesystem. Each Cataloger looks at one kind of package metadata
// (a dpkg status file, an apk database, a Go binary's build info, a Python
// METADATA file, a package.json, a jar, …) and returns the packages it
// declares. The walker in package sbom streams files to catalogers layer by
// layer and drops results whose files a later layer deleted or replaced, so a
// cataloger never sees the whole image and never holds a layer in memory.
package catalog

import (
	"io"
	"io/fs"
)

// Package is one software package found in an image.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Type is the package ecosystem, as in purl types: "deb", "apk", "rpm",
	// "golang", "pypi", "npm", "maven".
	Type string `json:"type"`
	// PURL is the package URL (https://github.com/package-url/purl-spec).
	PURL string `json:"purl"`
	// Licenses are as the metadata states them (SPDX expressions where the
	// metadata has them, free text otherwise); empty when it has none.
	Licenses []string `json:"licenses,omitempty"`
	// Arch is the package architecture where the metadata has one.
	Arch string `json:"arch,omitempty"`
	// Supplier is the maintainer/vendor/author where the metadata has one.
	Supplier string `json:"supplier,omitempty"`
	// Location is the path (no leading slash) of the file that declared the
	// package; Layer is the digest of the layer that file came from.
	Location string `json:"location"`
	Layer    string `json:"layer"`
	// Files are the paths (no leading slash) an OS package manager says the
	// package installed (dpkg's info/NAME.list, apk's F:/R: lines, rpm's file
	// list). The walker uses them to drop language packages whose metadata
	// an OS package owns, so nothing is reported twice; they are not output.
	Files []string `json:"-"`
	// Properties are further facts about the package worth keeping, in a
	// stable order: a Go main module's build settings ("go.build:GOOS",
	// "go.build:-ldflags", "go.build:vcs.revision", …). The encoders write
	// them as CycloneDX properties (prefixed "imgsign:") and in SPDX's
	// package comment.
	Properties []Property `json:"properties,omitempty"`
}

// Property is one name/value fact about a package.
type Property struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// File is a regular file of the image as the walker streams it.
type File struct {
	// Path is clean and relative to the root, without a leading slash
	// ("var/lib/dpkg/status").
	Path string
	Size int64
	Mode fs.FileMode
	// Layer is the digest of the layer the file is in.
	Layer string
	// Content streams the file; it is valid only during the Catalog call and
	// must not be read past what the cataloger needs (the walker discards the
	// rest). Catalogers must bound what they buffer: files can be large.
	Content io.Reader
}

// Cataloger finds packages declared by single files.
type Cataloger interface {
	// Name identifies the cataloger in logs and errors ("dpkg", "go-binary").
	Name() string
	// Wants reports, from the tar header alone, whether the cataloger needs
	// this file's content. It is called for every regular file of every
	// layer, so it must be cheap (no allocation on the common "no" path).
	Wants(path string, mode fs.FileMode, size int64) bool
	// Catalog reads f and returns the packages it declares, with Location and
	// Layer set from f. A file that turns out not to be package metadata
	// returns no packages and no error; an error means metadata that should
	// have parsed did not, and is reported, not fatal.
	Catalog(f File) ([]Package, error)
}
