package keys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

func TestDescribeRef(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(ec)
	b64 := base64.StdEncoding.EncodeToString(der)
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	seed := base64.StdEncoding.EncodeToString(edPriv.Seed())
	hexKey := hex.EncodeToString(edPriv.Seed())
	pemKey := "-----BEGIN PRIVATE KEY-----\n" + b64 + "\n-----END PRIVATE KEY-----\n"
	cases := []struct {
		name, ref, want string
		secret          string // must not appear
	}{
		{"file path", "keys/release-2026.key", "keys/release-2026.key", ""},
		{"absolute path", "/home/ci/work/keys/release.pub", "/home/ci/work/keys/release.pub", ""},
		{"short name", "release", "release", ""},
		{"path with escapes", "k\x1b[2J.key", `k\x1b[2J.key`, "\x1b"},
		{"passphrase", "correct horse battery staple", "inline value of 28 characters (not shown)", "horse"},
		{"path with a space", "/home/me/my keys/release.key", "/home/me/my keys/release.key", ""},
		{"base64 PKCS#8", b64, "inline value of " + thousandsOf(len(b64)) + " characters (not shown)", b64[20:40]},
		{"base64 ed25519 seed", seed, "(not shown)", seed[10:30]},
		{"hex ed25519 seed", hexKey, "(not shown)", hexKey[10:30]},
		{"PEM", pemKey, "(not shown)", b64[20:40]},
		{"hashivault token", "hashivault://release?token=hvs.SECRET", "hashivault://release (credentials or parameters not shown)", "SECRET"},
		{"aws user info", "awskms://AKIA:SECRET@localhost:4566/alias/release", "awskms://localhost:4566/alias/release (credentials or parameters not shown)", "SECRET"},
		{"gcp", "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k", "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k", ""},
		{"pkcs11 pin", "pkcs11:token=t;object=o?pin-value=1234&module-path=/x.so", "pkcs11:token=t;object=o?pin-value=(not shown)&module-path=/x.so", "1234"},
		{"pkcs11 pin first", "pkcs11:token=t?pin-value=98765", "pkcs11:token=t?pin-value=(not shown)", "98765"},
	}
	for _, c := range cases {
		got := DescribeRef(c.ref)
		if !strings.Contains(got, c.want) {
			t.Errorf("%s: DescribeRef = %q, want it to contain %q", c.name, got, c.want)
		}
		if c.secret != "" && strings.Contains(got, c.secret) {
			t.Errorf("%s: DescribeRef = %q shows %q", c.name, got, c.secret)
		}
	}
	if got := DescribeKeyMaterial(b64); got != "a base64 PRIVATE key" {
		t.Errorf("DescribeKeyMaterial(PKCS#8) = %q", got)
	}
	pub, _ := x509.MarshalPKIXPublicKey(ec.Public())
	if got := DescribeKeyMaterial(base64.StdEncoding.EncodeToString(pub)); got != "a base64 public key without PEM armor" {
		t.Errorf("DescribeKeyMaterial(PKIX) = %q", got)
	}
	if got := DescribeKeyMaterial("keys/release.pub"); got != "" {
		t.Errorf("DescribeKeyMaterial(path) = %q", got)
	}
}

func thousandsOf(n int) string { return thousands(n) }

// Errors from loading a key never repeat key material given in place of
// a reference, whichever loader sees it.
func TestKeyErrorsDoNotEchoKeyMaterial(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(ec)
	b64 := base64.StdEncoding.EncodeToString(der)
	pemKey := "-----BEGIN PRIVATE KEY-----\n" + b64 + "\n-----END PRIVATE KEY-----\n"
	for _, ref := range []string{b64, pemKey, "hashivault://k?token=" + b64[30:60], "awskms://u:" + b64[30:60] + "@h/alias/x"} {
		_, err1 := loadSigner(t.Context(), ref, nil)
		_, err2 := loadPublic(t.Context(), ref, nil)
		for _, err := range []error{err1, err2} {
			if err == nil {
				t.Fatalf("%.20s…: loaded", ref)
			}
			if strings.Contains(err.Error(), b64[30:60]) {
				t.Errorf("error repeats key material: %v", err)
			}
		}
	}
	_, err := loadSigner(t.Context(), b64, nil)
	if err == nil || !strings.Contains(err.Error(), "a base64 PRIVATE key") {
		t.Errorf("a pasted private key should be named as such: %v", err)
	}
}
