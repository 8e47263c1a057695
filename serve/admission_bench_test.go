//go:build unix

package serve

// Load benchmarks of imgsign serve (make bench-admission; bench/admission.sh
// runs them and prints the figures against the targets). A real server (Run:
// TLS 1.3, the production http.Server settings) listens on loopback; an
// in-process client posts real AdmissionReviews — a Pod CREATE as the API
// server sends it, ?timeout=10s included — over keep-alive connections
// trusting a test CA, and a real registry on loopback holds images signed
// with a real key. Speed is reported, never asserted: a benchmark fails only
// on a functional error (a review not admitted, more than one verification
// for a burst of one image).
//
// The client shares the machine's cores with the server, so the figures are
// those of client and server together: on the 2-core target machine they
// understate what the server alone would do. CPU profiles tell the two
// apart (clientLabel). Unix only: CPU time is read with getrusage.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/imgsign/imgsign/internal/devregistry"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/internal/testing/testkey"
	"github.com/imgsign/imgsign/keys"
	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/verify"
	"github.com/imgsign/imgsign/verify/policy"
)

// benchProtos are the client's protocols: imgsign serve speaks HTTP/1.1
// only (serve.go says why), so the API server keeps keep-alive connections
// to it, one per concurrent call.
var benchProtos = []string{"http1"}

// admBench is one running imgsign serve with its registry, key and client.
type admBench struct {
	reg        *devregistry.Server
	dir        string
	policyFile string
	signer     *keys.Signer
	srv        *Server
	base       string // https://127.0.0.1:port
	client     *http.Client
	uid        atomic.Int64
}

// startAdmBench starts a registry, writes a policy trusting a fresh key for
// it, and runs imgsign serve (Run) with the default flags, changed by mod.
func startAdmBench(b *testing.B, proto string, mod func(*Config)) *admBench {
	b.Helper()
	a := &admBench{reg: testenv.Registry(b, true), dir: b.TempDir(), signer: testkey.Signer(b)}
	pub, err := keys.EncodePublic(a.signer.Public())
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a.dir, "release.pub"), pub, 0o644); err != nil {
		b.Fatal(err)
	}
	a.policyFile = filepath.Join(a.dir, "policy.yaml")
	doc := fmt.Sprintf("version: 1\nkeys:\n  - name: release\n    publicKey: release.pub\npolicies:\n  - name: apps\n    scopes: [\"%s/**\"]\n    signatures:\n      keys: [release]\n", a.reg.Addr)
	if err := os.WriteFile(a.policyFile, []byte(doc), 0o644); err != nil {
		b.Fatal(err)
	}
	caFile, certFile, keyFile := testenv.WriteTLS(b, a.dir)
	cfg := Config{PolicyFile: a.policyFile, Listen: testenv.FreeAddr(b), TLSCert: certFile, TLSKey: keyFile,
		Deadline: DefaultDeadline, VerdictTTL: DefaultVerdictTTL, NegativeTTL: DefaultNegativeTTL, ResolveTTL: DefaultResolveTTL,
		ReloadInterval: DefaultReloadInterval, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mod != nil {
		mod(&cfg)
	}
	a.srv, err = New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.srv.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("imgsign serve: %v", err)
		}
	})
	a.base = "https://" + cfg.Listen
	a.client = benchClient(b, caFile, proto)
	a.waitReady(b, done)
	return a
}

// benchClient is a keep-alive client trusting the test CA, with room for
// every concurrent request's connection.
func benchClient(b *testing.B, caFile, proto string) *http.Client {
	b.Helper()
	ca, err := os.ReadFile(caFile)
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		b.Fatal("test CA does not parse")
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13},
		MaxIdleConns:        2048,
		MaxIdleConnsPerHost: 2048,
		IdleConnTimeout:     90 * time.Second,
		Protocols:           new(http.Protocols),
	}
	switch proto {
	case "h2":
		tr.Protocols.SetHTTP2(true)
	case "http1":
		tr.Protocols.SetHTTP1(true)
	default:
		b.Fatalf("unknown protocol %q", proto)
	}
	b.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// waitReady waits for /readyz; done is Run's result, put back for the
