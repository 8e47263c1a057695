package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/storage"
)

func isManifestReq(r *http.Request) bool { return strings.Contains(r.URL.Path, "/manifests/") }

func TestResolve(t *testing.T) {
	tests := []struct {
		name string
		// hook may take over requests to the registry reg.
		hook func(reg *proxy, w http.ResponseWriter, r *http.Request) bool
		// ref is "tag" for the pushed tag, "digest" for its digest, or a tag.
		ref          string
		wantKind     errkind.Kind // 0: success
		mentions     []string
		wantRequests []string // manifest requests, by method
	}{
		{name: "tag", ref: "tag", wantRequests: []string{"HEAD"}},
		{name: "digest", ref: "digest", wantRequests: []string{"HEAD"}},
		{
			name: "no digest header: the manifest is hashed", ref: "tag",
			hook: func(reg *proxy, w http.ResponseWriter, r *http.Request) bool {
				if !isManifestReq(r) {
					return false
				}
				rec := reg.recordInner(r)
				rec.Header().Del("Docker-Content-Digest")
				copyResponse(w, rec)
				return true
			},
			wantRequests: []string{"HEAD", "GET"},
		},
		{
			name: "malformed digest header: the manifest is hashed", ref: "tag",
			hook: func(reg *proxy, w http.ResponseWriter, r *http.Request) bool {
				if !isManifestReq(r) {
					return false
				}
				rec := reg.recordInner(r)
				rec.Header().Set("Docker-Content-Digest", "sha256:nothex")
				copyResponse(w, rec)
				return true
			},
			wantRequests: []string{"HEAD", "GET"},
		},
		{
			name: "a digest reference is not overridden by the header", ref: "digest",
			hook: func(reg *proxy, w http.ResponseWriter, r *http.Request) bool {
				if !isManifestReq(r) {
					return false
				}
				rec := reg.recordInner(r)
				rec.Header().Set("Docker-Content-Digest", "sha256:"+strings.Repeat("0", 64))
				copyResponse(w, rec)
				return true
			},
			wantRequests: []string{"HEAD"},
		},
		{name: "unknown tag", ref: "nope", wantKind: errkind.Input, mentions: []string{"not found", "nope"}, wantRequests: []string{"HEAD"}},
		{
			name: "401", ref: "tag", wantKind: errkind.Operational, mentions: []string{"docker login 127.0.0.1"},
			hook: func(reg *proxy, w http.ResponseWriter, r *http.Request) bool {
				if !isManifestReq(r) {
					return false
				}
				w.WriteHeader(http.StatusUnauthorized)
				return true
			},
			wantRequests: []string{"HEAD"},
		},
		{
			name: "403", ref: "tag", wantKind: errkind.Operational, mentions: []string{"docker login"},
			hook: func(reg *proxy, w http.ResponseWriter, r *http.Request) bool {
				if !isManifestReq(r) {
					return false
				}
				w.WriteHeader(http.StatusForbidden)
				return true
			},
			wantRequests: []string{"HEAD"},
		},
		{
			name: "500 after retries", ref: "tag", wantKind: errkind.Operational, mentions: []string{"resolving"},
			hook: func(reg *proxy, w http.ResponseWriter, r *http.Request) bool {
				if !isManifestReq(r) {
					return false
				}
				w.WriteHeader(http.StatusInternalServerError)
				return true
			},
			wantRequests: []string{"HEAD", "HEAD", "HEAD", "HEAD"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fastBackoff(t)
			reg := serveRegistry(t, true)
			img := pushImage(t, reg.Host, "team/app", "1.0")
			repo := openRepo(t, reg.Host, "team/app")
			var ref name.Reference
			switch tt.ref {
			case "tag":
				ref = repo.Name().Tag("1.0")
			case "digest":
				ref = repo.Name().Digest(img.Digest.String())
			default:
				ref = repo.Name().Tag(tt.ref)
			}
			if tt.hook != nil {
				reg.hook(func(w http.ResponseWriter, r *http.Request) bool { return tt.hook(reg, w, r) })
			}
			reg.resetLog()
			got, err := repo.Resolve(context.Background(), ref)
			if tt.wantKind != 0 {
				wantKind(t, err, tt.wantKind, tt.mentions...)
				if tt.wantKind == errkind.Input && !isNotFound(err) {
					t.Errorf("error %v is not a *storage.NotFoundError", err)
				}
			} else {
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}
				if got.Digest != img.Digest || got.Size != img.Size || got.MediaType != img.MediaType {
					t.Errorf("Resolve = %+v, want %+v", got, img)
				}
			}
			var methods []string
			for _, l := range reg.requests("/manifests/") {
				m, _, _ := strings.Cut(l, " ")
				methods = append(methods, m)
			}
			if !slices.Equal(methods, tt.wantRequests) {
				t.Errorf("manifest requests = %v, want %v", methods, tt.wantRequests)
			}
		})
	}
}

