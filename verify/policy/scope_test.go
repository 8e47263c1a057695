package policy

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/imgsign/imgsign/internal/errkind"
)

func TestParseScope(t *testing.T) {
	valid := map[string]string{
		"registry.example.com/prod/**":  "registry.example.com/prod/**",
		"registry.example.com/prod/app": "registry.example.com/prod/app",
		"127.0.0.1:5000/team/*":         "localhost:5000/team/*",
		"127.0.0.1:*/demo/**":           "localhost:*/demo/**",
		"[::1]:5000/**":                 "localhost:5000/**",
		"[0:0::1]:5000/**":              "localhost:5000/**",
		"[2001:db8::1]:5000/**":         "[2001:db8::1]:5000/**",
		"localhost.:5000/**":            "localhost:5000/**",
		"r.io./x":                       "r.io/x",
		"r.io:443/x":                    "r.io/x",
		"r.io:0443/x":                   "r.io/x",
		"r.io:05000/x":                  "r.io:5000/x",
		"*.example.com./x":              "*.example.com/x",
		"*:5000/**":                     "*:5000/**",
		"*/**":                          "*/**",
		"registry.hub.docker.com/nginx": "index.docker.io/library/nginx",
		"registry.hub.docker.com/a/**":  "index.docker.io/a/**",
		"docker.io:443/acme/**":         "index.docker.io/acme/**",
		"docker.io:5000/acme/**":        "docker.io:5000/acme/**",
		"localhost/app":                 "localhost/app",
		"localhost:5000/**":             "localhost:5000/**",
		"**":                            "**",
		"*/app":                         "*/app",
		"*.example.com/app-*/**/x":      "*.example.com/app-*/**/x",
		"registry.example.com:*/a":      "registry.example.com:*/a",
		"docker.io/nginx":               "index.docker.io/library/nginx",
		"docker.io/ngin*":               "index.docker.io/library/ngin*",
		"docker.io/**":                  "index.docker.io/**",
		"docker.io/acme/*":              "index.docker.io/acme/*",
		"index.docker.io/library/nginx": "index.docker.io/library/nginx",
		"registry-1.docker.io/x/y":      "index.docker.io/x/y",
		"ghcr.io/a_b/c.d-e":             "ghcr.io/a_b/c.d-e",
	}
	for in, want := range valid {
		s, err := ParseScope(in)
		if err != nil || s.Pattern != want || s.Raw != in {
			t.Errorf("ParseScope(%q) = %+v, %v; want pattern %q", in, s, err, want)
		}
	}
	invalid := map[string]string{
		"":                            "must not be empty",
		"nginx":                       `a scope must start with a registry host, and "nginx" is not one: for Docker Hub write "docker.io/library/nginx"`,
		"library/nginx":               `"library" is not one: for Docker Hub write "docker.io/library/nginx"`,
		"acme/**":                     `"acme" is not one`,
		"registry.example.com":        `names a registry but no repository: write "registry.example.com/**"`,
		"registry.example.com/app:v1": "tags are not allowed",
		"r.io/app:*":                  "tags are not allowed",
		"r.io/app@sha256:abcd":        "digests are not allowed",
		"r.io/App":                    "lowercase",
		"R.io/app":                    "lowercase",
		"r.io//app":                   "empty path segment",
		"/r.io/app":                   "empty path segment",
		"r.io/app/":                   "empty path segment",
		"r.io/app**":                  `"**" must be a whole path segment`,
		"r.io/***":                    `"**" must be a whole path segment`,
		"**.io/app":                   `"**" must be a whole path segment`,
		"r.io/a b":                    "invalid character ' '",
		"r.io/a?":                     "invalid character '?'",
		"r.io/[ab]":                   "invalid character '['",
		"r.io/é":                      "invalid character 'é'",
		":5000/a":                     "expected host or host:port",
		"r.io:/a":                     "expected host or host:port",
		"r.io:50:00/a":                "expected host or host:port",
		"r.io:http/a":                 "not a number",
		"r.io:h*/a":                   "expected host or host:port",
		"r.io/../x":                   `".." path segment`,
		"r.io/x/.":                    `"." path segment`,
		"127.1:5000/**":               "reads as an IP address",
		"2130706433:5000/**":          "reads as an IP address",
		"127.0.0.*:5000/**":           `would match 127.0.0.1, which imgsign matches as localhost`,
		"docker.*/**":                 "would match docker.io, which imgsign matches as index.docker.io",
		"[::*]:5000/**":               "IPv6",
		"[::1/x":                      "unclosed",
		"-r.io/x":                     "not a host name label",
		"r.io:0/x":                    "not a number",
	}
	for in, want := range invalid {
		_, err := ParseScope(in)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "bad glob ") {
			t.Errorf("ParseScope(%q) error = %v; want it to contain %q", in, err, want)
			continue
		}
		if k, _ := errkind.Of(err); k != errkind.Input {
			t.Errorf("ParseScope(%q) kind = %v", in, k)
		}
	}
}

