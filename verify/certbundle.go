package verify

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/verify/policy"
)

// parseBundle reads a Sigstore bundle, any version. A v0.3 bundle with a
// certificate chain (what cosign writes with --certificate-chain) is read
// as its leaf alone: the leaf must chain to a trust root's Fulcio CA
// through the intermediates the root itself lists. Intermediates a bundle
// carries would otherwise be trusted under any CA entry sharing their root
// — bringing back one the trust root retired or left out.
func parseBundle(raw []byte) (*bundle.Bundle, error) {
	var b bundle.Bundle
	err := b.UnmarshalJSON(raw)
	if err == nil {
		return &b, nil
	}
	var chained bundle.Bundle
	bundle.AllowCertificateChain()(&chained)
	if chained.UnmarshalJSON(raw) != nil {
		return nil, err
	}
	certs := chained.GetVerificationMaterial().GetX509CertificateChain().GetCertificates()
	if len(certs) == 0 {
		return nil, err
	}
	pb := proto.Clone(chained.Bundle).(*protobundle.Bundle)
	pb.VerificationMaterial.Content = &protobundle.VerificationMaterial_Certificate{Certificate: certs[0]}
	leaf, lerr := bundle.NewBundle(pb)
	if lerr != nil {
		return nil, lerr
	}
	return leaf, nil
}

// hasCertificate reports whether a bundle is signed by a certificate (a
// Fulcio leaf, keyless) rather than a key named by its hint.
func hasCertificate(b *bundle.Bundle) bool {
	vm := b.GetVerificationMaterial()
	return vm.GetCertificate() != nil || vm.GetX509CertificateChain() != nil
}

