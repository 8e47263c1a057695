package e2e

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/registry"
)

// A layout written by oras-go (v2.6.2's content/oci store, as the oras CLI
// and notation write layouts): imgsign's tree lists the artifact oras
// attached, and imgsign signs the image there so that oras finds the
// signature among the image's referrers.
func TestLayoutWrittenByOras(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	dir := filepath.Join(e.dir, "oras-layout")
	store, err := oci.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	layer, err := oras.PushBytes(ctx, store, ocispec.MediaTypeImageLayer, []byte("not really a tar"))
	if err != nil {
		t.Fatal(err)
	}
	config, err := oras.PushBytes(ctx, store, ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	if err != nil {
		t.Fatal(err)
	}
	img, err := oras.PackManifest(ctx, store, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{ConfigDescriptor: &config, Layers: []ocispec.Descriptor{layer}})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Tag(ctx, img, "v1"); err != nil {
		t.Fatal(err)
	}
	report, err := oras.PushBytes(ctx, store, "application/json", []byte(`{"scanned":true}`))
	if err != nil {
		t.Fatal(err)
	}
	const reportType = "application/vnd.example.scan-report+json"
	art, err := oras.PackManifest(ctx, store, oras.PackManifestVersion1_1, reportType, oras.PackManifestOptions{
		Subject: &img, Layers: []ocispec.Descriptor{report},
		ManifestAnnotations: map[string]string{"org.opencontainers.image.created": "2026-12-01T00:00:00Z"},
	})
	if err != nil {
		t.Fatal(err)
	}

	ref := "oci:" + dir + ":v1"
	tr := e.treeOf(ref)
	if tr.Digest != img.Digest.String() {
		t.Fatalf("tree resolved %s to %s, oras tagged %s", ref, tr.Digest, img.Digest)
	}
	var found bool
	for _, a := range tr.Attachments {
		if a.Referrer == art.Digest.String() {
			found = true
			if a.ArtifactType != reportType {
				t.Errorf("artifact type %q, want %q", a.ArtifactType, reportType)
			}
		}
	}
	if !found {
		t.Fatalf("tree of the oras layout does not list the artifact oras attached (%s): %+v", art.Digest, tr.Attachments)
	}
	// The layout's only image: the artifact is a referrer, not an image.
	if tr2 := e.treeOf("oci:" + dir); tr2.Digest != img.Digest.String() {
		t.Errorf("oci:DIR resolved to %s, want the one image %s", tr2.Digest, img.Digest)
	}

	e.must("sign", "--key", "k.key", ref)
	e.must("verify", "--key", "k.pub", ref)

	again, err := oci.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	refs, err := registry.Referrers(ctx, again, img, "")
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, r := range refs {
		types = append(types, r.ArtifactType)
	}
	slices.Sort(types)
	if len(refs) != 2 || !slices.Contains(types, reportType) || !slices.ContainsFunc(types, func(s string) bool { return strings.Contains(s, "sigstore.bundle") }) {
		t.Errorf("oras lists referrers of types %q, want the scan report and imgsign's bundle", types)
	}
	if d, err := again.Resolve(ctx, "v1"); err != nil || d.Digest != img.Digest {
		t.Errorf("oras resolves v1 to %v (%v) after imgsign signed, want %s", d.Digest, err, img.Digest)
	}
}
