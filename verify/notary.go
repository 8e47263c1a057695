package verify

// Notary Project signatures (notation, AWS Signer, Ratify): a JWS or COSE
// envelope over a descriptor of the image manifest, signed with an X.509
// chain. notation-go checks each envelope under each x509 signer of the
// policy — integrity, chain to the signer's trust stores, identity,
// expiry, authentic time, revocation — and imgsign adds the policy: which
// signer it is, validity windows, thresholds, tag binding.

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/notaryproject/notation-core-go/revocation"
	"github.com/notaryproject/notation-core-go/revocation/crl"
	"github.com/notaryproject/notation-core-go/revocation/purpose"
	"github.com/notaryproject/notation-core-go/signature"
	"github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/verifier"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
	"github.com/notaryproject/tspclient-go"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgsign/imgsign/internal/attachment"
	"github.com/imgsign/imgsign/internal/safetext"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/verify/policy"
)

// Annotations imgsign writes into a Notary payload's targetArtifact when it
// signs a tag (notation's user metadata, signed with the rest): the tag it
// binds, when, and in which repository — what a Sigstore statement's
// subject carries.
const (
	NotaryRepositoryAnnotation = "dev.imgsign.repository"
)

// notaryFormat reads Notary Project signatures.
type notaryFormat struct{}

// notaryVerifiers are notation-go verifiers, one per x509 signer, built
// once per Verifier: each is the signer as a one-statement notation trust
// policy over the policy's trust stores.
type notaryVerifiers struct {
	policy *policy.Policy
	// offline skips revocation checks: no CRL or OCSP server is asked.
	offline bool
	once    sync.Once
	byName  map[string]notation.Verifier
	err     error
}

func (n *notaryVerifiers) get(s *policy.X509Signer) (notation.Verifier, error) {
	n.once.Do(func() {
		n.byName = map[string]notation.Verifier{}
		opts, err := n.revocationValidators()
		if err != nil {
			n.err = err
			return
		}
		store := policyTrustStore{n.policy}
		for _, s := range n.policy.X509Signers {
			// Offline, revocation a signer only logs is skipped (the
			// outcome says so). One that enforces it is never turned
			// into skip: verify.Offline refuses such a policy before
			// any connection, and should a caller not ask it, the
			// check still runs, its servers refused (refuseNetwork),
			// so a chain naming an OCSP or CRL server fails with its
			// status unknown instead of passing unchecked.
			rev := ""
			if n.offline && s.Revocation != policy.ActionEnforce && s.Revocation != "" {
				rev = policy.ActionSkip
			}
			v, err := verifier.NewWithOptions(s.NotaryDocument(n.policy, rev), store, nil, opts)
			if err != nil {
				n.err = fmt.Errorf("x509 signer %s: %w", s.Name, err)
				return
			}
			n.byName[s.Name] = v
		}
	})
	if n.err != nil {
		return nil, n.err
	}
	return n.byName[s.Name], nil
}

// revocationValidators are notation-core-go's, with bounded timeouts (2 s
// per OCSP request, 5 s per CRL fetch) and one CRL cache for the
// Verifier's life: a CRL is fetched once, not once per envelope, and
// fetched again once past its nextUpdate. Offline, no server is asked:
// code-signing revocation is skipped by the trust policy, and a TSA chain
// that names a CRL or OCSP server fails its timestamp instead.
func (n *notaryVerifiers) revocationValidators() (verifier.VerifierOptions, error) {
	ocspClient := &http.Client{Timeout: 2 * time.Second}
	crlClient := &http.Client{Timeout: 5 * time.Second}
	if n.offline {
		ocspClient = &http.Client{Transport: refuseNetwork{}}
		crlClient = &http.Client{Transport: refuseNetwork{}}
	}
	fetcher, err := crl.NewHTTPFetcher(crlClient)
	if err != nil {
		return verifier.VerifierOptions{}, err
	}
	fetcher.Cache = &crlCache{}
	var opts verifier.VerifierOptions
	for _, v := range []struct {
		dst *revocation.Validator
		p   purpose.Purpose
	}{{&opts.RevocationCodeSigningValidator, purpose.CodeSigning}, {&opts.RevocationTimestampingValidator, purpose.Timestamping}} {
		if *v.dst, err = revocation.NewWithOptions(revocation.Options{OCSPHTTPClient: ocspClient, CRLFetcher: fetcher, CertChainPurpose: v.p}); err != nil {
			return verifier.VerifierOptions{}, err
		}
	}
	return opts, nil
}

