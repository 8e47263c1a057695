package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
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
		})
	}
}
