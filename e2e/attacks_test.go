package e2e

// The attack suite. Each row is one attempt by an attacker who can push to
// the registry, write the build's outputs or serve Notary metadata — but
// holds no key the policy trusts — to make imgsign say PASS, or to make it
// act on input it should refuse. Every row names the property it guards and
// asserts the documented exit code and the one-line reason. Rows live in
// attacks_*_test.go files by theme and register themselves with addAttacks;
// TestAttacks runs every row on both registries (with and without the
// referrers API) through the imgsign binary.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// attack is one row of the suite.
type attack struct {
	// name says what the attacker does; it names the subtest.
	name string
	// guards is the property the row proves holds.
	guards string
	// offline rows need no registry (flag parsing, policy files): they run
	// once instead of once per registry.
	offline bool
	// run builds the scene — images, signatures, tampered content — and
	// returns the imgsign arguments that must refuse the attack.
	run func(t *testing.T, s *scene) []string
	// wantCode is the exit code the refusal must have.
	wantCode int
	// want are substrings the output (stdout and stderr) must contain: the
	// reason, in the words a user reads.
	want []string
	// notWant are substrings the output must not contain (a forged PASS,
	// echoed key material).
	notWant []string
}

var attacks []attack

// addAttacks registers rows; each theme file calls it from init.
func addAttacks(as ...attack) { attacks = append(attacks, as...) }

// scene is one attack's stage: its own working directory, a repository of
// its own on the registry under attack, and a trusted key "k" (k.key, k.pub)
// with a policy trusting it made on first use.
type scene struct {
	*env
	// host is the registry under attack ("" for offline rows); kind names
	// it (referrers-api or distribution-tag-schema).
	host, kind string
	// repo is this row's repository path, unique per row.
	repo string
}

// image pushes a fresh random image as repo:tag and returns its digest.
func (s *scene) image(tag string) v1.Hash {
	s.t.Helper()
	return testenv.PushImage(s.t, s.host, s.repo, tag)
}

// path is a file in the scene's directory, for Go code that runs outside it.
func (s *scene) path(name string) string { return filepath.Join(s.dir, name) }

// ref is host/repo:tag.
func (s *scene) ref(tag string) string { return s.host + "/" + s.repo + ":" + tag }

// at is host/repo@digest.
func (s *scene) at(d v1.Hash) string { return digestRef(s.host, s.repo, d) }

// trusted generates the trusted key pair k once and returns "k.key".
func (s *scene) trusted() string {
	s.t.Helper()
	if _, err := os.Stat(filepath.Join(s.dir, "k.key")); err != nil {
		s.key("k", "ecdsa-p256")
	}
	return "k.key"
}

// signaturePolicy writes a policy over host/** that wants one signature by k,
// plus extra YAML appended to the rule, and returns its path.
func (s *scene) signaturePolicy(extra string) string {
	s.t.Helper()
	s.trusted()
	p := s.policy(s.host, []string{"k"}, 1, nil)
	if extra == "" {
		return p
	}
	b, err := os.ReadFile(p)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.write("trust.yaml", string(b)+extra)
}

func TestAttacks(t *testing.T) {
	if len(attacks) == 0 {
		t.Fatal("no attacks registered")
	}
	seen := map[string]bool{}
	for _, a := range attacks {
		if seen[a.name] {
			t.Fatalf("two attacks named %q", a.name)
		}
		seen[a.name] = true
		if a.guards == "" || a.run == nil || (a.wantCode == 0 && len(a.want) == 0) {
			t.Fatalf("attack %q must name the property it guards, how it runs and what refuses it", a.name)
		}
	}
	sorted := append([]attack(nil), attacks...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })

	t.Run("offline", func(t *testing.T) {
		for _, a := range sorted {
			if a.offline {
				t.Run(a.name, func(t *testing.T) {
					t.Parallel()
					playAttack(t, a, &scene{env: newEnv(t), kind: "offline"})
				})
			}
		}
	})
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			for _, a := range sorted {
				if a.offline {
					continue
				}
				t.Run(a.name, func(t *testing.T) {
					t.Parallel()
					playAttack(t, a, &scene{env: newEnv(t), host: host, kind: reg.name, repo: "attack/" + repoName(a.name)})
				})
			}
		})
	}
}

func playAttack(t *testing.T, a attack, s *scene) {
	t.Helper()
	args := a.run(t, s)
	r := s.run(args...)
	out := r.Stdout + r.Stderr
	if r.Code != a.wantCode {
		t.Fatalf("guards: %s\nimgsign %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", a.guards, strings.Join(args, " "), r.Code, a.wantCode, r.Stdout, r.Stderr)
	}
	for _, w := range a.want {
		if !strings.Contains(out, w) {
			t.Errorf("guards: %s\nimgsign %s: output lacks %q\nstdout:\n%s\nstderr:\n%s", a.guards, strings.Join(args, " "), w, r.Stdout, r.Stderr)
		}
	}
	for _, w := range a.notWant {
		if strings.Contains(out, w) {
			t.Errorf("guards: %s\nimgsign %s: output contains %q\nstdout:\n%s\nstderr:\n%s", a.guards, strings.Join(args, " "), w, r.Stdout, r.Stderr)
		}
	}
}

var nonRepoChars = regexp.MustCompile(`[^a-z0-9]+`)

// repoName turns an attack name into a repository path segment.
func repoName(s string) string {
	n := strings.Trim(nonRepoChars.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if len(n) > 60 {
		n = strings.TrimRight(n[:60], "-")
	}
	if n == "" {
		n = fmt.Sprintf("a%d", len(s))
	}
	return n
}
