package policy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/imgsign/imgsign/internal/refname"
)

// layoutScopePrefix starts a scope naming OCI image layouts on disk by
// path: oci:/srv/layouts/**. It is also the first segment of a layout's
// match key, which no registry host can be ("oci:" has an empty port).
const layoutScopePrefix = "oci:"

// Layout reports whether the scope names OCI layouts (oci:PATH): it then
// matches only layouts judged by their own path, never a registry
// repository, and registry scopes (even "**") never match a layout.
func (s Scope) Layout() bool { return strings.HasPrefix(s.Pattern, layoutScopePrefix) }

// normalizeLayoutScope checks an oci:PATH scope: an absolute path, with the
// glob rules of registry scopes applied to its segments ("*" within one,
// "**" for any run of them), and no segment a path could resolve
// elsewhere. Case is kept: file systems are case-sensitive.
func normalizeLayoutScope(s string) (string, error) {
	path := strings.TrimPrefix(s, layoutScopePrefix)
	if !strings.HasPrefix(path, "/") {
		return "", fmt.Errorf("an oci: scope names a layout directory by its absolute path, e.g. %q", "oci:/srv/layouts/**")
	}
	if path == "/" {
		return "", errors.New(`"oci:/" names no layout: write "oci:/**" for every layout`)
	}
	for seg := range strings.SplitSeq(path[1:], "/") {
		switch {
		case seg == "":
			return "", errors.New(`empty path segment (trailing or doubled "/")`)
		case seg == "." || seg == "..":
			return "", fmt.Errorf("%q path segment: write the layout directory's path without it, as imgsign names layouts (absolute and clean)", seg)
		case seg != "**" && strings.Contains(seg, "**"):
			return "", fmt.Errorf(`"**" must be a whole path segment, %q mixes it with other characters`, seg)
		}
		for _, c := range seg {
			if c < 0x20 || c == 0x7f {
				return "", fmt.Errorf("control character %q in a path", c)
			}
		}
	}
	return layoutScopePrefix + path, nil
}

// layoutPath is the directory of a layout repository (refname's
// oci.invalid names), or of a layout match key written out ("oci:/dir",
// as ties builds its witnesses).
func layoutPath(repo string) (string, bool) {
	if p, ok := strings.CutPrefix(repo, layoutScopePrefix); ok {
		return p, true
	}
	dir, ok, err := refname.LayoutDir(repo)
	return dir, ok && err == nil
}

// matchKey is what scopes match a normalised repository by: its path
// segments, registry host first; for a layout "oci:" and the segments of
// its directory, the same shape as an oci: scope's pattern.
func matchKey(repo string) []string {
	if dir, ok := layoutPath(repo); ok {
		return strings.Split(layoutScopePrefix+dir, "/")
	}
	return strings.Split(repo, "/")
}

// scopeFor is the exact scope of one normalised repository: oci:DIR for a
// layout.
func scopeFor(repo string) string {
	if dir, ok := layoutPath(repo); ok {
		return layoutScopePrefix + dir
	}
	return repo
}
