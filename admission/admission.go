// Package admission speaks the cluster's admission protocols for imgsign
// serve: Kubernetes' AdmissionReview (admission.k8s.io/v1) for the
// validating and mutating webhooks, and Gatekeeper's external data
// (externaldata.gatekeeper.sh/v1beta1). It finds the images an object runs
// and turns a Judge's verdicts into responses; what a verdict is, and how
// it is cached, is the Judge's business (package serve).
package admission

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/imgsign/imgsign/internal/safetext"
)

// Verdicts a Judge returns (verify's values).
const (
	Pass  = "pass"
	Fail  = "fail"
	Error = "error"
)

// Judge decides whether one image may run.
type Judge interface {
	// Judge verifies image (a reference as written in an object) and
	// returns the verdict. It honours ctx's deadline: when it passes, the
	// verdict is Error with a reason that says so.
	Judge(ctx context.Context, image string) Verdict
}

// Verdict is a Judge's answer for one image.
type Verdict struct {
	// Verdict is Pass, Fail or Error.
	Verdict string `json:"verdict"`
	// Enforced is false when the matching rule is in audit mode: a failure
	// is reported, not enforced.
	Enforced bool `json:"enforced"`
	// Digest is the manifest digest that was judged, and Reference
	// repository@digest; empty when resolution failed.
	Digest    string `json:"digest,omitempty"`
	Reference string `json:"reference,omitempty"`
	// Pinned is what an image given by tag is rewritten to: the reference
	// as written with "@digest" added, so the runtime pulls the digest
	// judged and a policy that binds tags still sees the tag. Empty when
	// the image already names a digest: there is nothing to pin.
	Pinned string `json:"pinned,omitempty"`
	// Rule is the policy rule that judged the image.
	Rule string `json:"rule,omitempty"`
	// Reason is one line on why the image is not trusted, or why it could
	// not be judged; empty for Pass.
	Reason string `json:"reason,omitempty"`
}

// Admitted reports whether the image may run: it passed, or its rule only
// audits and it was judged (Fail or Error). A verdict that is none of
// these — the zero Verdict a Judge that forgot to answer leaves behind, or
// a value from a newer verify — is not admitted: Enforced's zero value
// (false) must not read as "audit mode".
func (v Verdict) Admitted() bool {
	switch v.Verdict {
	case Pass:
		return true
	case Fail, Error:
		return !v.Enforced
	}
	return false
}

// clip makes an untrusted string safe for a response and a log: one line,
// control characters escaped, at most n bytes.
func clip(s string, n int) string {
	s = safetext.Clean(strings.Join(strings.Fields(s), " "))
	if len(s) > n {
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "…"
	}
	return s
}
