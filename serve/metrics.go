package serve

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are what /metrics exposes; docs/kubernetes.md lists them.
type metrics struct {
	reg              *prometheus.Registry
	requests         *prometheus.CounterVec
	duration         *prometheus.HistogramVec
	verdicts         *prometheus.CounterVec
	verifications    prometheus.Counter
	verifyDuration   prometheus.Histogram
	verdictHits      prometheus.Counter
	verdictMisses    prometheus.Counter
	resolveHits      prometheus.Counter
	resolveMisses    prometheus.Counter
	registryRequests prometheus.Counter
	reloads          *prometheus.CounterVec
	reloadErrors     *prometheus.CounterVec
}

func newMetrics() *metrics {
	latency := []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "imgsign_admission_requests_total",
			Help: "Requests answered, by endpoint (validate, mutate, externaldata, externaldata-mutate) and outcome (allowed, denied, invalid; answered for external data)."}, []string{"endpoint", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "imgsign_admission_duration_seconds",
			Help: "Time to answer a request, by endpoint.", Buckets: latency}, []string{"endpoint"}),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "imgsign_verdicts_total",
			Help: "Image verdicts returned (cached or not), by verdict (pass, fail, error) and whether the rule enforces it."}, []string{"verdict", "enforced"}),
		verifications: prometheus.NewCounter(prometheus.CounterOpts{Name: "imgsign_verifications_total",
			Help: "Verifications run against registries (cache misses that were not joined to one in flight)."}),
		verifyDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "imgsign_verification_duration_seconds",
			Help: "Time one verification took.", Buckets: latency}),
		verdictHits: prometheus.NewCounter(prometheus.CounterOpts{Name: "imgsign_verdict_cache_hits_total",
			Help: "Verdicts answered from the verdict cache."}),
		verdictMisses: prometheus.NewCounter(prometheus.CounterOpts{Name: "imgsign_verdict_cache_misses_total",
			Help: "Verdicts not in the verdict cache."}),
		resolveHits: prometheus.NewCounter(prometheus.CounterOpts{Name: "imgsign_resolve_cache_hits_total",
			Help: "Tag and digest resolutions answered from the resolution cache."}),
		resolveMisses: prometheus.NewCounter(prometheus.CounterOpts{Name: "imgsign_resolve_cache_misses_total",
			Help: "Resolutions not in the resolution cache."}),
		registryRequests: prometheus.NewCounter(prometheus.CounterOpts{Name: "imgsign_registry_requests_total",
			Help: "HTTP requests sent to registries, retries included."}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "imgsign_reloads_total",
			Help: "Successful loads of the policy or the TLS certificate, by what (policy, tls)."}, []string{"what"}),
		reloadErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "imgsign_reload_errors_total",
			Help: "Refused changes of the policy or the TLS certificate (the previous one stays in force), by what (policy, tls)."}, []string{"what"}),
	}
	m.reg.MustRegister(m.requests, m.duration, m.verdicts, m.verifications, m.verifyDuration, m.verdictHits, m.verdictMisses,
		m.resolveHits, m.resolveMisses, m.registryRequests, m.reloads, m.reloadErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
