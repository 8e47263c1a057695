package testenv

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	notaryutils "github.com/theupdateframework/notary/tuf/utils"
)

// NotaryPassphrase is the passphrase every NotaryClient encrypts its private
// keys (root, targets, snapshot, delegation) with in its trust dir.
const NotaryPassphrase = "imgsign-test-passphrase"

// Notary is a running notary-server v0.7.0 (Notary v1, the server behind
// Docker Content Trust), built by tools/build.sh with the unreleased upstream
// fix that lets a server built with Go >= 1.17 accept delegation metadata
// (tools/notary/patch-server.sh).
type Notary struct {
	URL    string // https://127.0.0.1:PORT
	CAFile string // PEM of the test CA that issued the server's certificate

	logs *LockedBuffer
}

// NotaryServer starts notary-server v0.7.0 on 127.0.0.1 (free port) with
// in-memory storage and the local (in-process) trust service, which holds the
// server-managed timestamp and snapshot keys (ed25519). It serves TLS with a
// certificate (SAN 127.0.0.1) from a P-256 test CA generated now. The server
// stops when t ends; its logs are shown if t failed.
func NotaryServer(t testing.TB) *Notary {
	t.Helper()
	bin := Tool(t, "notary-server")
	dir := t.TempDir()
	caFile, certFile, keyFile := WriteTLS(t, dir)
	addr := FreeAddr(t)
	cfg := map[string]any{
		"server": map[string]any{
			"http_addr":     addr,
			"tls_cert_file": certFile,
			"tls_key_file":  keyFile,
		},
		"trust_service": map[string]any{"type": "local"},
		"storage":       map[string]any{"backend": "memory"},
		"logging":       map[string]any{"level": "warn"},
	}
	cfgPath := filepath.Join(dir, "server-config.json")
	writeJSON(t, cfgPath, cfg)

	n := &Notary{URL: "https://" + addr, CAFile: caFile, logs: &LockedBuffer{}}
	cmd := exec.Command(bin, "-config", cfgPath)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = n.logs, n.logs
	cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting notary-server: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("notary-server logs:\n%s", n.logs.String())
		}
	})
	n.wait(t, exited)
	return n
}

// Transport reaches the server over TLS trusting only the test CA.
func (n *Notary) Transport(t testing.TB) *http.Transport {
	t.Helper()
	ca, err := os.ReadFile(n.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatalf("no certificate in %s", n.CAFile)
	}
	return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
}

// ReverseProxy forwards to the server, for tests that stand between the
// client and it (tampering, authentication).
func (n *Notary) ReverseProxy(t testing.TB) *httputil.ReverseProxy {
	t.Helper()
	u, err := url.Parse(n.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = n.Transport(t)
	return rp
}

// wait polls the server's health endpoint over TLS (trusting only the test
// CA) until it answers 200, failing t with the logs if it never does.
func (n *Notary) wait(t testing.TB, exited <-chan struct{}) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second, Transport: n.Transport(t)}
	defer client.CloseIdleConnections()
	url := n.URL + "/_notary_server/health"
	var last error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		select {
		case <-exited:
			t.Fatalf("notary-server exited; logs:\n%s", n.logs.String())
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not come up (%v); logs:\n%s", url, last, n.logs.String())
}

// NotaryClient drives the notary v0.7.0 CLI against a Notary server, with its
// own trust dir and config. The CLI never prompts: passphrases come from the
// NOTARY_*_PASSPHRASE variables (NotaryPassphrase) and stdin is empty.
type NotaryClient struct {
	// Home is the client's HOME; Home/.docker is a Docker config dir whose
	// trust dir is TrustDir, so testenv.Run(t, c.Home, ...) sees the keys
	// and metadata as Docker's ~/.docker/trust.
	Home string
	// TrustDir has exactly the layout of ~/.docker/trust: private/<keyID>.key
	// (encrypted PKCS#8 with role/gun PEM headers) and
	// tuf/<gun>/metadata/{root,targets,snapshot,timestamp,targets/*}.json.
	TrustDir string
	// Config is the notary CLI's config file (outside TrustDir).
	Config string

	bin    string
	server *Notary
}