// copyResponse writes a recorded response to w.
func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

func TestManifest(t *testing.T) {
	fastBackoff(t)
	reg := serveRegistry(t, true)
	img := pushImage(t, reg.Host, "app", "1")
	other := pushImage(t, reg.Host, "app", "2")
	repo := openRepo(t, reg.Host, "app")
	ctx := context.Background()

	t.Run("by digest", func(t *testing.T) {
		raw, mt, err := repo.Manifest(ctx, "ignored-when-digest-given", img.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if Digest(raw) != img.Digest || mt != img.MediaType {
			t.Errorf("got %s %s, want %s %s", Digest(raw), mt, img.Digest, img.MediaType)
		}
	})
	t.Run("by tag is not digest-checked", func(t *testing.T) {
		raw, _, err := repo.Manifest(ctx, "2", v1.Hash{})
		if err != nil || Digest(raw) != other.Digest {
			t.Fatalf("Manifest by tag = %s, %v", Digest(raw), err)
		}
	})
	t.Run("not found", func(t *testing.T) {
		_, _, err := repo.Manifest(ctx, "missing", v1.Hash{})
		if !isNotFound(err) || !strings.Contains(err.Error(), "not found") {
			t.Errorf("err = %v, want a *storage.NotFoundError", err)
		}
		_, _, err = repo.Manifest(ctx, "", Digest([]byte("nothing")))
		if !isNotFound(err) {
			t.Errorf("by digest: err = %v, want a *storage.NotFoundError", err)
		}
	})
	t.Run("nothing to fetch", func(t *testing.T) {
		reg.resetLog()
		_, _, err := repo.Manifest(ctx, "", v1.Hash{})
		wantKind(t, err, errkind.Input)
		if got := reg.requests("/manifests/"); len(got) != 0 {
			t.Errorf("requests sent: %v", got)
		}
	})
	t.Run("server error", func(t *testing.T) {
		reg.hook(func(w http.ResponseWriter, r *http.Request) bool {
			if strings.HasSuffix(r.URL.Path, "/manifests/teapot") {
				w.WriteHeader(http.StatusTeapot)
				return true
			}
			return false
		})
		_, _, err := repo.Manifest(ctx, "teapot", v1.Hash{})
		wantKind(t, err, errkind.Operational, "418")
	})
}

// tamperingProxy serves the registry but replaces the body of requests whose
// path ends with suffix.
func tamper(reg *proxy, suffix string, body func(orig []byte) []byte) {
	reg.hook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, suffix) {
			return false
		}
		rec := reg.recordInner(r)
		b := body(rec.Body.Bytes())
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(b)
		return true
	})
}

func TestManifestDigestMismatch(t *testing.T) {
	reg := serveRegistry(t, true)
	img := pushImage(t, reg.Host, "app", "1")
	other := pushImage(t, reg.Host, "app", "2")
	repo := openRepo(t, reg.Host, "app")
	otherRaw, _, err := repo.Manifest(context.Background(), "", other.Digest)
	if err != nil {
		t.Fatal(err)
	}
	// The registry answers for img with other's bytes, a valid manifest.
	tamper(reg, "/manifests/"+img.Digest.String(), func([]byte) []byte { return otherRaw })
	_, _, err = repo.Manifest(context.Background(), "", img.Digest)
	wantKind(t, err, errkind.Untrusted, img.Digest.String(), other.Digest.String())
	var dm *DigestMismatchError
	if !errors.As(err, &dm) || dm.Want != img.Digest.String() || dm.Got != other.Digest.String() {
		t.Errorf("err = %#v, want a DigestMismatchError from %s to %s", err, img.Digest, other.Digest)
	}
}

func TestManifestOverLimit(t *testing.T) {
	tests := []struct {
		name string
		send func(w http.ResponseWriter)
	}{
		{"endless stream", func(w http.ResponseWriter) { endless(w, string(types.OCIManifestSchema1)) }},
		{"one byte over", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", string(types.OCIManifestSchema1))
			_, _ = w.Write(bytes.Repeat([]byte(" "), MaxManifestBytes+1))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := serveRegistry(t, true)
			img := pushImage(t, reg.Host, "app", "1")
			ct := &countingTransport{}
			repo := openRepo(t, reg.Host, "app", WithTransport(ct))
			reg.hook(func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodGet && isManifestReq(r) {
					tt.send(w)
					return true
				}
				return false
			})
			before := ct.bytesRead()
			_, _, err := repo.Manifest(context.Background(), "", img.Digest)
			wantKind(t, err, errkind.Untrusted, "limit")
			if n := ct.bytesRead() - before; n > MaxManifestBytes+1 {
				t.Errorf("read %d bytes, more than the limit + 1 (%d)", n, MaxManifestBytes+1)
			}
		})
	}
	t.Run("exactly at the limit is fine", func(t *testing.T) {
		reg := serveRegistry(t, true)
		repo := openRepo(t, reg.Host, "app")
		body := bytes.Repeat([]byte(" "), MaxManifestBytes)
		reg.hook(func(w http.ResponseWriter, r *http.Request) bool {
			if !isManifestReq(r) {
				return false
			}
			w.Header().Set("Content-Type", string(types.OCIManifestSchema1))
			_, _ = w.Write(body)
			return true
		})
		raw, _, err := repo.Manifest(context.Background(), "", Digest(body))
		if err != nil || len(raw) != MaxManifestBytes {
			t.Errorf("Manifest = %d bytes, %v", len(raw), err)
		}
	})
}

