package policy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/imgsign/imgsign/internal/errkind"
)

// ErrNoMatchingScope is wrapped by Match when no rule's scope matches the
// repository: the image is rejected (fail closed).
var ErrNoMatchingScope = errors.New("no trust policy scope matches the repository")

// ErrAmbiguousScope is wrapped by Match when two different rules match the
// repository equally well: the policy must say which one governs it.
var ErrAmbiguousScope = errors.New("trust policy scopes are ambiguous for the repository")

// dockerHub is the registry name go-containerregistry's name.Repository uses
// for Docker Hub; the other spellings are normalised to it.
const dockerHub = "index.docker.io"

var dockerHubAliases = map[string]bool{
	"docker.io":            true,
	"index.docker.io":      true,
	"registry-1.docker.io": true,
}

// Scope is a repository pattern "registry/path" of a rule.
//
// Segments are split on "/". Within a segment "*" matches any run of
// characters other than "/"; a segment that is exactly "**" matches zero or
// more whole segments. Docker Hub is normalised: docker.io, index.docker.io
// and registry-1.docker.io are one registry, spelled index.docker.io, and a
// single-segment Docker Hub path means an official image (docker.io/nginx is
// index.docker.io/library/nginx).
type Scope struct {
	Pos
	// Raw is the pattern as written.
	Raw string
	// Pattern is the normalised pattern that is matched.
	Pattern string
}

// ParseScope validates and normalises a scope pattern. The error is an
// errkind.Input error starting with `bad glob "…"`.
func ParseScope(s string) (Scope, error) {
	pat, err := normalizeScope(s)
	if err != nil {
		return Scope{}, errkind.Inputf("bad glob %q: %w", s, err)
	}
	return Scope{Raw: s, Pattern: pat}, nil
}

func normalizeScope(s string) (string, error) {
	if s == "" {
		return "", errors.New("a scope must not be empty")
	}
	if strings.ContainsAny(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
		return "", errors.New("repository names are lowercase: write the scope in lowercase")
	}
	if strings.Contains(s, "@") {
		return "", errors.New("digests are not allowed in a scope: a scope names repositories, drop the @digest")
	}
	segs := strings.Split(s, "/")
	for i, seg := range segs {
		if seg == "" {
			return "", errors.New(`empty path segment (leading, trailing or doubled "/")`)
		}
		if seg != "**" && strings.Contains(seg, "**") {
			return "", fmt.Errorf(`"**" must be a whole path segment, %q mixes it with other characters`, seg)
		}
		for _, c := range seg {
			switch {
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '_', c == '-', c == '*':
			case c == ':' && i == 0:
			case c == ':':
				return "", fmt.Errorf("tags are not allowed in a scope (%q): a scope names repositories, drop the :tag", seg)
			default:
				return "", fmt.Errorf("invalid character %q: scopes use a-z, 0-9, '.', '_', '-', '*', and ':' for a registry port", c)
			}
		}
	}
	host := segs[0]
	if h, port, ok := strings.Cut(host, ":"); ok {
		if h == "" || port == "" || strings.Contains(port, ":") || strings.Trim(port, "0123456789*") != "" {
			return "", fmt.Errorf("registry %q: expected host or host:port", host)
		}
	}
	if !strings.ContainsAny(host, ".:*") && host != "localhost" {
		return "", fmt.Errorf("a scope must start with a registry host, and %q is not one: for Docker Hub write %q", host, "docker.io/"+hubPath(s))
	}
	if len(segs) == 1 && host != "**" {
		return "", fmt.Errorf("the scope names a registry but no repository: write %q for every repository in it", host+"/**")
	}
	if dockerHubAliases[host] {
		segs[0] = dockerHub
		if len(segs) == 2 && segs[1] != "**" {
			segs = []string{dockerHub, "library", segs[1]}
		}
	}
	return strings.Join(segs, "/"), nil
}

// hubPath is s as a Docker Hub repository path, for hints.
func hubPath(s string) string {
	if !strings.Contains(s, "/") {
		return "library/" + s
	}
	return s
}

// NormalizeRepository returns repository ("registry/path", as
// go-containerregistry's name.Repository.Name gives it) in the form scopes
// are matched against: the registry lowercased, Docker Hub spelled
// index.docker.io with official images under library/, and a name without a
// registry host taken as Docker Hub, as docker does.
func NormalizeRepository(repository string) (string, error) {
	bad := func(why string) (string, error) {
		return "", errkind.Inputf("invalid repository %q: %s", repository, why)
	}
	if repository == "" {
		return bad("empty")
	}
	if strings.ContainsAny(repository, "@*") {
		return bad(`expected "registry/path" without wildcards, tag or digest`)
	}
	segs := strings.Split(repository, "/")
	host := strings.ToLower(segs[0])
	if len(segs) == 1 || (!strings.ContainsAny(host, ".:") && host != "localhost") {
		// No registry host: Docker Hub, as docker and name.Repository read it.
		segs = append([]string{dockerHub}, segs...)
	} else {
		segs[0] = host
	}
	for i, seg := range segs {
		if seg == "" {
			return bad("empty path segment")
		}
		if i > 0 && strings.Contains(seg, ":") {
			return bad(`expected "registry/path" without a tag`)
		}
	}
	if dockerHubAliases[segs[0]] {
		segs[0] = dockerHub
		if len(segs) == 2 {
			segs = []string{dockerHub, "library", segs[1]}
		}
	}
	return strings.Join(segs, "/"), nil
}

