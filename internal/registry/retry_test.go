package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/errkind"
)

// scripted answers the n-th request with statuses[n] (the last one repeats)
// and counts requests.
type scripted struct {
	statuses []int
	n        atomic.Int64
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i := int(s.n.Add(1)) - 1
	code := s.statuses[min(i, len(s.statuses)-1)]
	w.WriteHeader(code)
	fmt.Fprintf(w, "attempt %d: %d", i+1, code)
}

func TestRetryStatuses(t *testing.T) {
	fastBackoff(t)
	tests := []struct {
		name         string
		statuses     []int
		wantStatus   int
		wantAttempts int64
	}{
		{"503 then 200", []int{503, 200}, 200, 2},
		{"502 then 200", []int{502, 200}, 200, 2},
		{"429 then 200", []int{429, 200}, 200, 2},
		{"504 then 200", []int{504, 200}, 200, 2},
		{"500 502 429 then 200", []int{500, 502, 429, 200}, 200, 4},
		{"always 500", []int{500}, 500, int64(len(backoff)) + 1},
		{"always 429", []int{429}, 429, int64(len(backoff)) + 1},
		{"404 is not retried", []int{404, 200}, 404, 1},
		{"401 is not retried", []int{401, 200}, 401, 1},
		{"400 is not retried", []int{400, 200}, 400, 1},
		{"501 is not retried", []int{501, 200}, 501, 1},
		{"200 first", []int{200}, 200, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &scripted{statuses: tt.statuses}
			srv := httptest.NewServer(s)
			defer srv.Close()
			rt := &retrying{inner: http.DefaultTransport}
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/", nil)
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatalf("RoundTrip: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if got := s.n.Load(); got != tt.wantAttempts {
				t.Errorf("attempts = %d, want %d", got, tt.wantAttempts)
			}
			// The caller gets the last response, body intact.
			if want := fmt.Sprintf("attempt %d: %d", tt.wantAttempts, tt.wantStatus); string(body) != want {
				t.Errorf("body = %q, want %q", body, want)
			}
		})
	}
}

// Through a whole Repo: a registry that keeps failing ends in an Operational
// error after len(backoff)+1 attempts, and one that recovers succeeds.
func TestRetryThroughRepo(t *testing.T) {
	fastBackoff(t)
	reg := serveRegistry(t, true)
	img := pushImage(t, reg.Host, "app", "1")
	repo := openRepo(t, reg.Host, "app")

	var failures atomic.Int64
	var mode atomic.Value
	mode.Store("ok")
	reg.hook(func(w http.ResponseWriter, r *http.Request) bool {
		switch mode.Load().(string) {
		case "always500":
			w.WriteHeader(http.StatusInternalServerError)
			return true
		case "twice503":
			if failures.Add(1) <= 2 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return true
			}
		}
		return false
	})

	mode.Store("always500")
	reg.resetLog()
	_, _, err := repo.Manifest(context.Background(), "", img.Digest)
	wantKind(t, err, errkind.Operational, "500")
	if got := len(reg.requests("GET", "/manifests/")); got != len(backoff)+1 {
		t.Errorf("manifest requests = %d, want %d", got, len(backoff)+1)
	}

	mode.Store("twice503")
	reg.resetLog()
	raw, _, err := repo.Manifest(context.Background(), "", img.Digest)
	if err != nil {
		t.Fatalf("Manifest after two 503s: %v", err)
	}
	if Digest(raw) != img.Digest {
		t.Errorf("wrong manifest")
	}
	if got := len(reg.requests("GET", "/manifests/")); got != 3 {
		t.Errorf("manifest requests = %d, want 3", got)
	}
}

// A PUT whose body can be replayed is sent again, whole, after a 503.
func TestRetryReplaysBody(t *testing.T) {
	fastBackoff(t)
	reg := serveRegistry(t, true)
	repo := openRepo(t, reg.Host, "app")

	var mu sync.Mutex
	var bodies [][]byte
	reg.hook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPut {
			return false
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading PUT body: %v", err)
		}
		mu.Lock()
		bodies = append(bodies, b)
		n := len(bodies)
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		return false
	})
	manifest := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
	if err := repo.PutManifest(context.Background(), "replayed", manifest, types.OCIImageIndex); err != nil {
		t.Fatalf("PutManifest: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 2 {
		t.Fatalf("PUT attempts = %d, want 2", len(bodies))
	}
	for i, b := range bodies {
		if !bytes.Equal(b, manifest) {
			t.Errorf("attempt %d sent %q, want %q", i+1, b, manifest)
		}
	}
	raw, _, err := repo.Manifest(context.Background(), "replayed", Digest(manifest))
	if err != nil || !bytes.Equal(raw, manifest) {
		t.Errorf("stored manifest = %q, %v", raw, err)
	}
}