func TestReadLimited(t *testing.T) {
	tests := []struct {
		name    string
		size    int64 // -1: endless
		limit   int64
		wantErr errkind.Kind
	}{
		{"empty", 0, 10, 0},
		{"under", 9, 10, 0},
		{"at", 10, 10, 0},
		{"one over", 11, 10, errkind.Untrusted},
		{"far over", 1 << 20, 10, errkind.Untrusted},
		{"endless", -1, 1 << 16, errkind.Untrusted},
		{"zero limit", 1, 0, errkind.Untrusted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var src io.Reader = bytes.NewReader(bytes.Repeat([]byte("x"), int(max(tt.size, 0))))
			if tt.size < 0 {
				src = infinite{}
			}
			cr := &countReader{r: src}
			b, err := readLimited(cr, tt.limit, "thing")
			if cr.n > tt.limit+1 {
				t.Errorf("read %d bytes with limit %d", cr.n, tt.limit)
			}
			if tt.wantErr != 0 {
				wantKind(t, err, tt.wantErr, "thing", fmt.Sprint(tt.limit))
				return
			}
			if err != nil || int64(len(b)) != tt.size {
				t.Errorf("readLimited = %d bytes, %v; want %d", len(b), err, tt.size)
			}
		})
	}
	// The caller retries or classifies it (a deadline names the registry).
	t.Run("read error is left to the caller", func(t *testing.T) {
		_, err := readLimited(iotest.ErrReader(io.ErrUnexpectedEOF), 10, "thing")
		if k, ok := errkind.Of(err); ok {
			t.Errorf("read error marked %v", k)
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("err = %v does not wrap the read error", err)
		}
	})
}

type infinite struct{}

