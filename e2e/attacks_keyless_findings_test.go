package e2e

// Rows that imgsign fails today (each is a hole found by the keyless red
// team): kept out of attacks_keyless_test.go until the product is fixed.

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/imgsign/imgsign/internal/testing/fakesigstore"
)

func init() {
	addAttacks(
		attack{
			name:   "keyless: bundle chain revives an intermediate the trust root retired",
			guards: "a Fulcio CA whose validFor the trust root ended vouches for nothing after it: carrying its intermediate in a v0.3 bundle's chain does not lend it the root's current CA entry",
			run: func(t *testing.T, s *scene) []string {
				pki := newRotatedPKI(t)
				s.write("trusted_root.json", string(pki.trustedRootJSON(t, true)))
				d := s.image("v1")
				attachRaw(t, s.host, s.repo, d, pki.retiredBundle(t, s.stmt(d, "", nil, nil), true))
				return []string{"verify", "--policy", s.releasePolicy(), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "does not verify under the policy's trust roots"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: bundle chain adds an intermediate the trust root leaves out",
			guards: "the trust root lists the Fulcio CA's chain: an intermediate it leaves out (removed after a compromise) does not become trusted because its root is, when a v0.3 bundle carries it",
			run: func(t *testing.T, s *scene) []string {
				pki := newRotatedPKI(t)
				s.write("trusted_root.json", string(pki.trustedRootJSON(t, false)))
				d := s.image("v1")
				attachRaw(t, s.host, s.repo, d, pki.retiredBundle(t, s.stmt(d, "", nil, nil), true))
				return []string{"verify", "--policy", s.releasePolicy(), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "does not verify under the policy's trust roots"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:    "keyless: verify-blob bundle chain revives an intermediate the trust root retired",
			guards:  "verify-blob, like verify, gives a retired Fulcio CA entry no second life through a bundle's certificate chain",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				pki := newRotatedPKI(t)
				s.write("root.json", string(pki.trustedRootJSON(t, true)))
				st, _ := json.Marshal(map[string]any{"_type": "https://in-toto.io/Statement/v1", "predicateType": "https://slsa.dev/provenance/v1", "predicate": map[string]any{},
					"subject": []any{map[string]any{"name": "app.bin", "digest": map[string]string{"sha256": fmt.Sprintf("%x", sha256.Sum256([]byte("release bytes")))}}}})
				s.write("app.bin", "release bytes")
				s.write("b.json", string(pki.retiredBundle(t, st, true)))
				return []string{"verify-blob", "--bundle", "b.json", "--trusted-root", "root.json", "--certificate-identity", ghWorkflow, "--certificate-oidc-issuer", ghIssuer, "app.bin"}
			},
			wantCode: 1,
			want:     []string{"does not verify"},
			notWant:  []string{"verified:"},
		},
		attack{
			name:   "keyless: report lists a log entry sigstore-go skipped",
			guards: "verify reports only log entries that were verified: an entry from a log the root does not list, with an index and time of the attacker's choosing, is not shown as the signature's log entry",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore()
				mallory := fakesigstore.New(t)
				d := s.image("v1")
				st := s.stmt(d, "", nil, nil)
				b := fs.DSSEBundle(t, st, goodCert())
				forged := obj(obj(editJSONGet(t, mallory.DSSEBundle(t, st, goodCert()))["verificationMaterial"])["tlogEntries"].([]any)[0])
				forged["logIndex"] = "987654321"
				forged["integratedTime"] = fmt.Sprint(time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC).Unix())
				attachRaw(t, s.host, s.repo, d, editJSON(t, b, func(m map[string]any) {
					vm := obj(m["verificationMaterial"])
					vm["tlogEntries"] = append(vm["tlogEntries"].([]any), forged)
				}))
				return []string{"verify", "--policy", s.releasePolicy(), s.ref("v1")}
			},
			wantCode: 0,
			want:     []string{"PASS"},
			notWant:  []string{"987654321", "2001-01-01"},
		},
		attack{
			name:   "keyless: report shows an integrated time the log never signed",
			guards: "verify reports a log entry's integrated time only when the log's inclusion promise signs it: with only an inclusion proof the time is the bundle's say-so",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore()
				d := s.image("v1")
				at := time.Now().Add(-2 * time.Hour)
				b := fs.DSSEBundle(t, s.stmt(d, "", nil, nil), goodCert(), fakesigstore.AtTime(at), fakesigstore.WithTimestamp())
				forged := at.Add(7 * time.Minute)
				attachRaw(t, s.host, s.repo, d, editJSON(t, b, func(m map[string]any) {
					e := obj(obj(m["verificationMaterial"])["tlogEntries"].([]any)[0])
					delete(e, "inclusionPromise")
					e["integratedTime"] = fmt.Sprint(forged.Unix())
				}))
				return []string{"verify", "--policy", s.releasePolicy(), s.ref("v1")}
			},
			wantCode: 0,
			want:     []string{"PASS"},
			// The only log entry's time is the forged one: any "at" shows it.
			notWant: []string{"log entry 1001 at "},
		},
	)
}
