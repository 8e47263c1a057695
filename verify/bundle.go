package verify

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/imgsign/imgsign/verify/policy"
)

// candidate is one fetched bundle after its signature was checked.
type candidate struct {
	referrer string
	// claimedType is the predicate type the referrer's annotation claims.
	claimedType string
	keyID       string
	key         *policy.TrustedKey
	// predicateType is from the verified statement; "" if unverified.
	predicateType string
	signedAt      time.Time
	timeSource    string
	// statement is the verified in-toto statement, decoded for conditions.
	statement map[string]any
	err       error
}

// checkBundle verifies a bundle's DSSE signature with the policy key its hint
// names (or, without a hint, each policy key in turn) and that the statement
// is about subject. It never trusts anything the bundle says about itself
// before the signature is checked.
func checkBundle(raw []byte, subject v1.Hash, p *policy.Policy, verifiersFor func(*policy.TrustedKey) ([]signature.Verifier, error), now time.Time) candidate {
	c := candidate{}
	var b bundle.Bundle
	if err := b.UnmarshalJSON(raw); err != nil {
		c.err = fmt.Errorf("not a valid Sigstore bundle: %s", oneLine(err))
		return c
	}
	if b.GetDsseEnvelope() == nil {
		c.err = errors.New("bundle holds no DSSE envelope (message signatures are not image signatures)")
		return c
	}
	var candidates []*policy.TrustedKey
	if pk := b.GetVerificationMaterial().GetPublicKey(); pk != nil && pk.GetHint() != "" {
		c.keyID = pk.GetHint()
		k := p.KeyByID(c.keyID)
		if k == nil {
			c.err = fmt.Errorf("signed by key id %s, which the policy does not list", c.keyID)
			return c
		}
		candidates = []*policy.TrustedKey{k}
	} else if b.GetVerificationMaterial().GetPublicKey() == nil {
		c.err = errors.New("bundle is not signed with a public key (keyless certificates are not supported yet)")
		return c
	} else {
		for _, k := range p.Keys {
			if k.Trusted != nil {
				candidates = append(candidates, k.Trusted)
			}
		}
	}
	digest, err := hex.DecodeString(subject.Hex)
	if err != nil {
		c.err = fmt.Errorf("subject digest: %w", err)
		return c
	}
	var lastErr error
	for _, k := range candidates {
		vers, err := verifiersFor(k)
		if err != nil {
			lastErr = err
			continue
		}
		for _, ver := range vers {
			res, err := verifyWith(&b, ver, subject.Algorithm, digest)
			if err != nil {
				lastErr = err
				continue
			}
			c.key = k
			c.keyID = k.ID
			c.predicateType = res.Statement.GetPredicateType()
			c.signedAt, c.timeSource = now, "current-time"
			if raw, err := protojson.Marshal(res.Statement); err == nil {
				_ = json.Unmarshal(raw, &c.statement)
			}
			return c
		}
	}
	c.err = explain(lastErr, subject)
	return c
}

// verifyWith checks the bundle's DSSE signature with one key and that its
// statement has a subject with the given digest.
func verifyWith(b *bundle.Bundle, ver signature.Verifier, alg string, digest []byte) (*sgverify.VerificationResult, error) {
	ek := root.NewExpiringKey(ver, time.Time{}, time.Time{})
	tm := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return ek, nil })
	v, err := sgverify.NewVerifier(tm, sgverify.WithNoObserverTimestamps())
	if err != nil {
		return nil, err
	}
	res, err := v.Verify(b, sgverify.NewPolicy(sgverify.WithArtifactDigest(alg, digest), sgverify.WithKey()))
	if err != nil {
		return nil, err
	}
	if res.Statement == nil {
		return nil, errors.New("bundle carries no in-toto statement")
	}
	return res, nil
}

// explain turns sigstore-go's errors into the sentence a user needs.
func explain(err error, subject v1.Hash) error {
	if err == nil {
		return errors.New("no key to check the signature with")
	}
	msg := oneLine(err)
	switch {
	case strings.Contains(msg, "artifact digest") || strings.Contains(msg, "subject") && strings.Contains(msg, "digest"):
		return fmt.Errorf("the signed statement is about another image, not %s (signature copied from another image?)", subject)
	case strings.Contains(msg, "signature"):
		return fmt.Errorf("signature does not verify with the key (tampered envelope or wrong key): %s", msg)
	}
	return errors.New(msg)
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
