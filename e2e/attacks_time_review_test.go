package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	sgsign "github.com/sigstore/sigstore-go/pkg/sign"

	"github.com/imgsign/imgsign/internal/testing/fakesigstore"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/keys"
	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/statement"
)

// Time review: a signature made before its signer's validFrom, given a
// later timestamp from the policy's own TSA put in front of the one it was
// made with. sigstore-go keeps one timestamp per TSA, the first, so the
// old one was hidden and the signature judged at the later time.
func init() {
	addAttacks(
		attack{
			name:   "time review: key signature from before validFrom, a later stamp of the policy's TSA put first",
			guards: "a key signature's time is the earliest of its timestamps, and every timestamp in the bundle must verify: a re-obtained stamp cannot hide the one it was signed with",
			run: func(t *testing.T, s *scene) []string {
				tsaURL, chain := testenv.TSA(t)
				d := s.image("v1")
				s.must("sign", "--key", s.trusted(), "--tsa-url", tsaURL, s.at(d))
				validFrom := time.Now().Add(time.Second).UTC().Truncate(time.Second).Add(time.Second)
				time.Sleep(time.Until(validFrom) + 1100*time.Millisecond)
				attachAs(t, s.host, s.repo, d, statement.Signature, stampFirst(t, bundleOf(t, s.host, s.repo, d), tsaURL))
				pol := s.write("trust.yaml", "version: 1\nkeys:\n  - name: k\n    publicKey: k.pub\n    validFrom: "+validFrom.Format(time.RFC3339)+"\n"+tsaYAML(chain)+
					"policies:\n  - name: p\n    scopes: [\""+s.host+"/**\"]\n    signatures:\n      keys: [k]\n")
				return []string{"verify", "--policy", pol, s.at(d)}
			},
			wantCode: 1,
			want:     []string{"FAIL", "is not valid before", "1 of the bundle's 2 RFC 3161 timestamps verify"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "time review: keyless signature from before the identity's validFrom, a later stamp put first",
			guards: "a certificate signature's time is the earliest verified time, and every timestamp must verify: under a root with no log, a second stamp of the same TSA cannot hide the first",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore(fakesigstore.WithoutRekor())
				d := s.image("v1")
				at := time.Now().Add(-time.Hour).Truncate(time.Second)
				b := fs.DSSEBundle(t, s.stmt(d, "", nil, nil), goodCert(), fakesigstore.AtTime(at), fakesigstore.WithoutTlog(), fakesigstore.WithTimestamp())
				later := fs.Timestamp(t, dsseSig(t, b), at.Add(fakesigstore.LeafValidity/2))
				attachRaw(t, s.host, s.repo, d, editJSON(t, b, func(m map[string]any) {
					tvd := obj(obj(m["verificationMaterial"])["timestampVerificationData"])
					tvd["rfc3161Timestamps"] = append([]any{map[string]any{"signedTimestamp": base64.StdEncoding.EncodeToString(later)}}, tvd["rfc3161Timestamps"].([]any)...)
				}))
				id := releaseYAML + "    validFrom: " + at.Add(fakesigstore.LeafValidity/4).UTC().Format(time.RFC3339) + "\n"
				return []string{"verify", "--policy", s.idPolicy("", id, sigRule(1, "release")), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "1 of the bundle's 2 RFC 3161 timestamps verify"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "time review: key signature with the policy TSA's stamp and the attacker TSA's beside it",
			guards: "a timestamp the policy's TSAs cannot verify rejects the signature (policy.md), even beside one they can: it is never skipped",
			run: func(t *testing.T, s *scene) []string {
				tsaURL, chain := testenv.TSA(t)
				mallory := fakesigstore.New(t)
				d := s.image("v1")
				s.trusted()
				ctx := context.Background()
				k, err := keys.KeyFiles.LoadSigner(ctx, s.path("k.key"), keys.Access{Passphrase: func(bool) ([]byte, error) { return []byte(passphrase), nil }})
				if err != nil {
					t.Fatal(err)
				}
				b, err := sign.Bundle(ctx, s.stmt(d, "", nil, nil), k, tsaURL)
				if err != nil {
					t.Fatal(err)
				}
				attachRaw(t, s.host, s.repo, d, addTimestamp(t, b, mallory.Timestamp(t, dsseSig(t, b), time.Now().Add(-time.Hour))))
				pol := s.write("trust.yaml", "version: 1\nkeys:\n  - name: k\n    publicKey: k.pub\n"+tsaYAML(chain)+
					"policies:\n  - name: p\n    scopes: [\""+s.host+"/**\"]\n    signatures:\n      keys: [k]\n")
				return []string{"verify", "--policy", pol, s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "RFC 3161 timestamp is not trusted", "1 of the bundle's 2 RFC 3161 timestamps verify"},
			notWant:  []string{"PASS"},
		},
	)
}

// stampFirst puts a fresh timestamp from tsaURL over a bundle's signature
// in front of the timestamps it has: what anyone can do with a public TSA.
func stampFirst(t *testing.T, b map[string]any, tsaURL string) []byte {
	t.Helper()
	sigs := b["dsseEnvelope"].(map[string]any)["signatures"].([]any)
	sig, err := base64.StdEncoding.DecodeString(sigs[0].(map[string]any)["sig"].(string))
	if err != nil {
		t.Fatal(err)
	}
	ta := sgsign.NewTimestampAuthority(&sgsign.TimestampAuthorityOptions{URL: tsaURL, Timeout: 30 * time.Second})
	ts, err := ta.GetTimestamp(context.Background(), sig)
	if err != nil {
		t.Fatal(err)
	}
	tvd := obj(obj(b["verificationMaterial"])["timestampVerificationData"])
	tvd["rfc3161Timestamps"] = append([]any{map[string]any{"signedTimestamp": base64.StdEncoding.EncodeToString(ts)}}, tvd["rfc3161Timestamps"].([]any)...)
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
