package policy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"
)

// A key pasted into publicKey (base64 DER, private or public) is named for
// what it is and never repeated in the problem.
func TestPublicKeyMaterialIsNotEchoed(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := x509.MarshalPKCS8PrivateKey(ec)
	pub, _ := x509.MarshalPKIXPublicKey(ec.Public())
	for _, c := range []struct {
		name, value, want string
	}{
		{"base64 private key", base64.StdEncoding.EncodeToString(priv), "publicKey holds a base64 PRIVATE key (inline value of"},
		{"base64 public key", base64.StdEncoding.EncodeToString(pub), "publicKey holds a base64 public key without PEM armor (inline value of"},
		{"hex secret", strings.Repeat("0123456789abcdef", 4), "publicKey is not a file, inline PEM or a KMS reference but an inline value of 64 characters (not shown)"},
		{"missing file", "keys/nope.pub", "cannot read public key file"},
	} {
		doc := "version: 1\nkeys:\n  - name: k\n    publicKey: " + c.value + "\npolicies:\n  - name: p\n    scopes: [\"registry.example.com/**\"]\n    signatures:\n      keys: [k]\n"
		_, err := Parse([]byte(doc), t.TempDir())
		if err == nil {
			t.Fatalf("%s: parsed", c.name)
		}
		msg := err.Error()
		if !strings.Contains(msg, c.want) {
			t.Errorf("%s: %q lacks %q", c.name, msg, c.want)
		}
		if c.name != "missing file" && strings.Contains(msg, c.value[20:40]) {
			t.Errorf("%s: the problem repeats the value: %s", c.name, msg)
		}
	}
}