func (infinite) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'A'
	}
	return len(p), nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestBlob(t *testing.T) {
	fastBackoff(t)
	reg := serveRegistry(t, true)
	ct := &countingTransport{}
	repo := openRepo(t, reg.Host, "app", WithTransport(ct))
	ctx := context.Background()
	content := []byte(`{"bundle":"content"}`)
	desc, err := repo.PutBlob(ctx, content)
	if err != nil {
		t.Fatal(err)
	}
	otherContent := []byte(`{"bundle":"other"}`)
	if _, err := repo.PutBlob(ctx, otherContent); err != nil {
		t.Fatal(err)
	}
	endlessDesc := v1.Descriptor{Digest: Digest([]byte("endless")), Size: 0}
	reg.hook(func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case strings.HasSuffix(r.URL.Path, "/blobs/"+endlessDesc.Digest.String()):
			endless(w, "application/octet-stream")
			return true
		case strings.HasSuffix(r.URL.Path, "/blobs/"+Digest([]byte("swapped")).String()):
			_, _ = w.Write(otherContent)
			return true
		case strings.Contains(r.URL.Path, "/blobs/sha512:"):
			_, _ = w.Write(content)
			return true
		case strings.HasSuffix(r.URL.Path, "/blobs/"+Digest([]byte("forbidden")).String()):
			w.WriteHeader(http.StatusForbidden)
			return true
		}
		return false
	})

	t.Run("ok", func(t *testing.T) {
		for _, d := range []v1.Descriptor{desc, {Digest: desc.Digest}} { // with and without size
			b, err := repo.Blob(ctx, d, 1024)
			if err != nil || !bytes.Equal(b, content) {
				t.Errorf("Blob(%+v) = %q, %v", d, b, err)
			}
		}
	})
	tests := []struct {
		name     string
		desc     v1.Descriptor
		limit    int64
		kind     errkind.Kind
		mentions []string
		mismatch bool
		noFetch  bool
	}{
		{name: "descriptor over the limit", desc: v1.Descriptor{Digest: desc.Digest, Size: 1 << 30}, limit: 1024, kind: errkind.Untrusted, mentions: []string{"limit"}, noFetch: true},
		{name: "blob over the limit", desc: v1.Descriptor{Digest: desc.Digest}, limit: int64(len(content)) - 1, kind: errkind.Untrusted, mentions: []string{"limit"}},
		{name: "descriptor says bigger", desc: v1.Descriptor{Digest: desc.Digest, Size: int64(len(content)) + 1}, limit: 1024, kind: errkind.Untrusted, mentions: []string{"descriptor says"}},
		{name: "descriptor says smaller", desc: v1.Descriptor{Digest: desc.Digest, Size: int64(len(content)) - 1}, limit: 1024, kind: errkind.Untrusted, mentions: []string{"descriptor says"}},
		{name: "other bytes", desc: v1.Descriptor{Digest: Digest([]byte("swapped"))}, limit: 1024, kind: errkind.Untrusted, mismatch: true},
		{name: "other bytes, right size", desc: v1.Descriptor{Digest: Digest([]byte("swapped")), Size: int64(len(otherContent))}, limit: 1024, kind: errkind.Untrusted, mismatch: true},
		{name: "endless", desc: endlessDesc, limit: 4096, kind: errkind.Untrusted, mentions: []string{"limit"}},
		{name: "sha512", desc: v1.Descriptor{Digest: v1.Hash{Algorithm: "sha512", Hex: strings.Repeat("a", 128)}}, limit: 1024, kind: errkind.Untrusted, mentions: []string{"sha512"}},
		{name: "forbidden", desc: v1.Descriptor{Digest: Digest([]byte("forbidden"))}, limit: 1024, kind: errkind.Operational, mentions: []string{"docker login"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg.resetLog()
			before := ct.bytesRead()
			_, err := repo.Blob(ctx, tt.desc, tt.limit)
			wantKind(t, err, tt.kind, tt.mentions...)
			var dm *DigestMismatchError
			if tt.mismatch != errors.As(err, &dm) {
				t.Errorf("DigestMismatchError: %v, want %v (%v)", !tt.mismatch, tt.mismatch, err)
			}
			if n := ct.bytesRead() - before; n > tt.limit+1 {
				t.Errorf("read %d bytes with limit %d", n, tt.limit)
			}
			if tt.noFetch && len(reg.requests("/blobs/")) != 0 {
				t.Errorf("fetched a blob the descriptor already ruled out: %v", reg.requests("/blobs/"))
			}
		})
	}
	t.Run("not found", func(t *testing.T) {
		_, err := repo.Blob(ctx, v1.Descriptor{Digest: Digest([]byte("absent"))}, 1024)
		if !isNotFound(err) {
			t.Errorf("err = %v, want a *storage.NotFoundError", err)
		}
	})
}

// referrerManifest pushes a minimal manifest with subject and returns its descriptor.
func pushSubjectManifest(t *testing.T, repo *Repo, subject v1.Descriptor, note string) v1.Descriptor {
	t.Helper()
	ctx := context.Background()
	empty := []byte("{}")
	if _, err := repo.PutBlob(ctx, empty); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": types.OCIManifestSchema1, "artifactType": "application/x-test",
		"config":  v1.Descriptor{MediaType: "application/vnd.oci.empty.v1+json", Digest: Digest(empty), Size: 2},
		"layers":  []v1.Descriptor{},
		"subject": subject, "annotations": map[string]string{"note": note},
	})
	d := Digest(raw)
	if err := repo.PutManifest(ctx, d.String(), raw, types.OCIManifestSchema1); err != nil {
		t.Fatal(err)
	}
	return v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: d, Size: int64(len(raw))}
}

func TestReferrersRealRegistries(t *testing.T) {
	for _, api := range []bool{true, false} {
		t.Run(fmt.Sprintf("api=%v", api), func(t *testing.T) {
			reg := serveRegistry(t, api)
			img := pushImage(t, reg.Host, "app", "1")
			repo := openRepo(t, reg.Host, "app")
			a := pushSubjectManifest(t, repo, img, "a")
			b := pushSubjectManifest(t, repo, img, "b")
			descs, supported, err := repo.Referrers(context.Background(), img.Digest)
			if err != nil {
				t.Fatal(err)
			}
			if supported != api {
				t.Errorf("supported = %v, want %v", supported, api)
			}
			var got []v1.Hash
			for _, d := range descs {
				got = append(got, d.Digest)
			}
			want := []v1.Hash{}
			if api {
				want = []v1.Hash{a.Digest, b.Digest}
			}
			if len(got) != len(want) || (len(want) > 0 && !slices.Contains(got, a.Digest)) || (len(want) > 0 && !slices.Contains(got, b.Digest)) {
				t.Errorf("referrers = %v, want %v", got, want)
			}
			if reqs := reg.requests("GET", "/referrers/"); len(reqs) != 1 {
				t.Errorf("referrers requests = %v, want one", reqs)
			}
		})
	}
}

