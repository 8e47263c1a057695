package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/storage"
)

// fastBackoff shortens the retry backoff for one test and restores it after.
// Tests that call it must not run in parallel with each other.
func fastBackoff(t *testing.T) {
	t.Helper()
	old := backoff
	backoff = []time.Duration{time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond}
	t.Cleanup(func() { backoff = old })
}

// memRegistry is go-containerregistry's in-memory registry, quiet.
func memRegistry(referrers bool) http.Handler {
	return ggcr.New(ggcr.WithReferrersSupport(referrers), ggcr.Logger(log.New(io.Discard, "", 0)))
}

// proxy serves a handler (usually a real registry) on 127.0.0.1, logs every
// request and lets a test take over requests with hooks.
type proxy struct {
	Host  string // 127.0.0.1:port
	inner http.Handler

	mu    sync.Mutex
	log   []string // "METHOD /path?query"
	hooks []func(w http.ResponseWriter, r *http.Request) bool
}

func newProxy(t *testing.T, inner http.Handler) *proxy {
	t.Helper()
	p := &proxy{inner: inner}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	p.Host = strings.TrimPrefix(srv.URL, "http://")
	return p
}

// serveRegistry starts a real in-memory registry behind a proxy.
func serveRegistry(t *testing.T, referrers bool) *proxy {
	t.Helper()
	return newProxy(t, memRegistry(referrers))
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	line := r.Method + " " + r.URL.Path
	if r.URL.RawQuery != "" {
		line += "?" + r.URL.RawQuery
	}
	p.log = append(p.log, line)
	hooks := slices.Clone(p.hooks)
	p.mu.Unlock()
	for _, h := range hooks {
		if h(w, r) {
			return
		}
	}
	p.inner.ServeHTTP(w, r)
}

// hook installs h in front of the registry; h returns true when it answered.
func (p *proxy) hook(h func(w http.ResponseWriter, r *http.Request) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hooks = append(p.hooks, h)
}

// requests returns the logged requests whose line contains every one of parts.
func (p *proxy) requests(parts ...string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, l := range p.log {
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

func (p *proxy) resetLog() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log = nil
}

// recordInner serves r with the inner registry into a recorder.
func (p *proxy) recordInner(r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	p.inner.ServeHTTP(rec, r)
	return rec
}

// anonymous resolves every registry to anonymous access, so tests never read
// the Docker config of whoever runs them.
var anonymous = authn.NewMultiKeychain()

func newClient(opts ...Option) *Client {
	return New(append([]Option{WithKeychain(anonymous)}, opts...)...)
}

// openRepo opens host/path for pushing.
func openRepo(t *testing.T, host, path string, opts ...Option) *Repo {
	t.Helper()
	c := newClient(opts...)
	ref, err := c.ParseReference(host + "/" + path)
	if err != nil {
		t.Fatalf("ParseReference: %v", err)
	}
	repo, err := c.Open(context.Background(), ref.Context(), true)
	if err != nil {
		t.Fatalf("Open %s: %v", ref.Context(), err)
	}
	return repo
}

// pushImage writes a random image with go-containerregistry's own client (not
// the code under test) and returns its descriptor.
func pushImage(t *testing.T, host, path, tag string) v1.Descriptor {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host+"/"+path+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("pushing test image: %v", err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	mt, err := img.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	return v1.Descriptor{MediaType: mt, Digest: Digest(raw), Size: int64(len(raw))}
}

// testReferrer builds a bundle-referrer-shaped manifest for subject, without
// the attachment package (which imports this one).
func testReferrer(t *testing.T, subject v1.Descriptor, bundle []byte) storage.Referrer {
	t.Helper()
	bd := Digest(bundle)
	empty := []byte("{}")
	ann := map[string]string{"dev.imgsign.bundle.digest": bd.String(), "org.opencontainers.image.created": time.Now().UTC().Format(time.RFC3339)}
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     types.OCIManifestSchema1,
		"artifactType":  "application/vnd.dev.sigstore.bundle.v0.3+json",
		"config":        v1.Descriptor{MediaType: "application/vnd.oci.empty.v1+json", Digest: Digest(empty), Size: 2},
		"layers":        []v1.Descriptor{{MediaType: "application/vnd.dev.sigstore.bundle.v0.3+json", Digest: bd, Size: int64(len(bundle))}},
		"subject":       subject,
		"annotations":   ann,
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return storage.Referrer{
		Manifest: raw,
		Subject:  subject.Digest,
		Descriptor: v1.Descriptor{
			MediaType:    types.OCIManifestSchema1,
			ArtifactType: "application/vnd.dev.sigstore.bundle.v0.3+json",
			Digest:       Digest(raw),
			Size:         int64(len(raw)),
			Annotations:  ann,
		},
	}
}

// pushReferrer uploads the referrer's blobs and pushes it with PushReferrer.
func pushReferrer(t *testing.T, repo *Repo, subject v1.Descriptor, bundle string) storage.Referrer {
	t.Helper()
	ctx := context.Background()
	for _, b := range [][]byte{[]byte("{}"), []byte(bundle)} {
		if _, err := repo.PutBlob(ctx, b); err != nil {
			t.Fatalf("PutBlob: %v", err)
		}
	}
	ref := testReferrer(t, subject, []byte(bundle))
	if _, err := repo.PushReferrer(ctx, ref); err != nil {
		t.Fatalf("PushReferrer: %v", err)
	}
	return ref
}

// wantKind fails t unless err is marked with kind and mentions every one of
// the given substrings.
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

// resetConn closes c with a TCP RST instead of a FIN.
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// writeIndex answers with an OCI index of descs.
func writeIndex(w http.ResponseWriter, descs []v1.Descriptor, link string) {
	raw, _ := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: descs})
	w.Header().Set("Content-Type", string(types.OCIImageIndex))
	if link != "" {
		w.Header().Set("Link", link)
	}
	_, _ = w.Write(raw)
}

// countingBody counts the bytes the code under test read from a response.
type countingBody struct {
	io.ReadCloser
	mu *sync.Mutex
	n  *int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.mu.Lock()
	*c.n += int64(n)
	c.mu.Unlock()
	return n, err
}

// countingTransport wraps http.DefaultTransport and counts response bytes read.
type countingTransport struct {
	mu   sync.Mutex
	read int64
}

func (ct *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = countingBody{ReadCloser: resp.Body, mu: &ct.mu, n: &ct.read}
	return resp, nil
}

func (ct *countingTransport) bytesRead() int64 {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	return ct.read
}

// endless writes bytes until the client goes away.
func endless(w http.ResponseWriter, contentType string) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	chunk := bytes.Repeat([]byte("A"), 32<<10)
	for {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
}

func mustHash(t *testing.T, s string) v1.Hash {
	t.Helper()
	h, err := v1.NewHash(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func isNotFound(err error) bool {
	var nf *storage.NotFoundError
	return errors.As(err, &nf)
}
