package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Attacks through the trust policy file: a policy written so that it counts
// one key twice, a policy built to exhaust the verifier, and conditions that
// cannot be evaluated. Each fails closed: a policy error (exit 2) or a
// failed condition (exit 1), never a pass.
func init() {
	addAttacks(
		attack{
			name:   "the same key listed under two names",
			guards: "one key under two names is a policy error, so it can never count twice towards a threshold",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1")
				s.trusted()
				s.must("sign", "--key", "k.key", s.ref("v1"))
				pub, err := os.ReadFile(s.path("k.pub"))
				if err != nil {
					t.Fatal(err)
				}
				s.write("k2.pub", string(pub))
				return []string{"verify", "--policy", s.policy(s.host, []string{"k", "k2"}, 2, nil), s.ref("v1")}
			},
			wantCode: 2,
			want:     []string{`key "k2" is the same key`, `as key "k"`, "give one key one name"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "the same key listed under two names, inline and by path",
			guards: "keys are told apart by key id, not by how the policy spells them",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1")
				s.trusted()
				s.must("sign", "--key", "k.key", s.ref("v1"))
				pub, err := os.ReadFile(s.path("k.pub"))
				if err != nil {
					t.Fatal(err)
				}
				indented := "      " + strings.ReplaceAll(strings.TrimSpace(string(pub)), "\n", "\n      ")
				return []string{"verify", "--policy", s.write("trust.yaml", `version: 1
keys:
  - name: k
    publicKey: k.pub
  - name: inline
    publicKey: |
`+indented+`
policies:
  - name: p
    scopes: ["`+s.host+`/**"]
    signatures:
      keys: [k, inline]
      threshold: 2
`), s.ref("v1")}
			},
			wantCode: 2,
			want:     []string{`key "inline" is the same key`, "give one key one name"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "one key name listed twice in a rule for threshold 2",
			guards: "a threshold counts distinct keys: naming a key twice does not let it sign twice",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1")
				s.trusted()
				s.must("sign", "--key", "k.key", s.ref("v1"))
				s.must("sign", "--key", "k.key", s.ref("v1"))
				return []string{"verify", "--policy", s.write("trust.yaml", `version: 1
keys:
  - name: k
    publicKey: k.pub
policies:
  - name: p
    scopes: ["`+s.host+`/**"]
    signatures:
      keys: [k, k]
      threshold: 2
`), s.ref("v1")}
			},
			wantCode: 2,
			want:     []string{"trust.yaml"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "YAML billion laughs in the policy",
			guards: "a small policy cannot expand into an unbounded one: exit 2, quickly, in bounded memory",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1")
				s.trusted()
				pol := s.write("trust.yaml", "version: 1\nkeys:\n  - name: k\n    publicKey: k.pub\n"+
					"policies:\n  - name: p\n    scopes: "+laughs()+"\n    signatures: {keys: [k]}\n")
				bounded(t, s, "policy", "check", pol)
				bounded(t, s, "verify", "--policy", pol, s.ref("v1"))
				return []string{"verify", "--policy", pol, s.ref("v1")}
			},
			wantCode: 2,
			want:     []string{"trust.yaml", "policies[0].scopes"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "YAML aliases multiplied through the rule fields",
			guards: "aliases the policy's own fields walk are expanded within a fixed budget, then refused",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1")
				s.trusted()
				// 3,000 aliases of a rule whose scopes are 3,000 aliases: 9
				// million scopes from a 70 KB file.
				var b strings.Builder
				b.WriteString("version: 1\nkeys:\n  - name: k\n    publicKey: k.pub\npolicies:\n  - &r {name: p, scopes: &s [")
				for i := range 3000 {
					fmt.Fprintf(&b, "'%s/s%d/**', ", s.host, i)
				}
				b.WriteString("], signatures: {keys: [k]}}\n")
				b.WriteString(strings.Repeat("  - *r\n", 3000))
				pol := s.write("trust.yaml", b.String())
				bounded(t, s, "policy", "check", pol)
				bounded(t, s, "verify", "--policy", pol, s.ref("v1"))
				return []string{"verify", "--policy", pol, s.ref("v1")}
			},
			wantCode: 2,
			want:     []string{"expands too many YAML aliases"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "CEL condition reads a missing field",
			guards: "a condition over a field the statement lacks fails; it never passes",
			run: func(t *testing.T, s *scene) []string {
				return conditionScene(t, s, `predicate.runDetails.nothere.id == "x"`)
			},
			wantCode: 1,
			want:     []string{"FAIL", `condition "predicate.runDetails.nothere.id == \"x\"" failed`, "no such key", "is missing"},
		},
		attack{
			name:   "negated CEL condition over a missing field",
			guards: "a negated condition whose operand is missing fails instead of reading as not-true",
			run: func(t *testing.T, s *scene) []string {
				return conditionScene(t, s, `!predicate.runDetails.nothere.startsWith("https://evil.example/")`)
			},
			wantCode: 1,
			want:     []string{"FAIL", "failed", "no such key"},
		},
		attack{
			name:   "CEL condition that errors at run time",
			guards: "an evaluation error (division by zero) fails the condition, with the error as the reason",
			run: func(t *testing.T, s *scene) []string {
				return conditionScene(t, s, `size(predicate.runDetails.builder.id) / 0 == 1`)
			},
			wantCode: 1,
			want:     []string{"FAIL", "failed", "division by zero"},
		},
		attack{
			name:   "CEL condition indexes past the end of a list",
			guards: "an out-of-range index fails the condition",
			run: func(t *testing.T, s *scene) []string {
				return conditionScene(t, s, `predicate.buildDefinition.resolvedDependencies[7].uri.startsWith("git+https://github.com/acme/")`)
			},
			wantCode: 1,
			want:     []string{"FAIL", "failed", "index"},
		},
		attack{
			name:   "CEL condition yields a string at run time",
			guards: "a condition passes only when it yields true: a truthy non-boolean is a failure",
			run: func(t *testing.T, s *scene) []string {
				return conditionScene(t, s, `dyn(predicate.runDetails.builder.id)`)
			},
			wantCode: 1,
			want:     []string{"FAIL", "not true or false"},
		},
	)
}