func TestReferrersHostile(t *testing.T) {
	subject := Digest([]byte("subject"))
	entry := v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: Digest([]byte("r1")), Size: 10}
	entry2 := v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: Digest([]byte("r2")), Size: 10}
	indexCT := string(types.OCIImageIndex)
	reply := func(code int, ct, body string) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			if ct != "" {
				w.Header().Set("Content-Type", ct)
			}
			w.WriteHeader(code)
			_, _ = io.WriteString(w, body)
		}
	}
	tests := []struct {
		name          string
		serve         func(w http.ResponseWriter, r *http.Request)
		wantSupported bool
		wantKind      errkind.Kind
		want          []v1.Hash
	}{
		{name: "404: no API", serve: reply(404, "application/json", `{"errors":[]}`)},
		{name: "400: no API", serve: reply(400, "", "")},
		{name: "405: no API", serve: reply(405, "", "")},
		{name: "406: no API", serve: reply(406, "", "")},
		{name: "200 html catch-all: no API", serve: reply(200, "text/html", "<html>hello</html>")},
		{name: "200 endless html: no API", serve: func(w http.ResponseWriter, r *http.Request) { endless(w, "text/html") }},
		{name: "garbage", serve: reply(200, indexCT, "\x00\x01garbage"), wantSupported: true, wantKind: errkind.Untrusted},
		{name: "truncated", serve: reply(200, indexCT, `{"schemaVersion":2,"manifests":[`), wantSupported: true, wantKind: errkind.Untrusted},
		{name: "json array", serve: reply(200, indexCT, `[1,2,3]`), wantSupported: true, wantKind: errkind.Untrusted},
		{name: "json null", serve: reply(200, indexCT, `null`), wantSupported: true, wantKind: errkind.Untrusted},
		{name: "empty object", serve: reply(200, indexCT, `{}`), wantSupported: true, wantKind: errkind.Untrusted},
		{name: "empty body", serve: reply(200, indexCT, ``), wantSupported: true, wantKind: errkind.Untrusted},
		{name: "an image manifest", serve: reply(200, indexCT, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}`), wantSupported: true, wantKind: errkind.Untrusted},
		{name: "bad digest in entry", serve: reply(200, indexCT, `{"schemaVersion":2,"manifests":[{"digest":"sha256:abc"}]}`), wantSupported: true, wantKind: errkind.Untrusted},
		{name: "entry without digest", serve: reply(200, indexCT, `{"schemaVersion":2,"manifests":[{"mediaType":"x","size":3}]}`), wantSupported: true, wantKind: errkind.Untrusted},
		{name: "manifests not a list", serve: reply(200, indexCT, `{"schemaVersion":2,"manifests":{}}`), wantSupported: true, wantKind: errkind.Untrusted},
		// Over the size limit: no verdict on a listing not read whole (exit 3).
		{name: "endless index", serve: func(w http.ResponseWriter, r *http.Request) { endless(w, indexCT) }, wantSupported: true, wantKind: errkind.Operational},
		{name: "500", serve: reply(500, "", "boom"), wantKind: errkind.Operational},
		{name: "401", serve: reply(401, "", ""), wantKind: errkind.Operational},
		{name: "empty index", serve: reply(200, indexCT+"; charset=utf-8", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`), wantSupported: true},
		{name: "index without mediaType", serve: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", indexCT)
			raw, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []v1.Descriptor{entry}})
			_, _ = w.Write(raw)
		}, wantSupported: true, want: []v1.Hash{entry.Digest}},
		{name: "paginated", serve: func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("page") == "" {
				writeIndex(w, []v1.Descriptor{entry}, `<`+r.URL.Path+`?page=2>; rel="next"`)
				return
			}
			writeIndex(w, []v1.Descriptor{entry2}, "")
		}, wantSupported: true, want: []v1.Hash{entry.Digest, entry2.Digest}},
		{name: "second page fails", serve: func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("page") == "" {
				writeIndex(w, []v1.Descriptor{entry}, `<`+r.URL.Path+`?page=2>; rel="next"`)
				return
			}
			w.WriteHeader(http.StatusNotFound)
		}, wantSupported: true, wantKind: errkind.Operational},
		{name: "second page is not an index", serve: func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("page") == "" {
				writeIndex(w, []v1.Descriptor{entry}, `<`+r.URL.Path+`?page=2>; rel="next"`)
				return
			}
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<html>")
		}, wantSupported: true, wantKind: errkind.Operational},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fastBackoff(t)
			reg := serveRegistry(t, true)
			reg.hook(func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.Contains(r.URL.Path, "/referrers/") {
					return false
				}
				tt.serve(w, r)
				return true
			})
			repo := openRepo(t, reg.Host, "app")
			descs, supported, err := repo.Referrers(context.Background(), subject)
			if tt.wantKind != 0 {
				wantKind(t, err, tt.wantKind)
				if descs != nil {
					t.Errorf("referrers = %v with the error", descs)
				}
				return
			}
			if err != nil {
				t.Fatalf("Referrers: %v", err)
			}
			if supported != tt.wantSupported {
				t.Errorf("supported = %v, want %v", supported, tt.wantSupported)
			}
			var got []v1.Hash
			for _, d := range descs {
				got = append(got, d.Digest)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("referrers = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFallbackIndex(t *testing.T) {
	reg := serveRegistry(t, false)
	img := pushImage(t, reg.Host, "app", "1")
	repo := openRepo(t, reg.Host, "app")
	ctx := context.Background()

	descs, err := repo.FallbackIndex(ctx, img.Digest)
	if err != nil || descs != nil {
		t.Fatalf("missing index = %v, %v; want nil, nil", descs, err)
	}
	entry := pushSubjectManifest(t, repo, img, "r")
	entry.ArtifactType = "application/x-test"
	raw, _ := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{entry}})
	if err := repo.PutManifest(ctx, FallbackTag(img.Digest), raw, types.OCIImageIndex); err != nil {
		t.Fatal(err)
	}
	descs, err = repo.FallbackIndex(ctx, img.Digest)
	if err != nil || len(descs) != 1 || descs[0].Digest != entry.Digest || descs[0].ArtifactType != entry.ArtifactType {
		t.Fatalf("FallbackIndex = %+v, %v", descs, err)
	}
	// An image manifest under the index tag is not an index.
	if err := repo.PutManifest(ctx, FallbackTag(img.Digest), []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"a","digest":"`+Digest(nil).String()+`","size":0},"layers":[]}`), types.OCIManifestSchema1); err != nil {
		t.Fatal(err)
	}
	_, err = repo.FallbackIndex(ctx, img.Digest)
	wantKind(t, err, errkind.Untrusted, FallbackTag(img.Digest))
}

func TestFallbackTag(t *testing.T) {
	h := mustHash(t, "sha256:"+strings.Repeat("ab", 32))
	if got, want := FallbackTag(h), "sha256-"+strings.Repeat("ab", 32); got != want {
		t.Errorf("FallbackTag = %q, want %q", got, want)
	}
	if _, err := name.NewTag("reg.example.com/app:" + FallbackTag(h)); err != nil {
		t.Errorf("FallbackTag is not a valid tag: %v", err)
	}
}

// tagLister serves a scripted tag list: all tags sorted (unless unsorted),
// honouring last= and n= only where asked, paginating with Link headers.
type tagLister struct {
	tags       []string
	honourLast bool
	pageSize   int  // 0: no pagination
	reverse    bool // list in reverse lexical order
	requests   atomic.Int64
}

func (tl *tagLister) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/tags/list") {
		w.WriteHeader(http.StatusOK) // the ping
		return
	}
	tl.requests.Add(1)
	tags := slices.Clone(tl.tags)
	slices.Sort(tags)
	if tl.reverse {
		slices.Reverse(tags)
	}
	q := r.URL.Query()
	start := 0
	if p := q.Get("page"); p != "" {
		fmt.Sscan(p, &start)
	} else if last := q.Get("last"); tl.honourLast && last != "" {
		start = len(tags)
		for i, t := range tags {
			if t > last {
				start = i
				break
			}
		}
	}
	end := len(tags)
	if tl.pageSize > 0 && start+tl.pageSize < end {
		end = start + tl.pageSize
		w.Header().Set("Link", fmt.Sprintf(`<%s?page=%d>; rel="next"`, r.URL.Path, end))
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"name": "app", "tags": tags[start:end]})
}

func TestTagsWithPrefix(t *testing.T) {
	const prefix = "sha256-abc."
	var many []string
	for i := range 30 {
		many = append(many, fmt.Sprintf("v%02d", i), fmt.Sprintf("a%02d", i))
	}
	want := []string{"sha256-abc.att", "sha256-abc.ref-1", "sha256-abc.ref-2", "sha256-abc.sig"}
	all := append(slices.Clone(many), want...)
	all = append(all, "sha256-abc", "sha256-abd.sig", "sha256-ab.sig", "sha256-abc-x")
	tests := []struct {
		name         string
		lister       *tagLister
		wantRequests int64
		want         []string
	}{
		{"honours last", &tagLister{tags: all, honourLast: true}, 1, want},
		{"ignores last", &tagLister{tags: all}, 1, want},
		{"ignores last, paginates", &tagLister{tags: all, pageSize: 7}, 0, want},
		{"honours last, paginates", &tagLister{tags: all, honourLast: true, pageSize: 2}, 3, want},
		{"lists in reverse order, paginates", &tagLister{tags: all, pageSize: 5, reverse: true}, 0, want},
		{"no matching tags", &tagLister{tags: many, honourLast: true}, 1, nil},
		{"no tags", &tagLister{}, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProxy(t, tt.lister)
			repo := openRepo(t, p.Host, "app")
			got, err := repo.TagsWithPrefix(context.Background(), prefix)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("tags = %v, want %v", got, tt.want)
			}
			if tt.wantRequests > 0 && tt.lister.requests.Load() != tt.wantRequests {
				t.Errorf("tag list requests = %d, want %d", tt.lister.requests.Load(), tt.wantRequests)
			}
		})
	}
}

func TestTagsWithPrefixRealRegistry(t *testing.T) {
	reg := serveRegistry(t, false)
	img := pushImage(t, reg.Host, "app", "aaa")
	repo := openRepo(t, reg.Host, "app")
	ctx := context.Background()
	prefix := FallbackTag(img.Digest) + "."
	raw, _, err := repo.Manifest(ctx, "", img.Digest)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"zzz", "latest", prefix + "sig", prefix + "ref-1", FallbackTag(img.Digest)} {
		if err := repo.PutManifest(ctx, tag, raw, img.MediaType); err != nil {
			t.Fatal(err)
		}
	}
	reg.resetLog()
	got, err := repo.TagsWithPrefix(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if want := []string{prefix + "ref-1", prefix + "sig"}; !slices.Equal(got, want) {
		t.Errorf("tags = %v, want %v", got, want)
	}
	reqs := reg.requests("/tags/list")
	if len(reqs) != 1 || !strings.Contains(reqs[0], "last="+url.QueryEscape(prefix)) {
		t.Errorf("tag requests = %v, want one with last=%s", reqs, prefix)
	}

	t.Run("unknown repository", func(t *testing.T) {
		other := openRepo(t, reg.Host, "nothing/here")
		got, err := other.TagsWithPrefix(ctx, prefix)
		if err != nil || len(got) != 0 {
			t.Errorf("TagsWithPrefix = %v, %v; want none", got, err)
		}
	})
}

func TestTagsWithPrefixErrors(t *testing.T) {
	tests := []struct {
		name  string
		serve func(w http.ResponseWriter, r *http.Request)
		kind  errkind.Kind
	}{
		{"500", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }, errkind.Operational},
		{"403", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(403) }, errkind.Operational},
		{"not JSON", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "<html>") }, errkind.Operational},
		{"endless", func(w http.ResponseWriter, r *http.Request) { endless(w, "application/json") }, errkind.Operational},
		{"unusable next link", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", `<http://[::1>; rel="next"`)
			_, _ = io.WriteString(w, `{"tags":["sha256-abc.ref-1"]}`)
		}, errkind.Operational},
		{"404 on a later page", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("page") == "" {
				w.Header().Set("Link", `<`+r.URL.Path+`?page=2>; rel="next"`)
				_, _ = io.WriteString(w, `{"tags":["sha256-abc.ref-1"]}`)
				return
			}
			w.WriteHeader(404)
		}, errkind.Operational},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fastBackoff(t)
			reg := serveRegistry(t, false)
			reg.hook(func(w http.ResponseWriter, r *http.Request) bool {
				if strings.HasSuffix(r.URL.Path, "/tags/list") {
					tt.serve(w, r)
					return true
				}
				return false
			})
			repo := openRepo(t, reg.Host, "app")
			got, err := repo.TagsWithPrefix(context.Background(), "sha256-abc.")
			wantKind(t, err, tt.kind)
			if got != nil {
				t.Errorf("tags = %v with the error", got)
			}
		})
	}
}

