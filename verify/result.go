package verify

import "time"

// ReportMediaType identifies the JSON document `imgsign verify --output json`
// prints. Fields are only ever added within a media type version.
const ReportMediaType = "application/vnd.imgsign.verify.report.v1+json"

// ReportSchema is the URI of the JSON Schema the document validates
// against (schema/verify-result.v1.json in this repository, whose $id it is).
const ReportSchema = "https://raw.githubusercontent.com/imgsign/imgsign/main/schema/verify-result.v1.json"

// Time sources (KeyUse.TimeSource).
const (
	// TimeSourceJudgedAt: no trusted time; the key's validity was judged at
	// the image's judgedAt.
	TimeSourceJudgedAt = "judged-at"
	// timeSourceRFC3161 prefixes the TSA that vouched for signedAt: a
	// policy TSA, or one of a certificate's trust root.
	timeSourceRFC3161 = "rfc3161:"
	// timeSourceTlog prefixes the transparency log whose entry's integrated
	// time vouched for signedAt (certificate-based signatures).
	timeSourceTlog = "tlog:"
	// timeSourceSigningAuthority prefixes the x509 signer whose Notary
	// Project signing authority signed signedAt (signing scheme
	// notary.x509.signingAuthority): the authority vouches for it.
	timeSourceSigningAuthority = "signing-authority:"
)

// Formats of signed evidence (KeyUse.Format, Rejection.Format).
const (
	// FormatSigstoreBundle: a Sigstore bundle v0.3 referrer (imgsign,
	// cosign v3, GitHub attestations).
	FormatSigstoreBundle = "sigstore-bundle"
	// FormatCosignSignature and FormatCosignAttestation: cosign's legacy
	// .sig and .att tags.
	FormatCosignSignature   = "cosign-sig"
	FormatCosignAttestation = "cosign-att"
	// FormatNotaryJWS and FormatNotaryCOSE: a Notary Project signature
	// (notation) in a JWS or COSE envelope.
	FormatNotaryJWS  = "notary-jws"
	FormatNotaryCOSE = "notary-cose"
)

// Verdicts of one image.
const (
	VerdictPass  = "pass"  // the policy is satisfied
	VerdictFail  = "fail"  // the image is not trusted under the policy
	VerdictError = "error" // verification could not run (bad input, registry down)
)

// Report is the result of verifying one or more images.
type Report struct {
	Schema    string         `json:"$schema"`
	MediaType string         `json:"mediaType"`
	Images    []*ImageResult `json:"images"`
}

// ImageResult is the verdict on one image and every reason behind it.
type ImageResult struct {
	// Image is the reference as given.
	Image string `json:"image"`
	// Tag is the tag the image was requested by; empty for a digest.
	Tag string `json:"tag,omitempty"`
	// Reference is repository@digest: what the deploy step should use.
	Reference string `json:"reference,omitempty"`
	Digest    string `json:"digest,omitempty"`
	// Policy is the name of the rule whose scope matched; Mode its mode.
	Policy string `json:"policy,omitempty"`
	Mode   string `json:"mode,omitempty"`
	// Canonical, for an image read from a mirror (the policy's mirrors),
	// is the canonical repository it is a copy of, in canonical spelling:
	// the name whose scopes chose the rule and that signatures are
	// checked against. MirrorMapping is the mirrors entry that mapped it.
	// Both are absent when no mapping applied.
	Canonical     string         `json:"canonical,omitempty"`
	MirrorMapping *MirrorMapping `json:"mirrorMapping,omitempty"`
	// MatchedScope is the rule's scope, as written, that selected it;
	// MatchReason says why it beat the others (policy.ScopeMatch.Reason).
	MatchedScope string `json:"matchedScope,omitempty"`
	MatchReason  string `json:"matchReason,omitempty"`
	Verdict      string `json:"verdict"`
	// Enforced is false when the verdict does not gate (audit mode).
	Enforced     bool                 `json:"enforced"`
	Requirements []*RequirementResult `json:"requirements,omitempty"`
	// Attachments counts what discovery found, by source.
	Attachments int `json:"attachments"`
	// JudgedAt is the time the policy was judged at: now, or --at. Keys
	// of signatures without a trusted timestamp are judged at it, and
	// maxAge counts up to it.
	JudgedAt string `json:"judgedAt,omitempty"`
	// Error says why verification could not run (or no scope matched);
	// ErrorCode is its machine code.
	Error     string `json:"error,omitempty"`
	ErrorCode Code   `json:"errorCode,omitempty"`
	// ExitCode is this image's contribution to the process exit code.
	ExitCode int `json:"exitCode"`
	// StableUntil is the first instant at which the passage of time alone
	// could change this verdict (a signer's validFrom, validUntil or
	// revokedAt, an accepted attestation reaching maxAge); zero when none
	// is ahead. imgsign serve caches a verdict no longer than this.
	StableUntil time.Time `json:"-"`
}

// MirrorMapping is a mirrors entry of the policy, as written: repositories
// at and below Mirror are copies of those at and below Canonical.
type MirrorMapping struct {
	Mirror    string `json:"mirror"`
	Canonical string `json:"canonical"`
}