// Client returns a notary CLI wrapper with a fresh trust dir and a config
// file pointing at n with its CA.
func (n *Notary) Client(t testing.TB) *NotaryClient {
	t.Helper()
	bin := Tool(t, "notary")
	home := t.TempDir()
	c := &NotaryClient{
		bin:      bin,
		Home:     home,
		TrustDir: filepath.Join(home, ".docker", "trust"),
		Config:   filepath.Join(home, "notary-config.json"),
		server:   n,
	}
	if err := os.MkdirAll(c.TrustDir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeJSON(t, c.Config, map[string]any{
		"trust_dir": c.TrustDir,
		"remote_server": map[string]any{
			"url":     n.URL,
			"root_ca": n.CAFile,
		},
	})
	return c
}

// Run runs `notary -c Config args...` and returns its stdout, failing t with
// the command's output if it fails.
func (c *NotaryClient) Run(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, append([]string{"-c", c.Config}, args...)...)
	cmd.Dir = c.Home
	cmd.Env = []string{
		"HOME=" + c.Home,
		"PATH=" + os.Getenv("PATH"),
		"NOTARY_ROOT_PASSPHRASE=" + NotaryPassphrase,
		"NOTARY_TARGETS_PASSPHRASE=" + NotaryPassphrase,
		"NOTARY_SNAPSHOT_PASSPHRASE=" + NotaryPassphrase,
		"NOTARY_DELEGATION_PASSPHRASE=" + NotaryPassphrase,
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("notary %s: %v\nstdout:\n%s\nstderr:\n%s\nnotary-server logs:\n%s",
			strings.Join(args, " "), err, stdout.String(), stderr.String(), c.server.logs.String())
	}
	return stdout.String()
}

// Init creates gun as `docker push` with content trust does: a root key
// (reused if the trust dir has one) and a local targets key, the timestamp
// and snapshot keys managed by the server. The notary CLI cannot initialize
// with a server-managed snapshot key, so it runs `notary init -p` and then
// `notary key rotate gun snapshot -r` (root.json is therefore at version 2),
// and deletes the now unused local snapshot key, as Docker never has one;
// then it refreshes the trust dir's metadata.
func (c *NotaryClient) Init(t testing.TB, gun string) {
	t.Helper()
	c.Run(t, "init", "-p", gun)
	c.Run(t, "key", "rotate", gun, "snapshot", "-r")
	c.Refresh(t, gun)
	for _, k := range c.privateKeys(t) {
		if k.role == "snapshot" && k.gun == gun {
			if err := os.Remove(k.path); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// InitWithCA is Init with a root certificate issued by a CA made now
// (as organisations with their own PKI set DCT up), and returns the CA's
// PEM file, which Notary's trust pinning (trust_pinning.ca) accepts.
func (c *NotaryClient) InitWithCA(t testing.TB, gun string) string {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: "imgsign test DCT root CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "root-ca.pem")
	writePEM(t, caFile, "CERTIFICATE", caDER)
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(rootKey)
	if err != nil {
		t.Fatal(err)
	}
	// The notary CLI imports only encrypted root keys, in its own format.
	priv, err := notaryutils.ParsePEMPrivateKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), "")
	if err != nil {
		t.Fatal(err)
	}
	enc, err := notaryutils.ConvertPrivateKeyToPKCS8(priv, "root", "", NotaryPassphrase)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "root.key")
	if err := os.WriteFile(keyFile, enc, 0o600); err != nil {
		t.Fatal(err)
	}
	certDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: gun},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(5 * 365 * 24 * time.Hour),
		// No extended key usage: Notary checks the chain with Go's
		// x509 Verify and its default (server auth) usage, which a
		// code-signing-only certificate fails.
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true,
	}, caCert, &rootKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile := filepath.Join(dir, "root.crt")
	writePEM(t, certFile, "CERTIFICATE", certDER)
	c.Run(t, "init", "-p", gun, "--rootkey", keyFile, "--rootcert", certFile)
	c.Run(t, "key", "rotate", gun, "snapshot", "-r")
	c.Refresh(t, gun)
	return caFile
}