// rootsOf are the policy's trust roots that at least one identity is valid
// under, in policy order: only these are tried, so a root nobody trusts for
// any identity never vouches for a certificate.
func rootsOf(p *policy.Policy) []*policy.TrustRoot {
	var out []*policy.TrustRoot
	for _, r := range p.TrustRoots {
		for _, id := range p.Identities {
			if slices.Contains(id.TrustRoots, r.Name) {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// certVerification is what sigstore-go established for a certificate-based
// bundle under one trust root.
type certVerification struct {
	root   *policy.TrustRoot
	result *sgverify.VerificationResult
	// logEntries are the bundle's transparency-log entries when
	// sigstore-go verified them ("<index> at <time>", or "<index>,
	// checkpoint" for a Rekor v2 entry without integrated time).
	logEntries []string
}

// verifyCertificate has sigstore-go check a certificate-based bundle under
// each trust root the policy's identities name, and returns every root it
// holds under (two roots may share a CA and trust different identities): the chain
// to the root's Fulcio CA, valid at a verified time; the transparency-log
// entry where the root requires one (its inclusion proof or promise); the
// RFC 3161 timestamps from the root's TSAs; and the signature over
// artifact (or, with artifact nil, the DSSE envelope alone — the caller
// then checks what the statement is about). No identity is matched here:
// which identity the certificate is comes after, from the verified
// certificate (matchIdentity).
func verifyCertificate(b *bundle.Bundle, roots []*policy.TrustRoot, artifact sgverify.ArtifactPolicyOption) ([]*certVerification, error) {
	if len(roots) == 0 {
		return nil, codedf(CodeUntrustedKey, "signed with a certificate, and the policy trusts no certificate identity (add identities and trustRoots)")
	}
	if artifact == nil {
		artifact = sgverify.WithoutArtifactUnsafe()
	}
	var errs []error
	var out []*certVerification
	for _, r := range roots {
		// A JSON-lines file's roots are tried line by line, each with its
		// own requirements (policy.TrustRoot.Parts): the first that
		// verifies the bundle is the root's verification.
		parts := r.Parts()
		for i, part := range parts {
			where := r.Name
			if len(parts) > 1 {
				where = fmt.Sprintf("%s (line %d)", r.Name, i+1)
			}
			cv, err := verifyUnder(b, r, part, artifact)
			if err != nil {
				var bad *verifierError
				if errors.As(err, &bad) {
					return nil, fmt.Errorf("trust root %s: %w", where, bad.err)
				}
				errs = append(errs, fmt.Errorf("under trust root %s: %s", where, oneLine(err)))
				continue
			}
			out = append(out, cv)
			break
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	return nil, codedf(CodeSignatureInvalid, "certificate signature does not verify under the policy's trust roots: %s", oneLine(errors.Join(errs...)))
}

// verifierError is a verifier that could not be made: a broken trust
// root, not a bundle that does not verify.
type verifierError struct{ err error }

func (e *verifierError) Error() string { return e.err.Error() }

// verifyUnder verifies b under one trusted root of r: a log entry when
// part requires one or b carries one of a log the root lists (then
// verified), an SCT when the root lists a CT log, and an observer
// timestamp.
func verifyUnder(b *bundle.Bundle, r *policy.TrustRoot, part policy.RootPart, artifact sgverify.ArtifactPolicyOption) (*certVerification, error) {
	opts := []sgverify.VerifierOption{sgverify.WithObserverTimestamps(1)}
	tlog := part.RequireTransparencyLog || len(b.GetVerificationMaterial().GetTlogEntries()) > 0 && len(part.Root.RekorLogs()) > 0
	if tlog {
		opts = append(opts, sgverify.WithTransparencyLog(1))
	}
	// A root with certificate-transparency logs publishes every
	// certificate its CA issues: one not in them was not issued in the
	// open (cosign requires the SCT too).
	if len(part.Root.CTLogs()) > 0 {
		opts = append(opts, sgverify.WithSignedCertificateTimestamps(1))
	}
	v, err := sgverify.NewVerifier(part.Root, opts...)
	if err != nil {
		return nil, &verifierError{err}
	}
	res, err := v.Verify(b, sgverify.NewPolicy(artifact, sgverify.WithoutIdentitiesUnsafe()))
	if err != nil {
		return nil, err
	}
	if res.Signature == nil || res.Signature.Certificate == nil {
		return nil, errors.New("no certificate in the verified result")
	}
	// The signer's time is the earliest verified time; a timestamp
	// sigstore-go skipped could have been the earliest.
	if err := everyTimestampVerified(b, res); err != nil {
		return nil, err
	}
	cv := &certVerification{root: r, result: res}
	if tlog {
		cv.logEntries = logEntries(b, part.Root)
	}
	return cv, nil
}

// logEntries describes, for reports, a bundle's log entries: with tr,
// those sigstore-go verified (of a log tr lists; it skips the rest); with
// tr nil, all of them, unverified (tree). An integrated time is shown only
// under an inclusion promise, the log's signature over it; with only an
// inclusion proof (Rekor v2) the time is the bundle's say-so and the entry
// shows as a checkpoint.
func logEntries(b *bundle.Bundle, tr *root.TrustedRoot) []string {
	var out []string
	for _, e := range b.GetVerificationMaterial().GetTlogEntries() {
		if tr != nil {
			if _, ok := tr.RekorLogs()[hex.EncodeToString(e.GetLogId().GetKeyId())]; !ok {
				continue
			}
		}
		s := strconv.FormatInt(e.GetLogIndex(), 10)
		if it := e.GetIntegratedTime(); it > 0 && e.GetInclusionPromise() != nil {
			s += " at " + time.Unix(it, 0).UTC().Format(time.RFC3339)
		} else {
			s += ", checkpoint"
		}
		out = append(out, s)
	}
	return out
}

// earliest is the earliest verified time and where it came from: the
// tightest upper bound on when the signature was made. A timestamp anyone
// could add to an old bundle only makes the latest later, never the
// earliest earlier.
func earliest(ts []sgverify.TimestampVerificationResult) (time.Time, string) {
	var at time.Time
	src := ""
	for _, t := range ts {
		if at.IsZero() || t.Timestamp.Before(at) {
			at = t.Timestamp
			if t.Type == "TimestampAuthority" {
				src = timeSourceRFC3161 + t.URI
			} else {
				src = timeSourceTlog + t.URI
			}
		}
	}
	return at, src
}

// signerMatch is one policy signer a verified certificate is: an identity
// and the verification (trust root, times, log entries) it was found under,
// or an x509 signer and what notation-go established under it.
type signerMatch struct {
	id     *policy.Identity
	cv     *certVerification
	x509   *policy.X509Signer
	notary *notaryMatch
}

// name is the signer's policy name.
func (m signerMatch) name() string {
	if m.x509 != nil {
		return m.x509.Name
	}
	return m.id.Name
}

// matchIdentities finds every policy identity a verified certificate is,
// each among those valid under a trust root that verified it, in policy
// order; the error says why none matched (each identity's first mismatch).
// A certificate matching several identities is still one signature: the
// requirement counts it once, for an identity its rule names (evaluate).
func matchIdentities(p *policy.Policy, cvs []*certVerification) ([]signerMatch, error) {
	var out []signerMatch
	var why, roots []string
	for _, cv := range cvs {
		roots = append(roots, cv.root.Name)
		for _, id := range p.Identities {
			if !slices.Contains(id.TrustRoots, cv.root.Name) {
				continue
			}
			if err := id.Match(*cv.result.Signature.Certificate); err != nil {
				why = append(why, oneLine(err))
				continue
			}
			out = append(out, signerMatch{id: id, cv: cv})
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	s := cvs[0].result.Signature.Certificate
	return nil, codedf(CodeUntrustedKey, "signed by certificate identity %s (issuer %s), which no policy identity under trust root %s matches (%s)",
		clipQuote(s.SubjectAlternativeName), clipQuote(s.Extensions.Issuer), strings.Join(roots, ", "), joinClipped(why))
}

// joinClipped joins reasons, keeping the line short.
func joinClipped(why []string) string {
	if len(why) > 3 {
		why = append(why[:3:3], fmt.Sprintf("and %d more", len(why)-3))
	}
	return strings.Join(why, "; ")
}

// checkCertificateBundle checks a DSSE bundle signed by a certificate: the
// certificate, log and timestamps under a policy trust root, the signature,
// what the statement is about (about), and which policy identity the
// certificate is. The candidate's signer is the identity; its time is the
// earliest verified time.
func checkCertificateBundle(b *bundle.Bundle, subject v1.Hash, p *policy.Policy) candidate {
	c := candidate{}
	cvs, err := verifyCertificate(b, rootsOf(p), nil)
	if err != nil {
		c.err = err
		return c
	}
	st := cvs[0].result.Statement
	if st == nil {
		c.err = codedf(CodeMalformed, "bundle carries no in-toto statement")
		return c
	}
	matches, err := matchIdentities(p, cvs)
	if err != nil {
		c.err = err
		return c
	}
	c.keyID = matches[0].id.Trusted.ID
	if err := about(statementDigests(st.GetSubject()), subject); err != nil {
		c.err = err
		return c
	}
	c.predicateType = st.GetPredicateType()
	if raw, err := marshalStatement(st); err == nil {
		c.statement, _ = statement.Parse(raw)
	}
	return c.signedBy(matches)
}

// signedBy makes a checked candidate the signature of the first matching
// identity, keeping the others as alternatives a requirement may count it
// for instead (forSigner).
func (c candidate) signedBy(matches []signerMatch) candidate {
	m := matches[0]
	if m.x509 != nil {
		return c.notarySignedBy(matches)
	}
	c.key, c.keyID = m.id.Trusted, m.id.Trusted.ID
	c.signedAt, c.timeSource = earliest(m.cv.result.VerifiedTimestamps)
	c.certificate = m.cv.result.Signature.Certificate
	c.logEntries = m.cv.logEntries
	c.alternatives = matches[1:]
	return c
}

// forSigner is the candidate as the signature of whichever of its matching
// identities allowed names first, or false when none is; a key signature
// has no alternatives.
func (c candidate) forSigner(allowed map[string]bool) (candidate, bool) {
	if c.key == nil || allowed[c.key.Name] {
		return c, true
	}
	for i, m := range c.alternatives {
		if allowed[m.name()] {
			rest := append(append([]signerMatch{m}, c.alternatives[:i]...), c.alternatives[i+1:]...)
			return c.signedBy(rest), true
		}
	}
	return c, false
}

func marshalStatement(st *intoto.Statement) ([]byte, error) { return protojson.Marshal(st) }

// certIdentity is the report's view of a verified certificate (nil for a
// key-based signature).
func certIdentity(s *certificate.Summary) *CertIdentity {
	if s == nil {
		return nil
	}
	return &CertIdentity{
		Issuer:            s.Extensions.Issuer,
		Subject:           s.SubjectAlternativeName,
		SourceRepository:  s.Extensions.SourceRepositoryURI,
		SourceRef:         s.Extensions.SourceRepositoryRef,
		SourceDigest:      s.Extensions.SourceRepositoryDigest,
		BuildSignerURI:    s.Extensions.BuildSignerURI,
		RunnerEnvironment: s.Extensions.RunnerEnvironment,
		Event:             s.Extensions.BuildTrigger,
	}
}

// trustedTimeName names a trusted time source in a sentence.
func trustedTimeName(timeSource string) string {
	if strings.HasPrefix(timeSource, timeSourceTlog) {
		return "transparency-log time"
	}
	return "RFC 3161 timestamp"
}

// clipQuote shows an untrusted certificate value quoted, on one line and
// at most 120 characters long.
func clipQuote(v string) string {
	r := []rune(v)
	if len(r) > 120 {
		r = append(r[:120], '…')
	}
	return fmt.Sprintf("%q", string(r))
}
