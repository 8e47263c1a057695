package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/errkind"
)

// descriptors returns n distinct referrer descriptors, named by page.
func descriptors(page, n int) []v1.Descriptor {
	out := make([]v1.Descriptor, n)
	for i := range out {
		out[i] = v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: Digest(fmt.Appendf(nil, "%d/%d", page, i)), Size: 10}
	}
	return out
}

// Listings past a bound are refused with the numbers, whatever the shape of
// the excess: more pages, more descriptors on one page or across pages, a
// page too large to read.
func TestReferrersLimits(t *testing.T) {
	subject := Digest([]byte("subject"))
	tests := []struct {
		name string
		// page serves page n (0-based) and whether a next page follows.
		page      func(n int) ([]v1.Descriptor, bool)
		wantPages int64
		want      []string // the error mentions; none: no error
		wantN     int
	}{
		{name: "endless pages", page: func(n int) ([]v1.Descriptor, bool) { return descriptors(n, 1), true },
			wantPages: MaxReferrerPages, want: []string{fmt.Sprintf("more than %d pages", MaxReferrerPages)}},
		{name: "one page over the count", page: func(n int) ([]v1.Descriptor, bool) { return descriptors(n, MaxReferrers+1), false },
			wantPages: 1, want: []string{fmt.Sprintf("has more than %d referrers (limit)", MaxReferrers), subject.String()}},
		{name: "pages adding up over the count", page: func(n int) ([]v1.Descriptor, bool) { return descriptors(n, MaxReferrers/2), n < 2 },
			wantPages: 3, want: []string{fmt.Sprintf("has more than %d referrers (limit)", MaxReferrers)}},
		{name: "exactly the limit on the last allowed page", page: func(n int) ([]v1.Descriptor, bool) {
			return descriptors(n, MaxReferrers/MaxReferrerPages), n < MaxReferrerPages-1
		}, wantPages: MaxReferrerPages, wantN: MaxReferrers},
		{name: "page over the size limit", page: func(n int) ([]v1.Descriptor, bool) {
			d := descriptors(n, 1)
			d[0].Annotations = map[string]string{"pad": strings.Repeat("x", MaxManifestBytes)}
			return d, false
		}, wantPages: 1, want: []string{fmt.Sprintf("over the %d byte limit", MaxManifestBytes)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := serveRegistry(t, true)
			var pages atomic.Int64
			reg.hook(func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.Contains(r.URL.Path, "/referrers/") {
					return false
				}
				pages.Add(1)
				n := 0
				fmt.Sscan(r.URL.Query().Get("page"), &n)
				descs, more := tt.page(n)
				link := ""
				if more {
					link = fmt.Sprintf(`<%s?page=%d>; rel="next"`, r.URL.Path, n+1)
				}
				writeIndex(w, descs, link)
				return true
			})
			repo := openRepo(t, reg.Host, "app")
			descs, _, err := repo.Referrers(context.Background(), subject)
			if pages.Load() != tt.wantPages {
				t.Errorf("read %d pages, want %d", pages.Load(), tt.wantPages)
			}
			if len(tt.want) == 0 {
				if err != nil || len(descs) != tt.wantN {
					t.Fatalf("Referrers = %d descriptors, %v; want %d", len(descs), err, tt.wantN)
				}
				return
			}
			wantKind(t, err, errkind.Operational, append(tt.want, "refusing to judge on partial data")...)
			var le *LimitError
			if !errors.As(err, &le) {
				t.Errorf("error is no *LimitError: %v", err)
			}
			if descs != nil {
				t.Errorf("%d referrers with the error", len(descs))
			}
		})
	}
}

// A writer only needs to know whether the API exists: an image past the
// listing limits can still be signed.
func TestSupportsReferrersReadsOnePage(t *testing.T) {
	reg := serveRegistry(t, true)
	var pages atomic.Int64
	reg.hook(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.Contains(r.URL.Path, "/referrers/") {
			return false
		}
		pages.Add(1)
		writeIndex(w, descriptors(int(pages.Load()), MaxReferrers+1), `<`+r.URL.Path+`?page=2>; rel="next"`)
		return true
	})
	repo := openRepo(t, reg.Host, "app")
	ok, err := repo.SupportsReferrers(context.Background(), Digest([]byte("subject")))
	if err != nil || !ok {
		t.Fatalf("SupportsReferrers = %v, %v; want true", ok, err)
	}
	if pages.Load() != 1 {
		t.Errorf("read %d pages, want 1", pages.Load())
	}
}

func TestFallbackIndexLimits(t *testing.T) {
	tests := []struct {
		name  string
		descs []v1.Descriptor
		want  string
	}{
		{"more descriptors than the limit", descriptors(0, MaxReferrers+1), fmt.Sprintf("more than %d referrers (limit)", MaxReferrers)},
		{"index over the size limit", func() []v1.Descriptor {
			d := descriptors(0, 1)
			d[0].Annotations = map[string]string{"pad": strings.Repeat("x", MaxManifestBytes)}
			return d
		}(), fmt.Sprintf("over the %d byte limit", MaxManifestBytes)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := serveRegistry(t, false)
			subject := Digest([]byte("subject"))
			reg.hook(func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.HasSuffix(r.URL.Path, "/manifests/"+FallbackTag(subject)) {
					return false
				}
				writeIndex(w, tt.descs, "")
				return true
			})
			repo := openRepo(t, reg.Host, "app")
			descs, err := repo.FallbackIndex(context.Background(), subject)
			wantKind(t, err, errkind.Operational, tt.want, FallbackTag(subject), "refusing to judge on partial data")
			if descs != nil {
				t.Errorf("%d descriptors with the error", len(descs))
			}
		})
	}
}

