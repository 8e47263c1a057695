package fulcioenv

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rekornote "github.com/sigstore/rekor-tiles/v2/pkg/note"

	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// RekorTool is the name of the Rekor v2 server binary in the tools
// directory (tools/rekor: rekor-tiles' POSIX server).
const RekorTool = "rekor-server"

// Rekor is one running Rekor v2 log (sigstore's rekor-tiles with its POSIX
// storage backend: tiles and checkpoints in a temp dir).
type Rekor struct {
	// URL is the log's base URL (http://127.0.0.1:PORT): entries are
	// POSTed to URL+"/api/v2/log/entries" (sign.RekorOptions{BaseURL: URL,
	// Version: 2}).
	URL string
	// Origin is the checkpoint origin, "127.0.0.1": sigstore-go takes a v2
	// log's origin from the host of its baseUrl in the trusted root.
	Origin string
	// PublicKey is the checkpoint signing key (ECDSA P-256); LogID the log
	// ID the log's entries name (the signed-note key hash of Origin and
	// PublicKey), as the trusted root lists it.
	PublicKey crypto.PublicKey
	LogID     []byte
	// Dir holds the log's tiles, checkpoint and state.
	Dir string

	logs *testenv.LockedBuffer
}

// Logs is what the Rekor server printed so far.
func (r *Rekor) Logs() string { return r.logs.String() }

// StartRekor runs a Rekor v2 log until t ends. Without the rekor-server
// tool it skips t locally and fails it in CI (testenv.Missing).
func StartRekor(t testing.TB) *Rekor {
	t.Helper()
	bin := testenv.Tool(t, RekorTool)
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, "checkpoint-key.pem")
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	const origin = "127.0.0.1"
	_, logID, err := rekornote.KeyHash(origin, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	storage := filepath.Join(dir, "log")
	// Three loopback ports: HTTP, gRPC (the HTTP gateway's backend) and
	// metrics, all on 127.0.0.1.
	httpPort, grpcPort, metricsPort := freePort(t), freePort(t), freePort(t)
	cmd := exec.Command(bin, "serve",
		"--hostname", origin,
		"--http-address", "127.0.0.1", "--http-port", httpPort,
		"--grpc-address", "127.0.0.1", "--grpc-port", grpcPort,
		"--http-metrics-port", metricsPort,
		"--storage-dir", storage,
		"--signer-filepath", keyPath,
		"--checkpoint-interval", "200ms",
		"--batch-max-age", "50ms",
	)
	logs := &testenv.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting Rekor: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("Rekor's log:\n%s", logs.String())
		}
	})
	r := &Rekor{URL: "http://127.0.0.1:" + httpPort, Origin: origin, PublicKey: key.Public(), LogID: logID, Dir: storage, logs: logs}
	// Ready when its health check says SERVING.
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(r.URL + "/healthz")
		if err == nil {
			var b bytes.Buffer
			_, _ = b.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(b.String(), "SERVING") {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Rekor did not come up at %s; log:\n%s", r.URL, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t testing.TB) string {
	t.Helper()
	_, port, err := net.SplitHostPort(testenv.FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	return port
}
