// Package fulcioenv runs a real Fulcio for keyless-signing tests: sigstore's
// Fulcio v1.8.8 (tools/fulcio, built by tools/build.sh as imgsign-fulcio)
// with an ephemeral in-memory CA and no CT log, on 127.0.0.1, trusting one
// OIDC issuer of type github-workflow served by the test
// (internal/testing/oidctest), so the certificates it issues carry GitHub
// Actions' workflow extensions. Start also writes the Sigstore trusted root
// (Fulcio's CA and, given them, the test's timestamp authority and Rekor v2
// log) and the signing config (v0.2: Fulcio, the issuer, the TSA, the log)
// a keyless signer reads.
//
// The transparency log is optional: StartRekor runs Rekor v2 (rekor-tiles,
// POSIX storage) and WithRekor adds it. Without it, bundles are verified with
// the TSA's signed timestamps (verify.WithSignedTimestamps) alone.
//
// Product code never imports this package (internal/layering checks it).
package fulcioenv

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/imgsign/imgsign/internal/testing/oidctest"
	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// Tool is the name of the Fulcio binary in the tools directory
// (testenv.Tool).
const Tool = "imgsign-fulcio"

// Fulcio is one running Fulcio with its OIDC issuer and trust material.
type Fulcio struct {
	// URL is Fulcio's base URL (http://127.0.0.1:PORT): its v2 API is
	// URL+"/api/v2/signingCert", as sigstore-go's sign.FulcioOptions.BaseURL
	// and a signing config's caUrls name it.
	URL string
	// Issuer is the OIDC issuer Fulcio trusts (github-workflow type,
	// audience "sigstore"): Issuer.Token mints what Fulcio accepts.
	Issuer *oidctest.Issuer
	// CAChain is Fulcio's CA chain from /api/v2/trustBundle, root last
	// (the ephemeral CA is a self-signed root alone).
	CAChain []*x509.Certificate
	// TSAURL is the timestamp endpoint given with WithTSA, if any.
	TSAURL string
	// Rekor is the transparency log given with WithRekor, if any.
	Rekor *Rekor
	// TrustedRoot (media type v0.1) holds Fulcio's CA, the TSA's chain and
	// the Rekor v2 log's key (given them);
	// TrustedRootPath is it as trusted_root.json.
	TrustedRoot     *root.TrustedRoot
	TrustedRootPath string
	// SigningConfig (v0.2) names Fulcio, the issuer, the TSA and the Rekor
	// v2 log (given them);
	// SigningConfigPath is it as signing_config.json.
	SigningConfig     *root.SigningConfig
	SigningConfigPath string

	logs *syncBuffer
}

type config struct {
	issuer           *oidctest.Issuer
	tsaURL, tsaChain string
	extraIssuers     []*oidctest.Issuer
	rekor            *Rekor
}

// Option configures Start.
type Option func(*config)

// WithTSA adds a timestamp authority to the trusted root (its PEM chain at
// chainPath, leaf first, root last) and the signing config (url, its
// timestamp endpoint): what testenv.TSA returns, so
// Start(t, WithTSA(testenv.TSA(t))) works.
func WithTSA(url, chainPath string) Option {
	return func(c *config) { c.tsaURL, c.tsaChain = url, chainPath }
}

// WithRekor adds a Rekor v2 log (StartRekor) to the trusted root and the
// signing config: Start(t, WithTSA(testenv.TSA(t)), WithRekor(StartRekor(t))).
func WithRekor(r *Rekor) Option { return func(c *config) { c.rekor = r } }

// WithIssuer makes Fulcio trust iss rather than a new issuer Start makes
// (RS256, as GitHub's).
func WithIssuer(iss *oidctest.Issuer) Option { return func(c *config) { c.issuer = iss } }

// AlsoTrust makes Fulcio trust more issuers, also as github-workflow.
func AlsoTrust(iss ...*oidctest.Issuer) Option {
	return func(c *config) { c.extraIssuers = append(c.extraIssuers, iss...) }
}