// A body that cannot be replayed is never retried: the first answer stands.
func TestRetryNonReplayableBody(t *testing.T) {
	fastBackoff(t)
	s := &scripted{statuses: []int{503, 201}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/v2/app/manifests/x", io.NopCloser(bytes.NewReader([]byte("body"))))
	req.GetBody = nil
	resp, err := (&retrying{inner: http.DefaultTransport}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || s.n.Load() != 1 {
		t.Errorf("status %d after %d attempts, want 503 after 1", resp.StatusCode, s.n.Load())
	}
}

// The retrying transport must not modify the caller's request.
func TestRetryLeavesRequestAlone(t *testing.T) {
	fastBackoff(t)
	s := &scripted{statuses: []int{503, 503, 201}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/x", bytes.NewReader([]byte("body")))
	body := req.Body
	resp, err := (&retrying{inner: http.DefaultTransport}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	if req.Body != body {
		t.Error("RoundTrip replaced the caller's request body")
	}
}

// connDropper breaks the connection of the first `drops` requests in one of
// several ways, then serves the registry.
func connDropper(t *testing.T, reg *proxy, match func(*http.Request) bool, drops int64, how string) *atomic.Int64 {
	t.Helper()
	var n atomic.Int64
	reg.hook(func(w http.ResponseWriter, r *http.Request) bool {
		if !match(r) || n.Add(1) > drops {
			return false
		}
		var head []byte
		if how == "mid-body reset" || how == "mid-body close" {
			rec := reg.recordInner(r)
			body := rec.Body.Bytes()
			head = fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nDocker-Content-Digest: %s\r\nContent-Length: %d\r\n\r\n%s",
				rec.Header().Get("Content-Type"), rec.Header().Get("Docker-Content-Digest"), len(body), body[:len(body)/2])
		}
		c, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return true
		}
		_, _ = c.Write(head)
		switch how {
		case "reset", "mid-body reset":
			resetConn(c)
		default:
			_ = c.Close()
		}
		return true
	})
	return &n
}

func TestRetryBrokenConnections(t *testing.T) {
	for _, how := range []string{"reset", "close", "mid-body reset", "mid-body close"} {
		t.Run(how, func(t *testing.T) {
			fastBackoff(t)
			reg := serveRegistry(t, true)
			img := pushImage(t, reg.Host, "app", "1")
			repo := openRepo(t, reg.Host, "app")
			isManifest := func(r *http.Request) bool {
				return r.Method == http.MethodGet && bytes.Contains([]byte(r.URL.Path), []byte("/manifests/"))
			}
			n := connDropper(t, reg, isManifest, 2, how)
			raw, _, err := repo.Manifest(context.Background(), "1", img.Digest)
			if err != nil {
				t.Fatalf("Manifest: %v", err)
			}
			if Digest(raw) != img.Digest {
				t.Error("wrong manifest")
			}
			if got := n.Load(); got != 3 {
				t.Errorf("manifest requests = %d, want 3 (two broken, one good)", got)
			}
		})
	}
	t.Run("gives up", func(t *testing.T) {
		fastBackoff(t)
		reg := serveRegistry(t, true)
		img := pushImage(t, reg.Host, "app", "1")
		repo := openRepo(t, reg.Host, "app")
		isBlob := func(r *http.Request) bool {
			return r.Method == http.MethodGet && bytes.Contains([]byte(r.URL.Path), []byte("/manifests/"))
		}
		n := connDropper(t, reg, isBlob, 1000, "mid-body reset")
		_, _, err := repo.Manifest(context.Background(), "", img.Digest)
		wantKind(t, err, errkind.Operational)
		if got := n.Load(); got != int64(len(backoff))+1 {
			t.Errorf("attempts = %d, want %d", got, len(backoff)+1)
		}
	})
}

// failingRT fails every round trip with err and counts them.
type failingRT struct {
	err error
	n   atomic.Int64
}

func (f *failingRT) RoundTrip(*http.Request) (*http.Response, error) {
	f.n.Add(1)
	return nil, f.err
}

func TestRetryTransportErrors(t *testing.T) {
	fastBackoff(t)
	tests := []struct {
		name     string
		err      error
		attempts int64
	}{
		{"connection refused", os.NewSyscallError("connect", syscall.ECONNREFUSED), int64(len(backoff)) + 1},
		{"connection reset", os.NewSyscallError("read", syscall.ECONNRESET), int64(len(backoff)) + 1},
		{"closed before answering", io.EOF, int64(len(backoff)) + 1},
		{"unexpected EOF", io.ErrUnexpectedEOF, int64(len(backoff)) + 1},
		{"TLS or other failure", errors.New("x509: certificate signed by unknown authority"), 1},
		{"refused plain HTTP", errkind.Inputf("refusing plain HTTP"), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &failingRT{err: tt.err}
			req, _ := http.NewRequest(http.MethodGet, "https://reg.example.com/v2/", nil)
			_, err := (&retrying{inner: f}).RoundTrip(req)
			if !errors.Is(err, tt.err) {
				t.Errorf("err = %v, want %v", err, tt.err)
			}
			if got := f.n.Load(); got != tt.attempts {
				t.Errorf("attempts = %d, want %d", got, tt.attempts)
			}
		})
	}
}

// A cancelled context ends the backoff wait at once, whatever its length.
func TestRetryStopsOnCancel(t *testing.T) {
	old := backoff
	backoff = []time.Duration{time.Hour}
	t.Cleanup(func() { backoff = old })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cancel() // the client is now in its backoff, or about to be
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := (&retrying{inner: http.DefaultTransport}).RoundTrip(req)
	if resp != nil {
		resp.Body.Close()
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}
