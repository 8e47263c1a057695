package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/testenv"
)

// Every example policy passes `policy check` once the public keys it names
// exist (they are generated here, never committed).
func TestExamplePolicies(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "examples", "policies", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no example policies found: %v", err)
	}
	pubRE := regexp.MustCompile(`(?m)^\s*publicKey:\s*([\w./-]+)\.pub\s*$`)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			e := newEnv(t)
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range pubRE.FindAllStringSubmatch(string(data), -1) {
				if err := os.MkdirAll(filepath.Join(e.dir, filepath.Dir(m[1])), 0o755); err != nil {
					t.Fatal(err)
				}
				e.key(m[1], "ecdsa-p256")
			}
			e.write("policy.yaml", string(data))
			e.must("policy", "check", "policy.yaml")

			// verify evaluates it: an unsigned image in its scope is rejected
			// by its rules (scopes are moved to the test registry).
			host := testenv.Registry(t, true).Addr
			local := scopeRE.ReplaceAllString(string(data), `"`+host+`/$2`)
			local = strings.ReplaceAll(local, `"127.0.0.1:*/`, `"`+host+`/`)
			e.write("local.yaml", local)
			// A repository inside the first scope: globs filled in.
			first := regexp.MustCompile(`scopes: \["` + regexp.QuoteMeta(host) + `/([^"]*)"`).FindStringSubmatch(local)
			if first == nil {
				t.Fatalf("no local scope in:\n%s", local)
			}
			repo := strings.NewReplacer("**", "x/y", "*", "x").Replace(first[1])
			testenv.PushImage(t, host, repo, "v1")
			r := e.run("verify", "--policy", "local.yaml", host+"/"+repo+":v1")
			if r.Code != 1 || !strings.Contains(r.Stdout, "FAIL") || !strings.Contains(r.Stdout, "policy: ") {
				t.Fatalf("verify with %s: exit %d\n%s%s", filepath.Base(f), r.Code, r.Stdout, r.Stderr)
			}
		})
	}
}

// scopeRE finds the registry part of example scopes ("registry.example.com/…",
// "ghcr.io/…") so tests can point them at a local registry.
var scopeRE = regexp.MustCompile(`"(registry\.example\.com|ghcr\.io)/([^"]*)`)

// Two example policies verified to PASS: one key, and 2-of-3 release keys.
func TestExamplePoliciesPass(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	for _, c := range []struct {
		file    string
		repo    string
		signers []string
	}{
		{"single-key.yaml", "team/app", []string{"keys/release"}},
		{"two-of-three.yaml", "prod/app", []string{"keys/alice", "keys/carol"}},
	} {
		t.Run(c.file, func(t *testing.T) {
			e := newEnv(t)
			data, err := os.ReadFile(filepath.Join("..", "examples", "policies", c.file))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(e.dir, "keys"), 0o755); err != nil {
				t.Fatal(err)
			}
			for _, m := range regexp.MustCompile(`(?m)publicKey:\s*([\w./-]+)\.pub`).FindAllStringSubmatch(string(data), -1) {
				e.key(m[1], "ecdsa-p256")
			}
			e.write("local.yaml", scopeRE.ReplaceAllString(string(data), `"`+host+`/$2`))
			testenv.PushImage(t, host, c.repo, "v1")
			img := host + "/" + c.repo + ":v1"
			for _, k := range c.signers {
				e.must("sign", "--key", k+".key", img)
			}
			e.must("verify", "--policy", "local.yaml", img)
		})
	}
}
