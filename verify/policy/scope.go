package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/refname"
)

// ErrNoMatchingScope is wrapped by Match when no rule's scope matches the
// repository: the image is rejected (fail closed).
var ErrNoMatchingScope = errors.New("no trust policy scope matches the repository")

// ErrAmbiguousScope is wrapped by Match when two different rules match the
// repository equally well: the policy must say which one governs it.
var ErrAmbiguousScope = errors.New("trust policy scopes are ambiguous for the repository")

// dockerHub is the registry name go-containerregistry's name.Repository uses
// for Docker Hub; refname folds the other spellings into it.
const dockerHub = refname.DockerHub

// Scope is a repository pattern "registry/path" of a rule.
//
// Segments are split on "/". Within a segment "*" matches any run of
// characters other than "/"; a segment that is exactly "**" matches zero or
// more whole segments. Registry hosts are canonicalised (refname.Host) in
// patterns and repositories alike, so every spelling of one registry is
// matched as one: localhost, 127.0.0.1 and [::1] are one host, :443 is
// dropped, a trailing dot is dropped, hosts are lower case, and docker.io,
// registry-1.docker.io and registry.hub.docker.com are index.docker.io. A
// single-segment Docker Hub path means an official image (docker.io/nginx
// is index.docker.io/library/nginx).
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
	if strings.HasPrefix(s, layoutScopePrefix) {
		return normalizeLayoutScope(s)
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
		if i > 0 && (seg == "." || seg == "..") {
			return "", fmt.Errorf("%q path segment: repository names have none (imgsign refuses them in image references)", seg)
		}
		for _, c := range seg {
			switch {
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '_', c == '-', c == '*':
			case (c == ':' || c == '[' || c == ']') && i == 0:
			case c == ':':
				return "", fmt.Errorf("tags are not allowed in a scope (%q): a scope names repositories, drop the :tag", seg)
			default:
				return "", fmt.Errorf("invalid character %q: scopes use a-z, 0-9, '.', '_', '-', '*', and ':' for a registry port", c)
			}
		}
	}
	host := segs[0]
	if !strings.ContainsAny(host, ".:*[") && host != "localhost" {
		return "", fmt.Errorf("a scope must start with a registry host, and %q is not one: for Docker Hub write %q", host, "docker.io/"+hubPath(s))
	}
	if len(segs) == 1 && host != "**" {
		return "", fmt.Errorf("the scope names a registry but no repository: write %q for every repository in it", host+"/**")
	}
	if host != "**" {
		h, err := hostPattern(host)
		if err != nil {
			return "", err
		}
		segs[0] = h
	}
	if segs[0] == dockerHub && len(segs) == 2 && segs[1] != "**" {
		segs = []string{dockerHub, "library", segs[1]}
	}
	return strings.Join(segs, "/"), nil
}

