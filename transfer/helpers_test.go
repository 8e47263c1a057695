package transfer

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/attachment"
	"github.com/imgsign/imgsign/internal/ocilayout"
	"github.com/imgsign/imgsign/internal/refname"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/storage"
)

// server is a logging, hookable in-memory registry (testenv.HookedRegistry).
type server = testenv.HookedRegistry

func newServer(t *testing.T, referrersAPI bool) *server {
	t.Helper()
	return testenv.NewHookedRegistry(t, referrersAPI)
}

// writes lists the requests since the last ResetLog that change something.
func writes(s *server) []string {
	var out []string
	for _, l := range s.Requests() {
		if !strings.HasPrefix(l, "GET ") && !strings.HasPrefix(l, "HEAD ") {
			out = append(out, l)
		}
	}
	return out
}

// client is imgsign's registry client, anonymous.
func client() *registry.Client {
	return registry.New(registry.WithKeychain(authn.NewMultiKeychain()))
}

func openRepo(t *testing.T, host, repo string) *registry.Repo {
	t.Helper()
	r, err := name.NewRepository(host+"/"+repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	rp, err := client().Open(context.Background(), r, true)
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

// pushImage pushes a random image with go-containerregistry's own client.
func pushImage(t *testing.T, host, repo, tag string) v1.Descriptor {
	t.Helper()
	img, err := random.Image(1000, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	raw, _ := img.RawManifest()
	mt, _ := img.MediaType()
	return v1.Descriptor{MediaType: mt, Digest: registry.Digest(raw), Size: int64(len(raw))}
}

// bundleOf is a Sigstore-bundle-shaped document whose DSSE statement has
// predicateType (unsigned: copies never verify).
func bundleOf(predicateType, salt string) []byte {
	stmt, _ := json.Marshal(map[string]any{"_type": statement.TypeV1, "predicateType": predicateType, "predicate": map[string]string{"salt": salt}})
	b, _ := json.Marshal(map[string]any{
		"mediaType":    attachment.BundleMediaType,
		"dsseEnvelope": map[string]any{"payload": base64.StdEncoding.EncodeToString(stmt), "payloadType": "application/vnd.in-toto+json", "signatures": []any{}},
	})
	return b
}

// attach pushes a bundle referrer of subject with predicateType and
// returns its descriptor.
func attach(t *testing.T, repo *registry.Repo, subject v1.Descriptor, predicateType, salt string) v1.Descriptor {
	t.Helper()
	ctx := context.Background()
	b := bundleOf(predicateType, salt)
	bd, err := repo.PutBlob(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.PutBlob(ctx, attachment.EmptyJSON); err != nil {
		t.Fatal(err)
	}
	ref, err := attachment.NewReferrer(subject, bd, predicateType, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.PushReferrer(ctx, ref); err != nil {
		t.Fatal(err)
	}
	return ref.Descriptor
}

// legacyTag pushes a cosign-legacy-shaped manifest, one layer per payload,
// under the tag sha256-<subject hex>.<suffix>.
func legacyTag(t *testing.T, repo *registry.Repo, subject v1.Hash, suffix string, payloads ...string) v1.Descriptor {
	t.Helper()
	ctx := context.Background()
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1}
	var diffIDs []v1.Hash
	for _, p := range payloads {
		d, err := repo.PutBlob(ctx, []byte(p))
		if err != nil {
			t.Fatal(err)
		}
		d.MediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
		d.Annotations = map[string]string{"dev.cosignproject.cosign/signature": base64.StdEncoding.EncodeToString([]byte("sig of " + p))}
		m.Layers = append(m.Layers, d)
		diffIDs = append(diffIDs, d.Digest)
	}
	cfg, _ := json.Marshal(v1.ConfigFile{RootFS: v1.RootFS{Type: "layers", DiffIDs: diffIDs}})
	cd, err := repo.PutBlob(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cd.MediaType = types.OCIConfigJSON
	m.Config = cd
	raw, _ := json.Marshal(m)
	if err := repo.PutManifest(ctx, attachment.LegacyTag(subject, suffix), raw, types.OCIManifestSchema1); err != nil {
		t.Fatal(err)
	}
	return v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: registry.Digest(raw), Size: int64(len(raw))}
}

// listing discovers what the destination has attached to subject.
func listing(t *testing.T, repo storage.Reader, subject v1.Descriptor) *attachment.Listing {
	t.Helper()
	l, err := attachment.Discover(context.Background(), repo, subject, attachment.Options{LegacyTags: true})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// fastRetries shortens the blob retry backoff for one test.
func fastRetries(t *testing.T) {
	t.Helper()
	old := blobBackoff
	blobBackoff = []time.Duration{time.Millisecond}
	t.Cleanup(func() { blobBackoff = old })
}

func statuses(res *Result) map[string]Status {
	out := map[string]Status{}
	for _, a := range res.Attachments {
		k := a.Digest
		if a.Tag != "" {
			k = a.Tag
		}
		out[k] = a.Status
	}
	return out
}

// recordInner serves r with the server's registry into a recorder.
func httptestRecorder(s *server, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	s.Registry().ServeHTTP(rec, r)
	return rec
}

// pushPlatformIndex pushes an index of linux/amd64 and linux/arm64 images
// and returns its descriptor and the children's by platform.
func pushPlatformIndex(t *testing.T, host, repo, tag string) (v1.Descriptor, map[string]v1.Descriptor) {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	children := map[string]v1.Descriptor{}
	for _, p := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}} {
		img, err := random.Image(200, 1)
		if err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
		raw, _ := img.RawManifest()
		mt, _ := img.MediaType()
		children[p.String()] = v1.Descriptor{MediaType: mt, Digest: registry.Digest(raw), Size: int64(len(raw))}
	}
	ref, err := name.ParseReference(host+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	raw, _ := idx.RawManifest()
	return v1.Descriptor{MediaType: types.OCIImageIndex, Digest: registry.Digest(raw), Size: int64(len(raw))}, children
}

// sourceLayout is a new OCI layout in a temporary directory holding one
// image config blob, and that config's descriptor.
func sourceLayout(t *testing.T) (dir string, l *ocilayout.Layout, cfg v1.Descriptor) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "src")
	n, err := refname.LayoutRepository(dir)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := name.NewRepository(n)
	if err != nil {
		t.Fatal(err)
	}
	l = ocilayout.Open(dir, repo)
	cfg, err = l.PutBlob(context.Background(), []byte(`{"architecture":"amd64","os":"linux"}`))
	if err != nil {
		t.Fatal(err)
	}
	return dir, l, cfg
}
