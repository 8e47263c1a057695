package testpki

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/notaryproject/notation-core-go/revocation"
	crlfetch "github.com/notaryproject/notation-core-go/revocation/crl"
	"github.com/notaryproject/notation-core-go/revocation/purpose"
	"github.com/notaryproject/notation-core-go/revocation/result"
	"github.com/notaryproject/notation-core-go/signature"
	"github.com/notaryproject/notation-core-go/signature/cose"
	"github.com/notaryproject/notation-core-go/signature/jws"
	nx509 "github.com/notaryproject/notation-core-go/x509"
)

// signingKeys is notation-go's config.SigningKeys, as signingkeys.json
// holds it (notation-go's config package itself needs the plugin framework
// module, which this module does not require).
type signingKeys struct {
	Default *string `json:"default,omitempty"`
	Keys    []struct {
		Name     string `json:"name"`
		KeyPath  string `json:"keyPath,omitempty"`
		CertPath string `json:"certPath,omitempty"`
	} `json:"keys"`
}

// Every chain the PKI hands out meets the Notary Project certificate
// requirements, as notation-core-go checks them, now and at a signing time
// inside the leaf's validity; outside it the same check fails.
func TestChainsMeetNotaryRequirements(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name     string
		opts     []Option
		leaf     LeafOptions
		wantRSA  bool
		wantSubj string
	}{
		{name: "ECDSA", wantSubj: "CN=imgsign test signer,O=imgsign test,ST=WA,C=US"},
		{name: "RSA CAs", opts: []Option{WithRSA()}},
		{name: "RSA leaf", leaf: LeafOptions{RSA: true}, wantRSA: true},
		{name: "RSA all", opts: []Option{WithRSA()}, leaf: LeafOptions{RSA: true}, wantRSA: true},
		{name: "CRL", leaf: LeafOptions{CRL: true}},
		{
			name:     "subject",
			leaf:     LeafOptions{Subject: pkix.Name{Country: []string{"DE"}, Province: []string{"BE"}, Organization: []string{"Acme, Inc."}, CommonName: "release"}},
			wantSubj: `CN=release,O=Acme\, Inc.,ST=BE,C=DE`,
		},
		{name: "short-lived", leaf: LeafOptions{NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Minute)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New(t, tt.opts...)
			l := p.Leaf(t, tt.leaf)
			if len(l.Chain) != 3 || l.Chain[0] != l.Cert || l.Chain[1] != p.Intermediate || l.Chain[2] != p.Root {
				t.Fatalf("chain is not leaf, intermediate, root: %v", l.Chain)
			}
			if err := nx509.ValidateCodeSigningCertChain(l.Chain, nil); err != nil {
				t.Fatalf("ValidateCodeSigningCertChain: %v", err)
			}
			at := time.Now()
			if err := nx509.ValidateCodeSigningCertChain(l.Chain, &at); err != nil {
				t.Fatalf("ValidateCodeSigningCertChain at %v: %v", at, err)
			}
			late := l.Cert.NotAfter.Add(time.Second)
			if err := nx509.ValidateCodeSigningCertChain(l.Chain, &late); err == nil {
				t.Errorf("ValidateCodeSigningCertChain passed a signing time after the leaf expired")
			}
			if _, isRSA := l.Key.(*rsa.PrivateKey); isRSA != tt.wantRSA {
				t.Errorf("leaf key %T, want RSA %v", l.Key, tt.wantRSA)
			}
			if k, ok := l.Key.(*rsa.PrivateKey); ok && k.N.BitLen() != 3072 {
				t.Errorf("RSA leaf key has %d bits, want 3072", k.N.BitLen())
			}
			if _, ok := l.Key.(*ecdsa.PrivateKey); !ok && !tt.wantRSA {
				t.Errorf("leaf key %T, want ECDSA", l.Key)
			}
			if got := len(l.Cert.CRLDistributionPoints) > 0; got != tt.leaf.CRL {
				t.Errorf("leaf CRL distribution points %q, want some: %v", l.Cert.CRLDistributionPoints, tt.leaf.CRL)
			}
			if tt.wantSubj != "" && l.Cert.Subject.String() != tt.wantSubj {
				t.Errorf("leaf subject %q, want %q", l.Cert.Subject, tt.wantSubj)
			}
		})
	}
}

