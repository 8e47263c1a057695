package policy

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/imgsign/imgsign/internal/errkind"
)

func TestParseScope(t *testing.T) {
	valid := map[string]string{
		"registry.example.com/prod/**":  "registry.example.com/prod/**",
		"registry.example.com/prod/app": "registry.example.com/prod/app",
		"127.0.0.1:5000/team/*":         "127.0.0.1:5000/team/*",
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
		"r.io:http/a":                 "expected host or host:port",
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
		{"r.io/app-*", "r.io/app-", true},
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
		"127.0.0.1:5000/team/app":       "127.0.0.1:5000/team/app",
		"localhost/app":                 "localhost/app",
	} {
		got, err := NormalizeRepository(in)
		if err != nil || got != want {
			t.Errorf("NormalizeRepository(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "r.io/app:v1", "nginx:latest", "r.io/app@sha256:abc", "r.io/*", "r.io//a", "r.io/a/"} {
		if _, err := NormalizeRepository(in); err == nil {
			t.Errorf("NormalizeRepository(%q) succeeded", in)
		} else if k, _ := errkind.Of(err); k != errkind.Input {
			t.Errorf("NormalizeRepository(%q) kind = %v", in, k)
		}
	}
	// What go-containerregistry hands the verify engine is already normal.
	for _, ref := range []string{"nginx", "docker.io/library/nginx:1.27", "acme/app@sha256:" + strings.Repeat("a", 64),
		"127.0.0.1:5000/team/app:dev", "ghcr.io/acme/app", "localhost:5000/x"} {
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
		name  string
		rules map[string][]string
		repo  string
		want  string // rule name; "" means ambiguous
	}{
		{"exact beats glob", map[string][]string{"glob": {"r.io/prod/**"}, "exact": {"r.io/prod/app"}}, "r.io/prod/app", "exact"},
		{"exact beats a longer glob", map[string][]string{"glob": {"r.io/prod/app-with-a-long-name*"}, "exact": {"r.io/prod/app-with-a-long-name"}}, "r.io/prod/app-with-a-long-name", "exact"},
		{"more literals win", map[string][]string{"all": {"**"}, "prod": {"r.io/prod/**"}}, "r.io/prod/app", "prod"},
		{"deeper prefix wins", map[string][]string{"reg": {"r.io/**"}, "team": {"r.io/team/**"}}, "r.io/team/app", "team"},
		{"literal suffix wins", map[string][]string{"any": {"r.io/prod/*"}, "canary": {"r.io/prod/*-canary"}}, "r.io/prod/web-canary", "canary"},
		{"fewer ** wins on equal literals", map[string][]string{"deep": {"r.io/**"}, "one": {"r.io/*"}}, "r.io/app", "one"},
		{"fewer * wins on equal literals and **", map[string][]string{"two": {"r.io/a*b*"}, "one": {"r.io/ab*"}}, "r.io/abc", "one"},
		{"docker hub spellings are one registry", map[string][]string{"hub": {"docker.io/library/*"}, "all": {"**"}}, "index.docker.io/library/nginx", "hub"},
		{"best scope of each rule counts", map[string][]string{"a": {"**", "r.io/x/y"}, "b": {"r.io/x/*"}}, "r.io/x/y", "a"},
		{"two scopes of one rule tying is fine", map[string][]string{"a": {"r.io/*/b", "r.io/a/*"}, "z": {"**"}}, "r.io/a/b", "a"},
		{"tie between rules is ambiguous", map[string][]string{"a": {"r.io/*/b"}, "b": {"r.io/a/*"}}, "r.io/a/b", ""},
		{"tie with ** placement", map[string][]string{"a": {"r.io/**/b"}, "b": {"r.io/a/**"}}, "r.io/a/b", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := matchPolicy(t, tt.rules)
			r, err := p.Match(tt.repo)
			if tt.want == "" {
				if !errors.Is(err, ErrAmbiguousScope) {
					t.Fatalf("Match = %v, %v; want ErrAmbiguousScope", r, err)
				}
				for n := range tt.rules {
					if !strings.Contains(err.Error(), `"`+n+`"`) {
						t.Errorf("error %q does not name rule %q", err, n)
					}
				}
				if k, _ := errkind.Of(err); k != errkind.Input {
					t.Errorf("kind = %v", k)
				}
				return
			}
			if err != nil || r.Name != tt.want {
				t.Fatalf("Match = %v, %v; want %s", r, err, tt.want)
			}
		})
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
	if _, err := p.Match("r.io/prod/app:tag"); errors.Is(err, ErrNoMatchingScope) || err == nil {
		t.Errorf("a tagged reference should be an input error, got %v", err)
	}
}
