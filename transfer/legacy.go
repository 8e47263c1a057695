package transfer

import (
	"encoding/json"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/registry"
)

// Cosign's legacy layout keeps every signature (or attestation, or SBOM) of
// an image as one layer of the manifest under sha256-<hex>.sig (.att,
// .sbom). When the destination already has that tag with other layers —
// someone signed there too — overwriting it would drop their signatures,
// as cosign's own copy does; the copy writes the union instead, as cosign
// does when it adds a signature.

// A layer is one signature by its whole descriptor, not its digest: cosign
// signs the same payload bytes for every key (the image's digest and
// repository), so two signers' layers share a digest and differ only in
// the annotations that carry each signature, certificate and bundle.
// Compared by digest, a .sig tag holding the first signer's layer looked
// like it held the second's too, and a copy re-run after a second
// signature left it behind while reporting the tag "already there".
func layerKey(l v1.Descriptor) string {
	b, err := json.Marshal(l) // annotations are a map: marshalled in key order
	if err != nil {
		return "unmarshallable " + l.Digest.String()
	}
	return string(b)
}

// containsLayers reports whether have holds every layer of want.
func containsLayers(have, want *manifest) bool {
	in := map[string]bool{}
	for _, l := range have.Layers {
		in[layerKey(l)] = true
	}
	for _, l := range want.Layers {
		if !in[layerKey(l)] {
			return false
		}
	}
	return true
}

// mergeLegacy returns the manifest holding dst's layers then src's that dst
// lacks, and the image config it names (cosign's: an empty image config
// whose rootfs lists each layer, which is its own diff ID as the layers are
// not compressed). Annotations on the layers — where the signatures are —
// travel unchanged.
func mergeLegacy(dst, src *manifest) (raw, config []byte, configDesc v1.Descriptor, err error) {
	layers := append([]v1.Descriptor{}, dst.Layers...)
	in := map[string]bool{}
	for _, l := range layers {
		in[layerKey(l)] = true
	}
	for _, l := range src.Layers {
		if k := layerKey(l); !in[k] {
			in[k] = true
			layers = append(layers, l)
		}
	}
	cfg := v1.ConfigFile{RootFS: v1.RootFS{Type: "layers"}}
	for _, l := range layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.Digest)
		cfg.History = append(cfg.History, v1.History{})
	}
	if config, err = json.Marshal(cfg); err != nil {
		return nil, nil, v1.Descriptor{}, err
	}
	mt := types.OCIConfigJSON
	if dst.Config != nil && dst.Config.MediaType != "" {
		mt = dst.Config.MediaType
	}
	configDesc = v1.Descriptor{MediaType: mt, Digest: registry.Digest(config), Size: int64(len(config))}
	out := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     dst.mediaType(),
		Config:        configDesc,
		Layers:        layers,
		Annotations:   dst.Annotations,
	}
	raw, err = json.Marshal(out)
	return raw, config, configDesc, err
}
