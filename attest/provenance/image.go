package provenance

import (
	"context"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgsign/imgsign/attest"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/refname"
	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/storage"
)

// This file is where provenance meets an image in a registry: the subjects
// of `attest provenance` (the image and each platform of an index) and the
// signing of the statements BuildKit stored in an index. The image is a
// resolved target; readIndex and platformsOf below are the only places
// that read it.

// ImageRequest is the provenance to generate for an image and, for an
// index, for each of its platforms.
type ImageRequest struct {
	// Inputs are the facts every subject shares: mode, CI environment,
	// builder, source, a BuildKit metadata file. Subjects sets ImageDigest
	// and InIndex per subject.
	Inputs Inputs
	// FromImage merges the provenance BuildKit stored inside the image
	// index: each platform gets its own, the index its first platform's.
	// It excludes Inputs.BuildKitMetadata.
	FromImage bool
}

// Subjects builds one predicate per subject: the image, and for an index
// each platform manifest, which gets BuildKit's provenance for that platform
// when FromImage finds it. A BuildKit metadata file describes the build of
// the image named, so it is merged into that subject's predicate only (and
// checked to be about it).
func Subjects(ctx context.Context, t *storage.Target, req ImageRequest) ([]attest.Subject, error) {
	base := req.Inputs
	if req.FromImage && base.BuildKitMetadata != nil {
		return nil, errkind.Inputf("BuildKit provenance from both a metadata file and the image index: use one")
	}
	platforms, err := platformsOf(ctx, t)
	if err != nil {
		return nil, err
	}
	var atts []Attestation
	if req.FromImage {
		if len(platforms) == 0 {
			return nil, errkind.Inputf("--from-image reads BuildKit's attestations from an image index, but %s is a single image", t.Descriptor.Digest)
		}
		idx, err := readIndex(ctx, t)
		if err != nil {
			return nil, err
		}
		if atts, err = FromIndex(ctx, idx); err != nil {
			return nil, err
		}
	}
	gen := func(d string, in Inputs) (any, error) {
		p, err := Generate(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("provenance for %s: %w", d, err)
		}
		return p, nil
	}
	in := base
	if base.BuildKitMetadata != nil {
		in.ImageDigest = t.Descriptor.Digest.String()
	}
	if len(platforms) > 0 && req.FromImage {
		// The index itself gets BuildKit's provenance of its first platform:
		// one build produced them all.
		in.InIndex = ProvenanceFor(atts, platforms[0].Digest)
	}
	p, err := gen(t.Descriptor.Digest.String(), in)
	if err != nil {
		return nil, err
	}
	subjects := []attest.Subject{{Descriptor: t.Descriptor, Predicate: p}}
	for _, pd := range platforms {
		in := base
		in.BuildKitMetadata = nil
		if a := ProvenanceFor(atts, pd.Digest); a != nil {
			in.InIndex = a
		}
		p, err := gen(pd.Digest.String(), in)
		if err != nil {
			return nil, err
		}
		subjects = append(subjects, attest.Subject{Descriptor: pd, Predicate: p})
	}
	return subjects, nil
}

// BuildKitRequest is how to sign the statements BuildKit stored in an index.
type BuildKitRequest struct {
	// Signer loads the key. It is called only once every statement passed
	// the checks, so the key (and its passphrase prompt) comes last and
	// nothing is asked of it for an index that will not be signed.
	Signer func(context.Context) (sign.Signer, error)
	// Options are the signing options (a timestamp authority).
	Options sign.Options
}

// SignBuildKit signs each in-toto statement BuildKit stored in the index t,
// unchanged, and attaches it to the platform manifest it describes. Every
// statement is checked (Signable, and about a platform of t) before any is
// signed: the build wrote them, and a half-signed set is worse than none.
// t must be open for pushing.
func SignBuildKit(ctx context.Context, t *storage.Target, req BuildKitRequest) (*sign.Result, error) {
	idx, err := readIndex(ctx, t)
	if err != nil {
		return nil, errkind.Inputf("%s is not an image index with BuildKit attestations: %w", t.Descriptor.Digest, err)
	}
	atts, err := FromIndex(ctx, idx)
	if err != nil {
		return nil, err
	}
	if len(atts) == 0 {
		return nil, errkind.Inputf("%s carries no BuildKit attestations (build with --provenance=mode=max --sbom=true)", t.Descriptor.Digest)
	}
	res := &sign.Result{Image: refname.DisplayReference(t.Reference().String()), Digest: t.Descriptor.Digest.String()}
	platforms, err := platformsOf(ctx, t)
	if err != nil {
		return nil, err
	}
	subjects := make([]v1.Descriptor, len(atts))
	var refused []string
	for i, a := range atts {
		err := a.Signable()
		if err == nil {
			subjects[i], err = platformDescriptor(platforms, t, a.Subject.String())
		}
		if err != nil {
			refused = append(refused, fmt.Sprintf("statement %q in attestation manifest %s (layer %s): %v", a.PredicateType, a.Manifest, a.Layer, err))
		}
	}
	if len(refused) > 0 {
		return nil, errkind.Inputf("refusing to sign BuildKit's attestations of %s, nothing was signed: %s (check what the build wrote; imgsign attest provenance --from-image and attest sbom attest the image without signing the build's statements)", t.Descriptor.Digest, strings.Join(refused, "; "))
	}
	repo, err := t.Writer()
	if err != nil {
		return nil, err
	}
	s, err := req.Signer(ctx)
	if err != nil {
		return nil, err
	}
	for i, a := range atts {
		at, err := sign.Attach(ctx, repo, subjects[i], a.PredicateType, a.Statement, s, req.Options)
		if err != nil {
			return nil, err
		}
		res.Attached = append(res.Attached, at)
	}
	return res, nil
}

// platformDescriptor finds the descriptor of a platform manifest of t.
func platformDescriptor(ps []v1.Descriptor, t *storage.Target, digest string) (v1.Descriptor, error) {
	for _, p := range ps {
		if p.Digest.String() == digest {
			return p, nil
		}
	}
	return v1.Descriptor{}, errkind.Untrustedf("BuildKit attestation names %s, which is not a platform of %s", digest, t.Descriptor.Digest)
}

// platformsOf lists the platform manifests of t a runtime could run: none for
// a single image.
func platformsOf(ctx context.Context, t *storage.Target) ([]v1.Descriptor, error) {
	children, err := t.Platforms(ctx)
	if err != nil {
		return nil, err
	}
	return storage.Descriptors(children), nil
}

// readIndex reads t as an image index, lazily (manifests and layers are
// fetched as FromIndex reads them, each digest-checked); its error says
// "reading image index" and has the kind of the registry's failure.
func readIndex(ctx context.Context, t *storage.Target) (v1.ImageIndex, error) {
	return t.Repo.Index(ctx, t.Descriptor.Digest)
}
