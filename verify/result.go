package verify

// ReportMediaType identifies the JSON document `imgsign verify --output json`
// prints. Fields are only ever added within a media type version.
const ReportMediaType = "application/vnd.imgsign.verify.report.v1+json"

// Verdicts of one image.
const (
	VerdictPass  = "pass"  // the policy is satisfied
	VerdictFail  = "fail"  // the image is not trusted under the policy
	VerdictError = "error" // verification could not run (bad input, registry down)
)

// Report is the result of verifying one or more images.
type Report struct {
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
	// MatchedScope is the rule's scope, as written, that selected it;
	// MatchReason says why it beat the others (policy.ScopeMatch.Reason).
	MatchedScope string `json:"matchedScope,omitempty"`
	MatchReason  string `json:"matchReason,omitempty"`
	Verdict      string `json:"verdict"`
	// Enforced is false when the verdict does not gate (audit mode).
	Enforced     bool                 `json:"enforced"`
	Requirements []*RequirementResult `json:"requirements,omitempty"`
	// Attachments counts what discovery found, by source.
	Attachments int    `json:"attachments"`
	Error       string `json:"error,omitempty"`
	// ExitCode is this image's contribution to the process exit code.
	ExitCode int `json:"exitCode"`
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
	Keys      []string     `json:"keys"`
	Satisfied bool         `json:"satisfied"`
	Accepted  []*KeyUse    `json:"accepted"`
	Rejected  []*Rejection `json:"rejected"`
	// BindTag is set when the rule binds tags (signatures.bindTag).
	BindTag bool `json:"bindTag,omitempty"`
	// SignedTags, with BindTag, are the tags this digest is signed for:
	// named by at least Threshold distinct trusted keys' valid signatures.
	SignedTags []string `json:"signedTags,omitempty"`
	// Rollback, with BindTag, is set when a newer trusted signature binds
	// the requested tag to another digest: the tag was moved back.
	Rollback *Rollback `json:"rollback,omitempty"`
	// Summary is one sentence on the outcome.
	Summary string `json:"summary"`
}

// KeyUse is a valid signature by a distinct key that counted.
type KeyUse struct {
	KeyName  string `json:"keyName"`
	KeyID    string `json:"keyId"`
	Referrer string `json:"referrer"`
	// SignedAt is the trusted time the key's validity was judged at.
	SignedAt string `json:"signedAt"`
	// TimeSource is "rfc3161:<TSA name>" when a policy TSA vouched for the
	// time, else "current-time" (the key was judged at verification time).
	TimeSource string `json:"timeSource"`
	// TagSignedAt, with bindTag and a tag requested, is when this key last
	// bound the tag to the digest (the signed dev.imgsign.signed-at).
	TagSignedAt string `json:"tagSignedAt,omitempty"`
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
	Reason   string `json:"reason"`
}
