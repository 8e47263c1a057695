// Package testkey gives tests signing keys made on the spot (a package of
// its own: keys' tests use testenv, which must not import keys).
package testkey

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/imgsign/imgsign/keys"
)

// Signer is a fresh in-memory ECDSA P-256 signing key, for tests that sign
// without caring which key.
func Signer(t testing.TB) *keys.Signer {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := keys.FromPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