func TestScopeMatches(t *testing.T) {
	tests := []struct {
		scope, repo string
		want        bool
	}{
		{"**", "r.io/a", true},
		{"**", "127.0.0.1:5000/a/b/c", true},
		{"r.io/**", "r.io/a", true},
		{"r.io/**", "r.io/a/b/c", true},
		{"r.io/**", "s.io/a", false},
		{"r.io/**", "r.io.evil.com/a", false},
		{"r.io/prod/**", "r.io/prod", true}, // ** matches zero segments
		{"r.io/prod/**", "r.io/production/a", false},
		{"r.io/**/app", "r.io/app", true},
		{"r.io/**/app", "r.io/a/b/app", true},
		{"r.io/**/app", "r.io/a/b/app2", false},
		{"r.io/**/**/app", "r.io/app", true},
		{"r.io/a/**/b/**/c", "r.io/a/b/c", true},
		{"r.io/a/**/b/**/c", "r.io/a/x/b/y/z/c", true},
		{"r.io/a/**/b/**/c", "r.io/a/x/c", false},
		{"r.io/*", "r.io/a", true},
		{"r.io/*", "r.io/a/b", false}, // * does not cross "/"
		{"r.io/*", "r.io", false},
		{"r.io/team/*", "r.io/team/x", true},
		{"r.io/app-*", "r.io/app-web", true},
		{"r.io/app-*", "r.io/app-x", true},
		{"r.io/app-*", "r.io/app", false},
		{"r.io/*-canary", "r.io/web-canary", true},
		{"r.io/*a*b*", "r.io/xaybz", true},
		{"r.io/*a*b*", "r.io/xbya", false},
		{"*.example.com/app", "eu.example.com/app", true},
		{"*.example.com/app", "example.com/app", false},
		{"*/app", "127.0.0.1:5000/app", true},
		{"127.0.0.1:5000/team/*", "127.0.0.1:5000/team/app", true},
		{"127.0.0.1:5000/team/*", "127.0.0.1:5001/team/app", false},
		{"127.0.0.1:5000/team/*", "127.0.0.1/team/app", false},
		{"localhost:*/**", "localhost:5000/a", true},
		{"localhost:*/**", "127.0.0.1:5000/a", true},
		{"127.0.0.1:*/**", "localhost:5000/a", true},
		{"127.0.0.1:*/**", "[::1]:5000/a", true},
		{"127.0.0.1:5000/**", "localhost.:5000/a", true},
		{"127.0.0.1:5000/**", "LocalHost:5000/a", true},
		{"localhost:*/**", "localhost:443/a", false}, // :443 is dropped, leaving no port
		{"localhost/**", "localhost:443/a", true},
		{"r.io/**", "r.io:443/a", true},
		{"r.io/**", "R.IO.:443/a", true},
		{"r.io:443/**", "r.io/a", true},
		{"r.io/**", "r.io:4430/a", false},
		{"*:5000/**", "127.0.0.1:5000/a", true},
		{"registry.hub.docker.com/**", "docker.io/acme/app", true},
		{"docker.io/**", "registry.hub.docker.com/acme/app", true},
		{"docker.io/**", "registry-1.docker.io:443/acme/app", true},
		{"docker.io/nginx", "index.docker.io/library/nginx", true},
		{"docker.io/library/nginx", "index.docker.io/library/nginx", true},
		{"index.docker.io/nginx", "index.docker.io/library/nginx", true},
		{"docker.io/acme/**", "index.docker.io/acme/app", true},
		{"docker.io/*", "index.docker.io/library/nginx", true},
		{"docker.io/*", "index.docker.io/acme/app", false},
		{"docker.io/**", "index.docker.io/acme/app", true},
	}
	for _, tt := range tests {
		s, err := ParseScope(tt.scope)
		if err != nil {
			t.Fatalf("ParseScope(%q): %v", tt.scope, err)
		}
		repo, err := NormalizeRepository(tt.repo)
		if err != nil {
			t.Fatalf("NormalizeRepository(%q): %v", tt.repo, err)
		}
		if got := s.Matches(repo); got != tt.want {
			t.Errorf("%q matches %q = %v, want %v", tt.scope, tt.repo, got, tt.want)
		}
	}
}

