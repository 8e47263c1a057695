package storage

import (
	"encoding/json"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/errkind"
)

// ParseIndex parses an OCI image index that a store hands out as a listing
// (a referrers answer, a tag schema index, a layout's index.json). JSON
// that is not an index (null, {}, an image manifest) or an entry with no
// digest is an error marked untrusted, never an empty or partial listing
// that would silently hide an entry.
func ParseIndex(raw []byte) (*v1.IndexManifest, error) {
	var idx v1.IndexManifest
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, errkind.Untrustedf("not an OCI image index: %w", err)
	}
	if idx.SchemaVersion != 2 {
		return nil, errkind.Untrustedf("not an OCI image index: schemaVersion is %d, not 2", idx.SchemaVersion)
	}
	if idx.MediaType != "" && idx.MediaType != types.OCIImageIndex {
		return nil, errkind.Untrustedf("not an OCI image index: mediaType is %q", idx.MediaType)
	}
	for i, d := range idx.Manifests {
		if d.Digest == (v1.Hash{}) {
			return nil, errkind.Untrustedf("not an OCI image index: manifests[%d] has no digest", i)
		}
	}
	return &idx, nil
}
