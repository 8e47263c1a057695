package transfer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/ocilayout"
	"github.com/imgsign/imgsign/internal/registry"
)

// copy --all-tags plans every tag before it writes any, so what the plan
// holds grows with the tag count. The bound on held manifest bytes was per
// image times the number of tags: a source listing 100,000 tags (the
// listing's own limit), each on a large manifest within that bound, made
// the copy hold up to 100,000 × 256 MiB. The whole copy's plan is bounded
// too (exit 3).
func TestRedTeam3AllTagsBoundsHeldManifestBytes(t *testing.T) {
	ctx := context.Background()
	dir, l, cfg := sourceLayout(t)
	// 40 tags of 200 KiB manifests: 8 MiB in all, each within the 1 MiB
	// per-image bound the test sets.
	for i := range 40 {
		m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[],"annotations":{"pad":"%s%d"}}`,
			cfg.Digest, cfg.Size, strings.Repeat("x", 200<<10), i)
		if err := l.PutManifest(ctx, fmt.Sprintf("t%d", i), []byte(m), types.OCIManifestSchema1); err != nil {
			t.Fatal(err)
		}
	}
	store := ocilayout.NewStore(client())
	req := Request{Source: "oci:" + dir, Destination: "oci:" + filepath.Join(t.TempDir(), "dst"), AllTags: true, DryRun: true}

	old := maxHeldPerImage
	maxHeldPerImage = 1 << 20
	t.Cleanup(func() { maxHeldPerImage = old })
	_, err := Copy(ctx, store, req)
	var le *registry.LimitError
	if !errors.As(err, &le) {
		t.Fatalf("copy --all-tags of 40 tags holding 8 MiB of manifests, under a 1 MiB per-image bound: %v, want a limit error", err)
	}
	maxHeldPerImage = old
	if _, err := Copy(ctx, store, req); err != nil {
		t.Fatalf("the same copy under the real bounds: %v", err)
	}
}

// A destination layout holding, at an image's manifest digest, a file whose
// bytes are not that digest (planted on a shared volume before the copy,
// or a corrupted stick): writing the manifest kept the file because it
// existed, the copy listed it in index.json under the tag and reported
// success (exit 0), and the tag named bytes no reader accepts. A blob
// file is kept only when its bytes are the blob's; otherwise it is written
// again.
func TestRedTeam3CorruptManifestAtDestinationIsRewritten(t *testing.T) {
	ctx := context.Background()
	srcDir, l, cfg := sourceLayout(t)
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[]}`, cfg.Digest, cfg.Size)
	if err := l.PutManifest(ctx, "v1", []byte(m), types.OCIManifestSchema1); err != nil {
		t.Fatal(err)
	}
	store := ocilayout.NewStore(client())
	target, err := store.Resolve(ctx, "oci:"+srcDir+":v1", false)
	if err != nil {
		t.Fatal(err)
	}
	d := target.Descriptor.Digest

	// The destination, planted: the manifest's file holds other bytes of
	// the same length (index.json lists nothing yet).
	dstDir := filepath.Join(t.TempDir(), "dst")
	if err := os.MkdirAll(filepath.Join(dstDir, "blobs", "sha256"), 0o755); err != nil {
		t.Fatal(err)
	}
	for f, content := range map[string]string{
		"oci-layout":                            `{"imageLayoutVersion":"1.0.0"}`,
		"index.json":                            `{"schemaVersion":2,"manifests":[]}`,
		filepath.Join("blobs", "sha256", d.Hex): strings.Repeat("x", len(m)),
	} {
		if err := os.WriteFile(filepath.Join(dstDir, f), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Copy(ctx, store, Request{Source: "oci:" + srcDir + ":v1", Destination: "oci:" + dstDir}); err != nil {
		t.Fatalf("copy over the planted manifest: %v", err)
	}
	if _, err := store.Resolve(ctx, "oci:"+dstDir+":v1", false); err != nil {
		t.Fatalf("the copy exited 0, but the destination's tag names a manifest that does not read: %v", err)
	}
}