// Two PKIs never share a CA name or key, so trusting one is not trusting
// the other.
func TestPKIsAreDistinct(t *testing.T) {
	a, b := New(t), New(t)
	if a.Root.Subject.String() == b.Root.Subject.String() {
		t.Errorf("two PKIs share the root subject %q", a.Root.Subject)
	}
	l := a.Leaf(t, LeafOptions{})
	if err := nx509.ValidateCodeSigningCertChain([]*x509.Certificate{l.Cert, l.Chain[1], b.Root}, nil); err == nil {
		t.Error("a chain ending in another PKI's root passed")
	}
}

// A key and chain the PKI wrote, loaded as notation's local signer loads
// them (tls.LoadX509KeyPair), sign Notary Project envelopes in both
// formats with notation-core-go, and the envelope verifies with the chain in
// it.
func TestFilesSignWithNotationCore(t *testing.T) {
	p := New(t)
	for _, tt := range []struct {
		name, mediaType string
		rsa             bool
	}{
		{"JWS", jws.MediaTypeEnvelope, false},
		{"COSE", cose.MediaTypeEnvelope, false},
		{"JWS RSA", jws.MediaTypeEnvelope, true},
		{"COSE RSA", cose.MediaTypeEnvelope, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := p.Leaf(t, LeafOptions{RSA: tt.rsa})
			dir := t.TempDir()
			keyPath, chainPath := l.WriteKey(t, dir), l.WriteChain(t, dir)
			if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("key file %s: mode %v, %v; want 0600", keyPath, fi.Mode(), err)
			}
			b, err := os.ReadFile(keyPath)
			if err != nil {
				t.Fatal(err)
			}
			if blk, _ := pem.Decode(b); blk == nil || blk.Type != "PRIVATE KEY" {
				t.Fatalf("key file is not a PKCS#8 PEM key:\n%s", b)
			}
			pair, err := tls.LoadX509KeyPair(chainPath, keyPath)
			if err != nil {
				t.Fatalf("loading %s, %s as notation does: %v", keyPath, chainPath, err)
			}
			var certs []*x509.Certificate
			for _, der := range pair.Certificate {
				c, err := x509.ParseCertificate(der)
				if err != nil {
					t.Fatal(err)
				}
				certs = append(certs, c)
			}
			s, err := signature.NewLocalSigner(certs, pair.PrivateKey)
			if err != nil {
				t.Fatalf("notation-core-go local signer: %v", err)
			}
			newEnv, err := signature.NewEnvelope(tt.mediaType)
			if err != nil {
				t.Fatal(err)
			}
			env, err := newEnv.Sign(&signature.SignRequest{
				Payload:       signature.Payload{ContentType: "application/vnd.cncf.notary.payload.v1+json", Content: []byte(`{"targetArtifact":{}}`)},
				Signer:        s,
				SigningTime:   time.Now(),
				SigningScheme: signature.SigningSchemeX509,
				SigningAgent:  "testpki",
			})
			if err != nil {
				t.Fatalf("signing: %v", err)
			}
			e, err := signature.ParseEnvelope(tt.mediaType, env)
			if err != nil {
				t.Fatal(err)
			}
			content, err := e.Verify()
			if err != nil {
				t.Fatalf("verifying the envelope: %v", err)
			}
			if got := content.SignerInfo.CertificateChain; len(got) != 3 || !got[2].Equal(p.Root) {
				t.Errorf("envelope carries %d certificates, want leaf, intermediate, root", len(got))
			}
		})
	}
}

