package testenv

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	ggcr "github.com/google/go-containerregistry/pkg/registry"
)

// HookedRegistry is go-containerregistry's in-memory registry on 127.0.0.1
// that logs every request ("METHOD /path") and lets a test answer some
// itself: a registry that misbehaves in one precise way.
type HookedRegistry struct {
	Host  string
	inner http.Handler

	mu    sync.Mutex
	log   []string
	hooks []func(w http.ResponseWriter, r *http.Request) bool
}

// NewHookedRegistry starts one, with the referrers API on or off; it stops
// when t ends.
func NewHookedRegistry(t testing.TB, referrersAPI bool) *HookedRegistry {
	t.Helper()
	s := &HookedRegistry{inner: ggcr.New(ggcr.WithReferrersSupport(referrersAPI), ggcr.Logger(log.New(io.Discard, "", 0)))}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.Host = strings.TrimPrefix(srv.URL, "http://")
	return s
}

func (s *HookedRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.log = append(s.log, r.Method+" "+r.URL.Path)
	hooks := slices.Clone(s.hooks)
	s.mu.Unlock()
	for _, h := range hooks {
		if h(w, r) {
			return
		}
	}
	s.inner.ServeHTTP(w, r)
}

// Hook adds h before the registry: it answers a request itself by
// returning true.
func (s *HookedRegistry) Hook(h func(w http.ResponseWriter, r *http.Request) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = append(s.hooks, h)
}

// Requests returns the requests logged since the last ResetLog.
func (s *HookedRegistry) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

// ResetLog forgets the requests logged so far.
func (s *HookedRegistry) ResetLog() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = nil
}

// Registry is the registry behind the hooks, for a hook that lets it
// answer and then alters the answer.
func (s *HookedRegistry) Registry() http.Handler { return s.inner }
