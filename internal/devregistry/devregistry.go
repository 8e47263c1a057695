// Package devregistry runs go-containerregistry's in-memory registry on
// loopback for tests, the demo and benchmarks, with the OCI referrers API on
// or off and a request counter, so request budgets are measured rather than
// guessed.
package devregistry

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/registry"
)

// Server is a running registry.
type Server struct {
	Addr     string // host:port on 127.0.0.1
	requests atomic.Int64
	srv      *http.Server
	ln       net.Listener
}

// CountPath answers GET with the number of registry requests served so far
// and DELETE by resetting it.
const CountPath = "/_devregistry/requests"

// Start serves a registry on addr ("127.0.0.1:0" for any free port).
func Start(addr string, referrers bool) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	s := &Server{Addr: ln.Addr().String(), ln: ln}
	reg := registry.New(registry.WithReferrersSupport(referrers), registry.Logger(log.New(io.Discard, "", 0)))
	mux := http.NewServeMux()
	mux.HandleFunc(CountPath, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			s.requests.Store(0)
		}
		fmt.Fprintf(w, "%d\n", s.requests.Load())
	})
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if referrers && r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/referrers/") {
			serveReferrers(reg, w, r)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	s.srv = &http.Server{Handler: mux}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// serveReferrers answers a referrers listing as the OCI distribution spec
// says, where go-containerregistry's registry does not: each descriptor's
// artifactType is its manifest's artifactType when the manifest sets one
// (go-containerregistry reports the config media type, so a notation
// signature showed as application/vnd.oci.empty.v1+json and notation found
// none), and the artifactType filter applies to that.
func serveReferrers(reg http.Handler, w http.ResponseWriter, r *http.Request) {
	filter := r.URL.Query().Get("artifactType")
	inner := r.Clone(r.Context())
	q := inner.URL.Query()
	q.Del("artifactType")
	inner.URL.RawQuery = q.Encode()
	rec := httptest.NewRecorder()
	reg.ServeHTTP(rec, inner)
	if rec.Code != http.StatusOK {
		copyResponse(w, rec)
		return
	}
	var idx map[string]any
	if json.Unmarshal(rec.Body.Bytes(), &idx) != nil {
		copyResponse(w, rec)
		return
	}
	repo, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v2/"), "/referrers/")
	list, _ := idx["manifests"].([]any)
	kept := []any{}
	for _, e := range list {
		d, _ := e.(map[string]any)
		dg, _ := d["digest"].(string)
		mreq := httptest.NewRequest(http.MethodGet, "/v2/"+repo+"/manifests/"+dg, nil)
		mreq.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
		mrec := httptest.NewRecorder()
		reg.ServeHTTP(mrec, mreq)
		var m struct {
			ArtifactType string `json:"artifactType"`
		}
		if mrec.Code == http.StatusOK && json.Unmarshal(mrec.Body.Bytes(), &m) == nil && m.ArtifactType != "" {
			d["artifactType"] = m.ArtifactType
		}
		if filter == "" || d["artifactType"] == filter {
			kept = append(kept, d)
		}
	}
	idx["manifests"] = kept
	body, _ := json.Marshal(idx)
	w.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
	if filter != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// Requests is the number of registry requests served since the last reset.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }
