package attachment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/storage"
)

// hostileRegistry answers in process, without a network: the fuzzed bytes
// as the referrers listing (or, without the referrers API, as the referrers
// tag schema index), the fuzzed tag list, and the fuzzed blob for any blob.
type hostileRegistry struct {
	referrersAPI bool
	listing      []byte
	tags         []string
	blob         []byte
}

func (h *hostileRegistry) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	p := r.URL.Path
	fallback := "/manifests/" + registry.FallbackTag(testSubject.Digest)
	switch {
	case p == "/v2/" || p == "/v2":
		return respond(r, http.StatusOK, "application/json", []byte(`{}`)), nil
	case strings.Contains(p, "/referrers/") && h.referrersAPI:
		return respond(r, http.StatusOK, string(types.OCIImageIndex), h.listing), nil
	case strings.HasSuffix(p, fallback) && !h.referrersAPI:
		return respond(r, http.StatusOK, string(types.OCIImageIndex), h.listing), nil
	case strings.HasSuffix(p, "/tags/list"):
		raw, _ := json.Marshal(map[string]any{"name": "app", "tags": h.tags})
		return respond(r, http.StatusOK, "application/json", raw), nil
	case strings.Contains(p, "/blobs/"):
		return respond(r, http.StatusOK, "application/octet-stream", h.blob), nil
	}
	return respond(r, http.StatusNotFound, "application/json", []byte(`{"errors":[{"code":"NOT_FOUND","message":"no"}]}`)), nil
}

func respond(r *http.Request, code int, contentType string, body []byte) *http.Response {
	return &http.Response{
		StatusCode:    code,
		Status:        http.StatusText(code),
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {contentType}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       r,
	}
}

// FuzzDiscover: whatever a registry lists as an image's referrers — through
// the referrers API or the referrers tag schema index — discovery never
// panics, fails only with a classified error, and on success reports each
// listed referrer exactly once, invents none and keeps within the bounds; a
// bundle fetched through a listing's digest annotation is the blob with that
// digest, whatever the registry sends.
func FuzzDiscover(f *testing.F) {
	ref, err := NewReferrer(testSubject, testBundleDesc, "https://sigstore.dev/cosign/sign/v1", time.Unix(1e9, 0))
	if err != nil {
		f.Fatal(err)
	}
	index := func(descs ...v1.Descriptor) []byte {
		raw, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: descs})
		if err != nil {
			f.Fatal(err)
		}
		return raw
	}
	other := ref.Descriptor
	other.Digest = registry.Digest([]byte("another referrer"))
	other.Annotations = map[string]string{AnnotationCreated: "1999-01-01T00:00:00Z"}
	prefix := registry.FallbackTag(testSubject.Digest) + "."
	for _, seed := range []struct {
		listing []byte
		api     bool
		tags    string
		blob    []byte
	}{
		{index(ref.Descriptor), true, "", testBundle},
		{index(ref.Descriptor), false, "", testBundle},
		{index(ref.Descriptor, other, ref.Descriptor), true, "", []byte("not the bundle")},
		{index(ref.Descriptor, other), false, prefix + "sig\n" + prefix + "ref-" + ref.Descriptor.Digest.Hex[:16] + "\nlatest", testBundle},
		{index(), false, prefix + "att\n" + prefix + "ref-\n" + prefix, nil},
		{[]byte(`{"schemaVersion":2,"manifests":[{"digest":"sha256:00","annotations":{"dev.imgsign.bundle.digest":"sha512:00"}}]}`), true, "", nil},
		{[]byte(`{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"` + testBundleDesc.Digest.String() + `","size":-1,"annotations":{"dev.imgsign.bundle.digest":"` + testBundleDesc.Digest.String() + `"}}]}`), true, "", testBundle},
		{[]byte(`{"schemaVersion":1}`), true, "", nil},
		{[]byte(`null`), false, "", nil},
		{[]byte("\xff"), true, "", nil},
	} {
		f.Add(seed.listing, seed.api, seed.tags, seed.blob)
	}
	f.Fuzz(func(t *testing.T, listing []byte, api bool, tags string, blob []byte) {
		h := &hostileRegistry{referrersAPI: api, listing: listing, blob: blob}
		if tags != "" {
			h.tags = strings.Split(tags, "\n")
		}
		c := registry.New(registry.WithKeychain(authn.NewMultiKeychain()), registry.WithTransport(h))
		r, err := name.NewRepository("127.0.0.1:5000/app", name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		repo, err := c.Open(ctx, r, false)
		if err != nil {
			t.Fatal(err)
		}
		l, err := Discover(ctx, repo, testSubject, Options{})
		if err != nil {
			if _, ok := errkind.Of(err); !ok {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if len(l.Entries) > registry.MaxReferrers {
			t.Fatalf("%d entries, over the bound of %d", len(l.Entries), registry.MaxReferrers)
		}
		// Every listed descriptor once; nothing but what was listed (no tag
		// here names a manifest the registry serves).
		var idx v1.IndexManifest
		if err := json.Unmarshal(listing, &idx); err != nil {
			t.Fatalf("discovery accepted a listing that is not JSON: %v", err)
		}
		listed := map[v1.Hash]bool{}
		for _, d := range idx.Manifests {
			listed[d.Digest] = true
		}
		seen := map[v1.Hash]bool{}
		for _, e := range l.Entries {
			if seen[e.Descriptor.Digest] {
				t.Fatalf("referrer %s reported twice", e.Descriptor.Digest)
			}
			seen[e.Descriptor.Digest] = true
			if !listed[e.Descriptor.Digest] {
				t.Fatalf("referrer %s was never listed", e.Descriptor.Digest)
			}
			if len(e.Sources) == 0 {
				t.Fatalf("referrer %s has no source", e.Descriptor.Digest)
			}
		}
		if len(seen) != len(listed) {
			t.Fatalf("%d distinct referrers listed, %d reported", len(listed), len(seen))
		}
		for _, e := range l.Entries {
			if !IsBundle(e.Descriptor) {
				continue
			}
			b, err := FetchBundle(ctx, repo, testSubject.Digest, e)
			if err != nil {
				// Not found is left for the caller to classify.
				var nf *storage.NotFoundError
				if _, ok := errkind.Of(err); !ok && !errors.As(err, &nf) {
					t.Fatalf("unclassified error fetching a bundle: %v", err)
				}
				continue
			}
			want, err := v1.NewHash(e.Descriptor.Annotations[AnnotationBundleDigest])
			if err != nil {
				t.Fatalf("fetched a bundle without a digest to check it against (annotation %q)", e.Descriptor.Annotations[AnnotationBundleDigest])
			}
			if got := registry.Digest(b); got != want {
				t.Fatalf("fetched bundle bytes with digest %s for %s", got, want)
			}
		}
	})
}
