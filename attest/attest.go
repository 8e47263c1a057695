// Package attest signs statements about images other than the plain
// signature — SLSA provenance, SBOMs, vulnerability reports, any predicate —
// and pushes them as referrers exactly like signatures. Predicates are built
// by the provenance and sbom subpackages; predicate types are named in
// package statement; this package converts scanner reports and does the
// signing run.
package attest

import (
	"context"
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/storage"
)

// ParsePredicate checks that data is a JSON object, the only predicate shape
// an in-toto statement allows.
func ParsePredicate(data []byte) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, errkind.Inputf("predicate is not a JSON object: %v", err)
	}
	if m == nil {
		return nil, errkind.Inputf("predicate is not a JSON object (got null)")
	}
	return m, nil
}

// Subject is one manifest an attestation is about, with its predicate.
type Subject struct {
	Descriptor v1.Descriptor
	Predicate  any
	// Also are further manifests the same predicate is attested for — the
	// index of a platform's SBOM — so verifying either digest finds it.
	Also []v1.Descriptor
}

// Push signs one statement per manifest — Descriptor and each of Also —
// naming that manifest alone, and pushes it as that manifest's referrer.
// Verification counts a statement only when every subject is the image
// being verified, so a statement about several manifests would count for
// none of them (and would let whoever copies it vouch for each).
func Push(ctx context.Context, t *storage.Target, predicateType string, subjects []Subject, s sign.Signer, opts sign.Options) ([]sign.Attached, error) {
	if err := statement.CheckAttestationType(predicateType); err != nil {
		return nil, err
	}
	repo, err := t.Writer()
	if err != nil {
		return nil, err
	}
	var out []sign.Attached
	for _, subj := range subjects {
		for _, target := range append([]v1.Descriptor{subj.Descriptor}, subj.Also...) {
			stmt, err := statement.About(repo.Name(), target.Digest, predicateType, subj.Predicate, opts.Annotations)
			if err != nil {
				return out, err
			}
			a, err := sign.Attach(ctx, repo, target, predicateType, stmt, s, opts)
			if err != nil {
				return out, fmt.Errorf("attesting %s: %w", target.Digest, err)
			}
			out = append(out, a)
		}
	}
	return out, nil
}
