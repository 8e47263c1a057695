package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/imgsign/imgsign/internal/errkind"
)

// wantKind fails unless err is non-nil and classified as kind.
func wantKind(t *testing.T, err error, kind errkind.Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want a %v error", kind)
	}
	got, ok := errkind.Of(err)
	if !ok || got != kind {
		t.Fatalf("error %q: kind = %v (marked %v), want %v", err, got, ok, kind)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
}

// wantNoSecret fails if the error message contains any of secrets.
func wantNoSecret(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error %q leaks secret %q", err, s)
		}
	}
}

// fixedPass returns a PassFunc answering pw and counting its calls.
func fixedPass(pw string, calls *atomic.Int32) PassFunc {
	return func(bool) ([]byte, error) {
		if calls != nil {
			calls.Add(1)
		}
		return []byte(pw), nil
	}
}

// noPass is a PassFunc for keys that must not need a passphrase.
func noPass(t *testing.T) PassFunc {
	t.Helper()
	return func(bool) ([]byte, error) {
		t.Errorf("passphrase asked for a key that is not encrypted")
		return nil, errkind.Inputf("no passphrase in this test")
	}
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// signAndVerify signs through the Signer and checks the signature with the
// keys package's Verifier and, independently, with the standard library for
// the algorithm the Signer claims, so a wrong algorithm choice (Ed25519ph,
// PSS, the wrong hash) fails even if Signer and Verifier agree.
func signAndVerify(t *testing.T, s *Signer) {
	t.Helper()
	data := []byte(`{"_type":"https://in-toto.io/Statement/v1"}`)
	sig, signed, err := s.SignData(context.Background(), data)
	if err != nil {
		t.Fatalf("SignData: %v", err)
	}
	hf := s.details.GetHashType()
	if hf == crypto.Hash(0) {
		if !bytes.Equal(signed, data) {
			t.Errorf("pure Ed25519 SignData returned %x as signed, want the data itself", signed)
		}
	} else {
		h := hf.New()
		h.Write(data)
		if want := h.Sum(nil); !bytes.Equal(signed, want) {
			t.Errorf("SignData returned digest %x, want %v digest %x", signed, hf, want)
		}
	}

	v, err := Verifier(s.Public())
	if err != nil {
		t.Fatalf("Verifier: %v", err)
	}
	if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(data)); err != nil {
		t.Errorf("Verifier rejects the Signer's signature: %v", err)
	}
	tampered := append(bytes.Clone(data), ' ')
	if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(tampered)); err == nil {
		t.Errorf("Verifier accepts the signature over different data")
	}

	switch pub := s.Public().(type) {
	case ed25519.PublicKey:
		if !ed25519.Verify(pub, data, sig) {
			t.Errorf("signature is not a pure Ed25519 signature over the data")
		}
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, signed, sig) {
			t.Errorf("signature is not an ECDSA signature over the %v digest", hf)
		}
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(pub, hf, signed, sig); err != nil {
			t.Errorf("signature is not RSA PKCS#1 v1.5 over the %v digest: %v", hf, err)
		}
	default:
		t.Fatalf("unexpected public key type %T", pub)
	}
}

// fixturePass encrypts the shared encrypted-key fixture. scrypt is slow
// (more so under -race), so tests that only need some encrypted key share one.
const fixturePass = "fixture-passphrase-K3"

var fixture struct {
	once sync.Once
	priv crypto.Signer
	pem  []byte
	err  error
}

// encryptedFixture returns a P-256 key and its EncodePrivate encoding under
// fixturePass.
func encryptedFixture(t testing.TB) (crypto.Signer, []byte) {
	t.Helper()
	fixture.once.Do(func() {
		fixture.priv, fixture.err = Generate(TypeECDSAP256)
		if fixture.err == nil {
			fixture.pem, fixture.err = EncodePrivate(fixture.priv, []byte(fixturePass))
		}
	})
	if fixture.err != nil {
		t.Fatalf("building encrypted key fixture: %v", fixture.err)
	}
	return fixture.priv, fixture.pem
}

// loadSigner and loadPublic load a key through the backend its reference
// names, as the CLI does, with pass for an encrypted key file and nobody to
// prompt for a PIN.
func loadSigner(ctx context.Context, ref string, pass PassFunc) (*Signer, error) {
	return BackendFor(ref).LoadSigner(ctx, ref, Access{Passphrase: pass})
}

func loadPublic(ctx context.Context, ref string, pass PassFunc) (crypto.PublicKey, error) {
	return BackendFor(ref).LoadPublic(ctx, ref, Access{Passphrase: pass})
}
