package attachment

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/storage"
)

// proxy is a logging, hookable in-memory registry (testenv.HookedRegistry).
type proxy = testenv.HookedRegistry

func serveRegistry(t *testing.T, referrersAPI bool) *proxy {
	t.Helper()
	return testenv.NewHookedRegistry(t, referrersAPI)
}

// requests returns logged requests containing every part.
func requests(p *proxy, parts ...string) []string {
	var out []string
	for _, l := range p.Requests() {
		ok := true
		for _, s := range parts {
			ok = ok && strings.Contains(l, s)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// fixture is an image in a registry, with a repo opened for pushing.
type fixture struct {
	reg   *proxy
	repo  *registry.Repo
	image v1.Descriptor
}

func newFixture(t *testing.T, referrersAPI bool) *fixture {
	t.Helper()
	reg := serveRegistry(t, referrersAPI)
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(reg.Host+"/team/app:1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("pushing test image: %v", err)
	}
	raw, _ := img.RawManifest()
	mt, _ := img.MediaType()
	c := registry.New(registry.WithKeychain(authn.NewMultiKeychain()))
	repo, err := c.Open(context.Background(), ref.Context(), true)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{reg: reg, repo: repo, image: v1.Descriptor{MediaType: mt, Digest: registry.Digest(raw), Size: int64(len(raw))}}
}

// sign attaches bundle to the image the way sign.Push does: blobs, referrer
// manifest, PushReferrer.
func (f *fixture) sign(t *testing.T, bundle string, created time.Time) storage.Referrer {
	t.Helper()
	ctx := context.Background()
	if _, err := f.repo.PutBlob(ctx, EmptyJSON); err != nil {
		t.Fatal(err)
	}
	bd, err := f.repo.PutBlob(ctx, []byte(bundle))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := NewReferrer(f.image, bd, "https://sigstore.dev/cosign/sign/v1", created)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.repo.PushReferrer(ctx, ref); err != nil {
		t.Fatalf("PushReferrer: %v", err)
	}
	return ref
}

// tag stores raw under tag.
func (f *fixture) tag(t *testing.T, tag string, raw []byte) {
	t.Helper()
	if err := f.repo.PutManifest(context.Background(), tag, raw, "application/vnd.oci.image.manifest.v1+json"); err != nil {
		t.Fatalf("tagging %s: %v", tag, err)
	}
}

func wantKind(t *testing.T, err error, kind errkind.Kind, mentions ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want a %v error", kind)
	}
	if k, ok := errkind.Of(err); !ok || k != kind {
		t.Fatalf("error kind = %v (marked %v), want %v: %v", k, ok, kind, err)
	}
	for _, m := range mentions {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q does not mention %q", err, m)
		}
	}
}

// entryFor returns the entry for digest d, or nil.
func entryFor(l *Listing, d v1.Hash) *Entry {
	for _, e := range l.Entries {
		if e.Descriptor.Digest == d {
			return e
		}
	}
	return nil
}

func sources(e *Entry) []Source {
	s := slices.Clone(e.Sources)
	slices.Sort(s)
	return s
}