// A listing that links to itself forever is refused once the page limit is
// reached: a shorter list than the registry claims could hide a referrer tag.
func TestTagsWithPrefixStopsOnLoop(t *testing.T) {
	var n atomic.Int64
	p := newProxy(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/tags/list") {
			return
		}
		n.Add(1)
		w.Header().Set("Link", `<`+r.URL.RequestURI()+`>; rel="next"`) // the same page, forever
		_, _ = io.WriteString(w, `{"tags":["sha256-abc.ref-1"]}`)
	}))
	repo := openRepo(t, p.Host, "app")
	got, err := repo.TagsWithPrefix(context.Background(), "sha256-abc.")
	wantKind(t, err, errkind.Operational, fmt.Sprintf("more than %d pages", MaxTagListPages), "refusing to judge on partial data")
	if got != nil {
		t.Errorf("tags = %v with the error", got)
	}
	if n.Load() != MaxTagListPages {
		t.Errorf("followed %d pages, want %d", n.Load(), MaxTagListPages)
	}
}

func TestNextLink(t *testing.T) {
	r := &Repo{name: mustRepo(t, "reg.example.com/team/app"), scheme: "https"}
	tests := []struct {
		link string
		want string
	}{
		{``, ``},
		{`</v2/team/app/tags/list?last=b&n=2>; rel="next"`, `https://reg.example.com/v2/team/app/tags/list?last=b&n=2`},
		{`</v2/team/app/tags/list?last=b&n=2>; rel=next`, `https://reg.example.com/v2/team/app/tags/list?last=b&n=2`},
		{`</v2/x>;rel="next"`, `https://reg.example.com/v2/x`},
		{`<https://reg.example.com/v2/x>; rel="next"`, `https://reg.example.com/v2/x`},
		{`<https://REG.example.com/v2/x>; rel="next"`, `https://REG.example.com/v2/x`},
		// The registry that was asked serves every page.
		{`<https://other.example.com/v2/x>; rel="next"`, `error`},
		{`<http://reg.example.com/v2/x>; rel="next"`, `error`},
		{`<https://reg.example.com:444/v2/x>; rel="next"`, `error`},
		{`<//other.example.com/v2/x>; rel="next"`, `error`},
		{`</v2/x>; rel="prev"`, ``},
		{`</v2/prev>; rel="prev", </v2/next>; rel="next"`, `https://reg.example.com/v2/next`},
		{`</v2/first>; rel="first", </v2/next>; title="a,b"; rel="next"`, `https://reg.example.com/v2/next`},
		{`</v2/x?a=1,2>; rel="next"`, `https://reg.example.com/v2/x?a=1,2`},
		{`</v2/x>; rel="next prev"`, `https://reg.example.com/v2/x`},
		{`</v2/x>`, ``},
		{`rel="next"`, ``},
		{`<`, ``},
		{`>; rel="next" <`, ``},
		{`<http://[::1>; rel="next"`, `error`},
		{`<//::>; rel="next"`, `error`},
		{`<http:///v2/x>; rel="next"`, `error`},
		{`<http://[::1>; rel="prev"`, ``},
	}
	for _, tt := range tests {
		t.Run(tt.link, func(t *testing.T) {
			resp := &http.Response{Header: http.Header{}}
			if tt.link != "" {
				resp.Header.Set("Link", tt.link)
			}
			got, err := nextLink(resp, r)
			if tt.want == "error" {
				wantKind(t, err, errkind.Operational, "pagination link")
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("nextLink(%q) = %q, %v; want %q", tt.link, got, err, tt.want)
			}
		})
	}
}

