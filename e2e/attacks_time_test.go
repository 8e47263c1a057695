package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"

	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/statement"
)

const slsaV1 = "https://slsa.dev/provenance/v1"

// Attacks on time: an old attestation made to look fresh, a predicate dated
// in the future, and a tag moved back to a digest it was signed for before
// the newest signature moved it on.
func init() {
	addAttacks(
		attack{
			name:   "old attestation re-timestamped to pass maxAge",
			guards: "maxAge is judged from a time the signer signed; an RFC 3161 timestamp can only make a signature older",
			run: func(t *testing.T, s *scene) []string {
				tsaURL, chain := testenv.TSA(t)
				d := s.image("v1")
				s.attestSLSA(d, map[string]any{"finishedOn": time.Now().Add(-30 * 24 * time.Hour).UTC().Format(time.RFC3339)}, "")
				// The attacker asks the trusted TSA for a fresh token over
				// the old signature and attaches the copy.
				restamped := restamp(t, bundleOf(t, s.host, s.repo, d), tsaURL)
				attachAs(t, s.host, s.repo, d, slsaV1, restamped)
				return []string{"verify", "--policy", s.maxAgePolicy(chain, "7d"), s.at(d)}
			},
			wantCode: 1,
			want:     []string{"FAIL", "over maxAge 7d", "runDetails.metadata.finishedOn"},
		},
		attack{
			name:   "attestation dated in the future passes any maxAge",
			guards: "a signed time in the future (beyond the clock-skew allowance) is refused, not read as fresh",
			run: func(t *testing.T, s *scene) []string {
				d := s.image("v1")
				s.attestSLSA(d, map[string]any{"finishedOn": "2099-01-01T00:00:00Z"}, "")
				return []string{"verify", "--policy", s.maxAgePolicy("", "1d"), s.at(d)}
			},
			wantCode: 1,
			want:     []string{"FAIL", "in the future", "2099-01-01T00:00:00Z"},
		},
		attack{
			name:   "attestation without a signed time under maxAge, with a fresh timestamp",
			guards: "an attestation whose predicate states no time fails maxAge even with a trusted timestamp",
			run: func(t *testing.T, s *scene) []string {
				tsaURL, chain := testenv.TSA(t)
				d := s.image("v1")
				s.attestSLSA(d, nil, tsaURL)
				return []string{"verify", "--policy", s.maxAgePolicy(chain, "7d"), s.at(d)}
			},
			wantCode: 1,
			want:     []string{"FAIL", "no signed time", "runDetails.metadata.finishedOn"},
		},
		attack{
			name:    "maxAge on a predicate type with no signed time",
			guards:  "policy check warns when maxAge can never be met because the type states no signed time",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				s.trusted()
				return []string{"policy", "check", s.write("trust.yaml", "version: 1\nkeys:\n  - name: k\n    publicKey: k.pub\n"+
					"policies:\n  - name: p\n    scopes: [\"registry.example.com/**\"]\n    attestations:\n      - type: https://example.com/custom/v1\n        keys: [k]\n        maxAge: 7d\n")}
			},
			wantCode: 0,
			want:     []string{"trust.yaml:9: policies[0].attestations[0].maxAge: warning: predicates of type https://example.com/custom/v1 carry no signed time", ": ok ("},
		},
		attack{
			name:   "tag rolled back to an older signed digest",
			guards: "with bindTag the newest signature for a tag wins: a digest it was signed for before is refused",
			run: func(t *testing.T, s *scene) []string {
				s.signTwice("stable")
				pol := s.tagPolicy("")
				s.must("verify", "--policy", pol, s.ref("stable")) // on the newest digest: passes
				retag(t, s.host, s.repo, "v1", "stable")
				return []string{"verify", "--policy", pol, s.ref("stable")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "tag stable was signed for a newer digest sha256:", "rolled back?"},
		},
		attack{
			name:   "tag rolled back off a digest no other tag names",
			guards: "a newer signature for a tag is found even when the digest it names is untagged by the rollback (the signature's own subject tag)",
			run: func(t *testing.T, s *scene) []string {
				s.image("stable")
				s.must("sign", "--key", s.trusted(), s.ref("stable"))
				retag(t, s.host, s.repo, "stable", "old")
				s.image("stable") // the newer digest is tagged stable alone
				s.must("sign", "--key", s.trusted(), s.ref("stable"))
				retag(t, s.host, s.repo, "old", "stable")
				return []string{"verify", "--policy", s.tagPolicy(""), s.ref("stable")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "tag stable was signed for a newer digest sha256:", "rolled back?"},
		},
		attack{
			name:   "tag rolled back with the older signature re-timestamped",
			guards: "which tag signature is newest is judged by the time inside the signed statement, never by a re-obtainable timestamp",
			run: func(t *testing.T, s *scene) []string {
				tsaURL, chain := testenv.TSA(t)
				d1, _ := s.signTwice("stable")
				retag(t, s.host, s.repo, "v1", "stable")
				attachAs(t, s.host, s.repo, d1, statement.Signature, restamp(t, bundleOf(t, s.host, s.repo, d1), tsaURL))
				return []string{"verify", "--policy", s.tagPolicy(chain), s.ref("stable")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "tag stable was signed for a newer digest sha256:", "rolled back?"},
		},
	)
}

// attestSLSA attests SLSA provenance v1 for d with key k, the given
// runDetails.metadata (none when nil), timestamped when tsaURL is set.
func (s *scene) attestSLSA(d v1.Hash, metadata map[string]any, tsaURL string) {
	s.t.Helper()
	run := map[string]any{"builder": map[string]any{"id": "https://ci.example/builder"}}
	if metadata != nil {
		run["metadata"] = metadata
	}
	pred, err := json.Marshal(map[string]any{
		"buildDefinition": map[string]any{"buildType": "https://example/build/v1", "externalParameters": map[string]any{}},
		"runDetails":      run,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	args := []string{"attest", "predicate", "--key", s.trusted(), "--type", slsaV1, "--predicate", s.write("pred.json", string(pred)), s.at(d)}
	if tsaURL != "" {
		args = append(args, "--tsa-url", tsaURL)
	}
	s.must(args...)
}

// maxAgePolicy wants one SLSA provenance attestation by k no older than
// maxAge; chain, when set, is a trusted TSA.
func (s *scene) maxAgePolicy(chain, maxAge string) string {
	s.t.Helper()
	s.trusted()
	return s.write("trust.yaml", "version: 1\nkeys:\n  - name: k\n    publicKey: k.pub\n"+tsaYAML(chain)+
		"policies:\n  - name: p\n    scopes: [\""+s.host+"/**\"]\n    attestations:\n      - type: "+slsaV1+"\n        keys: [k]\n        maxAge: "+maxAge+"\n")
}

// tagPolicy wants one signature by k bound to the tag; chain, when set,
// is a trusted TSA.
func (s *scene) tagPolicy(chain string) string {
	s.t.Helper()
	s.trusted()
	return s.write("trust.yaml", "version: 1\nkeys:\n  - name: k\n    publicKey: k.pub\n"+tsaYAML(chain)+
		"policies:\n  - name: p\n    scopes: [\""+s.host+"/**\"]\n    signatures:\n      keys: [k]\n      bindTag: true\n")
}

func tsaYAML(chain string) string {
	if chain == "" {
		return ""
	}
	return "timestampAuthorities:\n  - name: test-tsa\n    certChain: " + chain + "\n"
}

// signTwice plays a release history: tag was signed for d1 (also tagged v1),
// then moved to d2 (also tagged v2) and signed again. tag ends on d2.
func (s *scene) signTwice(tag string) (d1, d2 v1.Hash) {
	s.t.Helper()
	d1 = s.image("v1")
	retag(s.t, s.host, s.repo, "v1", tag)
	s.must("sign", "--key", s.trusted(), s.ref(tag))
	d2 = s.image("v2")
	retag(s.t, s.host, s.repo, "v2", tag)
	s.must("sign", "--key", s.trusted(), s.ref(tag))
	return d1, d2
}

// restamp replaces a bundle's RFC 3161 timestamps with a fresh one from
// tsaURL over the same signature: what anyone can do with a public TSA.
func restamp(t *testing.T, b map[string]any, tsaURL string) []byte {
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
	vm := b["verificationMaterial"].(map[string]any)
	vm["timestampVerificationData"] = map[string]any{"rfc3161Timestamps": []any{map[string]any{"signedTimestamp": base64.StdEncoding.EncodeToString(ts)}}}
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// attachAs pushes bundle bytes as a referrer of subject claiming predicateType.
func attachAs(t *testing.T, host, repo string, subject v1.Hash, predicateType string, bundle []byte) {
	t.Helper()
	rp := openRepo(t, host, repo)
	desc := v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: subject}
	if _, err := sign.Push(context.Background(), rp, desc, predicateType, bundle, sign.Options{}); err != nil {
		t.Fatal(err)
	}
}
