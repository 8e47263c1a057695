package verify

import (
	"errors"
	"fmt"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/storage"
	"github.com/imgsign/imgsign/verify/policy"
)

// Code is the stable machine name of why something did not count: a
// candidate signature's rejection, a requirement left unsatisfied, or an
// image that could not be verified. Texts may be reworded; codes are a
// contract (schema/verify-result.v1.json enumerates them, and
// docs/verify-output.md explains each). Add codes, never rename them.
type Code string

// Candidate signatures and attestations (Rejection.Code).
const (
	// CodeMalformed: the attachment is not a well-formed bundle, envelope,
	// payload or statement, or could not be read as one.
	CodeMalformed Code = "malformed"
	// CodeUnsupported: a well-formed signature of a kind imgsign does not
	// verify (keyless certificates, message signatures).
	CodeUnsupported Code = "unsupported"
	// CodeUntrustedKey: signed by a key the policy does not list.
	CodeUntrustedKey Code = "untrusted-key"
	// CodeKeyNotInRule: signed by a policy key this rule does not accept.
	CodeKeyNotInRule Code = "key-not-in-rule"
	// CodeSignatureInvalid: the signature does not verify (tampered, or
	// made by another key).
	CodeSignatureInvalid Code = "signature-invalid"
	// CodeSubjectMismatch: the signed statement is about another image, or
	// about other images as well.
	CodeSubjectMismatch Code = "subject-mismatch"
	// CodeRevoked, CodeExpired, CodeNotYetValid: the key's validity at the
	// signature's time (its trusted timestamp, else the judged-at time).
	CodeRevoked     Code = "revoked"
	CodeExpired     Code = "expired"
	CodeNotYetValid Code = "not-yet-valid"
	// CodeConditionFailed: a CEL condition on the statement does not hold.
	CodeConditionFailed Code = "condition-failed"
	// CodeMaxAge: the attestation is older than maxAge, or its age cannot
	// be judged from a signed time.
	CodeMaxAge Code = "max-age"
	// CodeTimestampRequired: no trusted RFC 3161 timestamp, and the rule
	// sets requireTimestamp.
	CodeTimestampRequired Code = "timestamp-required"
	// CodeTimestampUntrusted: an RFC 3161 timestamp none of the policy's
	// timestamp authorities vouches for.
	CodeTimestampUntrusted Code = "timestamp-untrusted"
	// CodeSignedTimeInvalid: a time inside the signed statement (the tag
	// binding's signed-at) is not a time, or lies in the future.
	CodeSignedTimeInvalid Code = "signed-time-invalid"
	// CodeTagMoved: signed for another tag than the one requested (bindTag).
	CodeTagMoved Code = "tag-moved"
	// CodeTagNotBound: the signature binds no tag, and the rule binds tags.
	CodeTagNotBound Code = "tag-not-bound"
	// CodeComplianceFailed: a compliance check found a problem.
	CodeComplianceFailed Code = "compliance-failed"
)

// Requirements (RequirementResult.Code), besides the candidate codes above
// when every candidate failed for the same reason.
const (
	// CodeNotSigned: nothing of the required kind is attached.
	CodeNotSigned Code = "not-signed"
	// CodeThresholdNotMet: fewer distinct trusted keys than the threshold.
	CodeThresholdNotMet Code = "threshold-not-met"
	// CodeRolledBack: a newer trusted signature binds the tag to another
	// digest (bindTag).
	CodeRolledBack Code = "rolled-back"
)

// Images that could not be verified (ImageResult.ErrorCode).
const (
	// CodeNoMatchingScope: no policy scope matches the repository.
	CodeNoMatchingScope Code = "no-matching-scope"
	// CodeBadInput: the image reference or the policy is unusable.
	CodeBadInput Code = "bad-input"
	// CodeImageNotFound: the registry has no such tag or digest.
	CodeImageNotFound Code = "image-not-found"
	// CodeRegistryError: a registry, KMS or TSA was unreachable, erred, or
	// did not answer within --timeout.
	CodeRegistryError Code = "registry-error"
	// CodeLimitExceeded: more signatures, tags or data than verify reads
	// for one image; it refuses to judge on part of them.
	CodeLimitExceeded Code = "limit-exceeded"
	// CodeUntrustedContent: the image's own content (manifest, config) is
	// not what it must be.
	CodeUntrustedContent Code = "untrusted-content"
)

// Codes lists every code, in the order docs/verify-output.md explains them.
var Codes = []Code{
	CodeMalformed, CodeUnsupported, CodeUntrustedKey, CodeKeyNotInRule, CodeSignatureInvalid, CodeSubjectMismatch,
	CodeRevoked, CodeExpired, CodeNotYetValid, CodeConditionFailed, CodeMaxAge, CodeTimestampRequired,
	CodeTimestampUntrusted, CodeSignedTimeInvalid, CodeTagMoved, CodeTagNotBound, CodeComplianceFailed,
	CodeNotSigned, CodeThresholdNotMet, CodeRolledBack,
	CodeNoMatchingScope, CodeBadInput, CodeImageNotFound, CodeRegistryError, CodeLimitExceeded, CodeUntrustedContent,
}

// codedError carries the code decided where a failure was found, through
// any wrapping with %w, to the report.
type codedError struct {
	code Code
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// coded attaches code to err; wrapping the result again keeps the code.
func coded(code Code, err error) error {
	if err == nil {
		return nil
	}
	return &codedError{code: code, err: err}
}

// codedf formats an error with code.
func codedf(code Code, format string, args ...any) error {
	return coded(code, fmt.Errorf(format, args...))
}

// candidateCode is the code of a candidate's error: the one decided where
// it was found, else malformed (what could not be read as a signature).
func candidateCode(err error) Code {
	var ce *codedError
	if errors.As(err, &ce) {
		return ce.code
	}
	return CodeMalformed
}

// keyCode is the code of a policy key's validity failure.
func keyCode(err error) Code {
	switch {
	case errors.Is(err, policy.ErrKeyRevoked):
		return CodeRevoked
	case errors.Is(err, policy.ErrKeyExpired):
		return CodeExpired
	case errors.Is(err, policy.ErrKeyNotYetValid):
		return CodeNotYetValid
	}
	return CodeUntrustedKey
}

// imageCode is the code of an error that stopped an image's verification:
// the one decided where it was found, else one read from its class.
func imageCode(err error) Code {
	var ce *codedError
	if errors.As(err, &ce) {
		return ce.code
	}
	var le *registry.LimitError
	if errors.As(err, &le) {
		return CodeLimitExceeded
	}
	var nf *storage.NotFoundError
	if errors.As(err, &nf) {
		return CodeImageNotFound
	}
	switch kind, _ := errkind.Of(err); kind {
	case errkind.Input:
		return CodeBadInput
	case errkind.Untrusted:
		return CodeUntrustedContent
	}
	return CodeRegistryError
}
