package policy

import (
	"fmt"

	"github.com/imgsign/imgsign/statement"
)

// MaxAgeWarnings are the attestation requirements whose maxAge can never be
// met: their predicate type has no signed time imgsign knows, so every
// attestation of it fails the age check. `policy check` prints them; they
// do not make the policy invalid.
func (p *Policy) MaxAgeWarnings() []Problem {
	var out []Problem
	for _, r := range p.Rules {
		for _, a := range r.Attestations {
			if a.MaxAge <= 0 || statement.SignedTimeFields(a.Type) != nil {
				continue
			}
			out = append(out, Problem{File: p.File, Line: a.Line, Path: a.Path + ".maxAge", Msg: fmt.Sprintf(
				"warning: predicates of type %s carry no signed time imgsign knows (such as SLSA runDetails.metadata.finishedOn or SPDX creationInfo.created), so every attestation of it fails maxAge: an RFC 3161 timestamp cannot stand in, anyone can get a fresh one for an old signature", a.Type)})
		}
	}
	return out
}
