package policy

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a trust policy.
type Problem struct {
	// File is the policy file as given to Load; "" for Parse.
	File string
	// Line is 1-based; 0 when the problem is about the whole file.
	Line int
	// Path is the field path, e.g. "policies[0].signatures.threshold".
	Path string
	Msg  string
}

// String renders the problem as one line: "trust.yaml:14: path: message".
func (p Problem) String() string {
	var b strings.Builder
	switch {
	case p.File != "" && p.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", p.File, p.Line)
	case p.File != "":
		fmt.Fprintf(&b, "%s: ", p.File)
	case p.Line > 0:
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every problem found in a policy, in line order. Load and Parse
// return it (marked errkind.Input) so that callers such as `imgsign policy
// check` can list them all: use errors.As(err, &problems).
type Problems []Problem

// Error is a single line for one problem; for several, a first line with the
// count followed by one line per problem.
func (ps Problems) Error() string {
	switch len(ps) {
	case 0:
		return "no problems"
	case 1:
		return ps[0].String()
	}
	var b strings.Builder
	if f := ps[0].File; f != "" {
		fmt.Fprintf(&b, "%s: %d problems in the trust policy:", f, len(ps))
	} else {
		fmt.Fprintf(&b, "%d problems in the trust policy:", len(ps))
	}
	for _, p := range ps {
		b.WriteString("\n")
		b.WriteString(p.String())
	}
	return b.String()
}
