package policy

import (
	"fmt"
	"strings"
)

// signedTimes lists, per predicate type, the predicate fields that state
// when the attested content was made, preferred first. They are inside the
// signed statement, so only the signer could have written them; maxAge is
// judged from them alone, because an RFC 3161 timestamp proves only that a
// signature existed by some time — anyone can get a fresh one for an old
// signature.
var signedTimes = []struct {
	// typ is the predicate type; with prefix, also its versioned forms
	// (typ + "/v1.6").
	typ    string
	prefix bool
	fields []string
}{
	{"https://slsa.dev/provenance/v1", false, []string{"runDetails.metadata.finishedOn", "runDetails.metadata.startedOn"}},
	{"https://slsa.dev/provenance/v0.2", false, []string{"metadata.buildFinishedOn", "metadata.buildStartedOn"}},
	{"https://slsa.dev/provenance/v0.1", false, []string{"metadata.buildFinishedOn", "metadata.buildStartedOn"}},
	{"https://spdx.dev/Document", true, []string{"creationInfo.created"}},
	{"https://cyclonedx.org/bom", true, []string{"metadata.timestamp"}},
	{"https://cosign.sigstore.dev/attestation/vuln/v1", false, []string{"metadata.scanFinishedOn", "metadata.scanStartedOn"}},
	{"https://cosign.sigstore.dev/attestation/v1", false, []string{"timestamp"}},
	{"https://openvex.dev/ns", true, []string{"last_updated", "timestamp"}},
}

// SignedTimeFields returns the dotted predicate fields that hold the time
// the signer states for predicateType, preferred first; nil when imgsign
// knows no such field for the type.
func SignedTimeFields(predicateType string) []string {
	for _, s := range signedTimes {
		if predicateType == s.typ || s.prefix && strings.HasPrefix(predicateType, s.typ+"/") {
			return s.fields
		}
	}
	return nil
}

// MaxAgeWarnings are the attestation requirements whose maxAge can never be
// met: their predicate type has no signed time imgsign knows, so every
// attestation of it fails the age check. `policy check` prints them; they
// do not make the policy invalid.
func (p *Policy) MaxAgeWarnings() []Problem {
	var out []Problem
	for _, r := range p.Rules {
		for _, a := range r.Attestations {
			if a.MaxAge <= 0 || SignedTimeFields(a.Type) != nil {
				continue
			}
			out = append(out, Problem{File: p.File, Line: a.Line, Path: a.Path + ".maxAge", Msg: fmt.Sprintf(
				"warning: predicates of type %s carry no signed time imgsign knows (such as SLSA runDetails.metadata.finishedOn or SPDX creationInfo.created), so every attestation of it fails maxAge: an RFC 3161 timestamp cannot stand in, anyone can get a fresh one for an old signature", a.Type)})
		}
	}
	return out
}