// crlCache keeps fetched CRLs until their nextUpdate. What it holds is
// checked again on every use (signature by the issuer, freshness) by
// notation-core-go, so a cached CRL is trusted no more than a fetched one.
type crlCache struct{ m sync.Map }

func (c *crlCache) Get(_ context.Context, url string) (*crl.Bundle, error) {
	v, ok := c.m.Load(url)
	if !ok {
		return nil, crl.ErrCacheMiss
	}
	b := v.(*crl.Bundle)
	if b.BaseCRL == nil || b.BaseCRL.NextUpdate.IsZero() || !time.Now().Before(b.BaseCRL.NextUpdate) {
		c.m.Delete(url)
		return nil, crl.ErrCacheMiss
	}
	return b, nil
}

func (c *crlCache) Set(_ context.Context, url string, b *crl.Bundle) error {
	c.m.Store(url, b)
	return nil
}

// policyTrustStore serves the policy's trust stores to notation-go.
type policyTrustStore struct{ p *policy.Policy }

func (s policyTrustStore) GetCertificates(_ context.Context, t truststore.Type, name string) ([]*x509.Certificate, error) {
	ts := s.p.TrustStore(name)
	if ts == nil || ts.Type != string(t) {
		return nil, truststore.TrustStoreError{Msg: fmt.Sprintf("the policy has no trust store %q of type %q", name, t)}
	}
	return ts.Certificates, nil
}

// refuseNetwork is the transport of offline revocation clients.
type refuseNetwork struct{}

func (refuseNetwork) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, fmt.Errorf("--offline: not contacting %s", r.URL.Host)
}

// checkNotary verifies a Notary Project envelope as evidence about subject
// under each of signers (those the rule names). The signature is the first
// matching signer's, with the others as alternatives, as a certificate
// matching several identities is.
func checkNotary(ctx context.Context, env *attachment.NotaryEnvelope, subject v1.Descriptor, repository string, signers []*policy.X509Signer, tr trust) candidate {
	c := candidate{format: notaryFormatName(env.MediaType), byCertificate: true}
	if leaf := unverifiedLeaf(env); leaf != nil {
		sum := sha256.Sum256(leaf.Raw)
		c.keyID = "sha256:" + hex.EncodeToString(sum[:])
	}
	if len(signers) == 0 {
		c.err = codedf(CodeUntrustedKey, "Notary Project signature, and the rule names no x509 signer (add trustStores and x509Signers, and name one in signatures.keys)")
		return c
	}
	if tr.notary == nil {
		c.err = codedf(CodeUnsupported, "Notary Project signatures are not checked here")
		return c
	}
	if subject.MediaType == "" || subject.Size == 0 {
		// Rollback checks know other digests only by digest: the signature
		// manifest's subject, whose digest is checked, gives the rest.
		subject = env.Subject
	}
	desc := ocispec.Descriptor{MediaType: string(subject.MediaType), Digest: digest.Digest(subject.Digest.String()), Size: subject.Size}
	ref := repository + "@" + subject.Digest.String()
	var matches []signerMatch
	var reasons []string
	for _, s := range signers {
		nv, err := tr.notary.get(s)
		if err != nil {
			c.err = codedf(CodeBadInput, "%s", oneLine(err))
			return c
		}
		outcome, err := nv.Verify(ctx, desc, env.Raw, notation.VerifierVerifyOptions{ArtifactReference: ref, SignatureMediaType: env.MediaType})
		if err != nil {
			reasons = append(reasons, fmt.Sprintf("%s: %s", s.Name, notaryReason(err)))
			continue
		}
		matches = append(matches, signerMatch{x509: s, notary: notaryOutcome(ctx, outcome, s, tr)})
	}
	if len(matches) == 0 {
		c.err = notaryFailure(reasons)
		return c
	}
	c.predicateType = statement.Signature
	c.statement = notaryStatement(matches[0].notary.payload, subject.Digest)
	return c.signedBy(matches)
}

// notarySignedBy makes a verified envelope the signature of the first
// matching x509 signer, the others kept as alternatives (forSigner).
func (c candidate) notarySignedBy(matches []signerMatch) candidate {
	m := matches[0]
	c.key = m.x509.Trusted
	c.signedAt, c.timeSource = m.notary.signedAt, m.notary.timeSource
	if c.timeSource == "" {
		c.signedAt, c.timeSource = m.notary.judgedAt, TimeSourceJudgedAt
	}
	c.notes = m.notary.notes
	c.x509 = m.notary.cert
	c.lapses = m.notary.lapses
	c.alternatives = matches[1:]
	return c
}

