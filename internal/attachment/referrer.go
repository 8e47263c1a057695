// Package attachment is the OCI storage format of imgsign's signatures and
// attestations (docs/storage.md): the referrer manifest that carries one Sigstore
// bundle, and discovery of everything attached to an image — through the
// referrers API, the referrers tag schema, imgsign's per-referrer tags and
// cosign's legacy .sig/.att tags — as typed entries the caller filters.
package attachment

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/storage"
)

const (
	// BundleMediaType is the artifact type and layer media type of a bundle referrer.
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// EmptyMediaType is the OCI empty descriptor's media type, used as config.
	EmptyMediaType = "application/vnd.oci.empty.v1+json"

	AnnotationContent       = "dev.sigstore.bundle.content"
	AnnotationPredicateType = "dev.sigstore.bundle.predicateType"
	AnnotationCreated       = "org.opencontainers.image.created"
	// AnnotationBundleDigest lets a verifier fetch the bundle straight from a
	// referrers listing, saving the manifest round trip. It is only a shortcut:
	// the blob is still checked against its digest and the bundle verified.
	AnnotationBundleDigest = "dev.imgsign.bundle.digest"
)

// EmptyJSON is the content of the OCI empty descriptor.
var EmptyJSON = []byte("{}")

// Manifest is an OCI 1.1 image manifest with the artifactType and subject
// fields go-containerregistry's v1.Manifest lacks or types loosely.
type Manifest struct {
	SchemaVersion int64             `json:"schemaVersion"`
	MediaType     types.MediaType   `json:"mediaType"`
	ArtifactType  string            `json:"artifactType,omitempty"`
	Config        v1.Descriptor     `json:"config"`
	Layers        []v1.Descriptor   `json:"layers"`
	Subject       *v1.Descriptor    `json:"subject,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// NewReferrer builds the referrer manifest for one bundle attached to subject.
func NewReferrer(subject, bundle v1.Descriptor, predicateType string, created time.Time) (storage.Referrer, error) {
	bundle.MediaType = BundleMediaType
	return newReferrer(subject, bundle, BundleMediaType, map[string]string{
		AnnotationContent:       "dsse-envelope",
		AnnotationPredicateType: predicateType,
		AnnotationCreated:       created.UTC().Format(time.RFC3339),
		AnnotationBundleDigest:  bundle.Digest.String(),
	})
}

// newReferrer is an OCI 1.1 artifact manifest of artifactType with the
// empty config and layer as its one layer, about subject, with ann on the
// manifest and on its descriptor (listings show them).
func newReferrer(subject, layer v1.Descriptor, artifactType string, ann map[string]string) (storage.Referrer, error) {
	m := Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  artifactType,
		Config:        v1.Descriptor{MediaType: EmptyMediaType, Digest: registry.Digest(EmptyJSON), Size: int64(len(EmptyJSON)), Data: EmptyJSON},
		Layers:        []v1.Descriptor{layer},
		Subject:       &v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		Annotations:   ann,
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return storage.Referrer{}, err
	}
	return storage.Referrer{
		Manifest: raw,
		Subject:  subject.Digest,
		Descriptor: v1.Descriptor{
			MediaType:    types.OCIManifestSchema1,
			ArtifactType: artifactType,
			Digest:       registry.Digest(raw),
			Size:         int64(len(raw)),
			Annotations:  ann,
		},
	}, nil
}

// ParseBundleReferrer checks that raw is a bundle referrer of subject and
// returns the descriptor of its bundle layer.
func ParseBundleReferrer(raw []byte, subject v1.Hash) (*Manifest, v1.Descriptor, error) {
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, v1.Descriptor{}, errkind.Untrustedf("referrer manifest is not JSON: %w", err)
	}
	if m.Subject == nil || m.Subject.Digest != subject {
		return &m, v1.Descriptor{}, errkind.Untrustedf("referrer manifest's subject is not %s", subject)
	}
	if len(m.Layers) != 1 {
		return &m, v1.Descriptor{}, errkind.Untrustedf("referrer manifest has %d layers, a bundle referrer has exactly one", len(m.Layers))
	}
	if !strings.HasPrefix(string(m.Layers[0].MediaType), "application/vnd.dev.sigstore.bundle") {
		return &m, v1.Descriptor{}, errkind.Untrustedf("referrer layer is %q, not a Sigstore bundle", m.Layers[0].MediaType)
	}
	return &m, m.Layers[0], nil
}

// IsBundle reports whether a listed descriptor may be a Sigstore bundle
// referrer. Listings are not trusted to carry the right artifactType (some
// registries report the config media type), so the empty config type counts.
func IsBundle(d v1.Descriptor) bool {
	switch {
	case strings.HasPrefix(d.ArtifactType, "application/vnd.dev.sigstore.bundle"):
		return true
	case d.ArtifactType == EmptyMediaType, d.ArtifactType == "":
		return true
	}
	_, ok := d.Annotations[AnnotationPredicateType]
	return ok
}

func describe(d v1.Descriptor) string {
	return fmt.Sprintf("%s (%s)", d.Digest, d.ArtifactType)
}