func TestMatchSegmentPathological(t *testing.T) {
	pat := "r.io/" + strings.Repeat("**/", 200) + strings.Repeat("*a", 100) + "b"
	repo := "r.io/" + strings.Repeat("x/", 100) + strings.Repeat("a", 2000)
	s := Scope{Pattern: pat}
	if s.Matches(repo) {
		t.Error("matched")
	}
}

// TestNormalizeRepository checks the repository forms go-containerregistry
// gives and that Docker Hub spellings agree.
func TestNormalizeRepository(t *testing.T) {
	for in, want := range map[string]string{
		"index.docker.io/library/nginx": "index.docker.io/library/nginx",
		"docker.io/library/nginx":       "index.docker.io/library/nginx",
		"docker.io/nginx":               "index.docker.io/library/nginx",
		"nginx":                         "index.docker.io/library/nginx",
		"acme/app":                      "index.docker.io/acme/app",
		"Registry.Example.com/app":      "registry.example.com/app",
		"127.0.0.1:5000/team/app":       "localhost:5000/team/app",
		"[::1]:5000/team/app":           "localhost:5000/team/app",
		"localhost./app":                "localhost/app",
		"localhost/app":                 "localhost/app",
		"r.io:443/a":                    "r.io/a",
		"registry.hub.docker.com/nginx": "index.docker.io/library/nginx",
		"registry.hub.docker.com/a/b":   "index.docker.io/a/b",
		"r.io/a__b/c---d/e.f":           "r.io/a__b/c---d/e.f",
	} {
		got, err := NormalizeRepository(in)
		if err != nil || got != want {
			t.Errorf("NormalizeRepository(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "r.io/app:v1", "nginx:latest", "r.io/app@sha256:abc", "r.io/*", "r.io//a", "r.io/a/",
		"r.io/dev/../prod/x", "r.io/./x", "r.io/x/..", "../x", "r.io/a..b", "r.io/-a", "r.io/App", "127.1:5000/x", "r.io:99999/x",
		"r.io:/x", "[::1/x", "r.io/a%2f..%2fb"} {
		if _, err := NormalizeRepository(in); err == nil {
			t.Errorf("NormalizeRepository(%q) succeeded", in)
		} else if k, _ := errkind.Of(err); k != errkind.Input {
			t.Errorf("NormalizeRepository(%q) kind = %v", in, k)
		}
	}
	// What go-containerregistry hands the verify engine is already normal.
	for _, ref := range []string{"nginx", "docker.io/library/nginx:1.27", "acme/app@sha256:" + strings.Repeat("a", 64),
		"ghcr.io/acme/app", "localhost:5000/x", "10.1.2.3:5000/team/app:dev"} {
		r, err := name.ParseReference(ref)
		if err != nil {
			t.Fatal(err)
		}
		repo := r.Context().Name()
		if got, err := NormalizeRepository(repo); err != nil || got != repo {
			t.Errorf("ggcr %q gives %q, normalised to %q, %v", ref, repo, got, err)
		}
	}
}

// matchPolicy builds a policy whose rules have the given scopes.
func matchPolicy(t *testing.T, rules map[string][]string) *Policy {
	t.Helper()
	src := keyA + "policies:\n"
	for _, name := range slices.Sorted(maps.Keys(rules)) {
		src += "  - name: " + name + "\n    scopes:\n"
		for _, s := range rules[name] {
			src += "      - '" + s + "'\n"
		}
		src += "    signatures: {keys: [a]}\n"
	}
	p, err := Parse([]byte(src), "")
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, src)
	}
	return p
}

func TestMatchMostSpecific(t *testing.T) {
	tests := []struct {
		name   string
		rules  map[string][]string
		repo   string
		want   string // rule name
		reason string // in ScopeMatch.Reason
	}{
		{"exact beats glob", map[string][]string{"glob": {"r.io/prod/**"}, "exact": {"r.io/prod/app"}}, "r.io/prod/app", "exact",
			`scope "r.io/prod/app" (3 literal segments, 0 wildcards) beats policy "glob" scope "r.io/prod/**" (2 literal segments, 1 wildcard)`},
		{"exact beats a glob with more characters", map[string][]string{"glob": {"r.io/prod/app-with-a-long-name*"}, "exact": {"r.io/prod/app-with-a-long-name"}}, "r.io/prod/app-with-a-long-name", "exact", ""},
		{"exact beats ** matching nothing", map[string][]string{"glob": {"r.io/prod/app/**"}, "exact": {"r.io/prod/app"}}, "r.io/prod/app", "exact", ""},
		{"more literal segments win", map[string][]string{"all": {"**"}, "prod": {"r.io/prod/**"}}, "r.io/prod/app", "prod",
			`scope "r.io/prod/**" (2 literal segments, 1 wildcard) beats policy "all" scope "**" (0 literal segments, 1 wildcard)`},
		{"deeper prefix wins", map[string][]string{"reg": {"r.io/**"}, "team": {"r.io/team/**"}}, "r.io/team/app", "team", ""},
		// The character count used to let the long audit-looking scope win.
		{"segments beat characters", map[string][]string{"enforce": {"r.io/prod/**"}, "looks-narrower": {"**/very-long-application-name"}}, "r.io/prod/very-long-application-name", "enforce",
			`scope "r.io/prod/**" (2 literal segments, 1 wildcard) beats policy "looks-narrower" scope "**/very-long-application-name" (1 literal segment, 1 wildcard)`},
		{"partly literal segments are wildcards", map[string][]string{"canary": {"r.io/prod/*-canary"}, "prod": {"r.io/prod/web-canary/**"}}, "r.io/prod/web-canary", "prod", ""},
		{"fewer wildcards win on equal segments", map[string][]string{"two": {"r.io/a*b*"}, "one": {"r.io/ab*"}}, "r.io/abc", "one", ""},
		{"docker hub spellings are one registry", map[string][]string{"hub": {"registry.hub.docker.com/library/*"}, "all": {"**"}}, "docker.io/library/nginx", "hub", ""},
		{"loopback spellings are one registry", map[string][]string{"prod": {"127.0.0.1:5000/prod/**"}, "lax": {"localhost:5000/**"}}, "localhost:5000/prod/x", "prod", ""},
		{"best scope of each rule counts", map[string][]string{"a": {"**", "r.io/x/y"}, "b": {"r.io/x/*"}}, "r.io/x/y", "a", ""},
		{"two scopes of one rule tying is fine", map[string][]string{"a": {"r.io/*/b", "r.io/a/*"}, "z": {"**"}}, "r.io/a/b", "a", ""},
		{"a third rule settles a tie", map[string][]string{"a": {"r.io/*/b"}, "b": {"r.io/a/*"}, "c": {"r.io/a/b"}}, "r.io/a/b", "c", ""},
		// A scope matching all another does and more never outranks it
		// (** outranked a wildcard host by counting wildcards).
		{"a wildcard host beats the catch-all", map[string][]string{"all": {"**"}, "ecr": {"*.dkr.ecr.*.amazonaws.com/**"}}, "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app", "ecr",
			`scope "*.dkr.ecr.*.amazonaws.com/**" (0 literal segments, 3 wildcards) beats policy "all" scope "**" (0 literal segments, 1 wildcard), which matches every repository it does and more`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := matchPolicy(t, tt.rules)
			m, err := p.MatchScope(tt.repo)
			if err != nil || m.Rule.Name != tt.want {
				t.Fatalf("Match = %+v, %v; want %s", m, err, tt.want)
			}
			if tt.reason != "" && m.Reason != tt.reason {
				t.Errorf("reason:\n%s\nwant:\n%s", m.Reason, tt.reason)
			}
			if !m.Scope.Matches(m.Repository) || !slices.Contains(m.Rule.Scopes, m.Scope) {
				t.Errorf("scope %+v is not the rule's or does not match %s", m.Scope, m.Repository)
			}
		})
	}
}