// hostPattern canonicalises the registry segment of a scope the way
// refname.Host canonicalises a repository's registry, wildcards aside.
func hostPattern(seg string) (string, error) {
	h, port, err := refname.SplitHostPort(seg)
	if err != nil {
		return "", fmt.Errorf("registry %q: expected host or host:port (%v)", seg, err)
	}
	if port != "" && !strings.Contains(port, "*") {
		if port, err = refname.Port(port); err != nil {
			return "", fmt.Errorf("registry %q: %v", seg, err)
		}
	} else if strings.Trim(port, "0123456789*") != "" {
		return "", fmt.Errorf("registry %q: expected host or host:port", seg)
	}
	withPort := func(h string) string {
		if port == "" {
			return h
		}
		return h + ":" + port
	}
	if !strings.Contains(h, "*") {
		if port == "" {
			c, err := refname.Host(h)
			if err != nil {
				return "", fmt.Errorf("registry %q: %v", seg, err)
			}
			return c, nil
		}
		c, err := refname.Hostname(h)
		if err != nil {
			return "", fmt.Errorf("registry %q: %v", seg, err)
		}
		return withPort(c), nil
	}
	if strings.ContainsAny(h, "[]") {
		return "", fmt.Errorf("registry %q: no wildcards in an IPv6 address", seg)
	}
	h = strings.TrimSuffix(h, ".")
	// A wildcard host is matched against canonical hosts only: one that
	// would match another spelling of a registry but not its canonical
	// name would silently stop matching it.
	for _, group := range refname.AliasGroups {
		canonical := group[0]
		if matchSegment(h, canonical) {
			continue
		}
		for _, alias := range group[1:] {
			if matchSegment(h, alias) {
				return "", fmt.Errorf("registry %q would match %s, which imgsign matches as %s (one host, several spellings): write %q", seg, alias, canonical, withPort(canonical))
			}
		}
	}
	return withPort(h), nil
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
// are matched against: the registry host canonical (refname.Host: one
// spelling per registry, Docker Hub as index.docker.io with official images
// under library/), and a name without a registry host taken as Docker Hub,
// as docker does. A path a registry might resolve to another repository
// ("..", ".", empty segments, anything outside the distribution spec's
// grammar) or a host spelled as an IP address it is not is refused: an
// errkind.Input error.
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
	host, path, ok := strings.Cut(repository, "/")
	if !ok || (!strings.ContainsAny(host, ".:") && host != "localhost") {
		// No registry host: Docker Hub, as docker and name.Repository read it.
		host, path = dockerHub, repository
	}
	h, err := refname.Host(host)
	if err != nil {
		return bad(err.Error())
	}
	if h == refname.LayoutHost && host != refname.LayoutHost {
		// imgsign writes a layout's name in this one spelling only, and the
		// registry client refuses it typed as an image. Canonicalised, any
		// other spelling (OCI.invalid, oci.invalid., oci.invalid:443) read
		// as a layout's name: a registry image or --as repository so named
		// was judged by the policy's oci: scopes (an audit oci:/** rule, say,
		// instead of the enforce ** one), which no registry name may be.
		return bad(fmt.Sprintf("%s is reserved for OCI layouts' names, which imgsign writes itself: name a layout as oci:DIR[:TAG|@sha256:…]", refname.LayoutHost))
	}
	if strings.Contains(path, ":") {
		return bad(`expected "registry/path" without a tag`)
	}
	if err := refname.CheckPath(path); err != nil {
		return bad(fmt.Sprintf("repository path %q: %v", path, err))
	}
	if h == dockerHub && !strings.Contains(path, "/") {
		path = "library/" + path
	}
	if _, ok, err := refname.LayoutDir(h + "/" + path); ok && err != nil {
		return bad(err.Error())
	}
	return h + "/" + path, nil
}

// Matches reports whether the normalised repository (see
// NormalizeRepository) is in the scope.
func (s Scope) Matches(repository string) bool {
	return s.matchesKey(matchKey(repository))
}

// matchesKey matches the scope against a repository's matchKey: layout
// scopes only layouts, registry scopes only registries, so a catch-all
// "**" never judges a layout.
func (s Scope) matchesKey(key []string) bool {
	if s.Layout() != (key[0] == layoutScopePrefix) {
		return false
	}
	return matchSegments(strings.Split(s.Pattern, "/"), key)
}

// Exact reports whether the scope has no wildcard.
func (s Scope) Exact() bool { return !strings.Contains(s.Pattern, "*") }

// specificity orders the scopes that match a repository: more path
// segments written without a wildcard win (the registry host counts as a
// segment), then fewer wildcards ("*" and "**" count one each). An exact
// scope therefore beats every glob matching the same repository. Characters
// are not counted: a long literal inside a wildcard segment does not make
// a scope narrower than one that names more segments.
type specificity struct {
	literals, wildcards int
}

func (s Scope) specificity() specificity {
	var sp specificity
	for seg := range strings.SplitSeq(s.Pattern, "/") {
		switch {
		case seg == "**":
			sp.wildcards++
		case strings.Contains(seg, "*"):
			sp.wildcards += strings.Count(seg, "*")
		default:
			sp.literals++
		}
	}
	return sp
}

// compare returns >0 when a is more specific than b, <0 when less, 0 on a tie.
func (a specificity) compare(b specificity) int {
	if a.literals != b.literals {
		return a.literals - b.literals
	}
	return b.wildcards - a.wildcards
}

