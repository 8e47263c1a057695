package transfer

import (
	"encoding/json"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/storage"
)

// manifest is any manifest a copy carries — an image manifest, an index, a
// referrer, a cosign legacy tag — read only for what the copy needs: the
// blobs and manifests it names, its subject, and what kind it is.
type manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     types.MediaType   `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *v1.Descriptor    `json:"config"`
	Layers        []v1.Descriptor   `json:"layers"`
	Manifests     []v1.Descriptor   `json:"manifests"`
	Subject       *v1.Descriptor    `json:"subject"`
	Annotations   map[string]string `json:"annotations"`

	// served is the media type the store served it as.
	served types.MediaType
}

// parseManifest reads raw, which the store served as mt. It is digest-
// checked already but attacker-chosen: only its structure is trusted, and
// an index wider than storage.MaxIndexChildren is refused.
func parseManifest(raw []byte, mt types.MediaType, what string) (*manifest, error) {
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errkind.Untrustedf("%s is not a JSON manifest: %w", what, err)
	}
	m.served = mt
	if m.SchemaVersion != 2 {
		return nil, errkind.Untrustedf("%s: schemaVersion %d, imgsign copies schema 2 manifests only", what, m.SchemaVersion)
	}
	if len(m.Manifests) > storage.MaxIndexChildren {
		return nil, errkind.Operationalf("%s lists %d manifests, over the %d imgsign copies (limit)", what, len(m.Manifests), storage.MaxIndexChildren)
	}
	for i, d := range m.Manifests {
		if d.Digest.Algorithm != "sha256" || len(d.Digest.Hex) != 64 {
			return nil, errkind.Untrustedf("%s: manifests[%d] has no usable sha256 digest", what, i)
		}
	}
	for _, d := range m.blobs() {
		if d.Digest.Algorithm != "sha256" || len(d.Digest.Hex) != 64 || d.Size < 0 {
			return nil, errkind.Untrustedf("%s names a blob without a usable sha256 digest and size", what)
		}
	}
	return &m, nil
}

// isIndex reports whether the manifest is an index: as served, or, when the
// store served another type, by its own mediaType field.
func (m *manifest) isIndex() bool {
	if isIndexType(m.served) {
		return true
	}
	if isManifestType(m.served) {
		return false
	}
	return isIndexType(m.MediaType) || (m.Config == nil && len(m.Manifests) > 0)
}

// mediaType is the type to store it under: as served, else its own field.
func (m *manifest) mediaType() types.MediaType {
	if isIndexType(m.served) || isManifestType(m.served) {
		return m.served
	}
	if m.MediaType != "" {
		return m.MediaType
	}
	if m.isIndex() {
		return types.OCIImageIndex
	}
	return types.OCIManifestSchema1
}

// artifactType is what a referrers listing carries for it: artifactType,
// else the config's media type (the OCI 1.1 rule).
func (m *manifest) artifactType() string {
	if m.ArtifactType != "" {
		return m.ArtifactType
	}
	if m.Config != nil {
		return string(m.Config.MediaType)
	}
	return ""
}

// blobs are the config and layers an image manifest names (none for an
// index), non-distributable layers left out: registries do not hold them.
func (m *manifest) blobs() []v1.Descriptor {
	var out []v1.Descriptor
	if m.Config != nil && m.Config.Digest != (v1.Hash{}) {
		out = append(out, *m.Config)
	}
	for _, l := range m.Layers {
		if !foreign(l) {
			out = append(out, l)
		}
	}
	return out
}

// foreign reports whether a layer lives outside the registry (Windows base
// layers): copying tools leave them where they are.
func foreign(d v1.Descriptor) bool {
	mt := string(d.MediaType)
	return mt == string(types.DockerForeignLayer) || strings.Contains(mt, "nondistributable")
}

func isIndexType(mt types.MediaType) bool {
	return mt == types.OCIImageIndex || mt == types.DockerManifestList
}

func isManifestType(mt types.MediaType) bool {
	return mt == types.OCIManifestSchema1 || mt == types.DockerManifestSchema2
}
