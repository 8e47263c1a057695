package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/registry"
)

// Attacks by the registry itself, or whoever sits between it and imgsign:
// a server that never answers, answers forever, or lists more referrers than
// any image carries. imgsign must end in bounded time and memory with exit 3,
// and never hand down a verdict on a listing it did not read whole. Rows
// that play the hostile server do it in front of the real registry, so the
// image and its signatures are real and only the hostile part is not.
func init() {
	addAttacks(
		attack{
			name:   "registry accepts connections and never answers",
			guards: "verify has a deadline for the whole run and names the registry that did not answer",
			run: func(t *testing.T, s *scene) []string {
				host := silentServer(t)
				s.trusted()
				within(t, 20*time.Second)
				return []string{"verify", "--timeout", "3s", "--policy", s.policy(host, []string{"k"}, 1, nil), host + "/" + s.repo + ":v1"}
			},
			wantCode: 3,
			want:     []string{"did not answer within 3s", "raise --timeout"},
		},
		attack{
			name:   "registry stops answering after the image resolved",
			guards: "the deadline covers every request of the run, not only the first connection",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1")
				host := hostileProxy(t, s.host, func(w http.ResponseWriter, r *http.Request) bool {
					if strings.Contains(r.URL.Path, "/referrers/") || strings.HasSuffix(r.URL.Path, "/tags/list") {
						<-r.Context().Done() // hold the request until imgsign gives up
						return true
					}
					return false
				})
				s.trusted()
				within(t, 20*time.Second)
				return []string{"verify", "--timeout", "3s", "--policy", s.policy(host, []string{"k"}, 1, nil), host + "/" + s.repo + ":v1"}
			},
			wantCode: 3,
			want:     []string{"did not answer within 3s", "raise --timeout"},
		},
		attack{
			name:   "signature bundle trickles in one byte at a time",
			guards: "a body that never ends is cut off by the deadline, with exit 3, not read forever",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1")
				s.must("sign", "--key", s.trusted(), s.ref("v1"))
				host := hostileProxy(t, s.host, func(w http.ResponseWriter, r *http.Request) bool {
					if !strings.Contains(r.URL.Path, "/blobs/") || r.Method != http.MethodGet {
						return false
					}
					w.Header().Set("Content-Length", "1000000")
					w.WriteHeader(http.StatusOK)
					for {
						if _, err := w.Write([]byte("{")); err != nil {
							return true
						}
						w.(http.Flusher).Flush()
						select {
						case <-r.Context().Done():
							return true
						case <-time.After(100 * time.Millisecond):
						}
					}
				})
				within(t, 20*time.Second)
				return []string{"verify", "--timeout", "3s", "--policy", s.policy(host, []string{"k"}, 1, nil), host + "/" + s.repo + ":v1"}
			},
			wantCode: 3,
			want:     []string{"did not answer within 3s", "raise --timeout"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "tree against a registry that never answers",
			guards: "tree has a deadline too and names the registry",
			run: func(t *testing.T, s *scene) []string {
				host := silentServer(t)
				within(t, 20*time.Second)
				return []string{"tree", "--timeout", "3s", host + "/" + s.repo + ":v1"}
			},
			wantCode: 3,
			want:     []string{"did not answer within 3s"},
		},
		attack{
			name:   "referrers listing with thousands of descriptors",
			guards: "an image with more referrers than imgsign reads is refused with the numbers, never judged on part of them",
			run: func(t *testing.T, s *scene) []string {
				d := s.image("v1")
				host := hostileListing(t, s, d, func(page int) ([]v1.Descriptor, bool) {
					return fakeReferrers(page, 5000), false
				})
				s.trusted()
				return []string{"verify", "--policy", s.policy(host, []string{"k"}, 1, nil), host + "/" + s.repo + ":v1"}
			},
			wantCode: 3,
			want:     []string{fmt.Sprintf("more than %d referrers", registry.MaxReferrers), "refusing to judge on partial data"},
			notWant:  []string{"PASS", "FAIL"},
		},
		attack{
			name:   "referrers listing that never ends",
			guards: "pagination is followed a bounded number of pages; more is refused, not truncated",
			run: func(t *testing.T, s *scene) []string {
				d := s.image("v1")
				host := hostileListing(t, s, d, func(page int) ([]v1.Descriptor, bool) {
					return fakeReferrers(page, 1), true
				})
				s.trusted()
				return []string{"verify", "--policy", s.policy(host, []string{"k"}, 1, nil), host + "/" + s.repo + ":v1"}
			},
			wantCode: 3,
			want:     []string{"pages", "refusing to judge on partial data"},
			notWant:  []string{"PASS", "FAIL"},
		},
		attack{
			name:   "referrers listing larger than a manifest may be",
			guards: "one listing response is read up to a size limit; a larger one is refused with exit 3",
			run: func(t *testing.T, s *scene) []string {
				d := s.image("v1")
				host := hostileListing(t, s, d, func(page int) ([]v1.Descriptor, bool) {
					descs := fakeReferrers(page, 1)
					descs[0].Annotations["pad"] = strings.Repeat("x", registry.MaxManifestBytes)
					return descs, false
				})
				s.trusted()
				return []string{"verify", "--policy", s.policy(host, []string{"k"}, 1, nil), host + "/" + s.repo + ":v1"}
			},
			wantCode: 3,
			want:     []string{fmt.Sprintf("over the %d byte limit", registry.MaxManifestBytes), "refusing to judge on partial data"},
			notWant:  []string{"PASS", "FAIL"},
		},
		attack{
			name:   "more signatures than verify checks per image",
			guards: "verify checks a bounded number of bundles per image; more is refused with the numbers, not a verdict on the first ones",
			run: func(t *testing.T, s *scene) []string {
				d := s.image("v1")
				host := hostileListing(t, s, d, func(page int) ([]v1.Descriptor, bool) {
					return fakeReferrers(page, registry.MaxBundlesPerImage+1), false
				})
				s.trusted()
				return []string{"verify", "--policy", s.policy(host, []string{"k"}, 1, nil), host + "/" + s.repo + ":v1"}
			},
			wantCode: 3,
			want:     []string{fmt.Sprintf("more than %d", registry.MaxBundlesPerImage), "refusing to judge on partial data"},
			notWant:  []string{"PASS", "FAIL"},
		},
	)
}

