package e2e

// Offline review (docs/offline.md): attempts to make `verify --offline`
// reach the network, or hand down a PASS it would not give online, through
// the CLI. Rows of the attack table need no registry (offline: true); the
// tests below set environment variables or plant files in the trust-root
// cache, which rows cannot.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/imgsign/imgsign/internal/testing/fakesigstore"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/internal/testing/testpki"
)

// nowhere is an image on a registry that must never be contacted: the
// rows below are refused before any connection, or they would exit 3.
const nowhere = "registry.example.com/app@sha256:0000000000000000000000000000000000000000000000000000000000000000"

func init() {
	addAttacks(
		attack{
			name:    "offline review: Notary signer with revocation enforced",
			guards:  "--offline cannot ask an OCSP or CRL server, so an x509 signer enforcing revocation (the default) is refused before any connection (exit 2), never passed with the check skipped: a revoked certificate would otherwise PASS offline and FAIL online",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				pki := testpki.New(t)
				root := pki.RootPEM(t, s.dir)
				pol := s.write("notary.yaml", `version: 1
trustStores:
  - name: acme
    type: ca
    certificates: [`+root+`]
x509Signers:
  - name: release
    trustStores: [acme]
    trustedIdentities: ["*"]
policies:
  - name: app
    scopes: ["registry.example.com/**"]
    signatures:
      keys: [release]
`)
				return []string{"verify", "--offline", "--policy", pol, nowhere}
			},
			wantCode: 2,
			want:     []string{"--offline: x509 signer release checks revocation (revocation: enforce), which asks the OCSP and CRL servers its certificates name: set revocation: skip (or log) on it"},
			notWant:  []string{"PASS", "registry.example.com:"},
		},
		attack{
			name:    "offline review: Notary signer with revocation enforced beside a skipping one and a file key",
			guards:  "the revocation refusal holds for every x509 signer the policy defines, as the KMS refusal does for keys, whichever rule the image falls under",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				pki := testpki.New(t)
				root := pki.RootPEM(t, s.dir)
				s.trusted()
				pol := s.write("notary.yaml", `version: 1
keys:
  - name: k
    publicKey: k.pub
trustStores:
  - name: acme
    type: ca
    certificates: [`+root+`]
x509Signers:
  - name: legacy
    trustStores: [acme]
    trustedIdentities: ["*"]
    revocation: skip
  - name: release
    trustStores: [acme]
    trustedIdentities: ["*"]
    revocation: enforce
policies:
  - name: app
    scopes: ["registry.example.com/**"]
    signatures:
      keys: [k]
  - name: notary
    scopes: ["registry.example.com/notary/**"]
    signatures:
      keys: [release, legacy]
`)
				return []string{"verify", "--offline", "--output", "json", "--policy", pol, nowhere}
			},
			wantCode: 2,
			want:     []string{"--offline: x509 signer release checks revocation"},
			notWant:  []string{"legacy checks", "PASS"},
		},
	)
}

// runWithin runs imgsign with env (and nothing else of the test's
// environment but PATH and HOME) and kills it after d: a hang is a
// failure here, not a wait for testenv.Run's minutes.
func runWithin(t *testing.T, e *env, d time.Duration, env []string, args ...string) testenv.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, args...)
	cmd.Dir = e.dir
	cmd.Env = append([]string{"HOME=" + e.dir, "PATH=" + os.Getenv("PATH"), "DOCKER_CONFIG=" + filepath.Join(e.dir, ".docker")}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("imgsign %s did not finish within %s (killed)\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), d, stdout.String(), stderr.String())
	}
	res := testenv.Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return res
}

// countingListener accepts TCP connections on loopback and counts them.
func countingListener(t *testing.T) (addr string, accepted *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	accepted = &atomic.Int64{}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	return l.Addr().String(), accepted
}