func mustRepo(t testing.TB, s string) name.Repository {
	t.Helper()
	r, err := name.NewRepository(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func FuzzNextLink(f *testing.F) {
	for _, s := range []string{
		`</v2/a/tags/list?last=b&n=2>; rel="next"`,
		`</v2/prev>; rel="prev", </v2/next>; rel="next"`,
		`<>; rel=next`, `<<>>`, `<http://[::1>; rel="next"`, `;;,,<`, `<000000000000 0#>rel=neXt`, `<//::>rel=neXt`,
	} {
		f.Add(s)
	}
	r := &Repo{name: mustRepo(f, "reg.example.com/app"), scheme: "https"}
	f.Fuzz(func(t *testing.T, link string) {
		resp := &http.Response{Header: http.Header{"Link": {link}}}
		got, err := nextLink(resp, r)
		if err != nil {
			if k, _ := errkind.Of(err); k != errkind.Operational {
				t.Errorf("nextLink(%q) error %v is not Operational", link, err)
			}
			return
		}
		if got == "" {
			return
		}
		if !strings.Contains(strings.ToLower(link), "next") {
			t.Errorf("nextLink(%q) = %q without a next relation", link, got)
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Errorf("nextLink(%q) = %q, not a URL: %v", link, got, err)
			return
		}
		// Every page comes from the registry that was asked.
		if u.Scheme != "https" || !strings.EqualFold(u.Host, "reg.example.com") {
			t.Errorf("nextLink(%q) = %q, off the registry https://reg.example.com", link, got)
		}
	})
}

func FuzzParseIndex(f *testing.F) {
	d := Digest([]byte("x")).String()
	for _, s := range []string{
		`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"a","digest":"` + d + `","size":1}]}`,
		`{"schemaVersion":2,"manifests":[]}`, `{}`, `null`, `[]`, `{"schemaVersion":2,"manifests":[{}]}`,
		`{"schemaVersion":2,"manifests":[{"digest":"sha512:00"}]}`, "\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		idx, err := storage.ParseIndex(raw)
		if err != nil {
			if k, ok := errkind.Of(err); !ok || k != errkind.Untrusted {
				t.Errorf("error %v is not Untrusted", err)
			}
			return
		}
		if idx.SchemaVersion != 2 {
			t.Errorf("accepted schemaVersion %d", idx.SchemaVersion)
		}
		if idx.MediaType != "" && idx.MediaType != types.OCIImageIndex {
			t.Errorf("accepted mediaType %q", idx.MediaType)
		}
		for _, m := range idx.Manifests {
			if _, err := v1.NewHash(m.Digest.String()); err != nil {
				t.Errorf("accepted an entry with digest %q: %v", m.Digest, err)
			}
		}
	})
}
