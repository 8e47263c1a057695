package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// Attacks on rule selection: the image named so that a weaker rule governs
// it than the one its registry and repository fall under, or a policy that
// looks strict but requires nothing.
func init() {
	addAttacks(
		attack{
			name:   "repository path with .. selects the dev rule for a prod image",
			guards: "a repository name a registry could resolve to another repository is refused before any rule is chosen",
			run: func(t *testing.T, s *scene) []string {
				testenv.PushImage(t, s.host, s.repo+"/prod/x", "v1") // unsigned
				pol := scopePolicy(s,
					scopeRule{"prod", "enforce", s.host + "/" + s.repo + "/prod/**"},
					scopeRule{"dev", "audit", s.host + "/" + s.repo + "/dev/**"})
				return []string{"verify", "--policy", pol, s.host + "/" + s.repo + "/dev/../prod/x:v1"}
			},
			wantCode: 2,
			want:     []string{`".."`, "dev/../prod/x"},
			notWant:  []string{"PASS", "audit mode"},
		},
		attack{
			name:   "repository path with a . segment",
			guards: "a repository name with a '.' segment is refused (exit 2), not matched against scopes",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1")
				pol := scopePolicy(s, scopeRule{"all", "audit", "**"})
				return []string{"verify", "--policy", pol, s.host + "/./" + s.repo + ":v1"}
			},
			wantCode: 2,
			want:     []string{`"."`},
		},
		attack{
			name:   "repository path with an empty segment",
			guards: "a repository name with an empty segment (//) is refused (exit 2), not matched against scopes",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1")
				pol := scopePolicy(s, scopeRule{"all", "audit", "**"})
				return []string{"verify", "--policy", pol, s.host + "/" + strings.Replace(s.repo, "/", "//", 1) + ":v1"}
			},
			wantCode: 2,
			want:     []string{"empty path segment"},
		},
		attack{
			name:   "localhost spelling escapes a 127.0.0.1 enforce scope",
			guards: "localhost, 127.0.0.1 and [::1] are one registry host: the enforce scope governs every spelling",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1") // unsigned
				port := s.host[strings.LastIndex(s.host, ":"):]
				pol := scopePolicy(s,
					scopeRule{"prod", "enforce", s.host + "/" + s.repo + "/**"},
					scopeRule{"lax", "audit", "localhost" + port + "/**"})
				return []string{"verify", "--policy", pol, "localhost" + port + "/" + s.repo + ":v1"}
			},
			wantCode: 1,
			want:     []string{"FAIL", "policy: prod (enforce)"},
			notWant:  []string{"audit mode"},
		},
		attack{
			name:   "127.0.0.1 spelling escapes a localhost enforce scope",
			guards: "localhost, 127.0.0.1 and [::1] are one registry host: the enforce scope governs every spelling",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1") // unsigned
				port := s.host[strings.LastIndex(s.host, ":"):]
				pol := scopePolicy(s,
					scopeRule{"prod", "enforce", "localhost" + port + "/" + s.repo + "/**"},
					scopeRule{"lax", "audit", s.host + "/**"})
				return []string{"verify", "--policy", pol, s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "policy: prod (enforce)"},
			notWant:  []string{"audit mode"},
		},
		attack{
			name:   "[::1] enforce scope covers the 127.0.0.1 spelling",
			guards: "localhost, 127.0.0.1 and [::1] are one registry host: a scope may name any of them",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1") // unsigned
				port := s.host[strings.LastIndex(s.host, ":"):]
				pol := scopePolicy(s,
					scopeRule{"prod", "enforce", "[::1]" + port + "/" + s.repo + "/**"},
					scopeRule{"lax", "audit", "**"})
				return []string{"verify", "--policy", pol, s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "policy: prod (enforce)"},
			notWant:  []string{"audit mode"},
		},
		attack{
			name:   "numeric loopback spelling 127.1 escapes the scope",
			guards: "a registry host that a resolver reads as an IP address must be written as one (127.1 and 2130706433 are 127.0.0.1 to getaddrinfo)",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1") // unsigned
				port := s.host[strings.LastIndex(s.host, ":"):]
				pol := scopePolicy(s,
					scopeRule{"prod", "enforce", s.host + "/" + s.repo + "/**"},
					scopeRule{"lax", "audit", "**"})
				return []string{"verify", "--policy", pol, "127.1" + port + "/" + s.repo + ":v1"}
			},
			wantCode: 2,
			want:     []string{`"127.1`, "IP address"},
			notWant:  []string{"audit mode"},
		},
		attack{
			name:    "Docker Hub alias registry.hub.docker.com in a laxer rule",
			guards:  "Docker Hub's spellings are one registry: two rules cannot split it",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				return []string{"policy", "check", scopePolicy(s,
					scopeRule{"hub", "enforce", "docker.io/acme/**"},
					scopeRule{"lax", "audit", "registry.hub.docker.com/acme/**"})}
			},
			wantCode: 2,
			want:     []string{"already used by policy", "index.docker.io/acme/**"},
		},
		attack{
			name:    "port 443 spelled out in a laxer rule",
			guards:  "host:443 and host are one registry (443 is the https port)",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				return []string{"policy", "check", scopePolicy(s,
					scopeRule{"prod", "enforce", "registry.example.com/prod/**"},
					scopeRule{"lax", "audit", "registry.example.com:443/prod/**"})}
			},
			wantCode: 2,
			want:     []string{"already used by policy", "registry.example.com/prod/**"},
		},
		attack{
			name:    "trailing dot on the host in a laxer rule",
			guards:  "host. and host are one registry (the trailing dot of a fully qualified name)",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				return []string{"policy", "check", scopePolicy(s,
					scopeRule{"prod", "enforce", "registry.example.com/prod/**"},
					scopeRule{"lax", "audit", "registry.example.com./prod/**"})}
			},
			wantCode: 2,
			want:     []string{"already used by policy", "registry.example.com/prod/**"},
		},
		attack{
			name:   "compliance: {} requires nothing",
			guards: "a rule must require a signature, an attestation or a true compliance check; an empty one is a policy error",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1") // unsigned
				return []string{"verify", "--policy", compliancePolicy(s, "{}"), s.ref("v1")}
			},
			wantCode: 2,
			want:     []string{"requires nothing"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "compliance with every check false requires nothing",
			guards: "a rule must require a signature, an attestation or a true compliance check; false checks require nothing",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1") // unsigned
				return []string{"verify", "--policy", compliancePolicy(s, "{nonRootUser: false, noSecretsInEnv: false}"), s.ref("v1")}
			},
			wantCode: 2,
			want:     []string{"requires nothing"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:    "compliance with only keys requires nothing",
			guards:  "policy check refuses a rule whose compliance section names keys but no check",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				return []string{"policy", "check", compliancePolicy(s, "{keys: [k]}")}
			},
			wantCode: 2,
			want:     []string{"requires nothing"},
		},
		attack{
			name:   "audit scope with more literal characters overrides the enforce scope",
			guards: "scope precedence counts literal path segments, not characters: registry/attack/** (2 segments) beats **/<long name> (1 segment)",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1") // unsigned
				last := s.repo[strings.LastIndex(s.repo, "/")+1:]
				pol := scopePolicy(s,
					scopeRule{"prod", "enforce", s.host + "/attack/**"},
					scopeRule{"lax", "audit", "**/" + last})
				return []string{"verify", "--policy", pol, s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "policy: prod (enforce)", "/attack/**", "2 literal segments"},
			notWant:  []string{"audit mode"},
		},
		attack{
			name:   "JSON names the matched scope and why it won",
			guards: "verify --output json names the scope that chose the rule and the precedence that made it win",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1") // unsigned
				last := s.repo[strings.LastIndex(s.repo, "/")+1:]
				pol := scopePolicy(s,
					scopeRule{"prod", "enforce", s.host + "/attack/**"},
					scopeRule{"lax", "audit", "**/" + last})
				return []string{"verify", "--policy", pol, "--output", "json", s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{`"policy": "prod"`, `"matchedScope": "` + "127.0.0.1:", `/attack/**"`, `"matchReason": "scope`, "(2 literal segments, 1 wildcard) beats policy", `(1 literal segment, 1 wildcard)`},
		},
		attack{
			name:    "equally specific enforce and audit scopes overlap",
			guards:  "two rules whose scopes tie for some repository are a policy error at policy check time, not a coin toss at verify time",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				return []string{"policy", "check", scopePolicy(s,
					scopeRule{"prod", "enforce", "registry.example.com/prod/**"},
					scopeRule{"lax", "audit", "registry.example.com/*/app"})}
			},
			wantCode: 2,
			want:     []string{"equally specific", "registry.example.com/prod/app"},
		},
	)
}

// rule is one policy rule of a scope attack: name, mode and one scope.
type scopeRule struct{ name, mode, scope string }

// scopePolicy writes a policy whose rules each require one signature by the
// scene's trusted key k.
func scopePolicy(s *scene, rules ...scopeRule) string {
	s.t.Helper()
	s.trusted()
	var b strings.Builder
	b.WriteString("version: 1\nkeys:\n  - name: k\n    publicKey: k.pub\npolicies:\n")
	for _, r := range rules {
		fmt.Fprintf(&b, "  - name: %s\n    mode: %s\n    scopes: [%q]\n    signatures:\n      keys: [k]\n", r.name, r.mode, r.scope)
	}
	return s.write("trust.yaml", b.String())
}

// compliancePolicy writes a policy over the scene's registry (everything,
// offline) whose one rule has only the compliance section given.
func compliancePolicy(s *scene, compliance string) string {
	s.t.Helper()
	s.trusted()
	scope := "**"
	if s.host != "" {
		scope = s.host + "/**"
	}
	return s.write("trust.yaml", fmt.Sprintf("version: 1\nkeys:\n  - name: k\n    publicKey: k.pub\npolicies:\n  - name: c\n    scopes: [%q]\n    compliance: %s\n", scope, compliance))
}
