package attachment

import (
	"context"
	"errors"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/registry"
)

// A per-referrer tag as imgsign writes it, overwritten with another manifest
// and the referrers index emptied (a push is enough): discovery refuses the
// listing rather than report the referrer as gone.
func TestDiscoverOverwrittenReferrerTag(t *testing.T) {
	f := newFixture(t, false)
	a := f.sign(t, "bundle a", t1)
	ctx := context.Background()
	f.tag(t, registry.FallbackTag(f.image.Digest), []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`))
	other, err := NewReferrer(f.image, v1.Descriptor{Digest: registry.Digest([]byte("x")), Size: 1}, "p", t2)
	if err != nil {
		t.Fatal(err)
	}
	f.tag(t, registry.ReferrerTag(f.image.Digest, a.Descriptor.Digest), other.Manifest)
	_, err = Discover(ctx, f.repo, f.image, Options{})
	if k, _ := errkind.Of(err); err == nil || k != errkind.Untrusted {
		t.Fatalf("Discover = %v, want an untrusted error naming the overwritten tag", err)
	}
	var le *registry.LimitError
	if errors.As(err, &le) {
		t.Fatalf("not a limit: %v", err)
	}
}
