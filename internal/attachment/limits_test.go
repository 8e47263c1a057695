package attachment

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/registry"
)

// Without the referrers API an image's referrers come from the shared index
// and from per-referrer tags; each source within its own bound can still add
// up to more than discovery reads. That is refused with the numbers before a
// single manifest is fetched for them.
func TestDiscoverLimitAcrossSources(t *testing.T) {
	f := newFixture(t, false)
	half := registry.MaxReferrers/2 + 1
	var descs []v1.Descriptor
	for i := range half {
		descs = append(descs, v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: registry.Digest(fmt.Appendf(nil, "index %d", i)), Size: 10})
	}
	prefix := registry.FallbackTag(f.image.Digest) + "."
	f.reg.Hook(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/manifests/"+registry.FallbackTag(f.image.Digest)) {
			w.Header().Set("Content-Type", string(types.OCIImageIndex))
			_ = json.NewEncoder(w).Encode(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: descs})
			return true
		}
		if !strings.HasSuffix(r.URL.Path, "/tags/list") {
			return false
		}
		var tags []string
		for i := range half {
			tags = append(tags, registry.ReferrerTag(f.image.Digest, registry.Digest(fmt.Appendf(nil, "tagged %d", i))))
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"tags": tags})
		return true
	})
	f.reg.ResetLog()
	l, err := Discover(context.Background(), f.repo, f.image, Options{})
	wantKind(t, err, errkind.Operational, fmt.Sprintf("more than %d referrers (limit)", registry.MaxReferrers), "refusing to judge on partial data")
	if l != nil {
		t.Errorf("listing with %d entries returned with the error", len(l.Entries))
	}
	if got := requests(f.reg, "GET", "/manifests/"+prefix); len(got) != 0 {
		t.Errorf("fetched %d per-referrer tags past the limit", len(got))
	}
}
