package ocilayout

import (
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/refname"
)

// Prefix starts every layout reference: oci:DIR[:TAG|@sha256:HEX], the
// containers/skopeo convention.
const Prefix = "oci:"

// IsReference reports whether s names an image in a layout.
func IsReference(s string) bool { return strings.HasPrefix(s, Prefix) }

// Reference is a parsed oci:DIR[:TAG|@sha256:HEX]. It is a name.Reference
// whose Context is the repository the layout stands for, so that policy
// matching and statements see a repository name like any other.
type Reference struct {
	// Dir is the layout directory, absolute and clean.
	Dir string
	// Tag or Digest (sha256:…) names the image; neither names the
	// layout's only image.
	Tag, Digest string
	repo        name.Repository
}

// SplitReference splits oci:DIR[:TAG|@sha256:HEX] without naming it: an
// "@sha256:" splits off a digest; else the text after the last ":" is a tag
// if it is a valid tag (a path with colons stays a path); else all of it is
// DIR. DIR is made absolute.
func SplitReference(s string) (dir, tag, digest string, err error) {
	rest, ok := strings.CutPrefix(s, Prefix)
	if !ok {
		return "", "", "", errkind.Inputf("%q is not an OCI layout reference (oci:DIR[:TAG|@sha256:…])", s)
	}
	if i := strings.LastIndex(rest, "@sha256:"); i >= 0 {
		rest, digest = rest[:i], rest[i+1:]
		if !refname.SHA256Hex(strings.TrimPrefix(digest, "sha256:")) {
			return "", "", "", errkind.Inputf("image reference %q: %q is not a sha256 digest (64 lower-case hex digits)", s, digest)
		}
	} else if i := strings.LastIndex(rest, ":"); i >= 0 && ValidTag(rest[i+1:]) && !strings.Contains(rest[i+1:], "/") {
		rest, tag = rest[:i], rest[i+1:]
	}
	if rest == "" {
		return "", "", "", errkind.Inputf("image reference %q names no layout directory: write oci:DIR[:TAG|@sha256:…]", s)
	}
	if strings.ContainsRune(rest, 0) {
		return "", "", "", errkind.Inputf("image reference %q: the directory has a NUL byte", s)
	}
	dir, err = filepath.Abs(rest)
	if err != nil {
		return "", "", "", errkind.Inputf("image reference %q: %w", s, err)
	}
	return dir, tag, digest, nil
}

// ParseReference parses s as a layout reference standing for repo, or,
// when repo is nil, for the layout's own name (refname.LayoutRepository).
func ParseReference(s string, repo *name.Repository) (*Reference, error) {
	dir, tag, digest, err := SplitReference(s)
	if err != nil {
		return nil, err
	}
	r := &Reference{Dir: dir, Tag: tag, Digest: digest}
	if repo != nil {
		r.repo = *repo
		return r, nil
	}
	n, err := refname.LayoutRepository(dir)
	if err != nil {
		return nil, errkind.Inputf("image reference %q: %w", s, err)
	}
	if r.repo, err = name.NewRepository(n); err != nil {
		return nil, errkind.Inputf("image reference %q: %w", s, err)
	}
	return r, nil
}

// Context is the repository the layout stands for.
func (r *Reference) Context() name.Repository { return r.repo }

// Identifier is the tag or digest ("" for the layout's only image).
func (r *Reference) Identifier() string {
	if r.Digest != "" {
		return r.Digest
	}
	return r.Tag
}

// Name is the reference in the repository's name.
func (r *Reference) Name() string {
	switch {
	case r.Digest != "":
		return r.repo.Name() + "@" + r.Digest
	case r.Tag != "":
		return r.repo.Name() + ":" + r.Tag
	}
	return r.repo.Name()
}

// String is the reference as the user writes it.
func (r *Reference) String() string {
	switch {
	case r.Digest != "":
		return Prefix + r.Dir + "@" + r.Digest
	case r.Tag != "":
		return Prefix + r.Dir + ":" + r.Tag
	}
	return Prefix + r.Dir
}

// Scope is the registry auth scope (unused for layouts).
func (r *Reference) Scope(action string) string { return r.repo.Scope(action) }

// named is the reference as a name.Tag or name.Digest of the layout's
// repository, which commands switch on (tag binding, copies).
func (r *Reference) named() name.Reference {
	switch {
	case r.Digest != "":
		return r.repo.Digest(r.Digest)
	case r.Tag != "":
		return r.repo.Tag(r.Tag)
	}
	return r
}

var _ name.Reference = (*Reference)(nil)