// TestScopeTies checks that rules whose scopes tie are refused when the
// policy is parsed, with a repository they would both match.
func TestScopeTies(t *testing.T) {
	tests := []struct {
		name  string
		rules map[string][]string
		want  string
	}{
		{"one * each", map[string][]string{"a": {"r.io/*/b"}, "b": {"r.io/a/*"}}, `and both match r.io/a/b`},
		{"** placement", map[string][]string{"a": {"r.io/**/b"}, "b": {"r.io/a/**"}}, `(2 literal segments, 1 wildcard each) and both match r.io/a/b`},
		{"* and ** count alike", map[string][]string{"deep": {"r.io/**"}, "one": {"r.io/*"}}, "both match r.io/x"},
		{"a literal suffix is still a wildcard segment", map[string][]string{"any": {"r.io/prod/*"}, "canary": {"r.io/prod/*-canary"}}, "both match r.io/prod/x-canary"},
		{"enforce prod/** and audit */app", map[string][]string{"enforce": {"r.io/prod/**"}, "audit": {"r.io/*/app"}}, "both match r.io/prod/app"},
		{"wildcard hosts", map[string][]string{"a": {"*.example.com/app/*"}, "b": {"eu.*/*/web"}}, "both match eu.example.com/app/web"},
		{"a rule's catch-all does not hide its tie", map[string][]string{"a": {"**", "*.corp.example/*/**"}, "b": {"corp*.example/*/**"}}, "both match corp"},
		{"wildcards inside segments", map[string][]string{"a": {"r.io/a*c"}, "b": {"r.io/*bc"}}, "both match r.io/abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := keyA + "policies:\n"
			for _, name := range slices.Sorted(maps.Keys(tt.rules)) {
				src += "  - name: " + name + "\n    scopes: ['" + strings.Join(tt.rules[name], "', '") + "']\n    signatures: {keys: [a]}\n"
			}
			_, err := Parse([]byte(src), "")
			var ps Problems
			if !errors.As(err, &ps) || len(ps) != 1 {
				t.Fatalf("Parse error = %v; want one problem", err)
			}
			if !strings.Contains(ps[0].Msg, "are equally specific") || !strings.Contains(ps[0].Msg, tt.want) || !strings.Contains(ps[0].Msg, "make one more specific") {
				t.Errorf("problem %q; want it to contain %q", ps[0], tt.want)
			}
			if k, _ := errkind.Of(err); k != errkind.Input {
				t.Errorf("kind = %v", k)
			}
		})
	}
	// Disjoint scopes of equal specificity are no tie.
	for _, rules := range []map[string][]string{
		{"a": {"r.io/a/*"}, "b": {"r.io/b/*"}},
		{"a": {"r.io/*-web"}, "b": {"r.io/*-api"}},
		{"a": {"r.io/a/**"}, "b": {"s.io/a/**"}},
		{"a": {"r.io/*/x"}, "b": {"r.io/*/y"}},
		{"a": {"**/x"}, "b": {"**/y"}},
	} {
		matchPolicy(t, rules)
	}
}

