package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// Attacks that already hold: evidence made for one image replayed onto
// another, or dressed up as something it is not.
func init() {
	addAttacks(
		attack{
			name:   "bundle replayed onto another image",
			guards: "a signature counts only for the digest its signed statement names",
			run: func(t *testing.T, s *scene) []string {
				signed := s.image("signed")
				victim := s.image("victim")
				attachRaw(t, s.host, s.repo, victim, signedBundle(t, s.path(s.trusted()), s.host, s.repo, signed))
				return []string{"verify", "--policy", s.signaturePolicy(""), s.ref("victim")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "about another image"},
		},
		attack{
			name:   "key hint spoofed to a trusted key id",
			guards: "a bundle's key hint selects the key to check with; it never vouches for the signature",
			run: func(t *testing.T, s *scene) []string {
				d := s.image("v1")
				s.key("attacker", "ecdsa-p256")
				pol := s.signaturePolicy("")
				id := s.must("keys", "id", "--key", "k.pub").Stdout
				forged := setKeyHint(t, signedBundle(t, s.path("attacker.key"), s.host, s.repo, d), id)
				attachRaw(t, s.host, s.repo, d, forged)
				return []string{"verify", "--policy", pol, s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "does not verify with the key"},
		},
	)
}

// setKeyHint rewrites a bundle's verificationMaterial.publicKey.hint.
func setKeyHint(t *testing.T, bundle []byte, hint string) []byte {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	vm := b["verificationMaterial"].(map[string]any)
	vm["publicKey"] = map[string]any{"hint": strings.TrimSpace(hint)}
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
