package policy

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// mirrorPolicy is keyA with the mirrors YAML and one rule per scope list.
func mirrorPolicy(mirrors string, rules ...[2]string) string {
	src := keyA + mirrors + "policies:\n"
	for _, r := range rules {
		src += "  - name: " + r[0] + "\n    scopes: [" + r[1] + "]\n    signatures: {keys: [a]}\n"
	}
	return src
}

func parseMirrors(t *testing.T, src string) *Policy {
	t.Helper()
	p, err := Parse([]byte(src), "")
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, src)
	}
	return p
}

func TestParseMirrorPrefix(t *testing.T) {
	good := map[string]string{
		"mirror.corp/dockerhub/library": "mirror.corp/dockerhub/library",
		"docker.io/library":             "index.docker.io/library", // a namespace: no library/ added
		"docker.io":                     "index.docker.io",
		"registry-1.docker.io/acme":     "index.docker.io/acme",
		"mirror.corp:443/x":             "mirror.corp/x",
		"127.0.0.1:5000/mirror":         "localhost:5000/mirror",
		"[::1]:5000/mirror":             "localhost:5000/mirror",
		"mirror.corp.":                  "mirror.corp",
		"localhost/a":                   "localhost/a",
	}
	for in, want := range good {
		got, err := ParseMirrorPrefix(in)
		if err != nil || got != want {
			t.Errorf("ParseMirrorPrefix(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := map[string]string{
		"":                          "must not be empty",
		"https://mirror.corp/x":     "without a scheme",
		"mirror.corp/**":            "no wildcards",
		"mirror.corp/a*":            "no wildcards",
		"*.corp/x":                  "no wildcards",
		"mirror.corp/x@sha256:abcd": "digests are not allowed",
		"mirror.corp/x:1.0":         "tags are not allowed",
		"Mirror.corp/x":             "lowercase",
		"mirror.corp/X":             "lowercase",
		"library/nginx":             `must start with a registry host, and "library" is not one`,
		"mirror.corp/":              "empty path segment",
		"mirror.corp//x":            "empty path segment",
		"mirror.corp/a/../b":        `".." path segment`,
		"mirror.corp/./b":           `"." path segment`,
		"mirror.corp/a%2fb":         "not a repository name component",
		"127.1/x":                   "127.1",
		"mirror.corp:0443x/a":       "registry",
	}
	for in, want := range bad {
		if got, err := ParseMirrorPrefix(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseMirrorPrefix(%q) = %q, %v; want an error containing %q", in, got, err, want)
		}
	}
}

// TestCanonical is the mapping itself, including what an attacker who can
// push anywhere on the mirror would try: names beside the prefix, other
// spellings of the host, and paths a registry could resolve elsewhere.
func TestCanonical(t *testing.T) {
	p := parseMirrors(t, mirrorPolicy(`mirrors:
  - mirror: mirror.corp/dockerhub/library
    canonical: docker.io/library
  - mirror: mirror.corp/dockerhub
    canonical: docker.io
  - mirror: 127.0.0.1:5000/mirror/acme
    canonical: ghcr.io/acme
  - mirror: 127.0.0.1:5000/mirror/acme/special
    canonical: ghcr.io/other/special
  - mirror: mirror.corp/one
    canonical: ghcr.io/acme/app
`, [2]string{"all", "'**'"}))
	tests := []struct {
		repo, want string
		mirror     string // the entry's mirror prefix as written; "" for no mapping
	}{
		{"mirror.corp/dockerhub/library/nginx", "index.docker.io/library/nginx", "mirror.corp/dockerhub/library"},
		// The longest prefix wins; a one-segment Docker Hub name that the
		// shorter mapping yields is an official image, as docker reads it.
		{"mirror.corp/dockerhub/nginx", "index.docker.io/library/nginx", "mirror.corp/dockerhub"},
		{"mirror.corp/dockerhub/bitnami/redis", "index.docker.io/bitnami/redis", "mirror.corp/dockerhub"},
		{"mirror.corp/dockerhub/library-evil/x", "index.docker.io/library-evil/x", "mirror.corp/dockerhub"},
		{"127.0.0.1:5000/mirror/acme/app", "ghcr.io/acme/app", "127.0.0.1:5000/mirror/acme"},
		{"localhost:5000/mirror/acme/team/app", "ghcr.io/acme/team/app", "127.0.0.1:5000/mirror/acme"},
		{"[::1]:5000/mirror/acme/app", "ghcr.io/acme/app", "127.0.0.1:5000/mirror/acme"},
		{"127.0.0.1:5000/mirror/acme/special", "ghcr.io/other/special", "127.0.0.1:5000/mirror/acme/special"},
		{"127.0.0.1:5000/mirror/acme/special/x", "ghcr.io/other/special/x", "127.0.0.1:5000/mirror/acme/special"},
		// Segment boundaries: a name that merely starts with the prefix's
		// characters is not inside it.
		{"127.0.0.1:5000/mirror/acme-evil/app", "localhost:5000/mirror/acme-evil/app", ""},
		{"127.0.0.1:5000/mirror/acmeapp", "localhost:5000/mirror/acmeapp", ""},
		{"127.0.0.1:5000/mirror/acme/special-evil", "ghcr.io/acme/special-evil", "127.0.0.1:5000/mirror/acme"},
		{"127.0.0.1:5000/mirror", "localhost:5000/mirror", ""},
		// Another port is another registry.
		{"127.0.0.1:5001/mirror/acme/app", "localhost:5001/mirror/acme/app", ""},
		// Host spellings are one registry, as in scopes.
		{"MIRROR.corp.:443/dockerhub/library/nginx", "index.docker.io/library/nginx", "mirror.corp/dockerhub/library"},
		// The prefix itself is mapped: a single repository's mapping.
		{"mirror.corp/one", "ghcr.io/acme/app", "mirror.corp/one"},
		{"mirror.corp/one/x", "ghcr.io/acme/app/x", "mirror.corp/one"},
		{"mirror.corp/onex", "mirror.corp/onex", ""},
		// The canonical side is not a mirror: names there are their own.
		{"ghcr.io/acme/app", "ghcr.io/acme/app", ""},
		{"docker.io/nginx", "index.docker.io/library/nginx", ""},
	}
	for _, tt := range tests {
		got, m, err := p.Canonical(tt.repo)
		if err != nil {
			t.Errorf("Canonical(%q): %v", tt.repo, err)
			continue
		}
		mirror := ""
		if m != nil {
			mirror = m.Mirror
		}
		if got != tt.want || mirror != tt.mirror {
			t.Errorf("Canonical(%q) = %q via %q; want %q via %q", tt.repo, got, mirror, tt.want, tt.mirror)
		}
	}
	// Names a registry could resolve to another repository are refused
	// before any mapping, as everywhere.
	for _, repo := range []string{"mirror.corp/dockerhub/library/../../evil/x", "mirror.corp/dockerhub//library/x", "mirror.corp/dockerhub/Library/x", "127.1:5000/mirror/acme/app"} {
		if got, _, err := p.Canonical(repo); err == nil {
			t.Errorf("Canonical(%q) = %q, want an error", repo, got)
		}
	}
}

// TestMatchScopeThroughMirror is the case: a policy for
// ghcr.io/acme/** judges the copy at 127.0.0.1:PORT/mirror/acme/app through
// a mirror mapping; without the mapping the mirror's own rule does.
func TestMatchScopeThroughMirror(t *testing.T) {
	rules := [][2]string{{"acme", "'ghcr.io/acme/**'"}, {"mirror-own", "'127.0.0.1:5000/**'"}}
	with := parseMirrors(t, mirrorPolicy("mirrors:\n  - mirror: 127.0.0.1:5000/mirror/acme\n    canonical: ghcr.io/acme\n", rules...))
	m, err := with.MatchScope("127.0.0.1:5000/mirror/acme/app")
	if err != nil {
		t.Fatal(err)
	}
	if m.Rule.Name != "acme" || m.Repository != "ghcr.io/acme/app" || m.Mirror == nil || m.Mirror.Canonical != "ghcr.io/acme" {
		t.Errorf("with the mapping: rule %s, repository %s, mirror %+v; want acme, ghcr.io/acme/app and the mapping", m.Rule.Name, m.Repository, m.Mirror)
	}
	// Outside the prefix, the mirror's own scopes judge.
	if m, err := with.MatchScope("127.0.0.1:5000/mirror/acme-evil/app"); err != nil || m.Rule.Name != "mirror-own" || m.Mirror != nil {
		t.Errorf("beside the prefix: %+v, %v; want the mirror's own rule", m, err)
	}
	without := parseMirrors(t, mirrorPolicy("", rules...))
	if m, err := without.MatchScope("127.0.0.1:5000/mirror/acme/app"); err != nil || m.Rule.Name != "mirror-own" || m.Mirror != nil || m.Repository != "localhost:5000/mirror/acme/app" {
		t.Errorf("without the mapping: %+v, %v; want the mirror's own rule", m, err)
	}
	// A mapped name no scope covers fails closed, and says which name was
	// matched and why.
	only := parseMirrors(t, mirrorPolicy("mirrors:\n  - mirror: 127.0.0.1:5000/mirror/acme\n    canonical: ghcr.io/acme\n", [2]string{"other", "'ghcr.io/other/**'"}))
	_, err = only.MatchScope("127.0.0.1:5000/mirror/acme/app")
	if !errors.Is(err, ErrNoMatchingScope) || !strings.Contains(err.Error(), "no trust policy scope matches repository ghcr.io/acme/app") ||
		!strings.Contains(err.Error(), "127.0.0.1:5000/mirror/acme/app is a copy of ghcr.io/acme/app: mirrors entry 127.0.0.1:5000/mirror/acme → ghcr.io/acme, line ") {
		t.Errorf("no scope for the canonical name: %v", err)
	}
}

func TestMirrorProblems(t *testing.T) {
	rule := [2]string{"all", "'ghcr.io/**'"}
	tests := []struct {
		name    string
		mirrors string
		rules   [][2]string
		line    int
		path    string
		msg     string
	}{
		{"not a list", "mirrors: mirror.corp\n", nil, 5, "mirrors", `expected a list, got a string`},
		{"missing canonical", "mirrors:\n  - mirror: mirror.corp/x\n", nil, 6, "mirrors[0]", `missing required field "canonical"`},
		{"unknown field", "mirrors:\n  - mirror: mirror.corp/x\n    canonical: ghcr.io/x\n    prefix: y\n", nil, 8, "mirrors[0]", `unknown field "prefix"`},
		{"misspelled field", "mirrors:\n  - mirorr: mirror.corp/x\n    canonical: ghcr.io/x\n", nil, 6, "mirrors[0]", `unknown field "mirorr" (did you mean "mirror"?)`},
		{"wildcard", "mirrors:\n  - mirror: mirror.corp/**\n    canonical: ghcr.io\n", nil, 6, "mirrors[0].mirror", "no wildcards"},
		{"scheme", "mirrors:\n  - mirror: mirror.corp/x\n    canonical: https://ghcr.io/x\n", nil, 7, "mirrors[0].canonical", "without a scheme"},
		{"not a string", "mirrors:\n  - mirror: mirror.corp/x\n    canonical: [ghcr.io/x]\n", nil, 7, "mirrors[0].canonical", "expected a string, got a list"},
		{"maps to itself", "mirrors:\n  - mirror: 127.0.0.1:5000/x\n    canonical: localhost:5000/x\n", nil, 6, "mirrors[0]", "maps a prefix to itself (both mean localhost:5000/x)"},
		{"same mirror twice", "mirrors:\n  - mirror: mirror.corp/x\n    canonical: ghcr.io/x\n  - mirror: MIRROR.corp:443/x\n    canonical: ghcr.io/y\n", nil, 8, "mirrors[1].mirror", `"MIRROR.corp:443/x": repository names are lowercase`},
		{"same mirror twice, other spelling", "mirrors:\n  - mirror: mirror.corp/x\n    canonical: ghcr.io/x\n  - mirror: mirror.corp:443/x\n    canonical: ghcr.io/y\n", nil, 8, "mirrors[1].mirror",
			`mirror prefix "mirror.corp:443/x" is already mapped by mirrors[0] (line 6) (both mean mirror.corp/x): one prefix, one canonical name`},
		{"chain", "mirrors:\n  - mirror: a.corp/x\n    canonical: b.corp/y\n  - mirror: b.corp/y\n    canonical: ghcr.io/y\n", nil, 6, "mirrors[0].canonical",
			`canonical "b.corp/y" overlaps mirror prefix "b.corp/y" of mirrors[1] (line 8): mappings apply once and do not chain`},
		{"chain below", "mirrors:\n  - mirror: a.corp/x\n    canonical: b.corp/y/z\n  - mirror: b.corp/y\n    canonical: ghcr.io/y\n", nil, 6, "mirrors[0].canonical", "do not chain"},
		{"chain above", "mirrors:\n  - mirror: a.corp/x\n    canonical: b.corp\n  - mirror: b.corp/y\n    canonical: ghcr.io/y\n", nil, 6, "mirrors[0].canonical", "do not chain"},
		{"chain through another spelling", "mirrors:\n  - mirror: a.corp/x\n    canonical: registry-1.docker.io/acme\n  - mirror: docker.io/acme\n    canonical: ghcr.io/acme\n", nil, 6, "mirrors[0].canonical", "do not chain"},
		{"mirror inside its canonical", "mirrors:\n  - mirror: r.corp/a/b\n    canonical: r.corp/a\n", nil, 6, "mirrors[0].canonical", "mappings apply once and do not chain"},
		{"canonical inside its mirror", "mirrors:\n  - mirror: r.corp/a\n    canonical: r.corp/a/b\n", nil, 6, "mirrors[0].canonical", "mappings apply once and do not chain"},
		{"scope inside a mirror prefix", "mirrors:\n  - mirror: 127.0.0.1:5000/mirror\n    canonical: ghcr.io/acme\n", [][2]string{rule, {"dead", "'localhost:5000/mirror/app/**'"}}, 13, "policies[1].scopes[0]",
			`scope "localhost:5000/mirror/app/**" of policy "dead" is inside mirror prefix "127.0.0.1:5000/mirror" (mirrors[0], line 6): images there are judged by their canonical name under "ghcr.io/acme", so this scope never applies`},
		{"scope equal to a mirror prefix", "mirrors:\n  - mirror: mirror.corp/x\n    canonical: ghcr.io/x\n", [][2]string{rule, {"dead", "'mirror.corp/x'"}}, 13, "policies[1].scopes[0]", "never applies"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules := tt.rules
			if rules == nil {
				rules = [][2]string{rule}
			}
			src := mirrorPolicy(tt.mirrors, rules...)
			_, err := Parse([]byte(src), "")
			if err == nil {
				t.Fatalf("Parse accepted:\n%s", src)
			}
			ps := problemsOf(t, err)
			for _, p := range ps {
				if p.Line == tt.line && p.Path == tt.path && strings.Contains(p.Msg, tt.msg) {
					return
				}
			}
			t.Errorf("want line %d %s: %q; got:\n%v\n%s", tt.line, tt.path, tt.msg, ps, src)
		})
	}
}

// TestMirrorsAccepted are policies that must load: nested prefixes (the
// longest wins), several mirrors of one origin, and scopes of the mirror
// host that are not wholly inside a prefix.
func TestMirrorsAccepted(t *testing.T) {
	for _, src := range []string{
		mirrorPolicy("mirrors: []\n", [2]string{"all", "'ghcr.io/**'"}),
		mirrorPolicy(`mirrors:
  - mirror: mirror.corp/hub
    canonical: docker.io
  - mirror: mirror.corp/hub/library
    canonical: docker.io/library
  - mirror: backup.corp/hub
    canonical: docker.io
`, [2]string{"hub", "'docker.io/**'"}, [2]string{"mirror-host", "'mirror.corp/**'"}, [2]string{"wild", "'mirror.corp/*/x'"}),
	} {
		if _, err := Parse([]byte(src), ""); err != nil {
			t.Errorf("Parse: %v\n%s", err, src)
		}
	}
}

func TestLoadMirrorsSample(t *testing.T) {
	p, err := Load(filepath.Join(testdata, "valid", "mirrors.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	for repo, want := range map[string][2]string{
		"registry.corp/ghcr/acme/app":            {"acme", "ghcr.io/acme/app"},
		"registry.corp/dockerhub/library/nginx":  {"dockerhub-official", "index.docker.io/library/nginx"},
		"registry.corp/dockerhub/library2/nginx": {"corp-own", "registry.corp/dockerhub/library2/nginx"},
		"registry.corp/team/app":                 {"corp-own", "registry.corp/team/app"},
	} {
		m, err := p.MatchScope(repo)
		if err != nil || m.Rule.Name != want[0] || m.Repository != want[1] {
			t.Errorf("MatchScope(%q) = %+v, %v; want rule %s for %s", repo, m, err, want[0], want[1])
		}
	}
}
