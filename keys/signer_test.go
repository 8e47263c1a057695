package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/imgsign/imgsign/internal/errkind"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/signature"
)

// Key types imgsign does not generate but must sign with when imported.
func TestSignerAlgorithmsOfImportedKeys(t *testing.T) {
	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		priv crypto.Signer
		alg  protocommon.PublicKeyDetails
		hash protocommon.HashAlgorithm
	}{
		{"RSA-2048", rsa2048, protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256, protocommon.HashAlgorithm_SHA2_256},
		{"P-521", p521, protocommon.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512, protocommon.HashAlgorithm_SHA2_512},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := FromPrivateKey(tt.priv)
			if err != nil {
				t.Fatal(err)
			}
			if s.GetSigningAlgorithm() != tt.alg || s.GetHashAlgorithm() != tt.hash {
				t.Errorf("algorithm %v/%v, want %v/%v", s.GetSigningAlgorithm(), s.GetHashAlgorithm(), tt.alg, tt.hash)
			}
			signAndVerify(t, s)
		})
	}
}

func TestFromPrivateKeyRefusesWeakKeys(t *testing.T) {
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []crypto.Signer{rsa1024, p224, nil} {
		_, err := FromPrivateKey(k)
		wantKind(t, err, errkind.Input)
	}
}

func TestNewSignerRefusesEd25519ph(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadED25519phSignerVerifier(priv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewSigner(sv); err == nil {
		t.Fatal("NewSigner accepted an Ed25519ph SignerVerifier")
	}
	if _, err := NewSigner(nil); err == nil {
		t.Fatal("NewSigner accepted nil")
	}
}

// remoteSV stands in for a KMS or PKCS#11 SignerVerifier: it has no
// crypto.Signer, and it records what SignData asks of it.
type remoteSV struct {
	signature.SignerVerifier
	gotDigest []byte
	gotCtx    context.Context
	fail      error
}

func (r *remoteSV) SignMessage(message io.Reader, opts ...signature.SignOption) ([]byte, error) {
	for _, o := range opts {
		o.ApplyDigest(&r.gotDigest)
		o.ApplyContext(&r.gotCtx)
	}
	if r.fail != nil {
		return nil, r.fail
	}
	return r.SignerVerifier.SignMessage(message, opts...)
}

type ctxKey struct{}

func TestSignDataOnRemoteSignerVerifier(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	inner, err := signature.LoadDefaultSignerVerifier(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	rsv := &remoteSV{SignerVerifier: inner}
	s, err := NewSigner(rsv)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.WithValue(context.Background(), ctxKey{}, "marker")
	data := []byte("payload")
	_, signed, err := s.SignData(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	if !bytes.Equal(rsv.gotDigest, want[:]) || !bytes.Equal(signed, want[:]) {
		t.Errorf("signer got digest %x, SignData returned %x, want both %x", rsv.gotDigest, signed, want)
	}
	if rsv.gotCtx == nil || rsv.gotCtx.Value(ctxKey{}) != "marker" {
		t.Errorf("SignData did not pass its context to the SignerVerifier")
	}
	signAndVerify(t, s)

	tests := []struct {
		name string
		err  error
		want errkind.Kind
	}{
		{"unclassified failure is operational", errors.New("kms: 503"), errkind.Operational},
		{"classified failure keeps its kind", errkind.Inputf("kms: key disabled"), errkind.Input},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rsv.fail = tt.err
			_, _, err := s.SignData(ctx, data)
			wantKind(t, err, tt.want)
			if !strings.Contains(err.Error(), s.ID()) {
				t.Errorf("error %q does not name the key id", err)
			}
		})
	}
}

// sign.Bundle is how the sign package will use Signer; the hint it writes is
// the key id the policy and output use.
func TestSignerInSigstoreBundle(t *testing.T) {
	priv, err := Generate(TypeEd25519)
	if err != nil {
		t.Fatal(err)
	}
	s, err := FromPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	content := &sign.DSSEData{Data: []byte(`{"_type":"https://in-toto.io/Statement/v1"}`), PayloadType: "application/vnd.in-toto+json"}
	b, err := sign.Bundle(content, s, sign.BundleOptions{Context: t.Context()})
	if err != nil {
		t.Fatalf("sign.Bundle: %v", err)
	}
	if got := string(b.GetVerificationMaterial().GetPublicKey().GetHint()); got != s.ID() {
		t.Errorf("bundle hint %q, want key id %q", got, s.ID())
	}
	sigs := b.GetDsseEnvelope().GetSignatures()
	if len(sigs) != 1 {
		t.Fatalf("bundle has %d signatures, want 1", len(sigs))
	}
	if !ed25519.Verify(priv.Public().(ed25519.PublicKey), content.PreAuthEncoding(), sigs[0].GetSig()) {
		t.Errorf("DSSE signature in the bundle does not verify as pure Ed25519 over the PAE")
	}
}

func TestVerifierIsPureEd25519(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("data")
	v, err := Verifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.VerifySignature(bytes.NewReader(ed25519.Sign(priv, data)), bytes.NewReader(data)); err != nil {
		t.Errorf("pure Ed25519 signature rejected: %v", err)
	}
}

func TestVerifierRefusesWeakKeys(t *testing.T) {
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, pub := range []crypto.PublicKey{rsa1024.Public(), p224.Public(), nil} {
		_, err := Verifier(pub)
		wantKind(t, err, errkind.Input)
	}
}

func TestKeyRefs(t *testing.T) {
	missing := t.TempDir() + "/no-such.key"
	tests := []struct {
		ref      string
		contains string
	}{
		// KMS references are dispatched to kms.go (tested in kms_test.go).
		{"k8s://ns/secret", `unknown key reference scheme "k8s://"`},
		{"", "no key reference"},
		{missing, missing},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			_, err := loadSigner(t.Context(), tt.ref, noPass(t))
			wantKind(t, err, errkind.Input)
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("LoadSigner error %q does not contain %q", err, tt.contains)
			}
			_, err = loadPublic(t.Context(), tt.ref, noPass(t))
			wantKind(t, err, errkind.Input)
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("LoadPublic error %q does not contain %q", err, tt.contains)
			}
		})
	}
}

