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
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

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

	*testenv.Server // Logs, Stop
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
	f, err := Launch(bin, t.TempDir(), append(opts, WithIssuer(c.issuer))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Stop()
		if t.Failed() {
			t.Logf("Fulcio's log:\n%s", f.Logs())
		}
	})
	return f
}

// Launch is Start for a program outside tests (the demo's local Sigstore,
// internal/testing/devsigstore): bin is the imgsign-fulcio tool, dir holds
// Fulcio's config and the trust material written, and an issuer must be
// given (WithIssuer). Stop ends it.
func Launch(bin, dir string, opts ...Option) (*Fulcio, error) {
	c := &config{}
	for _, o := range opts {
		o(c)
	}
	if c.issuer == nil {
		return nil, errors.New("fulcioenv: Launch needs WithIssuer")
	}
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
		return nil, err
	}
	cfgPath := filepath.Join(dir, "fulcio-config.json")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		return nil, err
	}
	srv, err := testenv.Launch(bin, []string{"-config", cfgPath}, dir)
	if err != nil {
		return nil, fmt.Errorf("starting Fulcio: %w", err)
	}
	f := &Fulcio{URL: "http://" + srv.Addr, Issuer: c.issuer, TSAURL: c.tsaURL, Rekor: c.rekor, Server: srv}
	if err := f.writeTrust(c, dir); err != nil {
		srv.Stop()
		return nil, fmt.Errorf("%w; Fulcio's log:\n%s", err, srv.Logs())
	}
	return f, nil
}

// writeTrust fetches Fulcio's CA chain and writes the trusted root and the
// signing config into dir.
func (f *Fulcio) writeTrust(c *config, dir string) error {
	body, err := f.Server.Get(f.URL+"/healthz", f.URL+"/api/v2/trustBundle")
	if err != nil {
		return fmt.Errorf("Fulcio's trust bundle: %w", err)
	}
	if f.CAChain, err = trustBundle(body); err != nil {
		return err
	}
	if f.TrustedRoot, err = f.trustedRoot(c); err != nil {
		return err
	}
	f.TrustedRootPath = filepath.Join(dir, "trusted_root.json")
	if err := writeJSON(f.TrustedRootPath, f.TrustedRoot); err != nil {
		return err
	}
	f.SigningConfig, err = root.NewSigningConfig(root.SigningConfigMediaType02,
		[]root.Service{service(f.URL)},
		[]root.Service{service(c.issuer.URL())},
		rekorServices(c.rekor), root.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_ANY},
		tsaServices(c.tsaURL), root.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_ANY},
	)
	if err != nil {
		return err
	}
	f.SigningConfigPath = filepath.Join(dir, "signing_config.json")
	return writeJSON(f.SigningConfigPath, f.SigningConfig)
}

// Token mints an ID token from f's issuer (oidctest.Issuer.Token).
func (f *Fulcio) Token(t testing.TB, opts ...oidctest.TokenOption) string {
	t.Helper()
	return f.Issuer.Token(t, opts...)
}

// trustBundle parses Fulcio's /api/v2/trustBundle answer: one chain of PEM
// certificates, root last.
func trustBundle(body []byte) ([]*x509.Certificate, error) {
	var bundle struct {
		Chains []struct {
			Certificates []string `json:"certificates"`
		} `json:"chains"`
	}
	if err := json.Unmarshal(body, &bundle); err != nil {
		return nil, fmt.Errorf("Fulcio's trust bundle: %w: %s", err, body)
	}
	if len(bundle.Chains) != 1 || len(bundle.Chains[0].Certificates) == 0 {
		return nil, fmt.Errorf("Fulcio's trust bundle: want one chain, got %s", body)
	}
	return parsePEM([]byte(strings.Join(bundle.Chains[0].Certificates, "\n")))
}

// trustedRoot is the trusted root a verifier of f's certificates needs.
func (f *Fulcio) trustedRoot(c *config) (*root.TrustedRoot, error) {
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
			return nil, err
		}
		chain, err := parsePEM(pemBytes)
		if err != nil {
			return nil, err
		}
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
		return nil, fmt.Errorf("building the trusted root: %w", err)
	}
	return tr, nil
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

// parsePEM reads PEM certificates (Fulcio's and the TSA's chains), at least one.
func parsePEM(b []byte) ([]*x509.Certificate, error) {
	certs, err := cryptoutils.UnmarshalCertificatesFromPEM(b)
	if err == nil && len(certs) == 0 {
		err = errors.New("no PEM certificates")
	}
	return certs, err
}

func writeJSON(path string, v json.Marshaler) error {
	b, err := v.MarshalJSON()
	if err != nil {
		return err
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, b, "", "  "); err != nil {
		return err
	}
	return os.WriteFile(path, pretty.Bytes(), 0o644)
}
