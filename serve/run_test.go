package serve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// running is a Server in Run on loopback, and a client trusting its CA.
type running struct {
	base              string
	client            *http.Client
	certFile, keyFile string
}

func run(t *testing.T, cfg Config) *running {
	t.Helper()
	caFile, certFile, keyFile := testenv.WriteTLS(t, t.TempDir())
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	cfg.Listen = testenv.FreeAddr(t)
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	ca, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	r := &running{base: "https://" + cfg.Listen, certFile: certFile, keyFile: keyFile,
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, err := r.client.Get(r.base + "/healthz"); err == nil {
			resp.Body.Close()
			return r
		}
		if time.Now().After(deadline) {
			t.Fatal("imgsign serve did not come up")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *running) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := r.client.Get(r.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Until a policy loads, the replica is not ready and denies everything;
// once the file is fixed it is picked up without a restart.
func TestRunNotReadyUntilPolicyLoads(t *testing.T) {
	e := newEnv(t)
	if err := os.WriteFile(e.policyFile, []byte("version: 1\npolicies: ["), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, Config{PolicyFile: e.policyFile, Deadline: 5 * time.Second, ReloadInterval: 50 * time.Millisecond})
	if code, body := r.get(t, "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "no trust policy loaded") {
		t.Errorf("readyz %d %s", code, body)
	}
	resp, err := r.client.Post(r.base+"/externaldata", "application/json", strings.NewReader(`{"apiVersion":"externaldata.gatekeeper.sh/v1beta1","kind":"ProviderRequest","request":{"keys":["a/b:c"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"systemError":"imgsign: no trust policy is loaded yet`) {
		t.Errorf("external data without a policy: %s", b)
	}
	e.writePolicy(t, "", "enforce")
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := r.get(t, "/readyz")
		if code == http.StatusOK && strings.HasPrefix(body, "ready: policy sha256:") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fixed policy was not loaded: %d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TLS 1.3 only, and a renewed certificate is served without a restart.
func TestRunTLS(t *testing.T) {
	e := newEnv(t)
	r := run(t, Config{PolicyFile: e.policyFile, Deadline: 5 * time.Second, ReloadInterval: 50 * time.Millisecond})
	host := strings.TrimPrefix(r.base, "https://")
	old := &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}
	if c, err := tls.Dial("tcp", host, old); err == nil {
		c.Close()
		t.Error("a TLS 1.2 handshake succeeded")
	}
	served := func() []byte {
		c, err := tls.Dial("tcp", host, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if v := c.ConnectionState().Version; v != tls.VersionTLS13 {
			t.Errorf("TLS version %x", v)
		}
		return c.ConnectionState().PeerCertificates[0].Raw
	}
	before := served()
	// A renewal: a new certificate and key written over the old files.
	_, newCert, newKey := testenv.WriteTLS(t, t.TempDir())
	for _, f := range [][2]string{{newCert, r.certFile}, {newKey, r.keyFile}} {
		b, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for string(served()) == string(before) {
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate was never served")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
