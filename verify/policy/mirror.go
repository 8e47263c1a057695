package policy

// The mirrors section: repository-prefix mappings from where a copy of an
// image lives (an internal mirror, an air-gapped registry) to the name it is
// a copy of, so that the canonical name's scopes and rule judge the copy.
//
// The mapping is applied in one place, MatchScope, before any scope is
// matched; everything that compares a statement's repository with the
// image's (tag binding, conditions' image.repository) reads the canonical
// name from the ScopeMatch it returns.

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/refname"
)

var mirrorFields = []string{"mirror", "canonical"}

// Mirror is one entry of mirrors[]: the repositories at and below the
// prefix Mirror are copies of those at and below Canonical, path for path.
type Mirror struct {
	Pos
	// Mirror and Canonical are the prefixes as written.
	Mirror, Canonical string
	// MirrorPrefix and CanonicalPrefix are the prefixes matched and
	// substituted: "registry" or "registry/path", the registry host in its
	// canonical spelling (see Scope), the path taken literally.
	MirrorPrefix, CanonicalPrefix string
}

// String is the mapping as output shows it.
func (m *Mirror) String() string { return m.Mirror + " → " + m.Canonical }

// Canonical returns the repository ("registry/path") normalised
// (NormalizeRepository) and, when a mirror prefix covers it, mapped to the
// canonical name it is a copy of, with the mapping that applied (nil when
// none did). A prefix covers the repository it names and every repository
// below it on a path-segment boundary; the longest covering prefix wins;
// the mapping is applied once. MatchScope calls it: callers that match
// scopes get the canonical name from the ScopeMatch.
func (p *Policy) Canonical(repository string) (string, *Mirror, error) {
	repo, err := NormalizeRepository(repository)
	if err != nil {
		return "", nil, err
	}
	return p.canonical(repo)
}

// canonical is Canonical for a repository already normalised.
func (p *Policy) canonical(repo string) (string, *Mirror, error) {
	var best *Mirror
	for _, m := range p.Mirrors {
		if under(repo, m.MirrorPrefix) && (best == nil || len(m.MirrorPrefix) > len(best.MirrorPrefix)) {
			best = m
		}
	}
	if best == nil {
		return repo, nil, nil
	}
	mapped := best.CanonicalPrefix + strings.TrimPrefix(repo, best.MirrorPrefix)
	if !strings.Contains(mapped, "/") {
		// The mirror prefix named the whole repository and the canonical
		// prefix is a bare registry: no repository to judge.
		return "", nil, errkind.Inputf("repository %s is mirror prefix %q (line %d) itself, which maps it to the registry %s without a repository path", repo, best.Mirror, best.Line, best.Canonical)
	}
	c, err := NormalizeRepository(mapped)
	if err != nil {
		return "", nil, errkind.Inputf("repository %s maps through mirror %s (line %d) to %s: %w", repo, best, best.Line, mapped, err)
	}
	if !under(c, best.CanonicalPrefix) {
		// Read as an image name, the mapped name left the canonical prefix:
		// the prefix's own repository mapped to docker.io/acme is the
		// official docker.io/library/acme. Someone who can push to the
		// mirror's prefix repository had it judged by the official images'
		// rule, which the mapping (copies of docker.io/acme/…) never named.
		return "", nil, errkind.Inputf("repository %s is mirror prefix %q (line %d) itself, which maps it to %s: read as an image name that is %s, outside the canonical prefix %q; for a copy of an official image write canonical: docker.io/library/NAME", repo, best.Mirror, best.Line, mapped, c, best.Canonical)
	}
	return c, best, nil
}

// under reports whether the normalised repository (or prefix) repo is
// prefix or below it: prefixes match whole path segments only, so
// "r.io/team" covers "r.io/team/app" but not "r.io/team-evil/app".
func under(repo, prefix string) bool {
	return repo == prefix || strings.HasPrefix(repo, prefix+"/")
}