func TestTagsWithPrefixCountLimit(t *testing.T) {
	reg := serveRegistry(t, false)
	reg.hook(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/tags/list") {
			return false
		}
		var tags []string
		for i := range MaxReferrers + 1 {
			tags = append(tags, fmt.Sprintf("sha256-abc.ref-%04d", i))
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"tags": tags})
		return true
	})
	repo := openRepo(t, reg.Host, "app")
	got, err := repo.TagsWithPrefix(context.Background(), "sha256-abc.")
	wantKind(t, err, errkind.Operational, fmt.Sprintf("more than %d tags starting with sha256-abc.", MaxReferrers), "refusing to judge on partial data")
	if got != nil {
		t.Errorf("%d tags with the error", len(got))
	}
}

// silent accepts connections and never answers; it returns host:port.
func silent(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// A registry that does not answer, at any point of a run, fails the run at
// its deadline with an operational error naming the registry and the limit;
// retries never outlast the deadline.
func TestDeadline(t *testing.T) {
	const limit = 300 * time.Millisecond
	subject := Digest([]byte("subject"))
	hang := func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	trickle := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", string(types.OCIImageIndex))
		w.WriteHeader(http.StatusOK)
		for {
			if _, err := w.Write([]byte(" ")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	unavailable := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }
	tests := []struct {
		name  string
		serve func(w http.ResponseWriter, r *http.Request) // the referrers listing
		want  []string
	}{
		{"listing never answers", hang, []string{"did not answer within 300ms", "raise --timeout"}},
		{"listing trickles", trickle, []string{"did not answer within 300ms", "raise --timeout"}},
		// The retry that would end after the deadline is not made: the
		// registry's own answer is the better error.
		{"listing keeps failing", unavailable, []string{"503"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := serveRegistry(t, true)
			reg.hook(func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.Contains(r.URL.Path, "/referrers/") {
					return false
				}
				tt.serve(w, r)
				return true
			})
			repo := openRepo(t, reg.Host, "app")
			ctx, cancel := WithTimeout(context.Background(), limit)
			defer cancel()
			start := time.Now()
			_, _, err := repo.Referrers(ctx, subject)
			if took := time.Since(start); took > limit+time.Second {
				t.Errorf("took %s with a %s deadline", took, limit)
			}
			wantKind(t, err, errkind.Operational, append(tt.want, reg.Host)...)
		})
	}

	t.Run("connection never answers", func(t *testing.T) {
		host := silent(t)
		c := newClient()
		ref, err := c.ParseReference(host + "/app:1")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := WithTimeout(context.Background(), limit)
		defer cancel()
		start := time.Now()
		_, err = c.Open(ctx, ref.Context(), false)
		if took := time.Since(start); took > limit+time.Second {
			t.Errorf("took %s with a %s deadline", took, limit)
		}
		wantKind(t, err, errkind.Operational, "registry "+host+" did not answer within 300ms", "raise --timeout")
		var te *TimeoutError
		if !errors.As(err, &te) || te.Host != host {
			t.Errorf("error is no *TimeoutError for %s: %v", host, err)
		}
	})
}

// Every request has a limit on waiting for the response headers, even
// without a run deadline (sign, attest).
func TestDefaultTransportHasTimeouts(t *testing.T) {
	tr, ok := defaultTransport().(*http.Transport)
	if !ok {
		t.Fatalf("default transport is %T", defaultTransport())
	}
	if tr.ResponseHeaderTimeout != ResponseHeaderTimeout || tr.TLSHandshakeTimeout == 0 || tr.DialContext == nil {
		t.Errorf("transport limits: headers %s, TLS %s", tr.ResponseHeaderTimeout, tr.TLSHandshakeTimeout)
	}
}

// Without a run deadline (sign, attest) one read still ends: a manifest that
// trickles in forever fails at the per-request limit, and says so.
func TestRequestTimeoutWithoutRunDeadline(t *testing.T) {
	old := requestTimeout
	requestTimeout = 300 * time.Millisecond
	t.Cleanup(func() { requestTimeout = old })
	reg := serveRegistry(t, true)
	reg.hook(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.Contains(r.URL.Path, "/manifests/") {
			return false
		}
		w.Header().Set("Content-Type", string(types.OCIManifestSchema1))
		w.WriteHeader(http.StatusOK)
		for {
			if _, err := w.Write([]byte(" ")); err != nil {
				return true
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return true
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	repo := openRepo(t, reg.Host, "app")
	start := time.Now()
	_, _, err := repo.Manifest(context.Background(), "1", v1.Hash{})
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %s with a 300ms request limit", took)
	}
	wantKind(t, err, errkind.Operational, "registry "+reg.Host+" did not answer within 300ms (imgsign's limit for one request)")
}
