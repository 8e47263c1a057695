package attest

import (
	"context"
	"fmt"

	"github.com/imgsign/imgsign/internal/refname"
	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/storage"
)

// Request is one attestation run: which image, what is said about it
// (the predicate type, and the subjects built once the image is resolved),
// and the key.
type Request struct {
	// Client resolves Image, once, opening its repository for pushing.
	Client storage.Resolver
	// Image is a tag or name@sha256:… reference.
	Image string
	// PredicateType is the type of every statement.
	PredicateType string
	// Subjects builds the subjects and their predicates for the resolved
	// image: the image alone, each platform, the platforms and the index.
	Subjects func(ctx context.Context, t *storage.Target) ([]Subject, error)
	// Signer loads the key. It is called once the subjects are built, so
	// the key (and its passphrase prompt) comes last and is not asked for
	// an image nothing will be attached to.
	Signer func(context.Context) (sign.Signer, error)
	// Options are the signing options: annotations, a timestamp authority.
	Options sign.Options
}

// Run resolves the image once, builds the subjects, signs one statement per
// subject manifest and pushes each as its referrer (see Push). The result
// names the image by digest and lists what was attached. Errors of the
// image, the subjects and the push name the image as the user gave it.
func Run(ctx context.Context, req Request) (*sign.Result, error) {
	t, err := req.Client.Resolve(ctx, req.Image, true)
	if err != nil {
		return nil, fmt.Errorf("attesting %s: %w", req.Image, err)
	}
	subjects, err := req.Subjects(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("attesting %s: %w", req.Image, err)
	}
	s, err := req.Signer(ctx)
	if err != nil {
		return nil, err
	}
	attached, err := Push(ctx, t, req.PredicateType, subjects, s, req.Options)
	if err != nil {
		return nil, fmt.Errorf("attesting %s: %w", req.Image, err)
	}
	return &sign.Result{Image: refname.DisplayReference(t.Reference().String()), Digest: t.Descriptor.Digest.String(), Attached: attached}, nil
}
