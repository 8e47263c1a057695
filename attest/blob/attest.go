package blob

import (
	"context"
	"fmt"
	"os"

	"github.com/imgsign/imgsign/internal/atomicfile"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/statement"
)

// Request is one `imgsign attest blob` run.
type Request struct {
	// Files are attested; each becomes a subject.
	Files []string
	// PredicateType is resolved already (statement.ResolveType).
	PredicateType string
	// Predicate builds the predicate once the files are hashed and the
	// bundle path checked.
	Predicate func(ctx context.Context) (any, error)
	// Bundle is the file the signed bundle is written to.
	Bundle string
	// Signer loads the key, called last, once there is something to sign
	// (a passphrase prompt must not come before a bad argument is refused).
	Signer func(ctx context.Context) (sign.Signer, error)
	// TSAURL, when set, asks an RFC 3161 timestamp authority for a time.
	TSAURL string
}

// Result is what was attested and where the bundle went.
type Result struct {
	Bundle        string    `json:"bundle"`
	PredicateType string    `json:"predicateType"`
	KeyID         string    `json:"keyId"`
	Subjects      []Subject `json:"subjects"`
}

// Attest hashes the files, builds the statement about them, signs it into
// a Sigstore bundle and writes the bundle whole or not at all.
func Attest(ctx context.Context, req Request) (*Result, error) {
	if err := statement.CheckAttestationType(req.PredicateType); err != nil {
		return nil, err
	}
	if req.Bundle == "" {
		return nil, errkind.Inputf("--bundle needs a file name")
	}
	subjects, err := Hash(req.Files)
	if err != nil {
		return nil, err
	}
	for _, s := range subjects {
		if sameFile(s.Path, req.Bundle) {
			return nil, errkind.Inputf("--bundle %s is one of the files attested", req.Bundle)
		}
	}
	pred, err := req.Predicate(ctx)
	if err != nil {
		return nil, err
	}
	stmt, err := Statement(subjects, req.PredicateType, pred)
	if err != nil {
		return nil, err
	}
	s, err := req.Signer(ctx)
	if err != nil {
		return nil, err
	}
	b, err := sign.Bundle(ctx, stmt, s, req.TSAURL)
	if err != nil {
		return nil, fmt.Errorf("signing with key %s: %w", s.ID(), err)
	}
	if err := atomicfile.Write(req.Bundle, append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	return &Result{Bundle: req.Bundle, PredicateType: req.PredicateType, KeyID: s.ID(), Subjects: subjects}, nil
}

// sameFile reports whether a and b name the same existing file.
func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	if err != nil {
		return false
	}
	return os.SameFile(fa, fb)
}