// within fails t when the row (setup and the imgsign run) takes longer than
// d: a deadline that holds only eventually is no deadline.
func within(t *testing.T, d time.Duration) {
	t.Helper()
	start := time.Now()
	t.Cleanup(func() {
		if took := time.Since(start); took > d {
			t.Errorf("took %s, want under %s", took.Round(time.Millisecond), d)
		}
	})
}

// silentServer accepts TCP connections on 127.0.0.1 and never answers, and
// returns its host:port.
func silentServer(t *testing.T) string {
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

// hostileProxy serves upstream on 127.0.0.1 through a reverse proxy whose
// handle may answer a request itself (returning true).
func hostileProxy(t *testing.T, upstream string, handle func(http.ResponseWriter, *http.Request) bool) string {
	t.Helper()
	target, err := url.Parse("http://" + upstream)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !handle(w, r) {
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// hostileListing puts a proxy in front of the scene's registry that answers
// the listing of subject's referrers with page(n)'s descriptors, linking to a
// next page when more is true. Where the registry has the referrers API that
// is the API's listing; where it has not, the referrers tag schema index
// (one page) and, for endless listings, the tag list.
func hostileListing(t *testing.T, s *scene, subject v1.Hash, page func(n int) (descs []v1.Descriptor, more bool)) string {
	t.Helper()
	fallback := "/manifests/" + registry.FallbackTag(subject)
	return hostileProxy(t, s.host, func(w http.ResponseWriter, r *http.Request) bool {
		n := 0
		fmt.Sscan(r.URL.Query().Get("page"), &n)
		switch {
		case s.kind == "referrers-api" && strings.Contains(r.URL.Path, "/referrers/"):
			descs, more := page(n)
			if more {
				w.Header().Set("Link", fmt.Sprintf(`<%s?page=%d>; rel="next"`, r.URL.Path, n+1))
			}
			serveIndex(t, w, descs)
			return true
		case s.kind != "referrers-api" && strings.HasSuffix(r.URL.Path, fallback) && r.Method == http.MethodGet:
			descs, _ := page(0)
			serveIndex(t, w, descs)
			return true
		case s.kind != "referrers-api" && strings.HasSuffix(r.URL.Path, "/tags/list"):
			if _, more := page(n); !more {
				return false
			}
			// Tags that sort before the referrer tags, page after page.
			var tags []string
			for i := range 1000 {
				tags = append(tags, fmt.Sprintf("a%08d", n*1000+i))
			}
			w.Header().Set("Link", fmt.Sprintf(`<%s?page=%d>; rel="next"`, r.URL.Path, n+1))
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"name": s.repo, "tags": tags})
			return true
		}
		return false
	})
}

func serveIndex(t *testing.T, w http.ResponseWriter, descs []v1.Descriptor) {
	raw, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: descs})
	if err != nil {
		t.Error(err)
		return
	}
	w.Header().Set("Content-Type", string(types.OCIImageIndex))
	_, _ = w.Write(raw)
}

// fakeReferrers are n signature referrer descriptors, distinct per page,
// that name manifests nobody stored.
func fakeReferrers(page, n int) []v1.Descriptor {
	out := make([]v1.Descriptor, n)
	for i := range out {
		sum := sha256.Sum256(fmt.Appendf(nil, "referrer %d/%d", page, i))
		out[i] = v1.Descriptor{
			MediaType:    types.OCIManifestSchema1,
			ArtifactType: "application/vnd.dev.sigstore.bundle.v0.3+json",
			Digest:       v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])},
			Size:         600,
			Annotations: map[string]string{
				"dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1",
				"org.opencontainers.image.created":  "2026-01-01T00:00:00Z",
			},
		}
	}
	return out
}
