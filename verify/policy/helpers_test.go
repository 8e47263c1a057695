package policy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgsign/imgsign/keys"
	"go.yaml.in/yaml/v3"
)

// newPub generates a fresh key pair and returns the public half as PEM.
// Private keys never leave the test.
func newPub(t testing.TB, kind string) (crypto.PublicKey, []byte) {
	t.Helper()
	var pub crypto.PublicKey
	switch kind {
	case "ed25519":
		p, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub = p
	case "p224":
		k, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub = &k.PublicKey
	default:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub = &k.PublicKey
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// privatePEM generates a private key PEM, for the "private key given as the
// public key" mistake. It is written only into t.TempDir().
func privatePEM(t testing.TB) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func keyID(t testing.TB, pub crypto.PublicKey) string {
	t.Helper()
	id, err := keys.ID(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// writeTree writes files (relative name → content) under a new temp dir and
// returns the dir.
func writeTree(t testing.TB, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// problemsOf returns the Problems in err, failing when err carries none.
func problemsOf(t testing.TB, err error) Problems {
	t.Helper()
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error %v (%T) does not carry Problems", err, err)
	}
	return ps
}

// stagePolicy copies the policy file src into a temp dir and generates a
// public key at every relative publicKey path it names, so that testdata
// holds no key material. It returns the staged path and the generated keys
// by key name.
func stagePolicy(t testing.TB, src string) (string, map[string]crypto.PublicKey) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{filepath.Base(src): data}
	pubs := map[string]crypto.PublicKey{}
	for _, key := range mapValue(mapValue(doc.Content[0], "keys"), "").Content {
		name, ref := mapValue(key, "name").Value, mapValue(key, "publicKey").Value
		if ref == "" || strings.Contains(ref, "://") || strings.HasPrefix(ref, "-----") || filepath.IsAbs(ref) {
			continue
		}
		pub, pemData := newPub(t, "p256")
		files[ref] = pemData
		pubs[name] = pub
	}
	if tsas := mapValue(doc.Content[0], "timestampAuthorities"); tsas != nil {
		for _, tsa := range tsas.Content {
			if ref := mapValue(tsa, "certChain"); ref != nil && !strings.HasPrefix(ref.Value, "-----") {
				files[ref.Value] = testCertPEM(t)
			}
		}
	}
	return filepath.Join(writeTree(t, files), filepath.Base(src)), pubs
}

// testCertPEM is a self-signed certificate, standing in for a TSA chain.
func testCertPEM(t testing.TB) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test TSA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// mapValue returns the value of key in mapping n ("" returns n itself).
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if key == "" {
		return n
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return &yaml.Node{}
}