func TestLoadPublic(t *testing.T) {
	priv, encrypted := encryptedFixture(t)
	pubPEM, err := EncodePublic(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubPath := writeFile(t, "key.pub", pubPEM)
	privPath := writeFile(t, "key.pem", encrypted)

	fromPub, err := loadPublic(t.Context(), pubPath, noPass(t))
	if err != nil {
		t.Fatalf("loadPublic(public key file): %v", err)
	}
	samePublic(t, fromPub, priv.Public())

	var calls atomic.Int32
	fromPriv, err := loadPublic(t.Context(), privPath, fixedPass(fixturePass, &calls))
	if err != nil {
		t.Fatalf("loadPublic(encrypted private key file): %v", err)
	}
	samePublic(t, fromPriv, priv.Public())
	if calls.Load() != 1 {
		t.Errorf("passphrase asked %d times, want 1", calls.Load())
	}

	// A public key is not a signing key: say so instead of a parse error.
	_, err = loadSigner(t.Context(), pubPath, noPass(t))
	wantKind(t, err, errkind.Input)
	if !strings.Contains(err.Error(), "public key") {
		t.Errorf("loadSigner(public key file) error %q does not say it is a public key", err)
	}

	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	// EncodePublic does not judge strength, which lets this test write one.
	weakPEM, err := EncodePublic(weak.Public())
	if err != nil {
		t.Fatal(err)
	}
	_, err = loadPublic(t.Context(), writeFile(t, "weak.pub", weakPEM), noPass(t))
	wantKind(t, err, errkind.Input)
}