// AddHash stages tag (a target named as Docker names its tags) with digest
// ("sha256:<hex>" or "sha512:<hex>") and size in roles (default: targets),
// without publishing.
func (c *NotaryClient) AddHash(t testing.TB, gun, tag, digest string, size int64, roles ...string) {
	t.Helper()
	alg, hex, ok := strings.Cut(digest, ":")
	if !ok || (alg != "sha256" && alg != "sha512") {
		t.Fatalf("AddHash: digest %q is not sha256:<hex> or sha512:<hex>", digest)
	}
	args := []string{"addhash", gun, tag, strconv.FormatInt(size, 10), "--" + alg, hex}
	if len(roles) > 0 {
		args = append(args, "--roles", strings.Join(roles, ","))
	}
	c.Run(t, args...)
}

// Publish publishes gun's staged changes, then refreshes the trust dir's
// metadata from the server (see Refresh).
func (c *NotaryClient) Publish(t testing.TB, gun string) {
	t.Helper()
	c.Run(t, "publish", gun)
	c.Refresh(t, gun)
}

// Refresh updates gun's metadata under TrustDir/tuf from the server with
// `notary list`, as `docker pull` or `docker trust inspect` would. Notary's
// publish uploads new metadata without writing it to the local cache, which
// keeps the version fetched before publishing until the next update.
func (c *NotaryClient) Refresh(t testing.TB, gun string) {
	t.Helper()
	c.Run(t, "list", gun)
}

// AddDelegation creates a P-256 key and a self-signed certificate for the
// delegation role (e.g. "targets/releases"), imports the private key into
// the trust dir (so AddHash(..., role) then Publish signs with it alone),
// adds the delegation for all paths, publishes and refreshes. It returns the
// delegation key's ID as it appears in targets.json and in the signatures of
// the role's metadata: the ID of the ecdsa-x509 certificate key, not the
// private key's file name under private/ that `notary delegation list` shows.
func (c *NotaryClient) AddDelegation(t testing.TB, gun, role string) string {
	t.Helper()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "delegation.key")
	writePEM(t, keyFile, "PRIVATE KEY", der)
	now := time.Now()
	certDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: path.Base(role)},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
	}, &x509.Certificate{Subject: pkix.Name{CommonName: path.Base(role)}}, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certFile := filepath.Join(dir, "delegation.crt")
	certPEM := writePEM(t, certFile, "CERTIFICATE", certDER)

	// Docker names a signer's key after the signer ("releases"), not the role.
	c.Run(t, "key", "import", keyFile, "--role", path.Base(role))
	c.Run(t, "delegation", "add", "-p", gun, role, certFile, "--all-paths")
	c.Refresh(t, gun)

	var targets struct {
		Signed struct {
			Delegations struct {
				Keys  map[string]tufKey `json:"keys"`
				Roles []struct {
					Name   string   `json:"name"`
					KeyIDs []string `json:"keyids"`
				} `json:"roles"`
			} `json:"delegations"`
		} `json:"signed"`
	}
	c.readMetadata(t, gun, "targets", &targets)
	for _, r := range targets.Signed.Delegations.Roles {
		if r.Name != role {
			continue
		}
		for _, id := range r.KeyIDs {
			if k := targets.Signed.Delegations.Keys[id]; bytes.Equal(k.publicPEM(t), certPEM) {
				return id
			}
		}
	}
	t.Fatalf("delegation %s of %s with the new certificate not in published targets.json", role, gun)
	return ""
}

// RemoveDelegationKeys removes every key from a delegation and publishes,
// as `docker trust signer remove` does for a signer's role: what the role
// signed stays on the server but no longer verifies. `notary delegation
// remove` names keys by the IDs `notary delegation list` prints (the bare
// public keys'), so those are what it is given.
func (c *NotaryClient) RemoveDelegationKeys(t testing.TB, gun, role string) {
	t.Helper()
	var ids []string
	for _, line := range strings.Split(c.Run(t, "delegation", "list", gun), "\n") {
		f := strings.Fields(line)
		if len(f) >= 5 && f[0] == role {
			// ROLE  PATHS("" <all paths>)  KEY IDS  THRESHOLD
			ids = append(ids, f[4])
		}
	}
	if len(ids) == 0 {
		t.Fatalf("delegation %s of %s has no keys to remove", role, gun)
	}
	c.Run(t, append([]string{"delegation", "remove", gun, role}, append(ids, "-y")...)...)
	c.Publish(t, gun)
}

