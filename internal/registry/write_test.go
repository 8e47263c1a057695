package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/devregistry"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/storage"
)

func TestPutBlob(t *testing.T) {
	reg := serveRegistry(t, true)
	repo := openRepo(t, reg.Host, "app")
	ctx := context.Background()
	content := []byte("a bundle, say")

	reg.resetLog()
	desc, err := repo.PutBlob(ctx, content)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != Digest(content) || desc.Size != int64(len(content)) {
		t.Errorf("descriptor = %+v", desc)
	}
	if got := len(reg.requests("/blobs/")); got != 3 {
		t.Errorf("requests for a new blob = %v, want HEAD, POST, PUT", reg.requests("/blobs/"))
	}
	b, err := repo.Blob(ctx, desc, 1024)
	if err != nil || !bytes.Equal(b, content) {
		t.Fatalf("Blob = %q, %v", b, err)
	}

	reg.resetLog()
	if _, err := repo.PutBlob(ctx, content); err != nil {
		t.Fatal(err)
	}
	if got := reg.requests("/blobs/"); len(got) != 1 || !strings.HasPrefix(got[0], "HEAD ") {
		t.Errorf("requests for an existing blob = %v, want one HEAD", got)
	}
}

func TestWriteErrors(t *testing.T) {
	tests := []struct {
		name     string
		match    func(r *http.Request) bool
		serve    func(w http.ResponseWriter, r *http.Request)
		write    func(repo *Repo) error
		kind     errkind.Kind
		mentions []string
	}{
		{
			name:  "upload without location",
			match: func(r *http.Request) bool { return r.Method == http.MethodPost },
			serve: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) },
			write: func(repo *Repo) error { _, err := repo.PutBlob(context.Background(), []byte("x")); return err },
			kind:  errkind.Operational, mentions: []string{"upload location"},
		},
		{
			name:  "upload refused",
			match: func(r *http.Request) bool { return r.Method == http.MethodPost },
			serve: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) },
			write: func(repo *Repo) error { _, err := repo.PutBlob(context.Background(), []byte("x")); return err },
			kind:  errkind.Operational, mentions: []string{"docker login", "starting upload"},
		},
		{
			name:  "blob PUT rejected with a registry error",
			match: func(r *http.Request) bool { return r.Method == http.MethodPut },
			serve: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match"}]}`)
			},
			write: func(repo *Repo) error { _, err := repo.PutBlob(context.Background(), []byte("x")); return err },
			kind:  errkind.Operational, mentions: []string{"DIGEST_INVALID", "uploading"},
		},
		{
			name:  "manifest PUT unauthorized",
			match: func(r *http.Request) bool { return r.Method == http.MethodPut },
			serve: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusForbidden)
				_, _ = io.WriteString(w, `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`)
			},
			write: func(repo *Repo) error {
				return repo.PutManifest(context.Background(), "t", []byte(`{}`), types.OCIManifestSchema1)
			},
			kind: errkind.Operational, mentions: []string{"docker login", "DENIED"},
		},
		{
			name:  "manifest PUT invalid",
			match: func(r *http.Request) bool { return r.Method == http.MethodPut },
			serve: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid"}]}`)
			},
			write: func(repo *Repo) error {
				return repo.PutManifest(context.Background(), "t", []byte(`{}`), types.OCIManifestSchema1)
			},
			kind: errkind.Operational, mentions: []string{"MANIFEST_INVALID", "storing manifest t"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fastBackoff(t)
			reg := serveRegistry(t, true)
			reg.hook(func(w http.ResponseWriter, r *http.Request) bool {
				if tt.match(r) {
					tt.serve(w, r)
					return true
				}
				return false
			})
			wantKind(t, tt.write(openRepo(t, reg.Host, "app")), tt.kind, tt.mentions...)
		})
	}
}