// Matches reports whether the normalised repository (see
// NormalizeRepository) is in the scope.
func (s Scope) Matches(repository string) bool {
	return matchSegments(strings.Split(s.Pattern, "/"), strings.Split(repository, "/"))
}

// Exact reports whether the scope has no wildcard.
func (s Scope) Exact() bool { return !strings.Contains(s.Pattern, "*") }

// specificity orders matching scopes: an exact scope beats any glob; among
// globs more literal characters win, then fewer "**" segments, then fewer
// "*" wildcards.
type specificity struct {
	exact            bool
	literals         int
	doubles, singles int
}

func (s Scope) specificity() specificity {
	var sp specificity
	sp.exact = s.Exact()
	for seg := range strings.SplitSeq(s.Pattern, "/") {
		if seg == "**" {
			sp.doubles++
			continue
		}
		sp.singles += strings.Count(seg, "*")
	}
	sp.literals = len(s.Pattern) - strings.Count(s.Pattern, "*")
	return sp
}

// compare returns >0 when a is more specific than b, <0 when less, 0 on a tie.
func (a specificity) compare(b specificity) int {
	switch {
	case a.exact != b.exact:
		if a.exact {
			return 1
		}
		return -1
	case a.literals != b.literals:
		return a.literals - b.literals
	case a.doubles != b.doubles:
		return b.doubles - a.doubles
	default:
		return b.singles - a.singles
	}
}

// matchSegments matches pattern segments against path segments; "**" spans
// zero or more whole segments. It runs in O(len(pat)·len(segs)) segment
// comparisons whatever the pattern.
func matchSegments(pat, segs []string) bool {
	m := len(segs)
	// cur[j]: pat[i:] matches segs[j:], starting from i = len(pat).
	cur := make([]bool, m+1)
	cur[m] = true
	next := make([]bool, m+1)
	for i := len(pat) - 1; i >= 0; i-- {
		if pat[i] == "**" {
			next[m] = cur[m]
			for j := m - 1; j >= 0; j-- {
				next[j] = cur[j] || next[j+1]
			}
		} else {
			next[m] = false
			for j := m - 1; j >= 0; j-- {
				next[j] = cur[j+1] && matchSegment(pat[i], segs[j])
			}
		}
		cur, next = next, cur
	}
	return cur[0]
}

// matchSegment matches one segment; "*" matches any run of characters.
func matchSegment(pat, s string) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(pat) && pat[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(pat) && pat[pi] == s[si]:
			pi++
			si++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(pat) && pat[pi] == '*' {
		pi++
	}
	return pi == len(pat)
}

// Match returns the rule governing repository ("registry/path", e.g.
// index.docker.io/library/nginx). The most specific matching scope wins (see
// Scope); a repository no scope matches yields ErrNoMatchingScope (marked
// errkind.Untrusted), and two different rules tying for the best match
// yield ErrAmbiguousScope (marked errkind.Input: fix the policy). Both fail
// closed.
func (p *Policy) Match(repository string) (*Rule, error) {
	repo, err := NormalizeRepository(repository)
	if err != nil {
		return nil, err
	}
	type candidate struct {
		rule  *Rule
		scope Scope
		spec  specificity
	}
	var best []candidate
	for _, r := range p.Rules {
		var rb *candidate
		for _, s := range r.Scopes {
			if !s.Matches(repo) {
				continue
			}
			if sp := s.specificity(); rb == nil || sp.compare(rb.spec) > 0 {
				rb = &candidate{r, s, sp}
			}
		}
		if rb == nil {
			continue
		}
		switch {
		case len(best) == 0 || rb.spec.compare(best[0].spec) > 0:
			best = []candidate{*rb}
		case rb.spec.compare(best[0].spec) == 0:
			best = append(best, *rb)
		}
	}
	switch len(best) {
	case 0:
		return nil, errkind.Mark(errkind.Untrusted, &reasonError{
			msg: fmt.Sprintf("no trust policy scope matches repository %s: add a scope such as %q or %q to a rule in the policy",
				repo, repo, parentGlob(repo)),
			err: ErrNoMatchingScope,
		})
	case 1:
		return best[0].rule, nil
	}
	names := make([]string, len(best))
	for i, c := range best {
		names[i] = fmt.Sprintf("%q (scope %q%s)", c.rule.Name, c.scope.Raw, lineSuffix(c.scope.Line))
	}
	return nil, errkind.Mark(errkind.Input, &reasonError{
		msg: fmt.Sprintf("repository %s matches rules %s equally well: make one scope more specific so one rule governs it",
			repo, strings.Join(names, " and ")),
		err: ErrAmbiguousScope,
	})
}

func parentGlob(repo string) string {
	i := strings.LastIndex(repo, "/")
	return repo[:i] + "/**"
}

func lineSuffix(line int) string {
	if line <= 0 {
		return ""
	}
	return fmt.Sprintf(", line %d", line)
}

// reasonError is an error with its own message that still matches a
// sentinel with errors.Is.
type reasonError struct {
	msg string
	err error
}

func (e *reasonError) Error() string { return e.msg }
func (e *reasonError) Unwrap() error { return e.err }
