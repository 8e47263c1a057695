// Package devregistry runs go-containerregistry's in-memory registry on
// loopback for tests, the demo and benchmarks, with the OCI referrers API on
// or off and a request counter, so request budgets are measured rather than
// guessed.
package devregistry

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
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
		reg.ServeHTTP(w, r)
	}))
	s.srv = &http.Server{Handler: mux}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Requests is the number of registry requests served since the last reset.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }
