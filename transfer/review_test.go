package transfer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/ocilayout"
	"github.com/imgsign/imgsign/internal/registry"
)

// A source whose every manifest is within the size limit can still offer
// thousands of them: the manifest bytes a plan holds until it writes them
// are bounded (exit 3), not grown until the copy runs out of memory.
func TestReviewPlanBoundsHeldManifestBytes(t *testing.T) {
	ctx := context.Background()
	dir, l, cfg := sourceLayout(t)
	var children []string
	for i := range 8 {
		m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[],"annotations":{"pad":"%s%d"}}`,
			cfg.Digest, cfg.Size, strings.Repeat("x", 160<<10), i)
		d, _, err := v1.SHA256(strings.NewReader(m))
		if err != nil {
			t.Fatal(err)
		}
		if err := l.PutManifest(ctx, d.String(), []byte(m), types.OCIManifestSchema1); err != nil {
			t.Fatal(err)
		}
		children = append(children, fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":%d,"platform":{"os":"linux","architecture":"arch%d"}}`, d, len(m), i))
	}
	idx := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` + strings.Join(children, ",") + `]}`
	if err := l.PutManifest(ctx, "v1", []byte(idx), types.OCIImageIndex); err != nil {
		t.Fatal(err)
	}
	store := ocilayout.NewStore(client())
	req := Request{Source: "oci:" + dir + ":v1", Destination: "oci:" + filepath.Join(t.TempDir(), "dst")}

	old := maxHeldPerImage
	maxHeldPerImage = 1 << 20
	t.Cleanup(func() { maxHeldPerImage = old })
	_, err := Copy(ctx, store, req)
	var le *registry.LimitError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "MiB of manifests") {
		t.Fatalf("copy of 1.3 MiB of manifests under a 1 MiB bound: %v, want a limit error", err)
	}
	maxHeldPerImage = old
	if _, err := Copy(ctx, store, req); err != nil {
		t.Fatalf("the same copy under the real bound: %v", err)
	}
}

// A cosign signature written to the destination's legacy tag while the
// copy moves its blobs (cosign signing the copy) is kept: the tag is read
// again just before it is written, not taken from the plan.
func TestReviewLegacyTagWrittenDuringTheCopyIsKept(t *testing.T) {
	s := newScene(t, true, false)
	s.copy(t, Request{Only: []Kind{KindOther}}) // the image alone: no .sig at the destination yet
	dst := openRepo(t, s.dst.Host, "mirror")
	injected := false
	s.copy(t, Request{Progress: func(p Progress) {
		if !injected && p.Blobs > 0 && p.BlobsDone == p.Blobs {
			injected = true
			legacyTag(t, dst, s.image.Digest, "sig", "payload C")
		}
	}})
	if !injected {
		t.Fatal("the copy moved no blobs: nothing was signed during it")
	}
	raw, _, err := dst.Manifest(context.Background(), s.legacySig, v1.Hash{})
	if err != nil {
		t.Fatal(err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	have := map[v1.Hash]bool{}
	for _, l := range m.Layers {
		have[l.Digest] = true
	}
	if !have[registry.Digest([]byte("payload C"))] || !have[registry.Digest([]byte("payload A"))] {
		t.Errorf("the destination's %s holds %d layers: the signature written during the copy or the copied one is lost", s.legacySig, len(m.Layers))
	}
}
