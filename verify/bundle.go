package verify

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/imgsign/imgsign/statement"
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
	// statement is the verified in-toto statement.
	statement *statement.Statement
	// certificate is the verified certificate of a certificate-based
	// (keyless) signature: the identity it names.
	certificate *certificate.Summary
	// logEntries are its verified transparency-log entries, for reports.
	logEntries []string
	// byCertificate: signed with a certificate (keyless), whatever came of
	// checking it.
	byCertificate bool
	// alternatives are further policy identities the same certificate
	// matches: the signature counts once, for one of them (forSigner).
	alternatives []signerMatch
	// format is how the evidence was stored and signed (Format*).
	format string
	// notes are what the report says about an accepted signature beyond
	// its verdict: checks a Notary signer only logs, revocation not checked.
	notes []string
	// x509 is the signing certificate of a Notary Project signature.
	x509 *X509Certificate
	// lapses, for a Notary Project signature, is when the first
	// certificate of its chain, or the envelope, expires.
	lapses time.Time
	err    error
}

// checkBundle verifies a bundle's DSSE signature with the policy key its hint
// names (or, without a hint, each policy key in turn) and that the statement
// is about subject. It never trusts anything the bundle says about itself
// before the signature is checked.
func checkBundle(raw []byte, subject v1.Hash, p *policy.Policy, verifiersFor func(*policy.TrustedKey) ([]signature.Verifier, error), tsas []root.TimestampingAuthority, now time.Time) candidate {
	c := candidate{}
	b, err := parseBundle(raw)
	if err != nil {
		c.err = codedf(CodeMalformed, "not a valid Sigstore bundle: %s", oneLine(err))
		return c
	}
	if b.GetDsseEnvelope() == nil {
		c.err = codedf(CodeUnsupported, "bundle holds no DSSE envelope (message signatures are not image signatures)")
		return c
	}
	var candidates []*policy.TrustedKey
	if pk := b.GetVerificationMaterial().GetPublicKey(); pk != nil && pk.GetHint() != "" {
		c.keyID = pk.GetHint()
		k := p.KeyByID(c.keyID)
		if k == nil {
			c.err = codedf(CodeUntrustedKey, "signed by key id %s, which the policy does not list", c.keyID)
			return c
		}
		candidates = []*policy.TrustedKey{k}
	} else if b.GetVerificationMaterial().GetPublicKey() == nil {
		if hasCertificate(b) {
			c := checkCertificateBundle(b, subject, p)
			c.byCertificate = true
			return c
		}
		c.err = codedf(CodeMalformed, "bundle names neither a key nor a certificate")
		return c
	} else {
		for _, k := range p.Keys {
			candidates = append(candidates, k.Versions...)
		}
	}
	var lastErr error
	for _, k := range candidates {
		vers, err := verifiersFor(k)
		if err != nil {
			lastErr = err
			continue
		}
		for _, ver := range vers {
			res, err := verifyWith(b, ver, nil)
			if err != nil {
				lastErr = err
				continue
			}
			// The signature holds, so k signed this statement; whether it is
			// about this image is imgsign's own check, stricter than
			// sigstore-go's: about subject alone.
			if err := about(statementDigests(res.Statement.GetSubject()), subject); err != nil {
				c.keyID = k.ID
				c.err = err
				return c
			}
			c.key = k
			c.keyID = k.ID
			c.predicateType = res.Statement.GetPredicateType()
			c.signedAt, c.timeSource = now, TimeSourceJudgedAt
			if raw, err := marshalStatement(res.Statement); err == nil {
				c.statement, _ = statement.Parse(raw)
			}
			// The signature holds; now its time. A timestamp the policy's
			// TSAs cannot vouch for fails the signature rather than being
			// ignored: it claims a time nobody trusted can confirm.
			if hasTimestamps(b) && len(tsas) > 0 {
				tres, err := verifyWith(b, ver, tsas)
				if err != nil {
					c.key, c.predicateType, c.statement = nil, "", nil
					c.err = codedf(CodeTimestampUntrusted, "RFC 3161 timestamp is not trusted: %s (is its TSA in the policy's timestampAuthorities?)", oneLine(err))
					return c
				}
				if err := everyTimestampVerified(b, tres); err != nil {
					c.key, c.predicateType, c.statement = nil, "", nil
					c.err = codedf(CodeTimestampUntrusted, "RFC 3161 timestamp is not trusted: %s (is its TSA in the policy's timestampAuthorities?)", oneLine(err))
					return c
				}
				// The earliest, not the first: a later stamp put first
				// must not make an old signature young.
				c.signedAt, c.timeSource = earliest(tres.VerifiedTimestamps)
			}
			return c
		}
	}
	c.err = explain(lastErr)
	return c
}