// ParseMirrorPrefix validates and normalises a mirror or canonical prefix:
// a registry host, optionally followed by a repository path, written
// literally. The host is canonicalised as a scope's is (docs/policy.md,
// host canonicalisation); the path must be a valid repository path and is
// not rewritten (docker.io/library is Docker Hub's library namespace).
func ParseMirrorPrefix(s string) (string, error) {
	switch {
	case s == "":
		return "", errors.New("must not be empty")
	case strings.Contains(s, "://"):
		return "", errors.New(`write "registry/path" without a scheme`)
	case strings.Contains(s, "*"):
		return "", errors.New(`mirror prefixes take no wildcards: a prefix already covers every repository below it, path segment by path segment`)
	case strings.Contains(s, "@"):
		return "", errors.New("digests are not allowed in a mirror prefix: it names repositories, drop the @digest")
	case strings.ContainsAny(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"):
		return "", errors.New("repository names are lowercase: write the prefix in lowercase")
	}
	host, path, hasPath := strings.Cut(s, "/")
	if !strings.ContainsAny(host, ".:[") && host != "localhost" {
		return "", fmt.Errorf("a mirror prefix must start with a registry host, and %q is not one: for Docker Hub write %q", host, "docker.io/"+s)
	}
	h, err := refname.Host(host)
	if err != nil {
		return "", fmt.Errorf("registry %q: %v", host, err)
	}
	if h == refname.LayoutHost {
		// A canonical name there would have a registry image judged by
		// the policy's oci: scopes, as a layout; a mirror prefix there
		// never applies (layouts are not mapped).
		return "", fmt.Errorf("%s is reserved for OCI layouts' names: mirrors map registry repositories, and a layout stands for one with --as REPOSITORY", refname.LayoutHost)
	}
	switch {
	case !hasPath:
		return h, nil
	case path == "":
		return "", fmt.Errorf(`empty path segment (trailing "/"): write %q for the whole registry`, host)
	}
	if strings.Contains(path, ":") {
		return "", errors.New("tags are not allowed in a mirror prefix: it names repositories, drop the :tag")
	}
	if err := refname.CheckPath(path); err != nil {
		return "", fmt.Errorf("repository path %q: %v", path, err)
	}
	return h + "/" + path, nil
}

func (p *parser) mirrors(raw *yaml.Node) []*Mirror {
	items, ok := p.list(raw, "mirrors")
	if !ok {
		return nil
	}
	var out []*Mirror
	seen := map[string]*Mirror{} // by MirrorPrefix
	for i, item := range items {
		if p.exhausted {
			break
		}
		path := index("mirrors", i)
		f, ok := p.fields(item, path, mirrorFields, mirrorFields...)
		if !ok {
			continue
		}
		m := &Mirror{Pos: Pos{Line: item.Line, Path: path}}
		good := true
		for _, side := range []struct {
			field     string
			raw, norm *string
		}{{"mirror", &m.Mirror, &m.MirrorPrefix}, {"canonical", &m.Canonical, &m.CanonicalPrefix}} {
			v, ok := f[side.field]
			if !ok {
				good = false
				continue
			}
			s, ok := p.nonEmptyStr(v, join(path, side.field))
			if !ok {
				good = false
				continue
			}
			norm, err := ParseMirrorPrefix(s)
			if err != nil {
				p.addf(v.Line, join(path, side.field), "%q: %v", clip(s), err)
				good = false
				continue
			}
			*side.raw, *side.norm = s, norm
		}
		if !good {
			continue
		}
		if m.MirrorPrefix == m.CanonicalPrefix {
			p.addf(item.Line, path, "mirror %q maps a prefix to itself (both mean %s): drop the entry", clip(m.Mirror), m.MirrorPrefix)
			continue
		}
		if first := seen[m.MirrorPrefix]; first != nil {
			same := ""
			if first.Mirror != m.Mirror || m.Mirror != m.MirrorPrefix {
				same = fmt.Sprintf(" (both mean %s)", m.MirrorPrefix)
			}
			p.addf(m.Line, join(path, "mirror"), "mirror prefix %q is already mapped by %s (line %d)%s: one prefix, one canonical name", clip(m.Mirror), first.Path, first.Line, same)
			continue
		}
		seen[m.MirrorPrefix] = m
		out = append(out, m)
	}
	p.mirrorChains(out)
	return out
}

// mirrorChains reports chains: a canonical name that is itself, or may
// land inside, a mirror prefix. A mapping is applied once, so a chain
// would judge an image by a name the author took for another copy; the
// author maps the copy straight to its origin instead.
func (p *parser) mirrorChains(ms []*Mirror) {
	for _, a := range ms {
		// The repository the prefix itself maps to is read as any image
		// name: one naming a single Docker Hub repository without its
		// namespace (docker.io/nginx) lands at docker.io/library/nginx,
		// outside a.CanonicalPrefix as written — inside a mirror prefix
		// docker.io/library that the comparison below would miss.
		exact := ""
		if strings.Contains(a.CanonicalPrefix, "/") {
			if n, err := NormalizeRepository(a.CanonicalPrefix); err == nil && n != a.CanonicalPrefix {
				exact = n
			}
		}
		for _, b := range ms {
			// Every repository a maps lands at or below a.CanonicalPrefix
			// (or at exact); some land inside b's prefix exactly when one
			// prefix is at or below the other.
			if !under(a.CanonicalPrefix, b.MirrorPrefix) && !under(b.MirrorPrefix, a.CanonicalPrefix) && (exact == "" || !under(exact, b.MirrorPrefix)) {
				continue
			}
			reads := ""
			if exact != "" {
				reads = fmt.Sprintf(" (as an image name it reads %s)", exact)
			}
			if a == b {
				p.addf(a.Line, join(a.Path, "canonical"), "canonical %q%s and mirror %q are one inside the other, so a name this entry maps to can be a mirror name again: mappings apply once and do not chain; give the copies a prefix of their own", clip(a.Canonical), reads, clip(a.Mirror))
				continue
			}
			p.addf(a.Line, join(a.Path, "canonical"), "canonical %q%s overlaps mirror prefix %q of %s (line %d): mappings apply once and do not chain; map each mirror straight to the name it is a copy of", clip(a.Canonical), reads, clip(b.Mirror), b.Path, b.Line)
			break
		}
	}
}

// mirroredScopes reports scopes inside a mirror prefix: every repository
// such a scope matches is judged by its canonical name, so the scope never
// applies. (A scope with a wildcard within the prefix's segments may match
// repositories outside it, and is not reported.)
func (p *parser) mirroredScopes(pol *Policy) {
	for _, m := range pol.Mirrors {
		prefix := strings.Split(m.MirrorPrefix, "/")
		for _, r := range pol.Rules {
			for _, s := range r.Scopes {
				segs := strings.Split(s.Pattern, "/")
				if len(segs) < len(prefix) || strings.Join(segs[:len(prefix)], "/") != m.MirrorPrefix {
					continue
				}
				p.addf(s.Line, s.Path, "scope %q of policy %q is inside mirror prefix %q (%s, line %d): images there are judged by their canonical name under %q, so this scope never applies: scope the canonical name instead",
					s.Raw, r.Name, m.Mirror, m.Path, m.Line, m.Canonical)
			}
		}
	}
}