// notaryMatch is what a verified envelope says, once notation-go accepted it.
type notaryMatch struct {
	// judgedAt is the time of judgement, for a signature without a
	// trusted time.
	judgedAt   time.Time
	signedAt   time.Time
	timeSource string
	notes      []string
	cert       *X509Certificate
	payload    ocispec.Descriptor
	lapses     time.Time
}

// notaryOutcome reads a successful outcome: the trusted time (a verified
// RFC 3161 countersignature, or a signing authority's signing time), the
// checks notation-go only logged, and the signed target's annotations.
func notaryOutcome(ctx context.Context, o *notation.VerificationOutcome, s *policy.X509Signer, tr trust) *notaryMatch {
	m := &notaryMatch{judgedAt: tr.now}
	info := o.EnvelopeContent.SignerInfo
	var tsOK, revChecked bool
	for _, r := range o.VerificationResults {
		switch {
		case r.Type == trustpolicy.TypeAuthenticTimestamp && r.Error == nil:
			tsOK = true
		case r.Type == trustpolicy.TypeRevocation:
			revChecked = true
		}
		if r.Error != nil && r.Action == trustpolicy.ActionLog {
			m.notes = append(m.notes, fmt.Sprintf("%s check failed, logged only (x509 signer %s sets %s: log): %s", r.Type, s.Name, r.Type, notaryReason(r.Error)))
		}
	}
	switch {
	case !revChecked && tr.notary.offline:
		m.notes = append(m.notes, "revocation not checked: offline")
	case !revChecked:
		m.notes = append(m.notes, fmt.Sprintf("revocation not checked: x509 signer %s sets revocation: skip", s.Name))
	}
	switch info.SignedAttributes.SigningScheme {
	case signature.SigningSchemeX509SigningAuthority:
		if t, err := info.AuthenticSigningTime(); err == nil && tsOK {
			m.signedAt, m.timeSource = t, timeSourceSigningAuthority+s.Name
		}
	case signature.SigningSchemeX509:
		if tsOK && timestampVerified(info, s, tr.policy) {
			if t, tsa, ok := notaryTimestamp(ctx, info, s, tr.policy); ok {
				m.signedAt, m.timeSource = t, timeSourceRFC3161+tsa
			}
		}
	}
	for _, c := range info.CertificateChain {
		m.lapses = sooner(m.lapses, c.NotAfter)
	}
	m.lapses = sooner(m.lapses, info.SignedAttributes.Expiry)
	if len(info.CertificateChain) > 0 {
		leaf := info.CertificateChain[0]
		sum := sha256.Sum256(leaf.Raw)
		m.cert = &X509Certificate{
			Subject:       leaf.Subject.String(),
			Issuer:        leaf.Issuer.String(),
			Thumbprint:    "sha256:" + hex.EncodeToString(sum[:]),
			NotAfter:      leaf.NotAfter.UTC().Format(time.RFC3339),
			SigningScheme: string(info.SignedAttributes.SigningScheme),
		}
	}
	var p struct {
		TargetArtifact ocispec.Descriptor `json:"targetArtifact"`
	}
	if json.Unmarshal(o.EnvelopeContent.Payload.Content, &p) == nil {
		m.payload = p.TargetArtifact
	}
	return m
}

// timestampVerified reports whether notation-go verified the envelope's
// countersignature rather than the chain at the present time: the signer
// has a tsa store, the envelope a timestamp, and verifyTimestamp is always
// or the chain has expired.
func timestampVerified(info signature.SignerInfo, s *policy.X509Signer, p *policy.Policy) bool {
	if !s.HasTSA(p) || len(info.UnsignedAttributes.TimestampSignature) == 0 {
		return false
	}
	if s.VerifyTimestamp != string(trustpolicy.OptionAfterCertExpiry) {
		return true
	}
	now := time.Now()
	for _, c := range info.CertificateChain {
		if now.After(c.NotAfter) {
			return true
		}
	}
	return false
}