func statementDigests(subjects []*intoto.ResourceDescriptor) []map[string]string {
	out := make([]map[string]string, len(subjects))
	for i, s := range subjects {
		out[i] = s.GetDigest()
	}
	return out
}

// onlyAbout requires every subject of a verified statement to be subject:
// its digest under subject's algorithm and no other. A signed statement that
// also names another image is not a signature of this one — a build could
// have written it for its own image and a victim at once (see attest
// buildkit), and copying the referrer would carry it over — and a digest
// under another algorithm cannot be checked against the image.
func onlyAbout(subjects []map[string]string, subject v1.Hash) error {
	if len(subjects) == 0 {
		return fmt.Errorf("the signed statement names no subject, so it is not about %s", subject)
	}
	var others []string
	for _, d := range subjects {
		if len(d) == 0 {
			return fmt.Errorf("the signed statement has a subject without a digest, so it is not about %s alone", subject)
		}
		for _, alg := range slices.Sorted(maps.Keys(d)) {
			switch {
			case alg != subject.Algorithm:
				return fmt.Errorf("the signed statement names a subject by a %s digest, which imgsign cannot check against %s: it counts only about %s alone", oneLineString(alg), subject, subject)
			case d[alg] != subject.Hex:
				others = append(others, oneLineString(alg+":"+d[alg]))
			}
		}
	}
	if len(others) > 0 {
		return fmt.Errorf("the signed statement also names %s: a statement about several images is not a signature of %s alone (copied from another image?)", strings.Join(others, ", "), subject)
	}
	return nil
}

// verifyWith checks the bundle's DSSE signature with one key; what the
// statement is about is checked by the caller (about). With tsas it also
// requires an RFC 3161 timestamp from one of them.
func verifyWith(b *bundle.Bundle, ver signature.Verifier, tsas []root.TimestampingAuthority) (*sgverify.VerificationResult, error) {
	ek := root.NewExpiringKey(ver, time.Time{}, time.Time{})
	tm := &trustedMaterial{key: ek, tsas: tsas}
	opt := sgverify.WithNoObserverTimestamps()
	if len(tsas) > 0 {
		opt = sgverify.WithSignedTimestamps(1)
	}
	v, err := sgverify.NewVerifier(tm, opt)
	if err != nil {
		return nil, err
	}
	res, err := v.Verify(b, sgverify.NewPolicy(sgverify.WithoutArtifactUnsafe(), sgverify.WithKey()))
	if err != nil {
		return nil, err
	}
	if res.Statement == nil {
		return nil, codedf(CodeMalformed, "bundle carries no in-toto statement")
	}
	return res, nil
}

// trustedMaterial is one policy key and the policy's timestamp authorities.
type trustedMaterial struct {
	root.BaseTrustedMaterial
	key  *root.ExpiringKey
	tsas []root.TimestampingAuthority
}

func (t *trustedMaterial) TimestampingAuthorities() []root.TimestampingAuthority { return t.tsas }

func (t *trustedMaterial) PublicKeyVerifier(string) (root.TimeConstrainedVerifier, error) {
	return t.key, nil
}

