package transfer

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/storage"
)

// Manifests, referrers and legacy tags a copy reads are attacker-chosen:
// whatever the bytes, parsing and everything the copy asks of the result
// returns without panicking, and an index is never wider than the limit.
func FuzzParseManifest(f *testing.F) {
	for _, seed := range []string{
		`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + hex64 + `","size":2},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","digest":"sha256:` + hex64 + `","size":1,"urls":["https://x"]}]}`,
		`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + hex64 + `","size":3}]}`,
		`{"schemaVersion":2,"artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:` + hex64 + `","size":2},"layers":[{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","digest":"sha256:` + hex64 + `","size":9}],"subject":{"digest":"sha256:` + hex64 + `"},"annotations":{"dev.sigstore.bundle.predicateType":"https://sigstore.dev/cosign/sign/v1"}}`,
		`{"schemaVersion":2,"manifests":[{"digest":"md5:00"}]}`,
		`{"dsseEnvelope":{"payload":"eyJwcmVkaWNhdGVUeXBlIjoiaHR0cHM6Ly9zaWdzdG9yZS5kZXYvY29zaWduL3NpZ24vdjEifQ=="}}`,
		`{"schemaVersion":2,"layers":[{"digest":"sha256:` + hex64 + `","size":-1}]}`,
		`null`, `{}`, `[]`,
	} {
		f.Add([]byte(seed), string(types.OCIManifestSchema1))
		f.Add([]byte(seed), "")
	}
	f.Fuzz(func(t *testing.T, raw []byte, served string) {
		m, err := parseManifest(raw, types.MediaType(served), "fuzzed")
		if err != nil {
			return
		}
		if len(m.Manifests) > storage.MaxIndexChildren {
			t.Fatalf("an index of %d manifests passed", len(m.Manifests))
		}
		_ = m.isIndex()
		_ = m.mediaType()
		_ = m.artifactType()
		for _, b := range m.blobs() {
			if b.Size < 0 || len(b.Digest.Hex) != 64 {
				t.Fatalf("unusable blob passed: %+v", b)
			}
		}
		_, _ = referrerKind(m, func() []byte { return raw })
		_, _ = bundleKind(raw)
		_ = containsLayers(m, m)
		if _, _, _, err := mergeLegacy(m, m); err != nil {
			t.Fatalf("merging a parsed manifest with itself: %v", err)
		}
	})
}

const hex64 = "0000000000000000000000000000000000000000000000000000000000000000"
