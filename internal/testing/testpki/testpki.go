// Package testpki is a test-only X.509 PKI for Notary Project signatures,
// made when a test starts: a root CA, an intermediate CA it issued, and
// code-signing leaves the intermediate issues, all meeting the Notary
// Project certificate requirements (notation-core-go's
// x509.ValidateCodeSigningCertChain accepts every chain it hands out). No
// key or certificate is committed.
//
// Each PKI runs a CRL server on 127.0.0.1 (stopped when the test ends)
// serving a fresh, signed CRL per request: one for the intermediate (which
// covers leaves) and one for the root (which covers the intermediate).
// Revoke lists a serial on the CRL of its issuer. The intermediate always
// names the root's CRL as its distribution point; a leaf names the
// intermediate's only when LeafOptions.CRL is set.
//
// Notary Project verifiers (notation, notation-go) cache fetched CRLs until
// their NextUpdate: a serial revoked after a verifier has fetched the CRL
// may not be seen by it. Revoke before the first verification, or shorten
// the CRLs' validity with WithCRLValidity.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Paths the CRL server serves.
const (
	intermediateCRLPath = "/intermediate.crl"
	rootCRLPath         = "/root.crl"
)

// Option configures New.
type Option func(*config)

type config struct {
	rsa         bool
	name        string
	crlValidity time.Duration
}

// WithRSA makes the root and intermediate CA keys RSA-3072 instead of ECDSA
// P-256.
func WithRSA() Option { return func(c *config) { c.rsa = true } }

// WithName sets the organisation (O) of the CA subjects; New picks a unique
// one otherwise, so two PKIs of a test never share a CA name.
func WithName(name string) Option { return func(c *config) { c.name = name } }

// WithCRLValidity sets how long each CRL the server hands out is valid
// (NextUpdate - now); one hour unless set.
func WithCRLValidity(d time.Duration) Option { return func(c *config) { c.crlValidity = d } }

// PKI is a root CA, an intermediate CA and the CRL server of both.
type PKI struct {
	// Root is the self-signed root CA certificate; Intermediate is the CA
	// certificate the root issued, which issues leaves.
	Root, Intermediate *x509.Certificate
	// RootKey and IntermediateKey are their keys.
	RootKey, IntermediateKey crypto.Signer
	// CRLBase is the CRL server's base URL, http://127.0.0.1:PORT.
	CRLBase string

	crlValidity time.Duration

	mu        sync.Mutex
	crlNumber int64
	// crlRequests counts the CRL requests the server was sent;
	// crlUnavailable makes it answer them 503.
	crlRequests    int
	crlUnavailable bool
	// revoked lists revoked serials by the CA that issued them: true for
	// the root (the intermediate's serial), false for the intermediate.
	revoked map[string]revokedSerial
}

type revokedSerial struct {
	serial *big.Int
	byRoot bool
	at     time.Time
}

// Leaf is a code-signing certificate the PKI's intermediate issued, with
// its key.
type Leaf struct {
	Key  crypto.Signer
	Cert *x509.Certificate
	// Chain is leaf, intermediate, root: what a Notary Project signature
	// carries.
	Chain []*x509.Certificate
}

// LeafOptions are what Leaf issues.
type LeafOptions struct {
	// Subject of the leaf; C=US, ST=WA, O=imgsign test, CN=imgsign test
	// signer when empty (notation's trusted identities need C, ST and O).
	Subject pkix.Name
	// NotBefore and NotAfter default to an hour ago and a day from now.
	NotBefore, NotAfter time.Time
	// RSA makes the leaf key RSA-3072 instead of ECDSA P-256.
	RSA bool
	// CRL gives the leaf a CRL distribution point: the intermediate's CRL on
	// the PKI's CRL server.
	CRL bool
}

var pkiCount struct {
	sync.Mutex
	n int
}