// A proxy in the environment would carry verify's requests to a host that
// is not the registry: --offline refuses the request, naming the proxy,
// and the proxy sees no connection. Without the check Go's transport
// connects to the proxy (CONNECT for https, a plain request for http).
func TestOfflineReviewProxyFromEnvironment(t *testing.T) {
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	proxy, accepted := countingListener(t)
	for _, tc := range []struct {
		name string
		env  []string
		flag bool // --offline, else IMGSIGN_OFFLINE in env
	}{
		{"HTTPS_PROXY", []string{"HTTPS_PROXY=http://" + proxy}, true},
		{"https_proxy", []string{"https_proxy=http://" + proxy}, true},
		{"HTTPS_PROXY with IMGSIGN_OFFLINE", []string{"HTTPS_PROXY=http://" + proxy, "IMGSIGN_OFFLINE=1"}, false},
		{"NO_PROXY naming other hosts", []string{"HTTPS_PROXY=http://" + proxy, "NO_PROXY=other.example.com,127.0.0.1"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"verify", "--key", "k.pub", nowhere}
			if tc.flag {
				args = []string{"verify", "--offline", "--key", "k.pub", nowhere}
			}
			before := accepted.Load()
			r := runWithin(t, e, time.Minute, tc.env, args...)
			expectExit(t, r, 2, "--offline: the request to registry.example.com would go through the proxy "+proxy, "add registry.example.com to NO_PROXY")
			if n := accepted.Load() - before; n != 0 {
				t.Errorf("the proxy got %d connections under --offline", n)
			}
		})
	}
	// An IMGSIGN_OFFLINE that does not parse as a boolean is an error,
	// never read as "not offline" and the run made online.
	for _, v := range []string{"yes", "on", " 1"} {
		t.Run("IMGSIGN_OFFLINE="+v, func(t *testing.T) {
			before := accepted.Load()
			r := runWithin(t, e, time.Minute, []string{"HTTPS_PROXY=http://" + proxy, "IMGSIGN_OFFLINE=" + v}, "verify", "--key", "k.pub", nowhere)
			expectExit(t, r, 2, "IMGSIGN_OFFLINE")
			if n := accepted.Load() - before; n != 0 {
				t.Errorf("the proxy got %d connections with IMGSIGN_OFFLINE=%q", n, v)
			}
		})
	}
}

// writeLayoutImage writes a random image tagged v1 into a new OCI layout
// at dir and returns its oci: reference.
func writeLayoutImage(t *testing.T, dir string) string {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "v1"})); err != nil {
		t.Fatal(err)
	}
	return "oci:" + dir + ":v1"
}

// The trust-root cache is not trusted: whoever can write it (a shared CI
// cache) used to be able to plant a FIFO as public-good.json (or a symlink
// to one), and every verify naming a Sigstore root then blocked for ever
// in opening it, before --timeout applies and deaf to SIGTERM. A cache
// file that is not a regular file is passed over like any other that does
// not verify: public-good falls back to the embedded snapshot (and verify
// goes on, offline, to PASS on the file key), github fails closed.
func TestOfflineReviewCacheFIFO(t *testing.T) {
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	ref := writeLayoutImage(t, filepath.Join(e.dir, "layouts", "app"))
	e.must("sign", "--key", "k.key", ref)
	pol := func(root string) string {
		return e.write(root+".yaml", `version: 1
keys:
  - name: k
    publicKey: k.pub
trustRoots:
  - name: sigstore
    sigstore: `+root+`
identities:
  - name: release
    issuer: https://token.actions.githubusercontent.com
    subjectGlob: https://github.com/acme/app/.github/workflows/release.yml@refs/tags/*
    trustRoots: [sigstore]
policies:
  - name: app
    scopes: ["oci:`+filepath.Join(e.dir, "layouts")+`/**"]
    signatures:
      keys: [k, release]
`)
	}
	cache := filepath.Join(e.dir, "cache")
	tufDir := filepath.Join(cache, "tuf")
	if err := os.MkdirAll(tufDir, 0o755); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(e.dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("no FIFOs here: %v", err)
	}
	env := []string{"IMGSIGN_CACHE_DIR=" + cache}
	for _, tc := range []struct {
		name, root, file string
		plant            func(path string) error
		code             int
		want             []string
	}{
		{"public-good.json a FIFO", "public-good", "public-good.json", func(p string) error { return syscall.Mkfifo(p, 0o644) },
			0, []string{"PASS  ", "warning: the cached trust root is not used", "not a regular file"}},
		{"public-good.json a symlink to a FIFO", "public-good", "public-good.json", func(p string) error { return os.Symlink(fifo, p) },
			0, []string{"PASS  ", "warning: the cached trust root is not used", "not a regular file"}},
		{"github.json a FIFO", "github", "github.json", func(p string) error { return syscall.Mkfifo(p, 0o644) },
			2, []string{"no verified github trust root", "not a regular file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(tufDir, tc.file)
			_ = os.Remove(path)
			if err := tc.plant(path); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Remove(path) })
			r := runWithin(t, e, time.Minute, env, "verify", "--offline", "--policy", pol(tc.root), ref)
			expectExit(t, r, tc.code, tc.want...)
			if tc.code != 0 && strings.Contains(r.Stdout, "PASS") {
				t.Errorf("PASS without a verified %s root:\n%s", tc.root, r.Stdout)
			}
		})
	}
}

