package verify

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/verify/policy"
)

// parseBundle reads a Sigstore bundle, any version. A certificate chain in
// a v0.3 bundle (what cosign writes with --certificate-chain) is accepted:
// its intermediates only help the leaf chain to a trust root's Fulcio CA,
// which still decides, so they add no trust of their own. sigstore-go accepts the option only for v0.3 and later; earlier
// versions carry chains anyway and are read without it.
func parseBundle(raw []byte) (*bundle.Bundle, error) {
	var b bundle.Bundle
	err := b.UnmarshalJSON(raw)
	if err == nil {
		return &b, nil
	}
	var chained bundle.Bundle
	bundle.AllowCertificateChain()(&chained)
	if chained.UnmarshalJSON(raw) == nil {
		return &chained, nil
	}
	return nil, err
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
// each trust root the policy's identities name, until one holds: the chain
// to the root's Fulcio CA, valid at a verified time; the transparency-log
// entry where the root requires one (its inclusion proof or promise); the
// RFC 3161 timestamps from the root's TSAs; and the signature over
// artifact (or, with artifact nil, the DSSE envelope alone — the caller
// then checks what the statement is about). No identity is matched here:
// which identity the certificate is comes after, from the verified
// certificate (matchIdentity).
func verifyCertificate(b *bundle.Bundle, roots []*policy.TrustRoot, artifact sgverify.ArtifactPolicyOption) (*certVerification, error) {
	if len(roots) == 0 {
		return nil, codedf(CodeUntrustedKey, "signed with a certificate, and the policy trusts no certificate identity (add identities and trustRoots)")
	}
	if artifact == nil {
		artifact = sgverify.WithoutArtifactUnsafe()
	}
	var errs []error
	for _, r := range roots {
		opts := []sgverify.VerifierOption{sgverify.WithObserverTimestamps(1)}
		tlog := r.RequireTransparencyLog || len(b.GetVerificationMaterial().GetTlogEntries()) > 0 && len(r.Root.RekorLogs()) > 0
		if tlog {
			opts = append(opts, sgverify.WithTransparencyLog(1))
		}
		// A root with certificate-transparency logs publishes every
		// certificate its CA issues: one not in them was not issued in
		// the open (cosign requires the SCT too).
		if len(r.Root.CTLogs()) > 0 {
			opts = append(opts, sgverify.WithSignedCertificateTimestamps(1))
		}
		v, err := sgverify.NewVerifier(r.Root, opts...)
		if err != nil {
			return nil, fmt.Errorf("trust root %s: %w", r.Name, err)
		}
		res, err := v.Verify(b, sgverify.NewPolicy(artifact, sgverify.WithoutIdentitiesUnsafe()))
		if err != nil {
			errs = append(errs, fmt.Errorf("under trust root %s: %s", r.Name, oneLine(err)))
			continue
		}
		if res.Signature == nil || res.Signature.Certificate == nil {
			errs = append(errs, fmt.Errorf("under trust root %s: no certificate in the verified result", r.Name))
			continue
		}
		cv := &certVerification{root: r, result: res}
		if tlog {
			cv.logEntries = logEntries(b)
		}
		return cv, nil
	}
	return nil, codedf(CodeSignatureInvalid, "certificate signature does not verify under the policy's trust roots: %s", oneLine(errors.Join(errs...)))
}

// logEntries describes a bundle's transparency-log entries for reports.
func logEntries(b *bundle.Bundle) []string {
	var out []string
	for _, e := range b.GetVerificationMaterial().GetTlogEntries() {
		s := strconv.FormatInt(e.GetLogIndex(), 10)
		if it := e.GetIntegratedTime(); it > 0 {
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

// matchIdentity finds the policy identity a verified certificate is, among
// those valid under the trust root that verified it; the error says why
// none matched (each identity's first mismatch).
func matchIdentity(p *policy.Policy, cv *certVerification) (*policy.Identity, error) {
	var why []string
	for _, id := range p.Identities {
		if !slices.Contains(id.TrustRoots, cv.root.Name) {
			continue
		}
		err := id.Match(*cv.result.Signature.Certificate)
		if err == nil {
			return id, nil
		}
		why = append(why, oneLine(err))
	}
	s := cv.result.Signature.Certificate
	return nil, codedf(CodeUntrustedKey, "signed by certificate identity %s (issuer %s), which no policy identity under trust root %s matches (%s)",
		clipQuote(s.SubjectAlternativeName), clipQuote(s.Extensions.Issuer), cv.root.Name, joinClipped(why))
}

// joinClipped joins reasons, keeping the line short.
func joinClipped(why []string) string {
	if len(why) > 3 {
		why = append(why[:3], fmt.Sprintf("and %d more", len(why)-3))
	}
	s := ""
	for i, w := range why {
		if i > 0 {
			s += "; "
		}
		s += w
	}
	return s
}

// checkCertificateBundle checks a DSSE bundle signed by a certificate: the
// certificate, log and timestamps under a policy trust root, the signature,
// what the statement is about (about), and which policy identity the
// certificate is. The candidate's signer is the identity; its time is the
// earliest verified time.
func checkCertificateBundle(b *bundle.Bundle, subject v1.Hash, p *policy.Policy) candidate {
	c := candidate{}
	cv, err := verifyCertificate(b, rootsOf(p), nil)
	if err != nil {
		c.err = err
		return c
	}
	st := cv.result.Statement
	if st == nil {
		c.err = codedf(CodeMalformed, "bundle carries no in-toto statement")
		return c
	}
	id, err := matchIdentity(p, cv)
	if err != nil {
		c.err = err
		return c
	}
	c.keyID = id.Trusted.ID
	if err := about(statementDigests(st.GetSubject()), subject); err != nil {
		c.err = err
		return c
	}
	c.key = id.Trusted
	c.predicateType = st.GetPredicateType()
	c.signedAt, c.timeSource = earliest(cv.result.VerifiedTimestamps)
	c.certificate = cv.result.Signature.Certificate
	c.logEntries = cv.logEntries
	if raw, err := marshalStatement(st); err == nil {
		c.statement, _ = statement.Parse(raw)
	}
	return c
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