// conditionScene attests SLSA provenance by k on a fresh image, checks that
// a condition the provenance meets passes (so only the condition under test
// can fail the row), and returns the verify arguments under a policy whose
// one condition is cond.
func conditionScene(t *testing.T, s *scene, cond string) []string {
	t.Helper()
	s.image("v1")
	s.trusted()
	s.write("prov.json", fixture(t, "attest/slsa-github.json"))
	s.must("attest", "predicate", "--key", "k.key", "--type", "slsaprovenance1", "--predicate", "prov.json", s.ref("v1"))
	if r := s.run("verify", "--policy", provenancePolicy(s, `predicate.runDetails.builder.id.startsWith("https://github.com/acme/")`), s.ref("v1")); r.Code != 0 {
		t.Fatalf("control: the provenance should meet a true condition: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	return []string{"verify", "--policy", provenancePolicy(s, cond), s.ref("v1")}
}

// laughs is a "billion laughs" YAML flow sequence: ten levels of anchors,
// each aliasing the one before ten times — 10^10 strings once expanded.
func laughs() string {
	var b strings.Builder
	b.WriteString("[")
	b.WriteString(`&l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]`)
	for i := 1; i <= 10; i++ {
		fmt.Fprintf(&b, ", &l%d [%s]", i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d,", i-1), 10), ","))
	}
	b.WriteString("]")
	return b.String()
}

// bounded runs imgsign and fails the test unless it ends with exit 2 within
// a few seconds and a bounded peak resident set.
//
// The peak is measured by a small parent: this test binary re-executed as
// measure (below). A child of the test process itself would report the test
// process's own high-water mark, which Linux carries across fork and exec.
func bounded(t *testing.T, s *scene, args ...string) {
	t.Helper()
	const maxTime, maxRSS = 10 * time.Second, 256 << 20
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	spec, err := json.Marshal(append([]string{s.bin}, args...))
	if err != nil {
		t.Fatal(err)
	}
	report := s.path("measure.json")
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Dir = s.dir
	cmd.Env = []string{"HOME=" + s.dir, "PATH=" + os.Getenv("PATH"), measureEnv + "=" + string(spec), measureOutEnv + "=" + report}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	timer := time.AfterFunc(3*maxTime, func() { _ = cmd.Process.Kill() })
	err = cmd.Run()
	timer.Stop()
	if err != nil {
		t.Fatalf("measuring imgsign %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	var m measurement
	if b, err := os.ReadFile(report); err != nil || json.Unmarshal(b, &m) != nil {
		t.Fatalf("measuring imgsign %s: no report (%v)\n%s", strings.Join(args, " "), err, out.String())
	}
	what := "imgsign " + strings.Join(args, " ")
	if m.Code != 2 {
		t.Errorf("%s: exit %d, want 2\n%s", what, m.Code, out.String())
	}
	if m.Took > maxTime {
		t.Errorf("%s took %v, want under %v", what, m.Took, maxTime)
	}
	if m.MaxRSS > maxRSS {
		t.Errorf("%s peaked at %d MiB resident, want under %d MiB", what, m.MaxRSS>>20, maxRSS>>20)
	}
	t.Logf("imgsign %s: exit %d in %v, peak %d MiB resident", args[0], m.Code, m.Took.Round(time.Millisecond), m.MaxRSS>>20)
}

const (
	measureEnv    = "IMGSIGN_E2E_MEASURE"     // JSON argv to run and measure
	measureOutEnv = "IMGSIGN_E2E_MEASURE_OUT" // where to write the measurement
)

type measurement struct {
	Code   int
	Took   time.Duration
	MaxRSS int64 // bytes
}

// When the test binary is started with measureEnv set it is only the small
// parent bounded needs: it runs the command, writes its exit code, run time
// and peak resident set, and exits before any test runs.
func init() {
	spec := os.Getenv(measureEnv)
	if spec == "" {
		return
	}
	os.Exit(measure(spec, os.Getenv(measureOutEnv)))
}

func measure(spec, outFile string) int {
	var argv []string
	if err := json.Unmarshal([]byte(spec), &argv); err != nil || len(argv) == 0 {
		fmt.Fprintln(os.Stderr, "measure: bad command", spec)
		return 1
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	start := time.Now()
	err := cmd.Run()
	m := measurement{Took: time.Since(start)}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		fmt.Fprintln(os.Stderr, "measure:", err)
		return 1
	}
	m.Code = cmd.ProcessState.ExitCode()
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		fmt.Fprintln(os.Stderr, "measure: no resource usage on this system")
		return 1
	}
	m.MaxRSS = ru.Maxrss << 10 // Linux reports KiB
	b, _ := json.Marshal(m)
	if err := os.WriteFile(outFile, b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "measure:", err)
		return 1
	}
	return 0
}