// Variables other Sigstore clients read to swap their trust (cosign's
// SIGSTORE_ROOT_FILE, SIGSTORE_REKOR_PUBLIC_KEY, SIGSTORE_CT_LOG_PUBLIC_KEY_FILE,
// SIGSTORE_TSA_CERTIFICATE_FILE; sigstore's TUF_ROOT; Go's SSL_CERT_FILE
// and SSL_CERT_DIR) all pointing at the attacker's Sigstore: the
// attacker's certificate still does not verify offline, under the
// embedded public-good root or a --trusted-root file. imgsign's trust
// comes from the policy and its own files only.
func TestOfflineReviewTrustFromEnvironment(t *testing.T) {
	e := newEnv(t)
	fs, mallory := fakesigstore.New(t), fakesigstore.New(t)
	fs.WriteTrustedRoot(t, filepath.Join(e.dir, "root.json"), fakesigstore.WithoutRekor())
	mallory.WriteTrustedRoot(t, filepath.Join(e.dir, "mallory-root.json"), fakesigstore.WithoutRekor())
	e.write("mallory-ca.pem", certsPEM(mallory.FulcioRoot(), mallory.FulcioIntermediate()))
	e.write("mallory-tsa.pem", certsPEM(mallory.TSAChain()...))
	tufRoot := filepath.Join(e.dir, "tuf-root")
	if err := os.MkdirAll(tufRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(e.dir, "mallory-root.json"))
	if err != nil {
		t.Fatal(err)
	}
	e.write("tuf-root/trusted_root.json", string(raw))
	e.write("app.bin", "release bytes")
	mb := mallory.MessageBundle(t, []byte("release bytes"), goodCert(), fakesigstore.WithoutTlog())
	var b struct {
		MessageSignature struct{ Signature []byte } `json:"messageSignature"`
	}
	if err := json.Unmarshal(mb, &b); err != nil {
		t.Fatal(err)
	}
	e.write("b.json", string(addTimestamp(t, mb, mallory.Timestamp(t, b.MessageSignature.Signature, time.Now()))))
	env := []string{
		"SIGSTORE_ROOT_FILE=" + filepath.Join(e.dir, "mallory-ca.pem"),
		"SIGSTORE_TRUSTED_ROOT=" + filepath.Join(e.dir, "mallory-root.json"),
		"SIGSTORE_TSA_CERTIFICATE_FILE=" + filepath.Join(e.dir, "mallory-tsa.pem"),
		"SIGSTORE_REKOR_PUBLIC_KEY=" + filepath.Join(e.dir, "mallory-ca.pem"),
		"SIGSTORE_CT_LOG_PUBLIC_KEY_FILE=" + filepath.Join(e.dir, "mallory-ca.pem"),
		"TUF_ROOT=" + tufRoot,
		"SSL_CERT_FILE=" + filepath.Join(e.dir, "mallory-ca.pem"),
		"SSL_CERT_DIR=" + e.dir,
		"IMGSIGN_CACHE_DIR=" + filepath.Join(e.dir, "cache"),
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"embedded public-good root", nil},
		{"--trusted-root file", []string{"--trusted-root", "root.json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"verify-blob", "--offline", "--bundle", "b.json"}, tc.args...)
			args = append(args, "--certificate-identity", ghWorkflow, "--certificate-oidc-issuer", ghIssuer, "app.bin")
			r := runWithin(t, e, time.Minute, env, args...)
			expectExit(t, r, 1, "does not verify")
			if strings.Contains(r.Stdout, "verified:") {
				t.Errorf("the attacker's certificate verified:\n%s", r.Stdout)
			}
		})
	}
}
