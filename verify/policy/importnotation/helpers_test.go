package importnotation

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testCert is a certificate made for a test, with its key.
type testCert struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func (c testCert) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw})
}

func (c testCert) der() []byte { return c.cert.Raw }

var serial int64

// newCert makes a certificate for subject cn: self-signed when parent is
// nil, a CA when ca.
func newCert(t testing.TB, cn string, ca bool, parent *testCert) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"Acme"}, CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		BasicConstraintsValid: true,
		IsCA:                  ca,
		KeyUsage:              x509.KeyUsageDigitalSignature,
	}
	if ca {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	issuer, signer := tmpl, crypto.Signer(key)
	if parent != nil {
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testCert{cert: c, key: key}
}

// The certificates tests put in trust stores, made once.
type testPKI struct {
	root, intermediate, leaf, selfSignedLeaf, tsaRoot testCert
}

var pkiOnce *testPKI

func thePKI(t testing.TB) *testPKI {
	t.Helper()
	if pkiOnce == nil {
		p := &testPKI{}
		p.root = newCert(t, "Acme Root", true, nil)
		p.intermediate = newCert(t, "Acme Intermediate", true, &p.root)
		p.leaf = newCert(t, "release", false, &p.intermediate)
		p.selfSignedLeaf = newCert(t, "self", false, nil)
		p.tsaRoot = newCert(t, "TSA Root", true, nil)
		pkiOnce = p
	}
	return pkiOnce
}

// storeEntry is a file of a test trust store tree: content, or a symlink
// target when link is set, or a directory when dir is set.
type storeEntry struct {
	data []byte
	link string
	dir  bool
}

// writeStores writes a trust store tree under a new directory: paths are
// relative to it (x509/ca/acme/root.crt).
func writeStores(t testing.TB, files map[string]storeEntry) string {
	t.Helper()
	root := t.TempDir()
	for p, e := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case e.dir:
			err = os.MkdirAll(full, 0o755)
		case e.link != "":
			err = os.Symlink(e.link, full)
		default:
			err = os.WriteFile(full, e.data, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}