// everyTimestampVerified requires each RFC 3161 timestamp a bundle carries
// to be among those sigstore-go verified. sigstore-go skips a timestamp no
// trusted TSA signed, and of several from one TSA keeps only the first:
// a fresh stamp (anyone can have a public TSA stamp any bytes) put in front
// of the one a signature was made with hid the old one, and the
// signature's earliest time moved later — an old signature made young,
// past a key's or identity's validFrom. Refused rather than guessed at.
func everyTimestampVerified(b *bundle.Bundle, res *sgverify.VerificationResult) error {
	n := 0
	for _, t := range res.VerifiedTimestamps {
		if t.Type == "TimestampAuthority" {
			n++
		}
	}
	if want := len(b.GetVerificationMaterial().GetTimestampVerificationData().GetRfc3161Timestamps()); n != want {
		return fmt.Errorf("%d of the bundle's %d RFC 3161 timestamps verify (one from a TSA not trusted, or a second from the same TSA): %w", n, want, errTimestampsUnverified)
	}
	return nil
}

// errTimestampsUnverified: a bundle carries an RFC 3161 timestamp that
// does not count (everyTimestampVerified).
var errTimestampsUnverified = errors.New("every timestamp must verify")

func hasTimestamps(b *bundle.Bundle) bool {
	return len(b.GetVerificationMaterial().GetTimestampVerificationData().GetRfc3161Timestamps()) > 0
}

// timestampAuthorities turns the policy's TSA chains into sigstore-go's
// form: leaf first, root last, intermediates between.
func timestampAuthorities(p *policy.Policy) []root.TimestampingAuthority {
	var out []root.TimestampingAuthority
	for _, t := range p.TimestampAuthorities {
		if len(t.Chain) == 0 {
			continue
		}
		tsa := &root.SigstoreTimestampingAuthority{URI: t.Name, Root: t.Chain[len(t.Chain)-1]}
		if len(t.Chain) > 1 {
			tsa.Leaf = t.Chain[0]
			tsa.Intermediates = t.Chain[1 : len(t.Chain)-1]
		}
		out = append(out, tsa)
	}
	return out
}

// explain says why no policy key verified the bundle. What the statement
// is about is checked only after a signature held (about), so every error
// here is about the signature itself.
func explain(err error) error {
	var ce *codedError
	switch {
	case err == nil:
		return codedf(CodeUntrustedKey, "no key to check the signature with")
	case errors.As(err, &ce):
		return err
	case errors.Is(err, sgverify.ErrDSSEInvalidSignatureCount):
		return codedf(CodeSignatureInvalid, "the DSSE envelope must carry exactly one signature: %s", oneLine(err))
	case errors.Is(err, bundle.ErrUnsupportedMediaType), errors.Is(err, bundle.ErrDecodingJSON), errors.Is(err, bundle.ErrDecodingB64):
		// sigstore-go reads the statement only after the signature held.
		return codedf(CodeMalformed, "the signed payload is not an in-toto statement (payload type %s, exact keys): %s", statement.PayloadType, oneLine(err))
	}
	return codedf(CodeSignatureInvalid, "signature does not verify with the key (tampered envelope or wrong key): %s", oneLine(err))
}

// about requires a verified statement to be about subject alone: a
// statement naming other images only was signed for one of them
// (copied from another image?); one naming this image and others counts
// for none of them (onlyAbout).
func about(subjects []map[string]string, subject v1.Hash) error {
	names := false
	for _, d := range subjects {
		if d[subject.Algorithm] == subject.Hex {
			names = true
		}
	}
	if len(subjects) > 0 && !names {
		return codedf(CodeSubjectMismatch, "the signed statement is about another image, not %s (signature copied from another image?)", subject)
	}
	if err := onlyAbout(subjects, subject); err != nil {
		return coded(CodeSubjectMismatch, err)
	}
	return nil
}

func oneLine(err error) string {
	return oneLineString(err.Error())
}

func oneLineString(s string) string {
	// sigstore-go wraps a nil error in one message; the artefact says
	// nothing to a reader.
	s = strings.ReplaceAll(s, ": %!w(<nil>)", "")
	return strings.Join(strings.Fields(s), " ")
}
