package verify

// Time review: how a signature's time is established from a bundle's RFC
// 3161 timestamps. sigstore-go verifies each timestamp on its own and
// keeps, per TSA, only the first that verifies; one no trusted TSA signed
// is skipped. A bundle can therefore carry a fresh stamp from the policy's
// TSA (anyone can have it stamp any bytes) in front of the old one it was
// signed with, and hide the old one. Every case here must be refused.

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/imgsign/imgsign/internal/testing/fakesigstore"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/verify/policy"
)

// trDSSESig is the signature bytes of a bundle's DSSE envelope: what an
// RFC 3161 timestamp of it covers.
func trDSSESig(t *testing.T, b []byte) []byte {
	t.Helper()
	var m struct {
		DSSE struct {
			Signatures []struct{ Sig []byte } `json:"signatures"`
		} `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(b, &m); err != nil || len(m.DSSE.Signatures) == 0 {
		t.Fatalf("no DSSE signature: %v", err)
	}
	return m.DSSE.Signatures[0].Sig
}

// trStamps replaces a bundle's RFC 3161 timestamps with tsrs, in order.
func trStamps(t *testing.T, b []byte, tsrs ...[]byte) []byte {
	t.Helper()
	var list []any
	for _, tsr := range tsrs {
		list = append(list, map[string]any{"signedTimestamp": base64.StdEncoding.EncodeToString(tsr)})
	}
	return editJSON(t, b, func(m map[string]any) {
		vm := m["verificationMaterial"].(map[string]any)
		vm["timestampVerificationData"] = map[string]any{"rfc3161Timestamps": list}
	})
}

// trTSAs is fs's TSA as the policy's timestampAuthorities are given to
// sigstore-go (timestampAuthorities).
func trTSAs(fs *fakesigstore.Sigstore) []root.TimestampingAuthority {
	chain := fs.TSAChain()
	return timestampAuthorities(&policy.Policy{TimestampAuthorities: []*policy.TimestampAuthority{{Name: "test-tsa", Chain: chain}}})
}

// A key-signed bundle made before the key's validFrom (a key taken over
// with `keys rotate --new-key`, a KMS version that signed before it was
// promoted) stays refused when a fresh timestamp is put in front of its
// old one.
func TestTimeReviewKeyBundleStamps(t *testing.T) {
	ft := newFuzzTrust(t)
	fs, mallory := fakesigstore.New(t), fakesigstore.New(t)
	now := time.Now().Truncate(time.Second)
	old, validFrom := now.Add(-3*time.Hour), now.Add(-2*time.Hour)
	b := ft.bundle(t, ft.sk, stmtJSON(subjectA.Hex, statement.Signature))
	sig := trDSSESig(t, b)
	oldStamp, freshStamp := fs.Timestamp(t, sig, old), fs.Timestamp(t, sig, now)

	p := ft.policy
	var k *policy.TrustedKey
	for _, pk := range p.Keys {
		if pk.Name == "k" {
			k = pk.Versions[0]
		}
	}
	if k == nil {
		t.Fatal("no key k")
	}
	k.ValidFrom = &validFrom
	t.Cleanup(func() { k.ValidFrom = nil })
	rq := requirement{kind: "signatures", predicateType: statement.Signature, keys: []string{"k"}, threshold: 1}

	t.Run("control: the old stamp alone is judged at its time", func(t *testing.T) {
		c := checkBundle(trStamps(t, b, oldStamp), subjectA, p, ft.verifier.verifiers, trTSAs(fs), now)
		if c.err != nil || !c.signedAt.Equal(old) {
			t.Fatalf("err %v, signed at %v", c.err, c.signedAt)
		}
		if rr := evaluate(rq, []candidate{c}, p, now, subjectInfo{digest: subjectA.String()}); rr.Satisfied || rr.Rejected[0].Code != CodeNotYetValid {
			t.Fatalf("signed before validFrom: satisfied %v, %+v", rr.Satisfied, rr.Rejected)
		}
	})
	cases := []struct {
		name string
		b    []byte
	}{
		{"fresh stamp of the policy's TSA before the old one", trStamps(t, b, freshStamp, oldStamp)},
		{"old stamp, then a fresh one", trStamps(t, b, oldStamp, freshStamp)},
		{"the attacker TSA's stamp beside the policy TSA's old one", trStamps(t, b, mallory.Timestamp(t, sig, now), oldStamp)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := checkBundle(tc.b, subjectA, p, ft.verifier.verifiers, trTSAs(fs), now)
			if c.err != nil {
				if got := candidateCode(c.err); got != CodeTimestampUntrusted {
					t.Fatalf("refused as %s: %v", got, c.err)
				}
				return
			}
			if rr := evaluate(rq, []candidate{c}, p, now, subjectInfo{digest: subjectA.String()}); rr.Satisfied {
				t.Fatalf("signed at %v (%s) before validFrom %v counted", old, c.timeSource, validFrom)
			}
		})
	}
	t.Run("the attacker TSA's stamp beside a good one is refused", func(t *testing.T) {
		c := checkBundle(trStamps(t, b, freshStamp, mallory.Timestamp(t, sig, old)), subjectA, p, ft.verifier.verifiers, trTSAs(fs), now)
		if c.err == nil || candidateCode(c.err) != CodeTimestampUntrusted {
			t.Fatalf("counted at %v (%s): %v", c.signedAt, c.timeSource, c.err)
		}
	})
}

// A certificate bundle under a trust root without a log (GitHub's: a
// timestamp is the only time): a fresh stamp of the root's TSA in front of
// the one it was signed with hid the earlier time, so an identity's
// validFrom between the two passed.
func TestTimeReviewCertificateBundleStamps(t *testing.T) {
	fs := fakesigstore.New(t)
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	later := at.Add(fakesigstore.LeafValidity / 2)
	validFrom := at.Add(fakesigstore.LeafValidity / 4)
	id := release()
	id.ValidFrom = &validFrom
	p := keylessPolicy(t, fs.TrustedRoot(t, fakesigstore.WithoutRekor()), false, id)
	good := ghIdentity(ghWorkflow, certificate.Extensions{})
	b := fs.DSSEBundle(t, stmtJSON(subjectA.Hex, statement.Signature), good, fakesigstore.AtTime(at), fakesigstore.WithoutTlog(), fakesigstore.WithTimestamp())
	sig := trDSSESig(t, b)
	rq := requirement{kind: "signatures", predicateType: statement.Signature, keys: []string{"release"}, threshold: 1}

	t.Run("control: as signed, refused before validFrom", func(t *testing.T) {
		c := checkBundle(b, subjectA, p, nil, nil, time.Now())
		if c.err != nil || !c.signedAt.Equal(at) {
			t.Fatalf("err %v, signed at %v", c.err, c.signedAt)
		}
		if rr := evaluate(rq, []candidate{c}, p, time.Now(), subjectInfo{digest: subjectA.String()}); rr.Satisfied || rr.Rejected[0].Code != CodeNotYetValid {
			t.Fatalf("satisfied %v, %+v", rr.Satisfied, rr.Rejected)
		}
	})
	t.Run("a later stamp of the same TSA put first", func(t *testing.T) {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		orig := m["verificationMaterial"].(map[string]any)["timestampVerificationData"].(map[string]any)["rfc3161Timestamps"].([]any)[0].(map[string]any)["signedTimestamp"].(string)
		origTSR, err := base64.StdEncoding.DecodeString(orig)
		if err != nil {
			t.Fatal(err)
		}
		c := checkBundle(trStamps(t, b, fs.Timestamp(t, sig, later), origTSR), subjectA, p, nil, nil, time.Now())
		if c.err != nil {
			if !strings.Contains(c.err.Error(), "timestamp") {
				t.Fatalf("refused, but not for its timestamps: %v", c.err)
			}
			return
		}
		if rr := evaluate(rq, []candidate{c}, p, time.Now(), subjectInfo{digest: subjectA.String()}); rr.Satisfied {
			t.Fatalf("signed at %v before validFrom %v, counted at %v", at, validFrom, c.signedAt)
		}
	})
}

// What a key signature's timestamps may not be: each is refused as an
// untrusted timestamp, never ignored or taken as the signature's time.
func TestTimeReviewKeyBundleBadStamps(t *testing.T) {
	ft := newFuzzTrust(t)
	fs := fakesigstore.New(t)
	now := time.Now().Truncate(time.Second)
	b := ft.bundle(t, ft.sk, stmtJSON(subjectA.Hex, statement.Signature))
	sig := trDSSESig(t, b)
	other := trDSSESig(t, ft.bundle(t, ft.sk, stmtJSON(subjectA.Hex, statement.Signature)))
	tsaLeaf := fs.TSAChain()[0]
	cases := []struct {
		name string
		b    []byte
	}{
		// An old stamp the key's holder got for another signature: its
		// message imprint is not this signature's.
		{"the policy TSA's stamp of another signature by the key", trStamps(t, b, fs.Timestamp(t, other, now.Add(-time.Hour)))},
		{"a good stamp, then one of another signature", trStamps(t, b, fs.Timestamp(t, sig, now), fs.Timestamp(t, other, now.Add(-time.Hour)))},
		// The TSA's own certificate was not valid at the time it stamped.
		{"the TSA's certificate not yet valid at its stamped time", trStamps(t, b, fs.Timestamp(t, sig, tsaLeaf.NotBefore.Add(-time.Hour)))},
		{"the TSA's certificate expired at its stamped time", trStamps(t, b, fs.Timestamp(t, sig, tsaLeaf.NotAfter.Add(time.Hour)))},
		{"the same stamp twice", trStamps(t, b, fs.Timestamp(t, sig, now), fs.Timestamp(t, sig, now))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := checkBundle(tc.b, subjectA, ft.policy, ft.verifier.verifiers, trTSAs(fs), now)
			if c.err == nil || c.key != nil || candidateCode(c.err) != CodeTimestampUntrusted {
				t.Fatalf("counted at %v (%s): %v", c.signedAt, c.timeSource, c.err)
			}
		})
	}
	t.Run("control: one good stamp", func(t *testing.T) {
		c := checkBundle(trStamps(t, b, fs.Timestamp(t, sig, now.Add(-time.Minute))), subjectA, ft.policy, ft.verifier.verifiers, trTSAs(fs), now)
		if c.err != nil || !c.signedAt.Equal(now.Add(-time.Minute)) || !strings.HasPrefix(c.timeSource, timeSourceRFC3161) {
			t.Fatalf("err %v, signed at %v (%s)", c.err, c.signedAt, c.timeSource)
		}
	})
}

// A key signature whose signed tag-binding time is later than its RFC 3161
// time (a signer that pre-dated its binding, to win "newest" later) is
// refused; a fresh stamp put in front of the old one must not lift that.
func TestTimeReviewTagBindingAfterStamp(t *testing.T) {
	ft := newFuzzTrust(t)
	fs := fakesigstore.New(t)
	now := time.Now().Truncate(time.Second)
	old := now.Add(-48 * time.Hour)
	repo, err := name.NewRepository("example.com/app")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := statement.About(repo, subjectA, statement.Signature, map[string]any{},
		map[string]string{statement.TagAnnotation: "stable", statement.SignedAtAnnotation: now.Add(-time.Hour).UTC().Format(time.RFC3339)})
	if err != nil {
		t.Fatal(err)
	}
	b := ft.bundle(t, ft.sk, raw)
	sig := trDSSESig(t, b)
	oldStamp := fs.Timestamp(t, sig, old)

	c := checkBundle(trStamps(t, b, oldStamp), subjectA, ft.policy, ft.verifier.verifiers, trTSAs(fs), now)
	if c.err != nil {
		t.Fatalf("control refused: %v", c.err)
	}
	if _, err := tagSignedAt(c, subjectA.String(), now); err == nil || candidateCode(err) != CodeSignedTimeInvalid {
		t.Fatalf("control: tag binding after the stamp accepted: %v", err)
	}

	c = checkBundle(trStamps(t, b, fs.Timestamp(t, sig, now), oldStamp), subjectA, ft.policy, ft.verifier.verifiers, trTSAs(fs), now)
	if c.err == nil {
		if _, err := tagSignedAt(c, subjectA.String(), now); err == nil {
			t.Fatalf("a fresh stamp put first let a binding dated after the signature's time count (signed at %v)", c.signedAt)
		}
	}
}
