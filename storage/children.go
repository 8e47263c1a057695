package storage

import (
	"context"
	"encoding/json"
	"errors"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/errkind"
)

// How BuildKit marks the attestation manifests it stores in an index.
const (
	annotationReferenceType  = "vnd.docker.reference.type"
	referenceTypeAttestation = "attestation-manifest"
)

// Bounds on what RunnableChildren walks: registries and runtimes nest an
// index in an index once (a multi-platform image inside an image set); a
// deeper or wider index is hostile or broken, and refusing it beats
// checking part of it.
const (
	MaxIndexNesting  = 3
	MaxIndexChildren = 1024
)

// Child is one image manifest of an image index that a runtime could pull
// and run.
type Child struct {
	// Descriptor is the manifest as the index lists it: media type, digest
	// and size only.
	Descriptor v1.Descriptor
	// Platform is the platform the index lists for it; nil when it lists
	// none (containerd then reads the platform from the image config, so
	// such a child is still selected).
	Platform *v1.Platform
	// Index is the index that lists the child: a nested index for a child of
	// an index inside the index.
	Index v1.Hash
}

// Label names the child in messages: its platform, or its digest when the
// index lists no platform for it.
func (c Child) Label() string {
	if c.Platform != nil {
		return c.Platform.String()
	}
	h := c.Descriptor.Digest.Hex
	if len(h) > 12 {
		h = h[:12]
	}
	return c.Descriptor.Digest.Algorithm + ":" + h + " (no platform in the index)"
}

// IsAttestationManifest reports whether an index entry is an attestation
// manifest as BuildKit writes it: the attestation-manifest annotation and
// platform unknown/unknown, which no runtime selects. The annotation alone
// exempts nothing: on an entry with a real platform (or none) containerd
// still runs the manifest.
func IsAttestationManifest(d v1.Descriptor) bool {
	return d.Annotations[annotationReferenceType] == referenceTypeAttestation &&
		d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown"
}

func isIndex(mt types.MediaType) bool {
	return mt == types.OCIImageIndex || mt == types.DockerManifestList
}

func isImageManifest(mt types.MediaType) bool {
	return mt == types.OCIManifestSchema1 || mt == types.DockerManifestSchema2
}

// RunnableChildren lists every image manifest of the index desc that a
// runtime could select — the one list that signing with --recursive,
// per-platform attestations, compliance checks and tree all use, so that
// none of them skips a child another one covers. Every child manifest is
// included, with a platform field or without, except BuildKit attestation
// manifests (IsAttestationManifest) and entries that are not images at all
// (an entry listed under another media type is fetched and judged by the
// manifest the registry serves, as Docker pulls it); children of an
// index nested in the index are included in its place. A single image has
// no children (nil).
func RunnableChildren(ctx context.Context, r Reader, desc v1.Descriptor) ([]Child, error) {
	if isImageManifest(desc.MediaType) {
		return nil, nil
	}
	var out []Child
	seen := map[v1.Hash]bool{}
	probed := 0
	var walk func(d v1.Hash, depth int) error
	walk = func(d v1.Hash, depth int) error {
		raw, mt, err := r.Manifest(ctx, "", d)
		if err != nil {
			return err
		}
		if !isIndex(mt) {
			if depth == 0 {
				return nil // a single image
			}
			return errkind.Untrustedf("image index %s lists %s as an index, but the registry serves it as %q", desc.Digest, d, mt)
		}
		var idx v1.IndexManifest
		if err := json.Unmarshal(raw, &idx); err != nil {
			return errkind.Untrustedf("image index %s is not valid JSON: %w", d, err)
		}
		for i, m := range idx.Manifests {
			if m.Digest == (v1.Hash{}) {
				return errkind.Untrustedf("image index %s: manifests[%d] has no digest", d, i)
			}
			if seen[m.Digest] {
				continue
			}
			switch {
			case IsAttestationManifest(m):
			case isIndex(m.MediaType):
				seen[m.Digest] = true
				if depth+1 > MaxIndexNesting {
					return errkind.Operationalf("image index %s nests indexes more than %d levels deep; imgsign refuses to check part of it", desc.Digest, MaxIndexNesting)
				}
				if err := walk(m.Digest, depth+1); err != nil {
					return err
				}
			case isImageManifest(m.MediaType):
				seen[m.Digest] = true
				if len(out) == MaxIndexChildren {
					return errkind.Operationalf("image index %s lists more than %d image manifests; imgsign refuses to check part of it", desc.Digest, MaxIndexChildren)
				}
				out = append(out, Child{
					Descriptor: v1.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size},
					Platform:   m.Platform,
					Index:      d,
				})
			default:
				// Docker's classic image store picks a child by platform
				// and runs whatever manifest the registry serves for it,
				// not the media type the index lists: an entry claiming to
				// be something else is judged by what it is.
				seen[m.Digest] = true
				if probed++; probed > MaxIndexChildren {
					return errkind.Operationalf("image index %s lists more than %d entries that are not images by their media type; imgsign refuses to check part of it", desc.Digest, MaxIndexChildren)
				}
				mt, size, err := servedType(ctx, r, m.Digest)
				if err != nil {
					return err
				}
				switch {
				case isIndex(mt):
					if depth+1 > MaxIndexNesting {
						return errkind.Operationalf("image index %s nests indexes more than %d levels deep; imgsign refuses to check part of it", desc.Digest, MaxIndexNesting)
					}
					if err := walk(m.Digest, depth+1); err != nil {
						return err
					}
				case isImageManifest(mt):
					if len(out) == MaxIndexChildren {
						return errkind.Operationalf("image index %s lists more than %d image manifests; imgsign refuses to check part of it", desc.Digest, MaxIndexChildren)
					}
					out = append(out, Child{
						Descriptor: v1.Descriptor{MediaType: mt, Digest: m.Digest, Size: size},
						Platform:   m.Platform,
						Index:      d,
					})
				}
			}
		}
		return nil
	}
	if err := walk(desc.Digest, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// servedType is the media type of the manifest the registry serves for d
// (its Content-Type, or the manifest's own mediaType field when that is not
// a manifest type) and its size; "" when there is no such manifest, which
// no runtime can run either.
func servedType(ctx context.Context, r Reader, d v1.Hash) (types.MediaType, int64, error) {
	raw, mt, err := r.Manifest(ctx, "", d)
	var nf *NotFoundError
	if errors.As(err, &nf) {
		return "", 0, nil
	}
	if err != nil {
		return "", 0, err
	}
	if !isIndex(mt) && !isImageManifest(mt) {
		var probe struct {
			MediaType types.MediaType `json:"mediaType"`
		}
		_ = json.Unmarshal(raw, &probe)
		mt = probe.MediaType
	}
	return mt, int64(len(raw)), nil
}

// Descriptors are the children's descriptors, for signing or attesting each.
func Descriptors(children []Child) []v1.Descriptor {
	out := make([]v1.Descriptor, len(children))
	for i, c := range children {
		out[i] = c.Descriptor
	}
	return out
}