// New makes a root CA and an intermediate CA, and starts their CRL server,
// which stops when t ends.
func New(t testing.TB, opts ...Option) *PKI {
	t.Helper()
	c := config{crlValidity: time.Hour}
	for _, o := range opts {
		o(&c)
	}
	if c.name == "" {
		pkiCount.Lock()
		pkiCount.n++
		n := pkiCount.n
		pkiCount.Unlock()
		c.name = fmt.Sprintf("imgsign test PKI %d-%x", n, randomSerial(t).Uint64()&0xffffff)
	}
	p := &PKI{crlValidity: c.crlValidity, revoked: map[string]revokedSerial{}}
	p.startCRLServer(t)

	now := time.Now()
	p.RootKey = newKey(t, c.rsa)
	rootTmpl := &x509.Certificate{
		SerialNumber:          randomSerial(t),
		Subject:               pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{c.name}, CommonName: c.name + " root CA"},
		NotBefore:             now.Add(-48 * time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	p.Root = createCert(t, rootTmpl, rootTmpl, p.RootKey.Public(), p.RootKey)

	p.IntermediateKey = newKey(t, c.rsa)
	intTmpl := &x509.Certificate{
		SerialNumber:          randomSerial(t),
		Subject:               pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{c.name}, CommonName: c.name + " intermediate CA"},
		NotBefore:             now.Add(-47 * time.Hour),
		NotAfter:              now.Add(364 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		CRLDistributionPoints: []string{p.CRLBase + rootCRLPath},
	}
	p.Intermediate = createCert(t, intTmpl, p.Root, p.IntermediateKey.Public(), p.RootKey)
	return p
}

// Leaf issues a code-signing leaf certificate from the intermediate.
func (p *PKI) Leaf(t testing.TB, o LeafOptions) *Leaf {
	t.Helper()
	key := newKey(t, o.RSA)
	cert := p.issue(t, key.Public(), o)
	return &Leaf{Key: key, Cert: cert, Chain: []*x509.Certificate{cert, p.Intermediate, p.Root}}
}

// LeafFor issues a code-signing leaf certificate for a key held elsewhere
// (an HSM, a KMS) and returns its chain: leaf, intermediate, root. o.RSA
// is ignored: the key is pub's.
func (p *PKI) LeafFor(t testing.TB, pub crypto.PublicKey, o LeafOptions) []*x509.Certificate {
	t.Helper()
	cert := p.issue(t, pub, o)
	return []*x509.Certificate{cert, p.Intermediate, p.Root}
}

// ChainPEM writes chain as PEM into dir/name and returns the path.
func ChainPEM(t testing.TB, dir, name string, chain []*x509.Certificate) string {
	t.Helper()
	return writeFile(t, dir, name, certsPEM(chain...), 0o644)
}

// issue makes the leaf certificate Leaf and LeafFor return.
func (p *PKI) issue(t testing.TB, pub crypto.PublicKey, o LeafOptions) *x509.Certificate {
	t.Helper()
	now := time.Now()
	if o.NotBefore.IsZero() {
		o.NotBefore = now.Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = now.Add(24 * time.Hour)
	}
	if o.Subject.String() == "" {
		o.Subject = pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"imgsign test"}, CommonName: "imgsign test signer"}
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(t),
		Subject:               o.Subject,
		NotBefore:             o.NotBefore,
		NotAfter:              o.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
		IsCA:                  false,
	}
	if o.CRL {
		tmpl.CRLDistributionPoints = []string{p.CRLBase + intermediateCRLPath}
	}
	return createCert(t, tmpl, p.Intermediate, pub, p.IntermediateKey)
}

// Revoke lists serial on the CRL of the CA that issued it from now on: the
// root's CRL for the intermediate's serial, the intermediate's for any
// other (a leaf's).
func (p *PKI) Revoke(serial *big.Int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.revoked[serial.String()] = revokedSerial{
		serial: new(big.Int).Set(serial),
		byRoot: serial.Cmp(p.Intermediate.SerialNumber) == 0,
		at:     time.Now().Add(-time.Second),
	}
}