// notaryTimestamp is the time of a countersignature notation-go verified,
// and the name of the signer's tsa store whose root it chains to.
func notaryTimestamp(ctx context.Context, info signature.SignerInfo, s *policy.X509Signer, p *policy.Policy) (time.Time, string, bool) {
	tok, err := tspclient.ParseSignedToken(info.UnsignedAttributes.TimestampSignature)
	if err != nil {
		return time.Time{}, "", false
	}
	tst, err := tok.Info()
	if err != nil {
		return time.Time{}, "", false
	}
	ts, err := tst.Validate(info.Signature)
	if err != nil {
		return time.Time{}, "", false
	}
	for _, n := range s.TrustStores {
		store := p.TrustStore(n)
		if store == nil || store.Type != policy.StoreTSA {
			continue
		}
		roots := x509.NewCertPool()
		for _, c := range store.Certificates {
			roots.AddCert(c)
		}
		if _, err := tok.Verify(ctx, x509.VerifyOptions{CurrentTime: ts.Value, Roots: roots}); err == nil {
			return ts.Value, n, true
		}
	}
	return time.Time{}, "", false
}

// notaryStatement is a verified Notary payload as the statement evaluate
// reads: a plain signature of the digest, whose subject carries the tag
// binding imgsign wrote into the target's annotations and, named by it,
// the repository.
func notaryStatement(target ocispec.Descriptor, subject v1.Hash) *statement.Statement {
	sub := map[string]any{"digest": map[string]any{subject.Algorithm: subject.Hex}}
	ann := map[string]any{}
	for _, k := range []string{statement.TagAnnotation, statement.SignedAtAnnotation} {
		if v, ok := target.Annotations[k]; ok {
			ann[k] = v
		}
	}
	if len(ann) > 0 {
		sub["annotations"] = ann
		if repo := target.Annotations[NotaryRepositoryAnnotation]; repo != "" {
			sub["name"] = repo
		}
	}
	return statement.FromDocument(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"predicateType": statement.Signature,
		"subject":       []any{sub},
		"predicate":     map[string]any{},
	})
}

// unverifiedLeaf is the envelope's signing certificate, unverified: only
// for naming the signature in a rejection.
func unverifiedLeaf(env *attachment.NotaryEnvelope) *x509.Certificate {
	e, err := signature.ParseEnvelope(env.MediaType, env.Raw)
	if err != nil {
		return nil
	}
	content, err := e.Content()
	if err != nil || len(content.SignerInfo.CertificateChain) == 0 {
		return nil
	}
	return content.SignerInfo.CertificateChain[0]
}

func notaryFormatName(mediaType string) string {
	if mediaType == attachment.NotaryCOSEMediaType {
		return FormatNotaryCOSE
	}
	return FormatNotaryJWS
}

// notaryReason is a notation-go error on one line, with the certificate
// subjects and other strings from the envelope made safe to print.
func notaryReason(err error) string {
	return safetext.Clean(oneLine(err))
}

// notaryFailure codes why no x509 signer accepted an envelope: the one
// reason when the rule names one signer, every signer's otherwise.
func notaryFailure(reasons []string) error {
	for i, r := range reasons {
		// notation-go quotes what it could not parse: keep it short.
		if rs := []rune(r); len(rs) > 300 {
			reasons[i] = string(rs[:300]) + "…"
		}
	}
	joined := strings.Join(reasons, "; ")
	code := CodeUntrustedKey
	switch {
	case strings.Contains(joined, "unable to parse the digital signature"):
		code = CodeMalformed
	case strings.Contains(joined, "content descriptor mismatch"):
		code = CodeSubjectMismatch
	case strings.Contains(joined, "signature is invalid"), strings.Contains(joined, "integrity"), strings.Contains(joined, "signature envelope"):
		code = CodeSignatureInvalid
	case strings.Contains(joined, "no timestamp countersignature"):
		code = CodeTimestampRequired
	case strings.Contains(joined, "timestamp countersignature"), strings.Contains(joined, "timestamping certificate"), strings.Contains(joined, "TSA"):
		code = CodeTimestampUntrusted
	case strings.Contains(joined, "is revoked"):
		code = CodeRevoked
	case strings.Contains(joined, "expired"), strings.Contains(joined, "validity period"):
		code = CodeExpired
	}
	if len(reasons) == 1 {
		_, r, _ := strings.Cut(reasons[0], ": ")
		return codedf(code, "Notary Project signature not trusted: %s", r)
	}
	return codedf(code, "Notary Project signature not trusted by any x509 signer of the rule: %s", joined)
}