// NotationKey writes what notation's signingkeys.json names, keeps the
// entries already there and replaces one of the same name.
func TestNotationKey(t *testing.T) {
	p := New(t)
	cfg := t.TempDir()
	other := p.Leaf(t, LeafOptions{})
	other.NotationKey(t, cfg, "other")
	def := "other"
	var sk signingKeys
	readKeys := func() {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(cfg, "signingkeys.json"))
		if err != nil {
			t.Fatal(err)
		}
		sk = signingKeys{}
		if err := json.Unmarshal(b, &sk); err != nil {
			t.Fatalf("signingkeys.json: %v\n%s", err, b)
		}
	}
	readKeys()
	sk.Default = &def
	b, _ := json.Marshal(sk)
	if err := os.WriteFile(filepath.Join(cfg, "signingkeys.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}

	first := p.Leaf(t, LeafOptions{})
	first.NotationKey(t, cfg, "release")
	l := p.Leaf(t, LeafOptions{RSA: true})
	l.NotationKey(t, cfg, "release")
	readKeys()
	if len(sk.Keys) != 2 {
		t.Fatalf("signingkeys.json has %d keys, want other and release: %+v", len(sk.Keys), sk.Keys)
	}
	if sk.Default == nil || *sk.Default != "other" {
		t.Errorf("default key changed to %v", sk.Default)
	}
	ks := sk.Keys[1]
	if ks.Name != "release" || ks.KeyPath == "" || ks.CertPath == "" {
		t.Fatalf("second key is not the local key release: %+v", ks)
	}
	pair, err := tls.LoadX509KeyPair(ks.CertPath, ks.KeyPath)
	if err != nil {
		t.Fatalf("notation cannot load the pair: %v", err)
	}
	if len(pair.Certificate) != 3 {
		t.Errorf("certPath holds %d certificates, want the chain of 3", len(pair.Certificate))
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if !leaf.Equal(l.Cert) {
		t.Errorf("release names the replaced leaf %s, want %s", leaf.SerialNumber, l.Cert.SerialNumber)
	}
	if !strings.HasPrefix(ks.KeyPath, filepath.Join(cfg, "localkeys")) {
		t.Errorf("key written to %s, want under localkeys/", ks.KeyPath)
	}
}

func TestIdentity(t *testing.T) {
	for _, tt := range []struct {
		name pkix.Name
		want string
	}{
		{pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"imgsign test"}, CommonName: "imgsign test signer"},
			"x509.subject: C=US, ST=WA, O=imgsign test, CN=imgsign test signer"},
		{pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"Acme, Inc."}, OrganizationalUnit: []string{"a=b"}, CommonName: " x"},
			`x509.subject: C=US, ST=WA, O=Acme\, Inc., OU=a\=b, CN=\ x`},
	} {
		l := &Leaf{Cert: &x509.Certificate{Subject: tt.name}}
		if got := l.Identity(); got != tt.want {
			t.Errorf("Identity() = %q, want %q", got, tt.want)
		}
	}
}

// The CRL server hands out fresh DER CRLs signed by the CA they are for,
// numbered upwards, listing what was revoked by that CA.
func TestCRLServer(t *testing.T) {
	p := New(t)
	l := p.Leaf(t, LeafOptions{CRL: true})
	if want := p.CRLBase + "/intermediate.crl"; len(l.Cert.CRLDistributionPoints) != 1 || l.Cert.CRLDistributionPoints[0] != want {
		t.Fatalf("leaf CRL distribution points %q, want %s", l.Cert.CRLDistributionPoints, want)
	}
	if want := p.CRLBase + "/root.crl"; len(p.Intermediate.CRLDistributionPoints) != 1 || p.Intermediate.CRLDistributionPoints[0] != want {
		t.Fatalf("intermediate CRL distribution points %q, want %s", p.Intermediate.CRLDistributionPoints, want)
	}
	p.Revoke(l.Cert.SerialNumber)
	fetch := func(url string) *x509.RevocationList {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/pkix-crl" {
			t.Fatalf("GET %s: %s, Content-Type %q", url, resp.Status, resp.Header.Get("Content-Type"))
		}
		der, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatalf("parsing the CRL from %s: %v", url, err)
		}
		return crl
	}
	var last *big.Int
	for _, tt := range []struct {
		url     string
		issuer  *x509.Certificate
		revoked *big.Int
	}{
		{l.Cert.CRLDistributionPoints[0], p.Intermediate, l.Cert.SerialNumber},
		{p.Intermediate.CRLDistributionPoints[0], p.Root, nil},
		{l.Cert.CRLDistributionPoints[0], p.Intermediate, l.Cert.SerialNumber},
	} {
		crl := fetch(tt.url)
		if err := crl.CheckSignatureFrom(tt.issuer); err != nil {
			t.Errorf("%s: not signed by %s: %v", tt.url, tt.issuer.Subject, err)
		}
		if !time.Now().Before(crl.NextUpdate) || time.Now().Before(crl.ThisUpdate) {
			t.Errorf("%s: not current: this update %v, next update %v", tt.url, crl.ThisUpdate, crl.NextUpdate)
		}
		if last != nil && crl.Number.Cmp(last) <= 0 {
			t.Errorf("%s: CRL number %v after %v", tt.url, crl.Number, last)
		}
		last = crl.Number
		var serials []string
		for _, e := range crl.RevokedCertificateEntries {
			serials = append(serials, e.SerialNumber.String())
		}
		if tt.revoked == nil && len(serials) != 0 || tt.revoked != nil && (len(serials) != 1 || serials[0] != tt.revoked.String()) {
			t.Errorf("%s lists %q, want %v", tt.url, serials, tt.revoked)
		}
	}
}

