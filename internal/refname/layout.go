package refname

import (
	"encoding/base32"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// LayoutHost is the registry host of the repository name an OCI image
// layout on disk gets when no --as names one: .invalid is reserved (RFC
// 2606), so no real registry can ever be called that, and a policy can tell
// a layout's name from a registry's by its host alone.
const LayoutHost = "oci.invalid"

// layoutEncoding writes a directory in the alphabet repository path
// components allow (a-z, 2-7), reversibly.
var layoutEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// layoutChunk splits a long encoded directory into path components, so the
// name stays readable in listings; LayoutDir joins them again.
const layoutChunk = 64

// MaxLayoutDir is the longest absolute directory a layout repository name
// can carry: its encoding must fit the 255 characters a repository path may
// have. A layout deeper than that is named with --as.
const MaxLayoutDir = 150

// LayoutRepository is the repository name ("oci.invalid/<base32 path>") of
// the OCI image layout in the absolute, clean directory dir: the name
// statements, scopes and reports use for it when no --as names it.
func LayoutRepository(dir string) (string, error) {
	if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir {
		return "", fmt.Errorf("layout directory %q is not an absolute, clean path", dir)
	}
	if len(dir) > MaxLayoutDir {
		return "", fmt.Errorf("layout directory %q is longer than %d bytes: name it with --as REPOSITORY", dir, MaxLayoutDir)
	}
	enc := strings.ToLower(layoutEncoding.EncodeToString([]byte(dir)))
	var parts []string
	for len(enc) > layoutChunk {
		parts = append(parts, enc[:layoutChunk])
		enc = enc[layoutChunk:]
	}
	parts = append(parts, enc)
	return LayoutHost + "/" + strings.Join(parts, "/"), nil
}

// LayoutDir is the directory a layout repository name (LayoutRepository)
// stands for; ok is false for any other repository. A name under
// LayoutHost that does not decode to an absolute, clean path is an error:
// it was not made by LayoutRepository.
func LayoutDir(repository string) (dir string, ok bool, err error) {
	path, found := strings.CutPrefix(repository, LayoutHost+"/")
	if !found {
		return "", false, nil
	}
	raw, err := layoutEncoding.DecodeString(strings.ToUpper(strings.ReplaceAll(path, "/", "")))
	if err != nil {
		return "", true, fmt.Errorf("repository %s is not a layout name: %w", repository, err)
	}
	dir = string(raw)
	if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir || strings.ContainsRune(dir, 0) {
		return "", true, errors.New("repository " + repository + " does not name an absolute layout directory")
	}
	// Only the one spelling LayoutRepository writes: two names for one
	// directory would let a scope or a statement match one but not the other.
	if again, err := LayoutRepository(dir); err != nil || again != repository {
		return "", true, fmt.Errorf("repository %s is not the canonical name of layout %s", repository, dir)
	}
	return dir, true, nil
}

// DisplayReference shows a reference ("repo", "repo:tag", "repo@sha256:…")
// as a user names it: a layout's repository as oci:DIR, anything else as
// it is. Outputs that print references pass them through it.
func DisplayReference(ref string) string {
	if !strings.HasPrefix(ref, LayoutHost+"/") {
		return ref
	}
	end := len(ref)
	if i := strings.IndexAny(ref, "@:"); i >= 0 {
		end = i
	}
	dir, ok, err := LayoutDir(ref[:end])
	if !ok || err != nil {
		return ref
	}
	return "oci:" + dir + ref[end:]
}