// cleanup when Run has already returned.
func (a *admBench) waitReady(b *testing.B, done chan error) {
	b.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var resp *http.Response
		var err error
		asClient(func() { resp, err = a.client.Get(a.base + "/readyz") })
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("readyz %d: %s", resp.StatusCode, body)
		}
		select {
		case runErr := <-done:
			done <- runErr
			b.Fatalf("imgsign serve stopped: %v", runErr)
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("imgsign serve not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// push pushes a random image to repo:tag, signs it when signed, and
// returns its reference.
func (a *admBench) push(b *testing.B, repo, tag string, signed bool) string {
	b.Helper()
	testenv.PushImage(b, a.reg.Addr, repo, tag)
	image := a.reg.Addr + "/" + repo + ":" + tag
	if signed {
		if _, err := sign.Image(context.Background(), registry.New(), image, a.signer, sign.Options{}); err != nil {
			b.Fatal(err)
		}
	}
	return image
}

// counter sums the server's counters called name.
func (a *admBench) counter(b *testing.B, name string) float64 {
	b.Helper()
	mfs, err := a.srv.metrics.reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// reviewBody is a Pod CREATE AdmissionReview as the API server sends it,
// split around its UID so that every request carries its own.
type reviewBody struct{ head, tail []byte }

const uidDigits = 12

func newReviewBody(image string) reviewBody {
	head := `{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"6f1c2a3e-0b4d-4e5f-8a9b-`
	tail := `","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},` +
		`"requestKind":{"group":"","version":"v1","kind":"Pod"},"requestResource":{"group":"","version":"v1","resource":"pods"},` +
		`"name":"web-7d4b9c8f6d-x2kqp","namespace":"shop","operation":"CREATE",` +
		`"userInfo":{"username":"system:serviceaccount:kube-system:replicaset-controller","uid":"4b1e5c2a-9f3d-4c6e-8a7b-1d2e3f4a5b6c","groups":["system:serviceaccounts","system:serviceaccounts:kube-system","system:authenticated"]},` +
		`"object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-7d4b9c8f6d-x2kqp","generateName":"web-7d4b9c8f6d-","namespace":"shop","uid":"9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d","creationTimestamp":"2026-01-01T00:00:00Z",` +
		`"labels":{"app.kubernetes.io/name":"web","app.kubernetes.io/part-of":"shop","pod-template-hash":"7d4b9c8f6d"},` +
		`"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-01-01T00:00:00Z","prometheus.io/scrape":"true","prometheus.io/port":"9090"},` +
		`"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-7d4b9c8f6d","uid":"1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d","controller":true,"blockOwnerDeletion":true}],` +
		`"managedFields":[{"manager":"kube-controller-manager","operation":"Update","apiVersion":"v1","time":"2026-01-01T00:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:generateName":{},"f:labels":{".":{},"f:app.kubernetes.io/name":{},"f:pod-template-hash":{}},"f:ownerReferences":{".":{},"k:{\"uid\":\"1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d\"}":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{},"f:name":{},"f:ports":{}}}}}}]},` +
		`"spec":{"volumes":[{"name":"kube-api-access-abcde","projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},{"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}}],"defaultMode":420}}],` +
		`"containers":[{"name":"web","image":"` + image + `","ports":[{"name":"http","containerPort":8080,"protocol":"TCP"}],` +
		`"env":[{"name":"LOG_LEVEL","value":"info"},{"name":"POD_NAME","valueFrom":{"fieldRef":{"apiVersion":"v1","fieldPath":"metadata.name"}}}],` +
		`"resources":{"limits":{"cpu":"500m","memory":"256Mi"},"requests":{"cpu":"100m","memory":"128Mi"}},` +
		`"volumeMounts":[{"name":"kube-api-access-abcde","readOnly":true,"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}],` +
		`"readinessProbe":{"httpGet":{"path":"/healthz","port":8080,"scheme":"HTTP"},"periodSeconds":5},` +
		`"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent",` +
		`"securityContext":{"allowPrivilegeEscalation":false,"readOnlyRootFilesystem":true,"runAsNonRoot":true,"capabilities":{"drop":["ALL"]}}}],` +
		`"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","serviceAccountName":"default","serviceAccount":"default",` +
		`"securityContext":{"seccompProfile":{"type":"RuntimeDefault"}},"schedulerName":"default-scheduler",` +
		`"tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}],` +
		`"priority":0,"enableServiceLinks":true,"preemptionPolicy":"PreemptLowerPriority"},"status":{"phase":"Pending","qosClass":"Burstable"}},` +
		`"oldObject":null,"dryRun":false,"options":{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1","fieldManager":"kube-controller-manager"}}}`
	return reviewBody{head: []byte(head), tail: []byte(tail)}
}

// clientLabel marks the client's requests, and the goroutines they start
// (dials, the transport's connection loops), in CPU profiles: `go tool
// pprof -tagignore side=client` shows the server's share alone.
var clientLabel = pprof.Labels("side", "client")

// asClient runs f with the client's profile label.
func asClient(f func()) { pprof.Do(context.Background(), clientLabel, func(context.Context) { f() }) }

// review posts one review to the validating webhook and checks that it
// answers this review's UID and admits the Pod.
func (a *admBench) review(rb reviewBody) (err error) {
	asClient(func() { err = a.post(rb) })
	return err
}

func (a *admBench) post(rb reviewBody) error {
	uid := fmt.Appendf(nil, "%0*d", uidDigits, a.uid.Add(1)%int64(math.Pow10(uidDigits)))
	body := make([]byte, 0, len(rb.head)+len(uid)+len(rb.tail))
	body = append(append(append(body, rb.head...), uid...), rb.tail...)
	resp, err := a.client.Post(a.base+"/admission/validate?timeout=10s", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, out)
	}
	if !bytes.Contains(out, append(append([]byte(`-`), uid...), '"')) || !bytes.Contains(out, []byte(`"allowed":true`)) {
		return fmt.Errorf("review not admitted, or not this review's answer: %s", out)
	}
	return nil
}

// load posts n reviews from clients concurrent clients, each one after the
// other, and returns every review's latency.
func (a *admBench) load(b *testing.B, clients, n int, rb reviewBody) []time.Duration {
	b.Helper()
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for c := range clients {
		lat[c] = make([]time.Duration, 0, n/clients+1)
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				start := time.Now()
				if err := a.review(rb); err != nil {
					errs[c] = err
					return
				}
				lat[c] = append(lat[c], time.Since(start))
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	return slices.Concat(lat...)
}

// quantile is the q-quantile of d (nearest rank), in milliseconds.
func quantile(d []time.Duration, q float64) float64 {
	if len(d) == 0 {
		return math.NaN()
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := max(int(math.Ceil(q*float64(len(s))))-1, 0)
	return float64(s[i]) / float64(time.Millisecond)
}

// cpuTime is the CPU time (user and system) this process has used: client
// and server together. Per review, it is what a review costs whatever else
// the machine runs, which wall-clock rates on a shared machine are not.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAdmissionCacheHit: one image, verified once at warm-up, then
// b.N reviews of it from a fixed number of concurrent clients. By Little's
// law latency is about clients / throughput once the cores are saturated:
// clients=1 measures the latency of one review, more clients the
// throughput.
func BenchmarkAdmissionCacheHit(b *testing.B) {
	for _, proto := range benchProtos {
		for _, clients := range []int{1, 2, 4, 16, 64} {
			b.Run(fmt.Sprintf("proto=%s/clients=%d", proto, clients), func(b *testing.B) {
				a := startAdmBench(b, proto, nil)
				rb := newReviewBody(a.push(b, "bench/hit", "1", true))
				if err := a.review(rb); err != nil { // warm-up: the one verification
					b.Fatal(err)
				}
				verifications, registry := a.counter(b, "imgsign_verifications_total"), a.counter(b, "imgsign_registry_requests_total")
				b.ResetTimer()
				start, cpu := time.Now(), cpuTime(b)
				lat := a.load(b, clients, b.N, rb)
				elapsed, cpu := time.Since(start), cpuTime(b)-cpu
				b.StopTimer()
				b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/review")
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "reviews/s")
				b.ReportMetric(quantile(lat, .5), "p50-ms")
				b.ReportMetric(quantile(lat, .99), "p99-ms")
				b.ReportMetric(a.counter(b, "imgsign_verifications_total"), "verifications")
				b.ReportMetric(a.counter(b, "imgsign_registry_requests_total")-registry, "registry-requests")
				if n := a.counter(b, "imgsign_verifications_total"); n != verifications || n != 1 {
					b.Errorf("%v verifications for one image, want 1", n)
				}
			})
		}
	}
}

// BenchmarkAdmissionBurst: per iteration a new signed image, then 1,000
// reviews of it fired at once. One verification must answer them all;
// the registry requests are those of that verification and the tag's
// resolution, as the server counts them and as the registry served them.
func BenchmarkAdmissionBurst(b *testing.B) {
	const burst = 1000
	a := startAdmBench(b, "http1", nil)
	// Warm the connections a burst needs (one per concurrent review over
	// HTTP/1.1) with an image the bursts do not use.
	warm := newReviewBody(a.push(b, "bench/warm", "1", true))
	a.fire(b, burst, warm)
	var lat []time.Duration
	var verifications, requests, served float64
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		rb := newReviewBody(a.push(b, fmt.Sprintf("bench/burst-%d", i), "1", true))
		v0, r0, s0 := a.counter(b, "imgsign_verifications_total"), a.counter(b, "imgsign_registry_requests_total"), a.reg.Requests()
		b.StartTimer()
		lat = append(lat, a.fire(b, burst, rb)...)
		b.StopTimer()
		v := a.counter(b, "imgsign_verifications_total") - v0
		if v != 1 {
			b.Errorf("burst %d: %v verifications for 1,000 reviews of one new image, want 1", i, v)
		}
		verifications += v
		requests += a.counter(b, "imgsign_registry_requests_total") - r0
		served += float64(a.reg.Requests() - s0)
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(verifications/float64(b.N), "verifications/burst")
	b.ReportMetric(requests/float64(b.N), "registry-requests/burst")
	b.ReportMetric(served/float64(b.N), "registry-served/burst")
	b.ReportMetric(quantile(lat, .5), "p50-ms")
	b.ReportMetric(quantile(lat, .99), "p99-ms")
}

// fire posts n reviews at once and returns their latencies from the start.
func (a *admBench) fire(b *testing.B, n int, rb reviewBody) []time.Duration {
	b.Helper()
	lat := make([]time.Duration, n)
	errs := make([]error, n)
	var ready, wg sync.WaitGroup
	gate := make(chan struct{})
	var start time.Time
	for i := range n {
		ready.Add(1)
		wg.Go(func() {
			ready.Done()
			<-gate
			errs[i] = a.review(rb)
			lat[i] = time.Since(start)
		})
	}
	ready.Wait()
	start = time.Now()
	close(gate)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	return lat
}

// BenchmarkAdmissionCacheMiss: every cache off, so each review resolves and
// verifies the image anew; each iteration also runs one in-process
// verification of the same image (verify.New(client, policy).Verify on a
// warm registry client: `imgsign verify` without process start), in
// alternating order, so that the target "a miss costs one verify + 5 ms"
// can be read off p99-ms against verify-p99-ms.
func BenchmarkAdmissionCacheMiss(b *testing.B) {
	a := startAdmBench(b, "http1", func(c *Config) { c.VerdictTTL, c.NegativeTTL, c.ResolveTTL = 0, 0, 0 })
	image := a.push(b, "bench/miss", "1", true)
	rb := newReviewBody(image)
	p, err := policy.Load(a.policyFile)
	if err != nil {
		b.Fatal(err)
	}
	var verifyRequests atomic.Int64
	client := registry.New(registry.WithRequestCounter(func() { verifyRequests.Add(1) }))
	verifyOnce := func() error {
		res := verify.New(client, p).Verify(context.Background(), image)
		if res.Verdict != verify.VerdictPass {
			return fmt.Errorf("in-process verify: %s: %s", res.Verdict, res.Reason())
		}
		return nil
	}
	// Warm both: connections, and the first-use costs of each path.
	if err := a.review(rb); err != nil {
		b.Fatal(err)
	}
	if err := verifyOnce(); err != nil {
		b.Fatal(err)
	}
	v0, r0, q0 := a.counter(b, "imgsign_verifications_total"), a.counter(b, "imgsign_registry_requests_total"), verifyRequests.Load()
	reviews := make([]time.Duration, 0, b.N)
	verifies := make([]time.Duration, 0, b.N)
	timed := func(f func() error, into *[]time.Duration) {
		start := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		*into = append(*into, time.Since(start))
	}
	var served int64
	review := func() error {
		s0 := a.reg.Requests()
		err := a.review(rb)
		served += a.reg.Requests() - s0
		return err
	}
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 0 {
			timed(review, &reviews)
			timed(verifyOnce, &verifies)
		} else {
			timed(verifyOnce, &verifies)
			timed(review, &reviews)
		}
	}
	b.StopTimer()
	if n := a.counter(b, "imgsign_verifications_total") - v0; n != float64(b.N) {
		b.Errorf("%v verifications for %d reviews with every cache off, want one each", n, b.N)
	}
	b.ReportMetric(quantile(reviews, .5), "p50-ms")
	b.ReportMetric(quantile(reviews, .99), "p99-ms")
	b.ReportMetric(quantile(verifies, .5), "verify-p50-ms")
	b.ReportMetric(quantile(verifies, .99), "verify-p99-ms")
	b.ReportMetric((a.counter(b, "imgsign_registry_requests_total")-r0)/float64(b.N), "registry-requests/review")
	b.ReportMetric(float64(served)/float64(b.N), "registry-served/review")
	b.ReportMetric(float64(verifyRequests.Load()-q0)/float64(b.N), "registry-requests/verify")
}
