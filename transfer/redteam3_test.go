package transfer

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/ocilayout"
	"github.com/imgsign/imgsign/internal/refname"
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
	dir := filepath.Join(t.TempDir(), "src")
	n, err := refname.LayoutRepository(dir)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := name.NewRepository(n)
	if err != nil {
		t.Fatal(err)
	}
	l := ocilayout.Open(dir, repo)
	cfg, err := l.PutBlob(ctx, []byte(`{"architecture":"amd64","os":"linux"}`))
	if err != nil {
		t.Fatal(err)
	}
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
	_, err = Copy(ctx, store, req)
	var le *registry.LimitError
	if !errors.As(err, &le) {
		t.Fatalf("copy --all-tags of 40 tags holding 8 MiB of manifests, under a 1 MiB per-image bound: %v, want a limit error", err)
	}
	maxHeldPerImage = old
	if _, err := Copy(ctx, store, req); err != nil {
		t.Fatalf("the same copy under the real bounds: %v", err)
	}
}
