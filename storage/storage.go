// Package storage is what imgsign's commands need from the place images and
// their referrers live, as small interfaces its consumers (sign, attest,
// verify, dct) hold: resolve a reference, read manifests and blobs by
// digest, list referrers, and push. internal/registry implements them for
// OCI registries and internal/ocilayout for OCI image layouts on disk
// (whose Store routes oci: references to layouts and the rest to a
// registry client), without verify or sign changing.
//
// Implementations check what they return against the digest asked for, and
// bound every read: callers treat the bytes as digest-verified but still
// attacker-chosen.
package storage

import (
	"context"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Resolver turns image references into targets: the one way every command
// gets from what the user typed to a manifest digest in a store.
type Resolver interface {
	// ParseReference parses and checks an image reference without any
	// request (verify matches it against the policy first).
	ParseReference(image string) (name.Reference, error)
	// ResolveReference opens ref's repository (for pushing too when push
	// is true) and resolves ref once.
	ResolveReference(ctx context.Context, ref name.Reference, push bool) (*Target, error)
	// Resolve is ParseReference then ResolveReference.
	Resolve(ctx context.Context, image string, push bool) (*Target, error)
}

// Reader reads one repository.
type Reader interface {
	// Name is the repository, as the user named it.
	Name() name.Repository
	// Resolve returns the descriptor of the manifest ref names. A tag is
	// resolved once; callers use the digest from then on.
	Resolve(ctx context.Context, ref name.Reference) (v1.Descriptor, error)
	// Manifest fetches the manifest named by identifier (a tag) or, when
	// want is set, by that digest, checked against it.
	Manifest(ctx context.Context, identifier string, want v1.Hash) ([]byte, types.MediaType, error)
	// Blob fetches the blob d, at most limit bytes, checked against d's digest.
	Blob(ctx context.Context, d v1.Descriptor, limit int64) ([]byte, error)
	// Referrers lists subject's referrers through the OCI 1.1 referrers
	// API; supported is false when the store has none.
	Referrers(ctx context.Context, subject v1.Hash) (descs []v1.Descriptor, supported bool, err error)
	// FallbackIndex reads the referrers tag schema's index for subject.
	FallbackIndex(ctx context.Context, subject v1.Hash) ([]v1.Descriptor, error)
	// TagsWithPrefix lists the repository's tags that start with prefix.
	TagsWithPrefix(ctx context.Context, prefix string) ([]string, error)
	// Image and Index read a manifest lazily, for walking an image's
	// config and layers (streamed, each checked against its digest).
	Image(ctx context.Context, d v1.Hash) (v1.Image, error)
	Index(ctx context.Context, d v1.Hash) (v1.ImageIndex, error)
	// OpenBlob streams the blob d, never buffered whole. The reader returns
	// an error instead of io.EOF when the bytes are not d.Size long or do
	// not hash to d.Digest, so whoever passes them on (a copy) never
	// completes a corrupt transfer.
	OpenBlob(ctx context.Context, d v1.Descriptor) (io.ReadCloser, error)
	// HasBlob and HasManifest report whether the store holds the blob or
	// manifest with digest d, without reading it.
	HasBlob(ctx context.Context, d v1.Hash) (bool, error)
	HasManifest(ctx context.Context, d v1.Hash) (bool, error)
	// Tags lists every tag of the repository.
	Tags(ctx context.Context) ([]string, error)
}

// Writer reads and writes one repository.
type Writer interface {
	Reader
	// PutBlob uploads b and returns its descriptor.
	PutBlob(ctx context.Context, b []byte) (v1.Descriptor, error)
	// PutBlobStream uploads the blob d from r, read once and never
	// buffered whole; r must yield exactly d.Size bytes, and the store
	// refuses them unless they hash to d.Digest.
	PutBlobStream(ctx context.Context, d v1.Descriptor, r io.Reader) error
	// PutManifest uploads a manifest under identifier (a tag or its digest).
	PutManifest(ctx context.Context, identifier string, raw []byte, mt types.MediaType) error
	// PushReferrer stores a referrer of ref.Subject, through the referrers
	// API where the store has one (usedAPI) and the tag schema otherwise.
	PushReferrer(ctx context.Context, ref Referrer) (usedAPI bool, err error)
}

// VerifyingReader is what OpenBlob returns: a stream that ends (io.EOF)
// only when the bytes were exactly Verifies()'s size and digest, and
// fails otherwise (Err says why). A writer fed from one may skip hashing
// the same bytes a second time.
type VerifyingReader interface {
	io.Reader
	Verifies() v1.Descriptor
	Err() error
}

// BlobMounter is a Writer that can link a blob another repository of the
// same store already holds instead of uploading it again (a registry's
// cross-repository mount). Mounted is false, with no error, when the store
// declined: the caller uploads instead.
type BlobMounter interface {
	MountBlob(ctx context.Context, d v1.Descriptor, from name.Repository) (mounted bool, err error)
}

// Store is a Resolver that can also open a repository without resolving
// anything in it: the destination of a copy, which may not hold the image
// yet. A dry run opens it for reading (push false).
type Store interface {
	Resolver
	OpenRepository(ctx context.Context, repo name.Repository, push bool) (Writer, error)
}

// Referrer is a referrer manifest ready to push: its bytes, parsed subject
// and the descriptor a referrers listing should carry for it.
type Referrer struct {
	Manifest   []byte
	Descriptor v1.Descriptor
	Subject    v1.Hash
}

// NotFoundError says a manifest or blob is not in the store.
type NotFoundError struct{ What string }

func (e *NotFoundError) Error() string { return e.What + " not found" }

// Target is an image resolved once: where it is stored, the manifest the
// reference named, and the tag it was named by ("" for a digest).
type Target struct {
	Repo       Reader
	Descriptor v1.Descriptor
	Tag        string
}

// Reference names the target's manifest by digest: repo@sha256:….
func (t *Target) Reference() name.Digest {
	return t.Repo.Name().Digest(t.Descriptor.Digest.String())
}

// Platforms lists the image manifests of the target a runtime could select:
// nil for a single image (see RunnableChildren).
func (t *Target) Platforms(ctx context.Context) ([]Child, error) {
	return RunnableChildren(ctx, t.Repo, t.Descriptor)
}

// Writer returns the target's store for writing, or an error when it was
// opened for reading only.
func (t *Target) Writer() (Writer, error) {
	w, ok := t.Repo.(Writer)
	if !ok {
		return nil, fmt.Errorf("%s was opened for reading only, so nothing can be attached to it", t.Reference())
	}
	return w, nil
}
