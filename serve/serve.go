// Package serve is imgsign serve: an HTTPS server that puts the trust
// policy in the cluster's admission chain. It answers Kubernetes'
// validating and mutating webhooks and Gatekeeper's external data
// (package admission) with verdicts from verify, cached per replica
// (judge.go), and reloads the policy and its TLS certificate when their
// files change, the policy also when a named Sigstore trust root it uses
// resolves differently, and fetches its KMS keys again periodically
// (reload.go).
package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/imgsign/imgsign/admission"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/storage"
)

// Config is what imgsign serve is started with.
type Config struct {
	PolicyFile      string
	Listen          string
	TLSCert, TLSKey string
	// Deadline bounds every answer: below the webhook's timeoutSeconds
	// (the API server's ?timeout= lowers it further).
	Deadline time.Duration
	// VerdictTTL bounds how long a pass is reused; NegativeTTL a fail;
	// ResolveTTL a tag's resolution to a digest. 0 disables that cache.
	VerdictTTL, NegativeTTL, ResolveTTL time.Duration
	// ReloadInterval is how often the policy and certificate files, and
	// the named trust roots the policy may use, are checked for changes
	// (SIGHUP checks at once).
	ReloadInterval time.Duration
	// KMSRefresh is how often the KMS keys of the policy in force are
	// fetched again (0: DefaultKMSRefresh); a key rotated, retired or
	// removed in the KMS takes effect within it.
	KMSRefresh time.Duration
	// Registry configures the registry client (insecure hosts, user agent).
	Registry []registry.Option
	Log      *slog.Logger
}

// Defaults for the flags.
const (
	DefaultDeadline       = 9 * time.Second
	DefaultVerdictTTL     = 10 * time.Minute
	DefaultNegativeTTL    = 10 * time.Second
	DefaultResolveTTL     = 10 * time.Second
	DefaultReloadInterval = 2 * time.Second
	DefaultKMSRefresh     = 5 * time.Minute
)

// maxKMSRetry bounds how long a failed KMS fetch waits to be tried again.
const maxKMSRetry = 30 * time.Second

// Server is one imgsign serve replica.
type Server struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	judge   *judge
	policy  *policyWatch
	cert    *certWatch
}

// New checks cfg and prepares a server; the policy is loaded by Run (or
// Reload) so that a replica starts, and reports, even when it is broken.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.PolicyFile == "":
		return nil, errkind.Inputf("serve needs --policy FILE: the trust policy every admission is judged by")
	case cfg.Deadline <= 0:
		return nil, errkind.Inputf("--deadline must be a positive duration such as 9s, not %s", cfg.Deadline)
	case cfg.VerdictTTL < 0 || cfg.NegativeTTL < 0 || cfg.ResolveTTL < 0:
		return nil, errkind.Inputf("cache TTLs must be 0 (no caching) or positive")
	case cfg.ReloadInterval <= 0:
		return nil, errkind.Inputf("--reload-interval must be a positive duration such as 2s, not %s", cfg.ReloadInterval)
	case cfg.KMSRefresh < 0:
		return nil, errkind.Inputf("--kms-refresh must be a positive duration such as 5m, not %s", cfg.KMSRefresh)
	}
	if cfg.KMSRefresh == 0 {
		cfg.KMSRefresh = DefaultKMSRefresh
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	m := newMetrics()
	client := registry.New(append(cfg.Registry, registry.WithRequestCounter(m.registryRequests.Inc))...)
	s := &Server{cfg: cfg, log: cfg.Log, metrics: m}
	s.judge = &judge{client: client, deadline: cfg.Deadline, verdictTTL: cfg.VerdictTTL, negativeTTL: cfg.NegativeTTL, resolveTTL: cfg.ResolveTTL,
		now: time.Now, metrics: m, verdicts: newTTLCache[string, admission.Verdict](maxCached), resolved: newTTLCache[string, *storage.Target](maxCached), unresolved: newTTLCache[string, error](maxCached)}
	s.policy = &policyWatch{file: cfg.PolicyFile, client: client, judge: s.judge, log: cfg.Log, metrics: m,
		kmsRefresh: cfg.KMSRefresh, kmsRetry: min(cfg.KMSRefresh, maxKMSRetry), now: time.Now}
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		s.cert = &certWatch{certFile: cfg.TLSCert, keyFile: cfg.TLSKey, log: cfg.Log, metrics: m}
	}
	return s, nil
}