// TestMatchAmbiguousAtRuntime: a tie the static check does not prove
// (its example repository is settled by a third rule) is still refused
// when a repository meets it.
func TestMatchAmbiguousAtRuntime(t *testing.T) {
	p := matchPolicy(t, map[string][]string{"a": {"r.io/**/b"}, "b": {"r.io/a/**"}, "c": {"r.io/a/b"}})
	if r, err := p.Match("r.io/a/b"); err != nil || r.Name != "c" {
		t.Fatalf("Match(r.io/a/b) = %v, %v", r, err)
	}
	_, err := p.Match("r.io/a/x/b")
	if !errors.Is(err, ErrAmbiguousScope) {
		t.Fatalf("err = %v; want ErrAmbiguousScope", err)
	}
	for _, w := range []string{`"a" (scope "r.io/**/b", line 8)`, `"b" (scope "r.io/a/**", line 12)`, "2 literal segments, 1 wildcard each"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if k, _ := errkind.Of(err); k != errkind.Input {
		t.Errorf("kind = %v", k)
	}
}

// TestScopeTiesBounded: the static check stays cheap on big policies.
func TestScopeTiesBounded(t *testing.T) {
	src := keyA + "policies:\n"
	for i := range 300 {
		src += fmt.Sprintf("  - name: r%d\n    scopes: ['r.io/t%d/%s*']\n    signatures: {keys: [a]}\n", i, i, strings.Repeat("**/", 20))
	}
	start := time.Now()
	if _, err := Parse([]byte(src), ""); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Parse took %v", d)
	}
	// Many scopes: the pairs compared are bounded too.
	var b strings.Builder
	b.WriteString(keyA + "policies:\n")
	for i := range 5000 {
		fmt.Fprintf(&b, "  - name: r%d\n    scopes: ['r.io/t%d/*']\n    signatures: {keys: [a]}\n", i, i)
	}
	start = time.Now()
	if _, err := Parse([]byte(b.String()), ""); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Parse of 5000 rules took %v", d)
	}
}