// CRLRequests is how many CRL requests the CRL server has been sent so
// far, answered or not.
func (p *PKI) CRLRequests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.crlRequests
}

// SetCRLAvailable makes the CRL server answer every request 503 Service
// Unavailable (false), as a CRL distribution point that is down, or serve
// CRLs again (true, as New starts it).
func (p *PKI) SetCRLAvailable(ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.crlUnavailable = !ok
}

// RootPEM writes the root certificate as PEM to dir and returns its path:
// what a trust store holds.
func (p *PKI) RootPEM(t testing.TB, dir string) string {
	t.Helper()
	return writeFile(t, dir, "root.crt", certsPEM(p.Root), 0o644)
}

// WriteKey writes the leaf's private key (PKCS#8 PEM, mode 0600) to dir and
// returns its path.
func (l *Leaf) WriteKey(t testing.TB, dir string) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(l.Key)
	if err != nil {
		t.Fatal(err)
	}
	name := "leaf-" + l.Cert.SerialNumber.Text(16) + ".key"
	return writeFile(t, dir, name, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// WriteChain writes the leaf's chain (leaf, intermediate, root) as PEM to
// dir and returns its path: notation's certPath and imgsign sign's --cert.
// Notation needs the chain to end in the self-signed root.
func (l *Leaf) WriteChain(t testing.TB, dir string) string {
	t.Helper()
	name := "leaf-" + l.Cert.SerialNumber.Text(16) + "-chain.crt"
	return writeFile(t, dir, name, certsPEM(l.Chain...), 0o644)
}

// Identity is the leaf's subject as a notation trusted identity,
// "x509.subject: C=US, ST=WA, O=…, CN=…".
func (l *Leaf) Identity() string {
	return "x509.subject: " + SubjectDN(l.Cert.Subject)
}

// SubjectDN writes name in notation's distinguished-name syntax: RFC 4514
// attributes joined by ", ", with ST (which Go's pkix.Name.String writes as
// ST too) and values escaped as RFC 4514 needs. The order is C, ST, L, O,
// OU, CN, then serialNumber; notation compares the set, not the order.
func SubjectDN(n pkix.Name) string {
	var parts []string
	add := func(typ string, vals []string) {
		for _, v := range vals {
			parts = append(parts, typ+"="+escapeDN(v))
		}
	}
	add("C", n.Country)
	add("ST", n.Province)
	add("L", n.Locality)
	add("O", n.Organization)
	add("OU", n.OrganizationalUnit)
	if n.CommonName != "" {
		add("CN", []string{n.CommonName})
	}
	if n.SerialNumber != "" {
		add("SERIALNUMBER", []string{n.SerialNumber})
	}
	return strings.Join(parts, ", ")
}

func escapeDN(v string) string {
	var b strings.Builder
	for i, r := range v {
		switch {
		case strings.ContainsRune(`,+"\<>;=`, r),
			i == 0 && (r == ' ' || r == '#'),
			i == len(v)-1 && r == ' ':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

var signingKeysMu sync.Mutex

// NotationKey makes the leaf a local signing key of the notation CLI whose
// config dir (NOTATION_CONFIG) is configDir: it writes the key and the
// chain under configDir/localkeys/ as NAME.key and NAME.crt, as `notation
// cert generate-test` does, and adds (or replaces) the entry name in
// configDir/signingkeys.json, so that `notation sign --key NAME` signs with
// it. The default key is left as it was.
func (l *Leaf) NotationKey(t testing.TB, configDir, name string) {
	t.Helper()
	signingKeysMu.Lock()
	defer signingKeysMu.Unlock()
	dir := filepath.Join(configDir, "localkeys")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(l.Key)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := writeFile(t, dir, name+".key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	certPath := writeFile(t, dir, name+".crt", certsPEM(l.Chain...), 0o644)

	// signingkeys.json, as notation-go's config.SigningKeys writes it.
	type keySuite struct {
		Name     string `json:"name"`
		KeyPath  string `json:"keyPath,omitempty"`
		CertPath string `json:"certPath,omitempty"`
		// Plugin keys' fields, kept as they were.
		ID           string            `json:"id,omitempty"`
		PluginName   string            `json:"pluginName,omitempty"`
		PluginConfig map[string]string `json:"pluginConfig,omitempty"`
	}
	var sk struct {
		Default *string    `json:"default,omitempty"`
		Keys    []keySuite `json:"keys"`
	}
	file := filepath.Join(configDir, "signingkeys.json")
	switch b, err := os.ReadFile(file); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		t.Fatal(err)
	default:
		if err := json.Unmarshal(b, &sk); err != nil {
			t.Fatalf("reading %s: %v", file, err)
		}
	}
	entry := keySuite{Name: name, KeyPath: keyPath, CertPath: certPath}
	replaced := false
	for i := range sk.Keys {
		if sk.Keys[i].Name == name {
			sk.Keys[i], replaced = entry, true
		}
	}
	if !replaced {
		sk.Keys = append(sk.Keys, entry)
	}
	b, err := json.MarshalIndent(sk, "", "    ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// startCRLServer serves the CRLs on 127.0.0.1 until t ends.
func (p *PKI) startCRLServer(t testing.TB) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("starting the CRL server: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+intermediateCRLPath, func(w http.ResponseWriter, r *http.Request) {
		p.serveCRL(w, false)
	})
	mux.HandleFunc("GET "+rootCRLPath, func(w http.ResponseWriter, r *http.Request) {
		p.serveCRL(w, true)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	p.CRLBase = "http://" + l.Addr().String()
}

func (p *PKI) serveCRL(w http.ResponseWriter, root bool) {
	p.mu.Lock()
	p.crlRequests++
	down := p.crlUnavailable
	p.mu.Unlock()
	if down {
		http.Error(w, "CRL server unavailable (testpki)", http.StatusServiceUnavailable)
		return
	}
	der, err := p.CRL(root)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/pkix-crl")
	_, _ = w.Write(der)
}

// CRL makes a fresh DER CRL: the root's (covering the intermediate) when
// root is set, the intermediate's (covering leaves) otherwise. Each has a
// CRL number one higher than the last one made.
func (p *PKI) CRL(root bool) ([]byte, error) {
	p.mu.Lock()
	p.crlNumber++
	number := p.crlNumber
	var entries []x509.RevocationListEntry
	for _, r := range p.revoked {
		if r.byRoot == root {
			entries = append(entries, x509.RevocationListEntry{
				SerialNumber:   r.serial,
				RevocationTime: r.at,
				ReasonCode:     1, // keyCompromise
			})
		}
	}
	p.mu.Unlock()
	issuer, key := p.Intermediate, p.IntermediateKey
	if root {
		issuer, key = p.Root, p.RootKey
	}
	now := time.Now()
	return x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(number),
		ThisUpdate:                now.Add(-time.Minute),
		NextUpdate:                now.Add(p.crlValidity),
		RevokedCertificateEntries: entries,
	}, issuer, key)
}

func newKey(t testing.TB, useRSA bool) crypto.Signer {
	t.Helper()
	var (
		k   crypto.Signer
		err error
	)
	if useRSA {
		k, err = rsa.GenerateKey(rand.Reader, 3072)
	} else {
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func randomSerial(t testing.TB) *big.Int {
	t.Helper()
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	return s.Add(s, big.NewInt(1))
}

func createCert(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatalf("issuing %s: %v", tmpl.Subject, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func certsPEM(certs ...*x509.Certificate) []byte {
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}

func writeFile(t testing.TB, dir, name string, data []byte, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}