// startDevRegistry runs internal/devregistry on loopback.
func startDevRegistry(t *testing.T, referrers bool) *devregistry.Server {
	t.Helper()
	s, err := devregistry.Start("127.0.0.1:0", referrers)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestPushReferrer(t *testing.T) {
	for _, api := range []bool{true, false} {
		t.Run(fmt.Sprintf("api=%v", api), func(t *testing.T) {
			dev := startDevRegistry(t, api)
			img := pushImage(t, dev.Addr, "team/app", "1")
			repo := openRepo(t, dev.Addr, "team/app")
			ctx := context.Background()
			for _, b := range [][]byte{[]byte("{}"), []byte("bundle one")} {
				if _, err := repo.PutBlob(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			ref := testReferrer(t, img, []byte("bundle one"))
			usedAPI, err := repo.PushReferrer(ctx, ref)
			if err != nil {
				t.Fatalf("PushReferrer: %v", err)
			}
			if usedAPI != api {
				t.Errorf("usedAPI = %v, want %v", usedAPI, api)
			}
			// The manifest is stored under its digest either way.
			raw, _, err := repo.Manifest(ctx, "", ref.Descriptor.Digest)
			if err != nil || !bytes.Equal(raw, ref.Manifest) {
				t.Fatalf("referrer manifest = %q, %v", raw, err)
			}
			descs, supported, err := repo.Referrers(ctx, img.Digest)
			if err != nil || supported != api {
				t.Fatalf("Referrers: supported %v, %v", supported, err)
			}
			tagged, _, tagErr := repo.Manifest(ctx, ReferrerTag(img.Digest, ref.Descriptor.Digest), v1.Hash{})
			index, err := repo.FallbackIndex(ctx, img.Digest)
			if err != nil {
				t.Fatal(err)
			}
			if api {
				if !containsDigest(descs, ref.Descriptor.Digest) {
					t.Errorf("referrers API does not list the referrer: %v", descs)
				}
				if !isNotFound(tagErr) || len(index) != 0 {
					t.Errorf("tag schema written on a registry with the API: tag %v, index %v", tagErr, index)
				}
				return
			}
			if tagErr != nil || !bytes.Equal(tagged, ref.Manifest) {
				t.Errorf("per-referrer tag = %q, %v; want the referrer", tagged, tagErr)
			}
			if len(index) != 1 || index[0].Digest != ref.Descriptor.Digest {
				t.Fatalf("shared index = %+v, want the referrer", index)
			}
			if index[0].ArtifactType != ref.Descriptor.ArtifactType || index[0].Annotations["dev.imgsign.bundle.digest"] != Digest([]byte("bundle one")).String() {
				t.Errorf("index entry lost the descriptor's artifactType or annotations: %+v", index[0])
			}
			tags, err := repo.TagsWithPrefix(ctx, FallbackTag(img.Digest)+".")
			if err != nil || !slices.Equal(tags, []string{ReferrerTag(img.Digest, ref.Descriptor.Digest)}) {
				t.Errorf("tags = %v, %v", tags, err)
			}

			// Pushing again changes nothing: no duplicate index entry.
			if _, err := repo.PushReferrer(ctx, ref); err != nil {
				t.Fatal(err)
			}
			if index, err := repo.FallbackIndex(ctx, img.Digest); err != nil || len(index) != 1 {
				t.Errorf("index after a second push = %+v, %v", index, err)
			}
		})
	}
}

// A concurrent writer's read-modify-write drops our entry from the shared
// index right after we wrote it: addToFallbackIndex must put it back, and
// keep the other writer's entry. The race is staged by a reverse proxy in
// front of a real registry that rewrites our first index PUT.
func TestAddToFallbackIndexReAddsDroppedEntry(t *testing.T) {
	dev := startDevRegistry(t, false)
	target, _ := url.Parse("http://" + dev.Addr)
	rp := httputil.NewSingleHostReverseProxy(target)

	var theirs atomic.Value // v1.Descriptor of the other writer's referrer
	var rewrites, indexPuts atomic.Int64
	var fallbackPath atomic.Value
	fallbackPath.Store("")
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Path == fallbackPath.Load().(string) {
			indexPuts.Add(1)
			if d, ok := theirs.Load().(v1.Descriptor); ok && rewrites.Add(1) == 1 {
				// The other writer read the index before ours landed and
				// writes it back with only its own entry.
				raw, _ := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{d}})
				r.Body = io.NopCloser(bytes.NewReader(raw))
				r.ContentLength = int64(len(raw))
				r.Header.Set("Content-Length", fmt.Sprint(len(raw)))
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	host := strings.TrimPrefix(front.URL, "http://")

	img := pushImage(t, host, "app", "1")
	repo := openRepo(t, host, "app")
	fallbackPath.Store("/v2/app/manifests/" + FallbackTag(img.Digest))
	other := pushReferrer(t, repo, img, "their bundle")
	theirs.Store(other.Descriptor)
	indexPuts.Store(0)

	ours := pushReferrer(t, repo, img, "our bundle")
	index, err := repo.FallbackIndex(context.Background(), img.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if !containsDigest(index, ours.Descriptor.Digest) || !containsDigest(index, other.Descriptor.Digest) || len(index) != 2 {
		t.Errorf("index = %v, want ours %s and theirs %s", digests(index), ours.Descriptor.Digest, other.Descriptor.Digest)
	}
	if rewrites.Load() == 0 {
		t.Fatal("the proxy never staged the race")
	}
	if n := indexPuts.Load(); n < 2 {
		t.Errorf("index PUTs = %d, want the write and the re-add", n)
	}
}

func digests(descs []v1.Descriptor) []string {
	var out []string
	for _, d := range descs {
		out = append(out, d.Digest.String())
	}
	return out
}

// Ten writers at once on a registry without the API: every referrer keeps its
// own tag, whatever happens to the shared index.
func TestPushReferrerConcurrent(t *testing.T) {
	dev := startDevRegistry(t, false)
	img := pushImage(t, dev.Addr, "app", "1")
	const writers = 10
	repo := openRepo(t, dev.Addr, "app")
	ctx := context.Background()
	refs := make([]storage.Referrer, writers)
	for i := range refs {
		bundle := []byte(fmt.Sprintf("bundle %d", i))
		for _, b := range [][]byte{[]byte("{}"), bundle} {
			if _, err := repo.PutBlob(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		refs[i] = testReferrer(t, img, bundle)
	}
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			c := newClient()
			r, err := c.Open(ctx, repo.Name(), true) // a connection of its own, like a separate signer
			if err == nil {
				_, err = r.PushReferrer(ctx, refs[i])
			}
			if err != nil {
				t.Errorf("writer %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	tags, err := repo.TagsWithPrefix(ctx, FallbackTag(img.Digest)+".")
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range refs {
		if !slices.Contains(tags, ReferrerTag(img.Digest, ref.Descriptor.Digest)) {
			t.Errorf("no per-referrer tag for %s", ref.Descriptor.Digest)
		}
	}
	if len(tags) != writers {
		t.Errorf("tags = %v, want %d", tags, writers)
	}
}

func TestPushReferrerErrors(t *testing.T) {
	tests := []struct {
		name  string
		match func(r *http.Request) bool
		kind  errkind.Kind
	}{
		{"manifest PUT fails", func(r *http.Request) bool { return r.Method == http.MethodPut }, errkind.Operational},
		{"referrers listing fails", func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/referrers/") }, errkind.Operational},
		{"tag PUT fails", func(r *http.Request) bool {
			return r.Method == http.MethodPut && strings.Contains(r.URL.Path, ".ref-")
		}, errkind.Operational},
		{"index read fails", func(r *http.Request) bool {
			return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/sha256-")
		}, errkind.Operational},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fastBackoff(t)
			reg := serveRegistry(t, false)
			img := pushImage(t, reg.Host, "app", "1")
			repo := openRepo(t, reg.Host, "app")
			ctx := context.Background()
			for _, b := range [][]byte{[]byte("{}"), []byte("b")} {
				if _, err := repo.PutBlob(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			reg.hook(func(w http.ResponseWriter, r *http.Request) bool {
				if tt.match(r) {
					w.WriteHeader(http.StatusInternalServerError)
					return true
				}
				return false
			})
			_, err := repo.PushReferrer(ctx, testReferrer(t, img, []byte("b")))
			wantKind(t, err, tt.kind)
		})
	}
}

func TestPushReferrerCancelled(t *testing.T) {
	reg := serveRegistry(t, false)
	img := pushImage(t, reg.Host, "app", "1")
	repo := openRepo(t, reg.Host, "app")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, b := range [][]byte{[]byte("{}"), []byte("b")} {
		if _, err := repo.PutBlob(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	// Cancel as soon as the shared index is written: the wait for other
	// writers must end with the context.
	reg.hook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/manifests/"+FallbackTag(img.Digest)) {
			reg.inner.ServeHTTP(w, r)
			cancel()
			return true
		}
		return false
	})
	_, err := repo.PushReferrer(ctx, testReferrer(t, img, []byte("b")))
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("err = %v, want context canceled", err)
	}
}

func TestReferrerTag(t *testing.T) {
	subject := Digest([]byte("image"))
	referrer := Digest([]byte("referrer"))
	got := ReferrerTag(subject, referrer)
	want := "sha256-" + subject.Hex + ".ref-" + referrer.Hex[:32]
	if got != want {
		t.Errorf("ReferrerTag = %q, want %q", got, want)
	}
	if len(got) > 128 {
		t.Errorf("tag is %d characters, over the 128 a tag may have", len(got))
	}
	if _, err := name.NewTag("reg.example.com/app:" + got); err != nil {
		t.Errorf("not a valid tag: %v", err)
	}
	if !strings.HasPrefix(got, FallbackTag(subject)+".") {
		t.Errorf("tag %q does not start with the subject's tag schema prefix", got)
	}
	if ReferrerTag(subject, Digest([]byte("other"))) == got {
		t.Error("two referrers share a tag")
	}
	// A malformed digest must not panic.
	for _, h := range []v1.Hash{{}, {Algorithm: "sha256", Hex: "abc"}} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("ReferrerTag(%v) panicked: %v", h, r)
				}
			}()
			_ = ReferrerTag(subject, h)
		}()
	}
}

func TestDigest(t *testing.T) {
	// sha256 of the empty string and of "{}", the OCI empty descriptor.
	for in, want := range map[string]string{
		"":   "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"{}": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
	} {
		if got := Digest([]byte(in)).String(); got != want {
			t.Errorf("Digest(%q) = %s, want %s", in, got, want)
		}
	}
}