func TestMatchNoScope(t *testing.T) {
	p := matchPolicy(t, map[string][]string{"prod": {"r.io/prod/**"}})
	_, err := p.Match("r.io/dev/team/app")
	if !errors.Is(err, ErrNoMatchingScope) {
		t.Fatalf("err = %v", err)
	}
	want := `no trust policy scope matches repository r.io/dev/team/app: add a scope such as "r.io/dev/team/app" or "r.io/dev/team/**" to a rule in the policy`
	if err.Error() != want {
		t.Errorf("message:\n%s\nwant:\n%s", err, want)
	}
	if k, _ := errkind.Of(err); k != errkind.Untrusted {
		t.Errorf("kind = %v", k)
	}
	_, err = matchPolicy(t, map[string][]string{"prod": {"localhost:5000/prod/**"}}).Match("127.0.0.1:5000/dev/app")
	want = `no trust policy scope matches repository localhost:5000/dev/app: add a scope such as "localhost:5000/dev/app" or "localhost:5000/dev/**" to a rule in the policy (127.0.0.1:5000/dev/app is matched as localhost:5000/dev/app: registry hosts are matched in one canonical spelling)`
	if !errors.Is(err, ErrNoMatchingScope) || err.Error() != want {
		t.Errorf("message:\n%v\nwant:\n%s", err, want)
	}
	if _, err := p.Match("r.io/prod/app:tag"); errors.Is(err, ErrNoMatchingScope) || err == nil {
		t.Errorf("a tagged reference should be an input error, got %v", err)
	}
}

// FuzzScopeIntersect checks that the static tie check's witness is matched
// by both patterns, and that hostile patterns neither panic nor hang.
func FuzzScopeIntersect(f *testing.F) {
	for _, p := range [][2]string{{"r.io/*/b", "r.io/a/*"}, {"r.io/**/b", "r.io/a/**"}, {"*.example.com/app/*", "eu.*/*/web"},
		{"r.io/a*c", "r.io/*bc"}, {"**", "127.0.0.1:*/x/**"}, {"r.io/a/*", "r.io/b/*"}} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		sa, errA := ParseScope(a)
		sb, errB := ParseScope(b)
		if errA != nil || errB != nil {
			return
		}
		budget := tieBudget
		w, ok := intersect(strings.Split(sa.Pattern, "/"), strings.Split(sb.Pattern, "/"), &budget)
		if !ok {
			return
		}
		repo := strings.Join(w, "/")
		if !sa.Matches(repo) || !sb.Matches(repo) {
			t.Fatalf("witness %q of %q and %q is not matched by both", repo, sa.Pattern, sb.Pattern)
		}
	})
}