// RequirementResult is one rule requirement: the signatures, or one
// attestation type.
type RequirementResult struct {
	// Kind is "signatures", "attestation" or "compliance".
	Kind string `json:"kind"`
	// Check names the compliance check (nonRootUser, noSecretsInEnv,
	// allowedBaseImages, maxSeverity); empty for other kinds.
	Check         string `json:"check,omitempty"`
	PredicateType string `json:"predicateType"`
	Threshold     int    `json:"threshold"`
	// Keys are the names of the keys this requirement accepts.
	Keys      []string  `json:"keys"`
	Satisfied bool      `json:"satisfied"`
	Accepted  []*KeyUse `json:"accepted"`
	// AlsoSigned are further valid signatures by keys already counted in
	// Accepted: neither counted again nor rejected.
	AlsoSigned []*KeyUse    `json:"alsoSigned,omitempty"`
	Rejected   []*Rejection `json:"rejected"`
	// BindTag is set when the rule binds tags (signatures.bindTag).
	BindTag bool `json:"bindTag,omitempty"`
	// SignedTags, with BindTag, are the tags this digest is signed for:
	// named by at least Threshold distinct trusted keys' valid signatures.
	SignedTags []string `json:"signedTags,omitempty"`
	// Rollback, with BindTag, is set when a newer trusted signature binds
	// the requested tag to another digest: the tag was moved back.
	Rollback *Rollback `json:"rollback,omitempty"`
	// Summary is one sentence on the outcome; Code, when not satisfied,
	// says why in one word.
	Summary string `json:"summary"`
	Code    Code   `json:"code,omitempty"`
	// agesOut is when the first accepted attestation exceeds maxAge.
	agesOut time.Time
	// lapses is when the first counted Notary Project signature's chain or
	// envelope expires.
	lapses time.Time
}

// KeyUse is a valid signature by a distinct key that counted.
type KeyUse struct {
	KeyName  string `json:"keyName"`
	KeyID    string `json:"keyId"`
	Referrer string `json:"referrer"`
	// SignedAt is when the signature provably existed: set only when a TSA
	// vouched for it with an RFC 3161 timestamp, or a transparency log with
	// its entry's integrated time.
	SignedAt string `json:"signedAt,omitempty"`
	// TimeSource says which time the key's validity was judged at:
	// "rfc3161:<TSA>" or "tlog:<log>" for SignedAt, or "judged-at" for the
	// image's JudgedAt when no trusted time exists.
	TimeSource string `json:"timeSource"`
	// TagSignedAt, with bindTag and a tag requested, is when this key last
	// bound the tag to the digest (the signed dev.imgsign.signed-at).
	TagSignedAt string `json:"tagSignedAt,omitempty"`
	// Predicate, with --show-predicates, is an accepted attestation's
	// verified statement predicate.
	Predicate any `json:"predicate,omitempty"`
	// Identity, for a certificate-based (keyless) signature, is what the
	// verified certificate says about its signer.
	Identity *CertIdentity `json:"identity,omitempty"`
	// LogEntries, for a certificate-based signature, are its verified
	// transparency-log entries: "<log index> at <integrated time>", or
	// "<log index>, checkpoint" for a Rekor v2 entry.
	LogEntries []string `json:"logEntries,omitempty"`
	// Format is how the signature was stored and signed (Format*).
	Format string `json:"format,omitempty"`
	// Certificate, for a Notary Project signature, is its verified
	// signing certificate.
	Certificate *X509Certificate `json:"certificate,omitempty"`
	// Warnings are what a counted signature's checks did not establish:
	// a check its signer only logs that failed, revocation not checked.
	Warnings []string `json:"warnings,omitempty"`
}

// X509Certificate is the verified signing certificate of a Notary Project
// signature.
type X509Certificate struct {
	// Subject and Issuer are the leaf's distinguished names (RFC 4514).
	Subject string `json:"subject"`
	Issuer  string `json:"issuer"`
	// Thumbprint is "sha256:" and the hex SHA-256 of the leaf's DER.
	Thumbprint string `json:"thumbprint"`
	NotAfter   string `json:"notAfter"`
	// SigningScheme is notary.x509 or notary.x509.signingAuthority.
	SigningScheme string `json:"signingScheme,omitempty"`
}

// CertIdentity is the signer a verified certificate names: its OIDC issuer
// and subject (the SAN), and the CI claims Fulcio recorded.
type CertIdentity struct {
	Issuer            string `json:"issuer"`
	Subject           string `json:"subject"`
	SourceRepository  string `json:"sourceRepository,omitempty"`
	SourceRef         string `json:"sourceRef,omitempty"`
	SourceDigest      string `json:"sourceDigest,omitempty"`
	BuildSignerURI    string `json:"buildSignerURI,omitempty"`
	RunnerEnvironment string `json:"runnerEnvironment,omitempty"`
	Event             string `json:"event,omitempty"`
}

// Rollback names the newer binding that outranks the verified digest's.
type Rollback struct {
	Tag string `json:"tag"`
	// NewerDigest was signed for Tag at NewerSignedAt.
	NewerDigest   string `json:"newerDigest"`
	NewerSignedAt string `json:"newerSignedAt"`
	// SignedAt is the verified digest's binding time; empty when its
	// signatures carry none.
	SignedAt string `json:"signedAt,omitempty"`
}

// Rejection is a candidate signature that did not count, and why.
type Rejection struct {
	Referrer string `json:"referrer"`
	KeyID    string `json:"keyId,omitempty"`
	KeyName  string `json:"keyName,omitempty"`
	Code     Code   `json:"code"`
	Reason   string `json:"reason"`
	// Format is how the rejected evidence was stored (Format*), when known.
	Format string `json:"format,omitempty"`
	// byCertificate: the evidence was signed with a certificate, so the
	// text report names no key for it.
	byCertificate bool
}
