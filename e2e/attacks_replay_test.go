package e2e

import (
	"context"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/attachment"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/keys"
	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/statement"
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
		attack{
			name:   "the same signature twice in one DSSE envelope",
			guards: "a DSSE envelope is one signature: repeating it does not make a second key",
			run: func(t *testing.T, s *scene) []string {
				d := s.image("v1")
				b := signedBundle(t, s.path(s.trusted()), s.host, s.repo, d)
				sig := dsseSignatures(t, b)[0]
				attachRaw(t, s.host, s.repo, d, setDSSESignatures(t, b, sig, sig))
				return []string{"verify", "--policy", twoKeyPolicy(s), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "exactly one signature", "only 0 of 2"},
		},
		attack{
			name:   "two signatures by the same key in one DSSE envelope",
			guards: "signatures by one key count once, however many an envelope carries",
			run: func(t *testing.T, s *scene) []string {
				d := s.image("v1")
				st := statementJSON(t, s, []map[string]any{subjectOf(s, d)}, statement.Signature)
				// ECDSA signatures are randomised: two signings of one
				// statement are two different, valid signatures.
				one := signStatement(t, s.path(s.trusted()), st, "")
				two := signStatement(t, s.path(s.trusted()), st, "")
				attachRaw(t, s.host, s.repo, d, setDSSESignatures(t, one, dsseSignatures(t, one)[0], dsseSignatures(t, two)[0]))
				return []string{"verify", "--policy", twoKeyPolicy(s), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "exactly one signature", "only 0 of 2"},
		},
		attack{
			name:   "threshold 2 met by one key signing three times",
			guards: "a threshold counts distinct policy keys, not signatures",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1")
				pol := twoKeyPolicy(s)
				for range 3 {
					s.must("sign", "--key", "k.key", s.ref("v1"))
				}
				return []string{"verify", "--policy", pol, s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "only 1 of 2", "key k already counted"},
		},
		attack{
			name:   "attestation by the trusted key counted as a signature",
			guards: "an attestation (SLSA provenance) never satisfies signatures:, even by the trusted key",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1")
				pol := s.signaturePolicy("")
				s.write("prov.json", fixture(t, "attest/slsa-github.json"))
				s.must("attest", "predicate", "--key", "k.key", "--type", "slsaprovenance1", "--predicate", "prov.json", s.ref("v1"))
				return []string{"verify", "--policy", pol, s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "no signature found"},
		},
		attack{
			name:   "attestation pushed under a signature referrer annotation",
			guards: "the predicate type is read from the signed statement; a referrer's annotation only decides what to fetch",
			run: func(t *testing.T, s *scene) []string {
				d := s.image("v1")
				pol := s.signaturePolicy("")
				prov := map[string]any{}
				if err := json.Unmarshal([]byte(fixture(t, "attest/slsa-github.json")), &prov); err != nil {
					t.Fatal(err)
				}
				st := statementJSON(t, s, []map[string]any{subjectOf(s, d)}, "https://slsa.dev/provenance/v1", prov)
				// attachRaw labels the referrer as a plain signature.
				attachRaw(t, s.host, s.repo, d, signStatement(t, s.path("k.key"), st, ""))
				return []string{"verify", "--policy", pol, s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "no signature found"},
		},
		attack{
			name:   "cosign legacy .sig tag copied onto another image",
			guards: "a cosign legacy signature counts only for the image digest its signed payload names",
			run: func(t *testing.T, s *scene) []string {
				cosign := testenv.Tool(t, "cosign")
				signed := s.image("signed")
				victim := s.image("victim")
				s.trusted()
				cosignLegacy(t, s.env, cosign, "sign", s.ref("signed"))
				copyLegacyTag(t, s, signed, victim, "sig")
				return []string{"verify", "--policy", s.signaturePolicy(""), s.ref("victim")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "cosign legacy signature", "(signature copied from another image?)"},
		},
		attack{
			name:   "cosign legacy .att tag copied onto another image",
			guards: "a cosign legacy attestation counts only for the subject digest its signed statement names",
			run: func(t *testing.T, s *scene) []string {
				cosign := testenv.Tool(t, "cosign")
				signed := s.image("signed")
				victim := s.image("victim")
				s.trusted()
				s.write("prov.json", fixture(t, "attest/slsa-github.json"))
				cosignLegacy(t, s.env, cosign, "attest", s.ref("signed"), "--type", "slsaprovenance1", "--predicate", "prov.json")
				copyLegacyTag(t, s, signed, victim, "att")
				return []string{"verify", "--policy", provenancePolicy(s, "true"), s.ref("victim")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "cosign legacy attestation", "(attestation copied from another image?)"},
		},
		attack{
			name:   "revoked key with a backdated timestamp from an untrusted TSA",
			guards: "only a TSA the policy trusts can place a signature before its key's revocation",
			run: func(t *testing.T, s *scene) []string {
				trustedURL, chain := testenv.TSA(t)
				attackerURL, _ := testenv.TSA(t)
				s.trusted()
				control := s.image("control")
				d := s.image("v1")
				attachRaw(t, s.host, s.repo, control, stampedBundle(t, s, control, trustedURL))
				attachRaw(t, s.host, s.repo, d, stampedBundle(t, s, d, attackerURL))
				// Revoked a minute after both timestamps, judged an hour later:
				// only a timestamp vouches for the time before the revocation.
				signedAt := time.Now().UTC()
				pol := revokedKeyPolicy(s, chain, signedAt.Add(time.Minute))
				at := signedAt.Add(time.Hour).Format(time.RFC3339)
				if r := s.run("verify", "--policy", pol, "--at", at, s.ref("control")); r.Code != 0 {
					t.Fatalf("control: a trusted TSA's timestamp before revokedAt should pass: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
				}
				return []string{"verify", "--policy", pol, "--at", at, s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "RFC 3161 timestamp is not trusted"},
		},
		attack{
			name:   "revoked key with a timestamp and no TSA in the policy",
			guards: "a timestamp from a TSA the policy does not list never moves a signature's time: the key is judged now",
			run: func(t *testing.T, s *scene) []string {
				attackerURL, _ := testenv.TSA(t)
				s.trusted()
				d := s.image("v1")
				attachRaw(t, s.host, s.repo, d, stampedBundle(t, s, d, attackerURL))
				signedAt := time.Now().UTC()
				pol := revokedKeyPolicy(s, "", signedAt.Add(time.Minute))
				return []string{"verify", "--policy", pol, "--at", signedAt.Add(time.Hour).Format(time.RFC3339), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "revoked"},
		},
	)
	// Statements whose subject does not name the image by its sha256
	// manifest digest: none is a signature of the image.
	for _, c := range []struct {
		name     string
		subjects func(t *testing.T, s *scene, d v1.Hash) []map[string]any
	}{
		{"sha512-only subject digest", func(t *testing.T, s *scene, d v1.Hash) []map[string]any {
			// The image's own manifest, hashed with sha512: the right image,
			// but not the digest imgsign binds signatures to.
			raw, _, err := openRepo(t, s.host, s.repo).Manifest(context.Background(), "", d)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha512.Sum512(raw)
			return []map[string]any{{"name": s.host + "/" + s.repo, "digest": map[string]string{"sha512": hex.EncodeToString(sum[:])}}}
		}},
		{"empty subject digest", func(t *testing.T, s *scene, d v1.Hash) []map[string]any {
			return []map[string]any{{"name": s.host + "/" + s.repo, "digest": map[string]string{}}}
		}},
		{"empty sha256 subject digest", func(t *testing.T, s *scene, d v1.Hash) []map[string]any {
			return []map[string]any{{"name": s.host + "/" + s.repo, "digest": map[string]string{"sha256": ""}}}
		}},
		{"statement without subjects", func(t *testing.T, s *scene, d v1.Hash) []map[string]any {
			return []map[string]any{}
		}},
		// The image's digest, spelled in forms sigstore-go's digest match
		// accepts but string comparisons elsewhere (tag binding, policy
		// conditions over subject) do not: one spelling, one answer.
		{"upper-case hex subject digest", func(t *testing.T, s *scene, d v1.Hash) []map[string]any {
			return []map[string]any{{"name": s.host + "/" + s.repo, "digest": map[string]string{"sha256": strings.ToUpper(d.Hex)}}}
		}},
		{"subject digest under the algorithm name SHA2_256", func(t *testing.T, s *scene, d v1.Hash) []map[string]any {
			return []map[string]any{{"name": s.host + "/" + s.repo, "digest": map[string]string{"SHA2_256": d.Hex}}}
		}},
	} {
		addAttacks(attack{
			name:   "signed statement with " + c.name,
			guards: "only a subject whose sha256 digest is the image's manifest digest makes a statement about the image",
			run: func(t *testing.T, s *scene) []string {
				d := s.image("v1")
				pol := s.signaturePolicy("")
				st := statementJSON(t, s, c.subjects(t, s, d), statement.Signature)
				attachRaw(t, s.host, s.repo, d, signStatement(t, s.path("k.key"), st, ""))
				return []string{"verify", "--policy", pol, s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "only 0 of 1"},
		})
	}
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

// dsseSignatures returns the signature entries of a bundle's DSSE envelope.
func dsseSignatures(t *testing.T, bundle []byte) []any {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	return b["dsseEnvelope"].(map[string]any)["signatures"].([]any)
}

// setDSSESignatures replaces the signature entries of a bundle's envelope.
func setDSSESignatures(t *testing.T, bundle []byte, sigs ...any) []byte {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	b["dsseEnvelope"].(map[string]any)["signatures"] = sigs
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// twoKeyPolicy trusts k and a second key k2 (never used to sign) and wants
// both: threshold 2.
func twoKeyPolicy(s *scene) string {
	s.t.Helper()
	s.trusted()
	s.key("k2", "ecdsa-p256")
	return s.policy(s.host, []string{"k", "k2"}, 2, nil)
}

// subjectOf is the in-toto subject imgsign writes for digest d.
func subjectOf(s *scene, d v1.Hash) map[string]any {
	return map[string]any{"name": s.host + "/" + s.repo, "digest": map[string]string{d.Algorithm: d.Hex}}
}

// statementJSON builds an in-toto Statement v1 by hand, so subjects the
// sign package would refuse to write can be signed; the predicate is empty
// unless given.
func statementJSON(t *testing.T, s *scene, subjects []map[string]any, predicateType string, predicate ...map[string]any) []byte {
	t.Helper()
	pred := map[string]any{}
	if len(predicate) > 0 {
		pred = predicate[0]
	}
	b, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       subjects,
		"predicateType": predicateType,
		"predicate":     pred,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signStatement signs statement bytes with a key file into a Sigstore bundle,
// timestamped by tsaURL when it is set.
func signStatement(t *testing.T, keyPath string, statement []byte, tsaURL string) []byte {
	t.Helper()
	s, err := keys.KeyFiles.LoadSigner(context.Background(), keyPath, keys.Access{Passphrase: func(bool) ([]byte, error) { return []byte(passphrase), nil }})
	if err != nil {
		t.Fatal(err)
	}
	b, err := sign.Bundle(context.Background(), statement, s, tsaURL)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stampedBundle is k's signature of d with an RFC 3161 timestamp from tsaURL.
func stampedBundle(t *testing.T, s *scene, d v1.Hash, tsaURL string) []byte {
	t.Helper()
	return signStatement(t, s.path("k.key"), statementJSON(t, s, []map[string]any{subjectOf(s, d)}, statement.Signature), tsaURL)
}

// revokedKeyPolicy trusts k, revoked at revokedAt, and the TSA chain (none
// when chain is "").
func revokedKeyPolicy(s *scene, chain string, revokedAt time.Time) string {
	s.t.Helper()
	tsas := ""
	if chain != "" {
		tsas = "timestampAuthorities:\n  - name: trusted-tsa\n    certChain: " + chain + "\n"
	}
	return s.write("trust.yaml", `version: 1
keys:
  - name: k
    publicKey: k.pub
    revokedAt: `+revokedAt.Format(time.RFC3339)+`
`+tsas+`policies:
  - name: p
    scopes: ["`+s.host+`/**"]
    signatures:
      keys: [k]
`)
}

// provenancePolicy wants a SLSA provenance attestation by k meeting the CEL
// condition.
func provenancePolicy(s *scene, condition string) string {
	s.t.Helper()
	s.trusted()
	cond, err := json.Marshal(condition) // a JSON string is a YAML string
	if err != nil {
		s.t.Fatal(err)
	}
	return s.write("trust.yaml", `version: 1
keys:
  - name: k
    publicKey: k.pub
policies:
  - name: p
    scopes: ["`+s.host+`/**"]
    attestations:
      - type: https://slsa.dev/provenance/v1
        keys: [k]
        conditions:
          - `+string(cond)+`
`)
}

// copyLegacyTag copies cosign's legacy kind tag ("sig", "att") of from onto
// to's: the manifest as is, its blobs already in the repository.
func copyLegacyTag(t *testing.T, s *scene, from, to v1.Hash, kind string) {
	t.Helper()
	ctx := context.Background()
	rp := openRepo(t, s.host, s.repo)
	raw, mt, err := rp.Manifest(ctx, attachment.LegacyTag(from, kind), v1.Hash{})
	if err != nil {
		t.Fatal(err)
	}
	if mt == "" {
		mt = types.OCIManifestSchema1
	}
	if err := rp.PutManifest(ctx, attachment.LegacyTag(to, kind), raw, mt); err != nil {
		t.Fatal(err)
	}
}