// Reload checks the policy's inputs and the certificate files now and
// loads what changed, and fetches the policy's KMS keys again if they are
// due.
func (s *Server) Reload(ctx context.Context) {
	s.policy.check(ctx)
	if s.cert != nil {
		s.cert.check()
	}
}

// Handler is every endpoint, for Run and for tests that bring their own
// listener.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/admission/validate", s.timed("validate", &admission.Handler{Judge: s.judge, Deadline: s.deadline, Observe: s.observe("validate")}))
	mux.Handle("/admission/mutate", s.timed("mutate", &admission.Handler{Judge: s.judge, Mutate: true, Deadline: s.deadline, Observe: s.observe("mutate")}))
	mux.Handle("/externaldata", s.timed("externaldata", &admission.ExternalData{Judge: s.judge, Deadline: s.deadline, Ready: s.policy.ready}))
	mux.Handle("/externaldata/mutate", s.timed("externaldata-mutate", &admission.ExternalData{Judge: s.judge, Mutate: true, Deadline: s.deadline, Ready: s.policy.ready}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		status, code := s.policy.status()
		w.WriteHeader(code)
		fmt.Fprintln(w, status)
	})
	mux.Handle("/metrics", s.metrics.handler())
	return mux
}

// deadline is the time a request has: the configured deadline, or less
// when the API server says it waits less (it appends ?timeout=10s to a
// webhook's URL) — always a second before the caller gives up.
func (s *Server) deadline(r *http.Request) (context.Context, context.CancelFunc) {
	d := s.cfg.Deadline
	if t, err := time.ParseDuration(r.URL.Query().Get("timeout")); err == nil && t > 0 {
		limit := t - time.Second
		if limit <= 0 {
			limit = t / 2
		}
		d = min(d, limit)
	}
	return context.WithTimeout(r.Context(), d)
}

func (s *Server) observe(endpoint string) func(string) {
	return func(outcome string) { s.metrics.requests.WithLabelValues(endpoint, outcome).Inc() }
}

// timed records an endpoint's latency (and, for external data, its count).
func (s *Server) timed(endpoint string, h http.Handler) http.Handler {
	hist := s.metrics.duration.WithLabelValues(endpoint)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h.ServeHTTP(w, r)
		hist.Observe(time.Since(start).Seconds())
		if strings.HasPrefix(endpoint, "externaldata") {
			s.metrics.requests.WithLabelValues(endpoint, "answered").Inc()
		}
	})
}

// Run loads the policy, serves until ctx is done, and reloads changed
// files every ReloadInterval and on SIGHUP. It returns once the listener
// has shut down.
func (s *Server) Run(ctx context.Context) error {
	s.Reload(ctx)
	if s.cert == nil {
		return errkind.Inputf("serve needs --tls-cert and --tls-key: the API server only calls webhooks over HTTPS")
	}
	if _, err := s.cert.get(nil); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return errkind.Inputf("cannot listen on %s: %w", s.cfg.Listen, err)
	}
	srv := &http.Server{
		Handler: s.Handler(),
		// HTTP/1.1 only, as controller-runtime's webhook servers since
		// CVE-2023-44487 (HTTP/2 rapid reset): the API server keeps a pool
		// of keep-alive connections instead, and the latency tail of Go's
		// HTTP/2 server under load is gone (make bench-admission).
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS13, GetCertificate: s.cert.get, NextProtos: []string{"http/1.1"}},
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      s.cfg.Deadline + 5*time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	s.log.Info("serving", "address", "https://"+ln.Addr().String(), "policy", s.cfg.PolicyFile)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	tick := time.NewTicker(s.cfg.ReloadInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			s.Reload(ctx)
		case <-hup:
			s.Reload(ctx)
		case err := <-done:
			return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), s.cfg.Deadline+time.Second)
			defer cancel()
			err := srv.Shutdown(sctx)
			if errors.Is(err, context.DeadlineExceeded) {
				err = nil
			}
			return err
		}
	}
}
