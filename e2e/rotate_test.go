package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// Rotation keeps old signatures verifying through the overlap, adds the
// successor to the rules, keeps the policy's comments, and revocation ends
// the old key.
func TestKeysRotateAndRevoke(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	e := newEnv(t)
	e.key("release-2026", "ecdsa-p256")
	e.key("security", "ed25519")
	oldImg := host + "/rot/old:v1"
	newImg := host + "/rot/new:v1"
	testenv.PushImage(t, host, "rot/old", "v1")
	testenv.PushImage(t, host, "rot/new", "v1")
	e.must("sign", "--key", "release-2026.key", oldImg)
	pol := e.write("trust.yaml", `# Production trust policy: owned by the security team.
version: 1
keys:
  - name: release-2026
    publicKey: release-2026.pub   # rotated yearly
  # Security team's key
  - name: security
    publicKey: security.pub
policies:
  - name: prod
    scopes: ["`+host+`/rot/**"]
    signatures:
      keys: [release-2026]
  - name: dual
    scopes: ["`+host+`/dual/**"]
    signatures:
      keys: [release-2026, security]
      threshold: 2
`)
	before, _ := os.ReadFile(pol)
	dry := e.must("keys", "rotate", "--policy", pol, "--name", "release-2026", "--new-name", "release-2027", "--dry-run")
	if after, _ := os.ReadFile(pol); string(after) != string(before) || !strings.Contains(dry.Stdout, "+  - name: release-2027") {
		t.Fatalf("dry run changed the policy or printed no diff:\n%s", dry.Stdout)
	}
	r := e.must("keys", "rotate", "--policy", pol, "--name", "release-2026", "--new-name", "release-2027", "--overlap", "720h", "--resign", newImg)
	for _, want := range []string{"+    validUntil: ", "+  - name: release-2027", "+      keys: [release-2026, release-2027]", "signed " + host + "/rot/new@"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("rotate output lacks %q:\n%s", want, r.Stdout)
		}
	}
	if !strings.Contains(r.Stderr, `warning: rule "dual" needs 2 distinct keys`) {
		t.Errorf("no warning about the threshold rule:\n%s", r.Stderr)
	}
	edited, _ := os.ReadFile(pol)
	for _, keep := range []string{"# Production trust policy: owned by the security team.", "# rotated yearly", "# Security team's key"} {
		if !strings.Contains(string(edited), keep) {
			t.Errorf("rotation lost %q:\n%s", keep, edited)
		}
	}
	if _, err := os.Stat(filepath.Join(e.dir, "release-2027.key")); err != nil {
		t.Errorf("successor key not written: %v", err)
	}
	e.must("policy", "check", pol)
	// Both the old signature (overlap) and the re-signed image verify.
	e.must("verify", "--policy", pol, oldImg)
	rep, _ := e.verifyJSON(pol, newImg)
	if acc := rep.Images[0].Requirements[0].Accepted; len(acc) != 1 || acc[0].KeyName != "release-2027" {
		t.Errorf("re-signed image accepted by %+v, want release-2027", acc)
	}
	// A leak: revoke the old key now; its signatures stop counting.
	e.must("keys", "revoke", "--policy", pol, "release-2026")
	if r := e.run("verify", "--policy", pol, oldImg); r.Code != 1 || !strings.Contains(r.Stdout, "revoked") {
		t.Errorf("after revoke, old image: exit %d\n%s", r.Code, r.Stdout)
	}
	e.must("verify", "--policy", pol, newImg)
	if r := e.run("keys", "revoke", "--policy", pol, "nosuch"); r.Code != 2 {
		t.Errorf("revoking an unknown key: exit %d %s", r.Code, r.Stderr)
	}
}
