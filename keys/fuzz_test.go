package keys

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/errkind"
)

func FuzzParsePrivatePEM(f *testing.F) {
	ed, err := Generate(TypeEd25519)
	if err != nil {
		f.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		f.Fatal(err)
	}
	plain, err := EncodePrivateUnencrypted(ed)
	if err != nil {
		f.Fatal(err)
	}
	params, err := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(plain)
	// The shared fixture, so the encrypted success path is in the corpus
	// without paying for another scrypt encryption.
	_, enc := encryptedFixture(f)
	f.Add(enc)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}))
	f.Add(append(pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: params}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})...))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: SigstorePrivateKeyPEMType, Bytes: []byte(`{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":""},"cipher":{"name":"nacl/secretbox","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},"ciphertext":"AAAAAAAAAAAAAAAAAAAAAA=="}`)}))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{0x30, 0}}))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParsePrivatePEM(data, fixedPass(fixturePass, nil))
		if err != nil {
			// Whatever the bytes, a bad key file is the user's input.
			if k, ok := errkind.Of(err); !ok || k != errkind.Input {
				t.Fatalf("error %q has kind %v (marked %v), want input", err, k, ok)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			return
		}
		if s == nil {
			t.Fatal("nil signer without an error")
		}
		if err := checkSigningKey(s.Public()); err != nil {
			t.Fatalf("accepted a key imgsign refuses: %v", err)
		}
	})
}