// notation-core-go's revocation check, CRL-only as notation runs it, finds
// a good chain OK and a revoked leaf or intermediate revoked.
func TestRevocationWithNotationCore(t *testing.T) {
	tests := []struct {
		name   string
		crl    bool
		revoke func(p *PKI, l *Leaf)
		want   []result.Result // leaf, intermediate, root
	}{
		{name: "good", crl: true, want: []result.Result{result.ResultOK, result.ResultOK, result.ResultNonRevokable}},
		{name: "leaf revoked", crl: true,
			revoke: func(p *PKI, l *Leaf) { p.Revoke(l.Cert.SerialNumber) },
			want:   []result.Result{result.ResultRevoked, result.ResultOK, result.ResultNonRevokable}},
		{name: "intermediate revoked", crl: true,
			revoke: func(p *PKI, l *Leaf) { p.Revoke(p.Intermediate.SerialNumber) },
			want:   []result.Result{result.ResultOK, result.ResultRevoked, result.ResultNonRevokable}},
		{name: "another leaf revoked", crl: true,
			revoke: func(p *PKI, l *Leaf) { p.Revoke(p.Leaf(t, LeafOptions{CRL: true}).Cert.SerialNumber) },
			want:   []result.Result{result.ResultOK, result.ResultOK, result.ResultNonRevokable}},
		{name: "leaf without CRL", crl: false,
			revoke: func(p *PKI, l *Leaf) { p.Revoke(l.Cert.SerialNumber) },
			want:   []result.Result{result.ResultNonRevokable, result.ResultOK, result.ResultNonRevokable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New(t)
			l := p.Leaf(t, LeafOptions{CRL: tt.crl})
			if tt.revoke != nil {
				tt.revoke(p, l)
			}
			fetcher, err := crlfetch.NewHTTPFetcher(&http.Client{Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			v, err := revocation.NewWithOptions(revocation.Options{CRLFetcher: fetcher, CertChainPurpose: purpose.CodeSigning})
			if err != nil {
				t.Fatal(err)
			}
			res, err := v.ValidateContext(context.Background(), revocation.ValidateContextOptions{CertChain: l.Chain, AuthenticSigningTime: time.Now()})
			if err != nil {
				t.Fatalf("ValidateContext: %v", err)
			}
			if len(res) != len(tt.want) {
				t.Fatalf("%d results, want %d", len(res), len(tt.want))
			}
			for i, r := range res {
				if r.Result != tt.want[i] {
					var errs []string
					for _, s := range r.ServerResults {
						if s.Error != nil {
							errs = append(errs, s.Error.Error())
						}
					}
					t.Errorf("certificate %d (%s): %s, want %s %q", i, l.Chain[i].Subject, r.Result, tt.want[i], errs)
				}
			}
		})
	}
}

// A CRL server set unavailable answers 503, which notation-core-go's
// revocation check reports as unknown, and counts the requests.
func TestCRLServerUnavailable(t *testing.T) {
	p := New(t)
	l := p.Leaf(t, LeafOptions{CRL: true})
	fetcher, err := crlfetch.NewHTTPFetcher(&http.Client{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	v, err := revocation.NewWithOptions(revocation.Options{CRLFetcher: fetcher, CertChainPurpose: purpose.CodeSigning})
	if err != nil {
		t.Fatal(err)
	}
	check := func() []result.Result {
		t.Helper()
		res, err := v.ValidateContext(context.Background(), revocation.ValidateContextOptions{CertChain: l.Chain})
		if err != nil {
			t.Fatal(err)
		}
		var out []result.Result
		for _, r := range res {
			out = append(out, r.Result)
		}
		return out
	}
	p.SetCRLAvailable(false)
	if got := check(); got[0] != result.ResultUnknown || got[1] != result.ResultUnknown {
		t.Errorf("with the CRL server down: %v, want unknown for the leaf and the intermediate", got)
	}
	resp, err := http.Get(p.CRLBase + "/intermediate.crl")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("CRL server down answered %s", resp.Status)
	}
	if n := p.CRLRequests(); n != 3 {
		t.Errorf("%d CRL requests counted, want 3", n)
	}
	p.SetCRLAvailable(true)
	if got := check(); got[0] != result.ResultOK || got[1] != result.ResultOK {
		t.Errorf("with the CRL server back: %v, want OK", got)
	}
}

// After the test that started it, the CRL server is gone.
func TestCRLServerStops(t *testing.T) {
	var base string
	t.Run("pki", func(t *testing.T) {
		base = New(t).CRLBase
		resp, err := http.Get(base + "/root.crl")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	})
	c := &http.Client{Timeout: 2 * time.Second}
	if resp, err := c.Get(base + "/root.crl"); err == nil {
		resp.Body.Close()
		t.Errorf("CRL server %s still answers after its test ended: %s", base, resp.Status)
	}
}
