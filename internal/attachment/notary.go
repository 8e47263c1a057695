package attachment

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/storage"
)

// The Notary Project signature format (notation, AWS Signer, Ratify): an
// OCI referrer of artifact type NotaryArtifactType whose one layer is a
// JWS or COSE envelope.
const (
	NotaryArtifactType = "application/vnd.cncf.notary.signature"
	// NotaryJWSMediaType and NotaryCOSEMediaType are the envelope layer's
	// media types.
	NotaryJWSMediaType  = "application/jose+json"
	NotaryCOSEMediaType = "application/cose"
	// AnnotationNotaryThumbprints lists the SHA-256 thumbprints of the
	// signing chain, leaf first, as a JSON array of hex strings (notation
	// writes it; `notation list` and registries show it).
	AnnotationNotaryThumbprints = "io.cncf.notary.x509chain.thumbprint#S256"
)

// IsNotarySignature reports whether a listed descriptor is a Notary Project
// signature: its artifact type says so, or — on registries that list the
// config media type as the artifact type, where a notation signature shows
// as the empty config — the chain thumbprints annotation the Notary Project
// requires on every signature manifest. Only a hint: FetchNotary checks the
// manifest itself.
func IsNotarySignature(d v1.Descriptor) bool {
	if d.ArtifactType == NotaryArtifactType {
		return true
	}
	_, ok := d.Annotations[AnnotationNotaryThumbprints]
	return ok && d.ArtifactType != BundleMediaType
}

// NotaryEnvelope is a Notary Project signature's envelope as fetched: its
// bytes (checked against their digest), its media type, and the subject
// descriptor its referrer manifest names (digest checked to be the image's).
type NotaryEnvelope struct {
	Raw       []byte
	MediaType string
	Subject   v1.Descriptor
}

// FetchNotary fetches the envelope of a Notary Project signature entry of
// subject. Nothing in it is trusted before the envelope verifies.
func FetchNotary(ctx context.Context, repo storage.Reader, subject v1.Hash, e *Entry) (*NotaryEnvelope, error) {
	raw := e.manifest
	if raw == nil {
		m, _, err := repo.Manifest(ctx, "", e.Descriptor.Digest)
		if err != nil {
			return nil, err
		}
		raw = m
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errkind.Untrustedf("signature manifest is not JSON: %w", err)
	}
	if m.Subject == nil || m.Subject.Digest != subject {
		return nil, errkind.Untrustedf("signature manifest's subject is not %s", subject)
	}
	if m.ArtifactType != NotaryArtifactType && m.Config.MediaType != NotaryArtifactType {
		return nil, errkind.Untrustedf("signature manifest is not a Notary Project signature (artifact type %q)", m.ArtifactType)
	}
	if len(m.Layers) != 1 {
		return nil, errkind.Untrustedf("signature manifest has %d layers, a Notary Project signature has exactly one", len(m.Layers))
	}
	layer := m.Layers[0]
	switch mt := string(layer.MediaType); mt {
	case NotaryJWSMediaType, NotaryCOSEMediaType:
	default:
		return nil, errkind.Untrustedf("signature envelope is %q, not JWS (%s) or COSE (%s)", mt, NotaryJWSMediaType, NotaryCOSEMediaType)
	}
	b, err := repo.Blob(ctx, layer, registry.MaxBundleBytes)
	if err != nil {
		return nil, err
	}
	return &NotaryEnvelope{Raw: b, MediaType: string(layer.MediaType), Subject: *m.Subject}, nil
}

// NewNotaryReferrer builds the referrer manifest of a Notary Project
// signature of subject, as notation writes it: artifact type
// NotaryArtifactType, the empty config, the envelope as the one layer, and
// the chain's thumbprints and creation time as annotations.
func NewNotaryReferrer(subject, envelope v1.Descriptor, chain []*x509.Certificate, created time.Time) (storage.Referrer, error) {
	prints := make([]string, len(chain))
	for i, c := range chain {
		sum := sha256.Sum256(c.Raw)
		prints[i] = hex.EncodeToString(sum[:])
	}
	tp, err := json.Marshal(prints)
	if err != nil {
		return storage.Referrer{}, err
	}
	return newReferrer(subject, envelope, NotaryArtifactType, map[string]string{
		AnnotationNotaryThumbprints: string(tp),
		AnnotationCreated:           created.UTC().Format(time.RFC3339),
	})
}