// RootKeyID returns the ID of gun's root key as listed in the root role of
// root.json in the trust dir: the ID of the ecdsa-x509 certificate key,
// which `docker trust inspect` shows as the root key and Notary's trust
// pinning (trust_pinning.certs) expects — not the private key's file name
// under private/ (the ID of the bare public key).
func (c *NotaryClient) RootKeyID(t testing.TB, gun string) string {
	t.Helper()
	id, _ := c.root(t, gun)
	return id
}

// RootCertPEM returns the PEM certificate of gun's root key (keyval.public
// of the root role's key in root.json).
func (c *NotaryClient) RootCertPEM(t testing.TB, gun string) []byte {
	t.Helper()
	_, k := c.root(t, gun)
	return k.publicPEM(t)
}

func (c *NotaryClient) root(t testing.TB, gun string) (string, tufKey) {
	t.Helper()
	var root struct {
		Signed struct {
			Keys  map[string]tufKey `json:"keys"`
			Roles map[string]struct {
				KeyIDs []string `json:"keyids"`
			} `json:"roles"`
		} `json:"signed"`
	}
	c.readMetadata(t, gun, "root", &root)
	ids := root.Signed.Roles["root"].KeyIDs
	if len(ids) != 1 {
		t.Fatalf("root.json of %s lists %d root keys, want 1", gun, len(ids))
	}
	k, ok := root.Signed.Keys[ids[0]]
	if !ok {
		t.Fatalf("root.json of %s has no key %s", gun, ids[0])
	}
	return ids[0], k
}

// MetadataPath returns the path of role's metadata (e.g. "root",
// "targets/releases") for gun in the trust dir.
func (c *NotaryClient) MetadataPath(gun, role string) string {
	return filepath.Join(c.TrustDir, "tuf", filepath.FromSlash(gun), "metadata", filepath.FromSlash(role)+".json")
}

func (c *NotaryClient) readMetadata(t testing.TB, gun, role string, v any) {
	t.Helper()
	b, err := os.ReadFile(c.MetadataPath(gun, role))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("parsing %s metadata of %s: %v", role, gun, err)
	}
}

// tufKey is a key in TUF metadata; keyval.public is base64.
type tufKey struct {
	KeyType string `json:"keytype"`
	KeyVal  struct {
		Public string `json:"public"`
	} `json:"keyval"`
}

func (k tufKey) publicPEM(t testing.TB) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(k.KeyVal.Public)
	if err != nil {
		t.Fatalf("decoding %s key: %v", k.KeyType, err)
	}
	return b
}

type privateKey struct{ path, role, gun string }

// privateKeys lists the keys under TrustDir/private with their PEM headers.
func (c *NotaryClient) privateKeys(t testing.TB) []privateKey {
	t.Helper()
	var keys []privateKey
	err := filepath.WalkDir(filepath.Join(c.TrustDir, "private"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".key") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		block, _ := pem.Decode(b)
		if block == nil {
			return fmt.Errorf("%s: no PEM block", p)
		}
		keys = append(keys, privateKey{path: p, role: block.Headers["role"], gun: block.Headers["gun"]})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// WriteTLS writes a fresh P-256 CA and a server certificate for
// 127.0.0.1 it issued, and returns the CA, certificate and key files.
func WriteTLS(t testing.TB, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: "imgsign test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	certDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(dir, "ca.pem")
	certFile = filepath.Join(dir, "server.pem")
	keyFile = filepath.Join(dir, "server-key.pem")
	writePEM(t, caFile, "CERTIFICATE", caDER)
	writePEM(t, certFile, "CERTIFICATE", certDER)
	writePEM(t, keyFile, "PRIVATE KEY", keyDER)
	return caFile, certFile, keyFile
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func writePEM(t testing.TB, file, typ string, der []byte) []byte {
	t.Helper()
	b := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return b
}

func writeJSON(t testing.TB, file string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// LockedBuffer is a bytes.Buffer a process may write while a test reads it
// (a server's log, printed when the test fails).
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
