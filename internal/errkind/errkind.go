// Package errkind classifies errors by what the caller should do about them,
// so that the CLI can map every failure to one documented exit code in one
// place (cmd/imgsign) while packages keep wrapping errors with context.
package errkind

import (
	"errors"
	"fmt"
)

// Kind is the class of a failure. Its numeric value is the process exit code.
type Kind int

const (
	// Untrusted: verification ran and the image is not trusted under the policy.
	Untrusted Kind = 1
	// Input: usage error, or an unreadable or invalid policy, key or file.
	Input Kind = 2
	// Operational: a registry, KMS, HSM or TSA was unreachable or kept erroring.
	Operational Kind = 3
)

func (k Kind) String() string {
	switch k {
	case Untrusted:
		return "untrusted"
	case Input:
		return "bad input"
	case Operational:
		return "operational"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

type kindError struct {
	kind Kind
	err  error
}

func (e *kindError) Error() string { return e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }

// Mark attaches kind to err. Wrapping the result again with %w keeps the kind.
func Mark(kind Kind, err error) error {
	if err == nil {
		return nil
	}
	return &kindError{kind: kind, err: err}
}

// Inputf formats a bad-input error.
func Inputf(format string, args ...any) error {
	return Mark(Input, fmt.Errorf(format, args...))
}

// Operationalf formats an operational error.
func Operationalf(format string, args ...any) error {
	return Mark(Operational, fmt.Errorf(format, args...))
}

// Untrustedf formats a verification failure.
func Untrustedf(format string, args ...any) error {
	return Mark(Untrusted, fmt.Errorf(format, args...))
}

// Of reports the kind of the outermost marked error in err's chain, and
// whether there was one.
func Of(err error) (Kind, bool) {
	var ke *kindError
	if errors.As(err, &ke) {
		return ke.kind, true
	}
	return 0, false
}

// ExitCode is the process exit code for the outcome of kind k — the one
// place imgsign decides exit codes: k's numeric value (1 untrusted, 2 bad
// input, 3 operational), except that an untrusted image under a rule that
// only audits (enforced false) does not fail the run.
func ExitCode(k Kind, enforced bool) int {
	if k == Untrusted && !enforced {
		return 0
	}
	return int(k)
}

// KindOf is the kind of err, with unclassified errors treated as
// Operational: something imgsign could not do, not a verdict on an image.
func KindOf(err error) Kind {
	if k, ok := Of(err); ok {
		return k
	}
	return Operational
}