// Start runs Fulcio until t ends. Without the imgsign-fulcio tool it skips t
// locally and fails it in CI (testenv.Missing), as every test tool does.
func Start(t testing.TB, opts ...Option) *Fulcio {
	t.Helper()
	bin := testenv.Tool(t, Tool)
	c := &config{}
	for _, o := range opts {
		o(c)
	}
	if c.issuer == nil {
		c.issuer = oidctest.Start(t)
	}
	dir := t.TempDir()

	// Fulcio's config: the issuers it trusts, each as GitHub's is in the
	// public-good instance's config.
	issuers := map[string]any{}
	for _, iss := range append([]*oidctest.Issuer{c.issuer}, c.extraIssuers...) {
		issuers[iss.URL()] = map[string]string{
			"IssuerURL": iss.URL(),
			"ClientID":  oidctest.Audience,
			"Type":      "github-workflow",
		}
	}
	cfg, err := json.MarshalIndent(map[string]any{"OIDCIssuers": issuers}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "fulcio-config.json")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}

	addrFile := filepath.Join(dir, "addr")
	cmd := exec.Command(bin, "-config", cfgPath, "-addr-file", addrFile)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting Fulcio: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("Fulcio's log:\n%s", logs.String())
		}
	})
	var addr []byte
	for range 1500 {
		if b, err := os.ReadFile(addrFile); err == nil && len(b) > 0 {
			addr = b
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if addr == nil {
		t.Fatalf("Fulcio did not start:\n%s", logs.String())
	}
	f := &Fulcio{URL: "http://" + string(addr), Issuer: c.issuer, TSAURL: c.tsaURL, Rekor: c.rekor, logs: logs}
	testenv.WaitHTTP(t, f.URL+"/healthz", logs.String)

	f.CAChain = f.trustBundle(t)
	f.TrustedRoot = f.trustedRoot(t, c)
	f.TrustedRootPath = filepath.Join(dir, "trusted_root.json")
	writeJSON(t, f.TrustedRootPath, f.TrustedRoot)
	f.SigningConfig, err = root.NewSigningConfig(root.SigningConfigMediaType02,
		[]root.Service{service(f.URL)},
		[]root.Service{service(c.issuer.URL())},
		rekorServices(c.rekor), root.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_ANY},
		tsaServices(c.tsaURL), root.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_ANY},
	)
	if err != nil {
		t.Fatal(err)
	}
	f.SigningConfigPath = filepath.Join(dir, "signing_config.json")
	writeJSON(t, f.SigningConfigPath, f.SigningConfig)
	return f
}

// Token mints an ID token from f's issuer (oidctest.Issuer.Token).
func (f *Fulcio) Token(t testing.TB, opts ...oidctest.TokenOption) string {
	t.Helper()
	return f.Issuer.Token(t, opts...)
}

// Logs is what Fulcio printed so far.
func (f *Fulcio) Logs() string { return f.logs.String() }

// trustBundle fetches Fulcio's CA chain (v2 API), root last.
func (f *Fulcio) trustBundle(t testing.TB) []*x509.Certificate {
	t.Helper()
	resp, err := http.Get(f.URL + "/api/v2/trustBundle")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("Fulcio's trust bundle: %v (status %d) %s", err, resp.StatusCode, body)
	}
	var bundle struct {
		Chains []struct {
			Certificates []string `json:"certificates"`
		} `json:"chains"`
	}
	if err := json.Unmarshal(body, &bundle); err != nil {
		t.Fatalf("Fulcio's trust bundle: %v: %s", err, body)
	}
	if len(bundle.Chains) != 1 || len(bundle.Chains[0].Certificates) == 0 {
		t.Fatalf("Fulcio's trust bundle: want one chain, got %s", body)
	}
	return parsePEM(t, []byte(strings.Join(bundle.Chains[0].Certificates, "\n")))
}

func (f *Fulcio) trustedRoot(t testing.TB, c *config) *root.TrustedRoot {
	t.Helper()
	caRoot := f.CAChain[len(f.CAChain)-1]
	cas := []root.CertificateAuthority{&root.FulcioCertificateAuthority{
		Root:                caRoot,
		Intermediates:       f.CAChain[:len(f.CAChain)-1],
		ValidityPeriodStart: caRoot.NotBefore,
		URI:                 f.URL,
	}}
	var tsas []root.TimestampingAuthority
	if c.tsaChain != "" {
		pemBytes, err := os.ReadFile(c.tsaChain)
		if err != nil {
			t.Fatal(err)
		}
		chain := parsePEM(t, pemBytes)
		tsa := &root.SigstoreTimestampingAuthority{
			Root:                chain[len(chain)-1],
			ValidityPeriodStart: chain[len(chain)-1].NotBefore,
			URI:                 c.tsaURL,
		}
		if len(chain) > 1 {
			tsa.Leaf = chain[0]
			tsa.Intermediates = chain[1 : len(chain)-1]
		}
		tsas = append(tsas, tsa)
	}
	var tlogs map[string]*root.TransparencyLog
	if r := c.rekor; r != nil {
		tlogs = map[string]*root.TransparencyLog{hex.EncodeToString(r.LogID): {
			BaseURL:             r.URL,
			ID:                  r.LogID,
			ValidityPeriodStart: time.Now().Add(-time.Hour),
			HashFunc:            crypto.SHA256,
			PublicKey:           r.PublicKey,
			SignatureHashFunc:   crypto.SHA256,
		}}
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, cas, nil, tsas, tlogs)
	if err != nil {
		t.Fatalf("building the trusted root: %v", err)
	}
	return tr
}

func service(url string) root.Service {
	return root.Service{
		URL:                 url,
		MajorAPIVersion:     1,
		ValidityPeriodStart: time.Now().Add(-time.Hour).Truncate(time.Second),
		Operator:            "imgsign-test",
	}
}

func rekorServices(r *Rekor) []root.Service {
	if r == nil {
		return nil
	}
	s := service(r.URL)
	s.MajorAPIVersion = 2
	return []root.Service{s}
}

func tsaServices(url string) []root.Service {
	if url == "" {
		return nil
	}
	return []root.Service{service(url)}
}

func parsePEM(t testing.TB, b []byte) []*x509.Certificate {
	t.Helper()
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		t.Fatal("no PEM certificates")
	}
	return certs
}

func writeJSON(t testing.TB, path string, v json.Marshaler) {
	t.Helper()
	b, err := v.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, b, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a bytes.Buffer the process's output goroutines and the test
// may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