func (a specificity) String() string {
	return plural(a.literals, "literal segment") + ", " + plural(a.wildcards, "wildcard")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// matchSegments matches pattern segments against path segments; "**" spans
// zero or more whole segments.
func matchSegments(pat, segs []string) bool {
	return matchSegmentsBy(pat, segs, matchSegment)
}

// matchSegmentsBy matches pattern segments against segs, "**" spanning zero
// or more whole segments and every other pattern segment tested against one
// segment with match. It runs in O(len(pat)·len(segs)) segment comparisons
// whatever the pattern.
func matchSegmentsBy(pat, segs []string, match func(pat, seg string) bool) bool {
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
				next[j] = cur[j+1] && match(pat[i], segs[j])
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

// ScopeMatch is the rule governing a repository and why it does.
type ScopeMatch struct {
	Rule *Rule
	// Scope is the rule's scope that matched best.
	Scope Scope
	// Repository is the repository as matched: normalised
	// (NormalizeRepository) and, when Mirror is set, the canonical name
	// the mirror's copy was mapped to. Whatever compares a statement's
	// repository with the image's compares it with this name.
	Repository string
	// Mirror is the mirrors entry that mapped the repository to its
	// canonical name; nil when none covers it and the repository is
	// judged by its own name.
	Mirror *Mirror
	// Reason says why this scope won: its specificity, and the best scope
	// of another rule it beat, if any.
	Reason string
}

// Match returns the rule governing repository; see MatchScope.
func (p *Policy) Match(repository string) (*Rule, error) {
	m, err := p.MatchScope(repository)
	if err != nil {
		return nil, err
	}
	return m.Rule, nil
}

// MatchScope returns the rule governing repository ("registry/path", e.g.
// index.docker.io/library/nginx), the scope that selected it and why. A
// repository inside a mirror prefix is first mapped to its canonical name
// (Canonical), and that name's scopes decide. The most specific matching
// scope wins (see specificity); a repository no scope matches yields
// ErrNoMatchingScope (marked errkind.Untrusted), and two different rules
// tying for the best match yield ErrAmbiguousScope (marked errkind.Input:
// fix the policy). Both fail closed. A repository name that is not
// canonicalisable (NormalizeRepository) is an errkind.Input error.
func (p *Policy) MatchScope(repository string) (*ScopeMatch, error) {
	repo, err := NormalizeRepository(repository)
	if err != nil {
		return nil, err
	}
	canon, mirror := repo, (*Mirror)(nil)
	if _, layout, _ := refname.LayoutDir(repo); !layout {
		// Mirror prefixes name registries; a layout stands for a
		// registry repository only by --as.
		if canon, mirror, err = p.canonical(repo); err != nil {
			return nil, err
		}
	}
	m, err := p.match(canon)
	var re *reasonError
	switch {
	case err == nil:
		m.Mirror = mirror
	case !errors.As(err, &re):
	case mirror != nil:
		// Say which name was matched, and why.
		re.msg += fmt.Sprintf(" (%s is a copy of %s: mirrors entry %s, line %d)", repository, canon, mirror, mirror.Line)
	case repo != repository:
		// Say why the repository reads differently from what was given.
		re.msg += fmt.Sprintf(" (%s is matched as %s: registry hosts are matched in one canonical spelling)", repository, repo)
	}
	return m, err
}

// candidate is one rule's best scope for a repository.
type candidate struct {
	rule  *Rule
	scope Scope
	spec  specificity
}

// candidates returns, for the normalised repo, the best-matching scope of
// each rule whose scopes match, most specific first.
func (p *Policy) candidates(repo string) []candidate {
	key := matchKey(repo)
	var out []candidate
	for _, r := range p.Rules {
		var matched []candidate
		for _, s := range r.Scopes {
			if s.matchesKey(key) {
				matched = append(matched, candidate{r, s, s.specificity()})
			}
		}
		// The rule's scopes are judged among themselves as rules are
		// (narrowest, then specificity): "**" beside "*.corp.example/**"
		// in one rule does not stand for it.
		var rb *candidate
		for _, c := range narrowest(matched) {
			if rb == nil || c.spec.compare(rb.spec) > 0 {
				rb = &c
			}
		}
		if rb != nil {
			out = append(out, *rb)
		}
	}
	slices.SortStableFunc(out, func(a, b candidate) int { return b.spec.compare(a.spec) })
	return out
}

func (p *Policy) match(repo string) (*ScopeMatch, error) {
	all := p.candidates(repo)
	cands := narrowest(all)
	if len(cands) == 0 {
		if dir, ok := layoutPath(repo); ok {
			return nil, errkind.Mark(errkind.Untrusted, &reasonError{
				msg: fmt.Sprintf("no trust policy scope matches OCI layout %s: add a scope such as %q or %q to a rule in the policy, or judge it as a registry repository with --as REPOSITORY (only oci: scopes match a layout)",
					dir, layoutScopePrefix+dir, layoutScopePrefix+parentGlob(dir)),
				err: ErrNoMatchingScope,
			})
		}
		return nil, errkind.Mark(errkind.Untrusted, &reasonError{
			msg: fmt.Sprintf("no trust policy scope matches repository %s: add a scope such as %q or %q to a rule in the policy",
				repo, repo, parentGlob(repo)),
			err: ErrNoMatchingScope,
		})
	}
	best := cands[0]
	tied := 1
	for tied < len(cands) && cands[tied].spec.compare(best.spec) == 0 {
		tied++
	}
	if tied > 1 {
		names := make([]string, tied)
		for i, c := range cands[:tied] {
			names[i] = fmt.Sprintf("%q (scope %q%s)", c.rule.Name, c.scope.Raw, lineSuffix(c.scope.Line))
		}
		return nil, errkind.Mark(errkind.Input, &reasonError{
			msg: fmt.Sprintf("repository %s matches rules %s equally well (%s each): make one scope more specific so one rule governs it",
				repo, strings.Join(names, " and "), best.spec),
			err: ErrAmbiguousScope,
		})
	}
	reason := fmt.Sprintf("scope %q (%s)", best.scope.Raw, best.spec)
	for _, next := range all {
		if next.rule == best.rule {
			continue
		}
		reason += fmt.Sprintf(" beats policy %q scope %q (%s)", next.rule.Name, next.scope.Raw, next.spec)
		if next.spec.compare(best.spec) >= 0 {
			reason += ", which matches every repository it does and more"
		}
		break
	}
	return &ScopeMatch{Rule: best.rule, Scope: best.scope, Repository: repo, Reason: reason}, nil
}

// narrowest drops every candidate whose scope matches all that another
// candidate's scope matches, and more (covers), yet would outrank it by
// specificity: counting alone let "**" (one wildcard) outrank
// "*.corp.example/**" (two), so a catch-all audit rule governed every image
// of an enforce rule with a wildcard host. Where the counts tie, the tie
// stands (a policy error), contained or not. The order of cands is kept.
func narrowest(cands []candidate) []candidate {
	segs := make([][]string, len(cands))
	for i, c := range cands {
		segs[i] = strings.Split(c.scope.Pattern, "/")
	}
	var out []candidate
	for i, c := range cands {
		broader := false
		for j, d := range cands {
			if c.spec.compare(d.spec) > 0 && covers(segs[i], segs[j]) && !covers(segs[j], segs[i]) {
				broader = true
				break
			}
		}
		if !broader {
			out = append(out, c)
		}
	}
	return out
}

// covers reports whether pattern b matches every path pattern a matches
// (a ⊆ b). It is sound but not complete — true only when certain: b's "**"
// spans any run of a's segments, a's "**" is covered only by a "**" of b,
// and within a segment b's "*" covers what a's "*" does (matchSegment reads
// a's "*" as a character that only a "*" of b absorbs).
func covers(b, a []string) bool {
	return matchSegmentsBy(b, a, func(p, seg string) bool { return seg != "**" && matchSegment(p, seg) })
}

// tieBudget bounds the pattern-intersection work ties does, in segment
// (and character) pairs compared; past it, ties stops looking and Match
// still refuses a tie when one occurs.
const tieBudget = 1 << 22

// tie is two rules' scopes that are equally specific and both match
// repository, which no more specific scope claims: Match would refuse it.
type tie struct {
	a, b       candidate
	repository string
}

// ties finds pairs of scopes of different rules that are equally specific
// and match a common repository that no third scope settles — statically,
// so `policy check` reports what Match would refuse at verify time. Each
// pair of rules is reported once.
func (p *Policy) ties() []tie {
	type entry struct {
		rule  *Rule
		scope Scope
		segs  []string
		spec  specificity
	}
	var all []entry
	for _, r := range p.Rules {
		for _, s := range r.Scopes {
			all = append(all, entry{r, s, strings.Split(s.Pattern, "/"), s.specificity()})
		}
	}
	budget := tieBudget
	seen := map[[2]*Rule]bool{}
	var out []tie
	for i, a := range all {
		for _, b := range all[i+1:] {
			if budget--; budget <= 0 {
				return out
			}
			if a.rule == b.rule || a.spec != b.spec || seen[[2]*Rule{a.rule, b.rule}] {
				continue
			}
			w, ok := intersect(a.segs, b.segs, &budget)
			if budget <= 0 {
				return out
			}
			if !ok || len(w) < 2 {
				continue
			}
			repo := strings.Join(w, "/")
			// Another rule's more specific scope may settle the witness;
			// then the tie is not certain and Match judges it.
			if _, err := p.match(repo); !errors.Is(err, ErrAmbiguousScope) {
				continue
			}
			seen[[2]*Rule{a.rule, b.rule}] = true
			out = append(out, tie{candidate{a.rule, a.scope, a.spec}, candidate{b.rule, b.scope, b.spec}, repo})
		}
	}
	return out
}

// intersect returns a path (segments) both segment patterns match, if
// there is one. It walks pairs of positions (i, j) with a memo, so it
// costs O(len(a)·len(b)) segment comparisons; budget is decremented by
// the work done.
func intersect(a, b []string, budget *int) ([]string, bool) {
	visited := map[[2]int]bool{}
	var walk func(i, j int) ([]string, bool)
	walk = func(i, j int) ([]string, bool) {
		if i == len(a) && j == len(b) {
			return nil, true
		}
		if visited[[2]int{i, j}] || *budget <= 0 {
			return nil, false
		}
		visited[[2]int{i, j}] = true
		*budget--
		ai := i < len(a) && a[i] == "**"
		bj := j < len(b) && b[j] == "**"
		// "**" matching no (more) segments.
		if ai {
			if w, ok := walk(i+1, j); ok {
				return w, true
			}
		}
		if bj {
			if w, ok := walk(i, j+1); ok {
				return w, true
			}
		}
		// One segment, matched by both sides.
		var seg string
		var ni, nj int
		switch {
		case i == len(a) || j == len(b):
			return nil, false
		case ai && bj:
			return nil, false // both spanning: covered by the moves above
		case ai:
			seg, ni, nj = segWitness(b[j], "*", budget), i, j+1
		case bj:
			seg, ni, nj = segWitness(a[i], "*", budget), i+1, j
		default:
			w := segWitness(a[i], b[j], budget)
			if w == "\x00" {
				return nil, false
			}
			seg, ni, nj = w, i+1, j+1
		}
		if w, ok := walk(ni, nj); ok {
			return append([]string{seg}, w...), true
		}
		return nil, false
	}
	return walk(0, 0)
}

// segWitness returns a string both segment globs match ("*" is any run of
// characters), or "\x00" when there is none. Wildcards take the other
// side's characters where they can and "x" where both sides are wildcards.
func segWitness(a, b string, budget *int) string {
	// A readable witness first: one side's wildcards filled with "x".
	for _, c := range []string{strings.ReplaceAll(a, "*", "x"), strings.ReplaceAll(b, "*", "x")} {
		if matchSegment(a, c) && matchSegment(b, c) {
			return c
		}
	}
	visited := map[[2]int]bool{}
	var walk func(i, j int) (string, bool)
	walk = func(i, j int) (string, bool) {
		if i == len(a) && j == len(b) {
			return "", true
		}
		if visited[[2]int{i, j}] || *budget <= 0 {
			return "", false
		}
		visited[[2]int{i, j}] = true
		*budget--
		as := i < len(a) && a[i] == '*'
		bs := j < len(b) && b[j] == '*'
		try := func(c string, ni, nj int) (string, bool) {
			if w, ok := walk(ni, nj); ok {
				return c + w, true
			}
			return "", false
		}
		// Wildcards matching nothing first: the witness overlaps the
		// two sides' literals where it can.
		if as {
			if w, ok := try("", i+1, j); ok {
				return w, true
			}
		}
		if bs {
			if w, ok := try("", i, j+1); ok {
				return w, true
			}
		}
		switch {
		case as && j < len(b) && !bs:
			return try(b[j:j+1], i, j+1)
		case bs && i < len(a) && !as:
			return try(a[i:i+1], i+1, j)
		case !as && !bs && i < len(a) && j < len(b) && a[i] == b[j]:
			return try(a[i:i+1], i+1, j+1)
		}
		return "", false
	}
	w, ok := walk(0, 0)
	switch {
	case !ok:
		return "\x00"
	case w == "":
		return "x" // both sides are all wildcards; segments are never empty
	}
	return w
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
