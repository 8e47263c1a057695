package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
)

type publicKeyEqualer interface {
	Equal(crypto.PublicKey) bool
}

func samePublic(t *testing.T, got, want crypto.PublicKey) {
	t.Helper()
	eq, ok := want.(publicKeyEqualer)
	if !ok || !eq.Equal(got) {
		t.Fatalf("public key %T differs from the original %T", got, want)
	}
}

func TestRoundTripEveryType(t *testing.T) {
	tests := []struct {
		typ      Type
		alg      protocommon.PublicKeyDetails
		hash     protocommon.HashAlgorithm
		keyAlgor string
	}{
		{TypeEd25519, protocommon.PublicKeyDetails_PKIX_ED25519, protocommon.HashAlgorithm_HASH_ALGORITHM_UNSPECIFIED, "ED25519"},
		{TypeECDSAP256, protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256, protocommon.HashAlgorithm_SHA2_256, "ECDSA"},
		{TypeECDSAP384, protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384, protocommon.HashAlgorithm_SHA2_384, "ECDSA"},
		{TypeRSA3072, protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_3072_SHA256, protocommon.HashAlgorithm_SHA2_256, "RSA"},
		{TypeRSA4096, protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_4096_SHA256, protocommon.HashAlgorithm_SHA2_256, "RSA"},
	}
	for _, tt := range tests {
		t.Run(string(tt.typ), func(t *testing.T) {
			t.Parallel()
			priv, err := Generate(tt.typ)
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			const pw = "correct horse battery staple"
			encoded, err := EncodePrivate(priv, []byte(pw))
			if err != nil {
				t.Fatalf("EncodePrivate: %v", err)
			}
			block, rest := pem.Decode(encoded)
			if block == nil || block.Type != SigstorePrivateKeyPEMType || len(bytes.TrimSpace(rest)) != 0 {
				t.Fatalf("EncodePrivate wrote %q, want one %q block", encoded, SigstorePrivateKeyPEMType)
			}
			der, err := x509.MarshalPKCS8PrivateKey(priv)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(block.Bytes, der) || bytes.Contains(encoded, []byte(base64.StdEncoding.EncodeToString(der)[:32])) {
				t.Fatalf("EncodePrivate output contains the plain key")
			}

			var calls atomic.Int32
			path := writeFile(t, "key.pem", encoded)
			s, err := loadSigner(t.Context(), path, fixedPass(pw, &calls))
			if err != nil {
				t.Fatalf("LoadSigner: %v", err)
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("passphrase asked %d times, want 1", n)
			}
			samePublic(t, s.Public(), priv.Public())
			samePublic(t, s.GetPublicKey(), priv.Public())

			if got := s.GetSigningAlgorithm(); got != tt.alg {
				t.Errorf("GetSigningAlgorithm = %v, want %v", got, tt.alg)
			}
			if got := s.GetHashAlgorithm(); got != tt.hash {
				t.Errorf("GetHashAlgorithm = %v, want %v", got, tt.hash)
			}
			if got := s.GetKeyAlgorithm(); got != tt.keyAlgor {
				t.Errorf("GetKeyAlgorithm = %q, want %q", got, tt.keyAlgor)
			}
			id, err := ID(priv.Public())
			if err != nil {
				t.Fatal(err)
			}
			if string(s.GetHint()) != id || s.ID() != id {
				t.Errorf("hint %q / ID %q, want keys.ID %q", s.GetHint(), s.ID(), id)
			}
			pubPEM, err := s.GetPublicKeyPem()
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := ParsePublicPEM([]byte(pubPEM))
			if err != nil {
				t.Fatalf("GetPublicKeyPem output does not parse: %v", err)
			}
			samePublic(t, parsed, priv.Public())

			signAndVerify(t, s)
		})
	}
}

func TestEncodePrivateUnencryptedRoundTrip(t *testing.T) {
	priv, err := Generate(TypeECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	encoded, err := EncodePrivateUnencrypted(priv)
	if err != nil {
		t.Fatal(err)
	}
	if block, _ := pem.Decode(encoded); block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("EncodePrivateUnencrypted wrote %q, want a \"PRIVATE KEY\" block", encoded)
	}
	got, err := ParsePrivatePEM(encoded, noPass(t))
	if err != nil {
		t.Fatal(err)
	}
	samePublic(t, got.Public(), priv.Public())
}

func TestEmptyPassphrase(t *testing.T) {
	priv, err := Generate(TypeEd25519)
	if err != nil {
		t.Fatal(err)
	}
	encoded, err := EncodePrivate(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParsePrivatePEM(encoded, fixedPass("", nil))
	if err != nil {
		t.Fatalf("empty passphrase does not decrypt a key encrypted with none: %v", err)
	}
	samePublic(t, got.Public(), priv.Public())
}

func TestWrongPassphrase(t *testing.T) {
	const right, wrong = fixturePass, "wrong-passphrase-Z9"
	_, encoded := encryptedFixture(t)
	path := writeFile(t, "release.key", encoded)

	_, err := loadSigner(t.Context(), path, fixedPass(wrong, nil))
	if !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("got %v, want ErrWrongPassphrase", err)
	}
	wantKind(t, err, errkind.Input)
	wantNoSecret(t, err, right, wrong)
	for _, want := range []string{"wrong passphrase", PasswordEnv, path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestPassphraseErrors(t *testing.T) {
	_, encoded := encryptedFixture(t)
	tests := []struct {
		name string
		pass PassFunc
		want errkind.Kind
	}{
		{"nil PassFunc", nil, errkind.Input},
		{"unmarked error", func(bool) ([]byte, error) { return nil, errors.New("tty gone") }, errkind.Input},
		{"marked error keeps its kind", func(bool) ([]byte, error) { return nil, errkind.Operationalf("agent down") }, errkind.Operational},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePrivatePEM(encoded, tt.pass)
			wantKind(t, err, tt.want)
			if errors.Is(err, ErrWrongPassphrase) {
				t.Errorf("got ErrWrongPassphrase for a passphrase that was never obtained: %v", err)
			}
		})
	}
}

// cosignStyle encrypts priv the way cosign's marshalKeyPair does, under the
// given PEM type and scrypt strength.
func cosignStyle(t *testing.T, priv crypto.Signer, pemType string, kdf encrypted.KDFParameterStrength, pw string) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := encrypted.EncryptWithCustomKDFParameters(der, []byte(pw), kdf)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: enc})
}

func TestCosignEncryptedKeys(t *testing.T) {
	priv, err := Generate(TypeECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		pemType string
		kdf     encrypted.KDFParameterStrength
	}{
		{"cosign legacy type, legacy scrypt", CosignPrivateKeyPEMType, encrypted.Legacy},
		{"sigstore type, legacy scrypt", SigstorePrivateKeyPEMType, encrypted.Legacy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			encoded := cosignStyle(t, priv, tt.pemType, tt.kdf, "cosign-pw")
			var calls atomic.Int32
			got, err := ParsePrivatePEM(encoded, fixedPass("cosign-pw", &calls))
			if err != nil {
				t.Fatalf("ParsePrivatePEM: %v", err)
			}
			if calls.Load() != 1 {
				t.Errorf("passphrase asked %d times, want 1", calls.Load())
			}
			samePublic(t, got.Public(), priv.Public())
		})
	}
}

// The scrypt parameter sets checkEnvelope allows must be exactly those
// go-securesystemslib decrypts; decrypting an OWASP-strength key under -race
// takes tens of seconds, so the third set is checked on the envelope alone.
func TestEnvelopeScryptParams(t *testing.T) {
	_, encoded := encryptedFixture(t)
	block, _ := pem.Decode(encoded)
	tests := []struct {
		n, r, p int
		ok      bool
	}{
		{1 << 15, 8, 1, true},
		{1 << 16, 8, 1, true},
		{1 << 17, 8, 1, true},
		{1 << 18, 8, 1, false},
		{1 << 14, 8, 1, false},
		{1 << 16, 16, 1, false},
		{1 << 16, 8, 2, false},
	}
	for _, tt := range tests {
		var m map[string]any
		if err := json.Unmarshal(block.Bytes, &m); err != nil {
			t.Fatal(err)
		}
		m["kdf"].(map[string]any)["params"] = map[string]int{"N": tt.n, "r": tt.r, "p": tt.p}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkEnvelope(b); (err == nil) != tt.ok {
			t.Errorf("N=%d r=%d p=%d: checkEnvelope = %v, want ok=%v", tt.n, tt.r, tt.p, err, tt.ok)
		}
	}
}

// Damaged envelopes must be reported as damaged, before any prompt, and not
// as a wrong passphrase.
func TestMalformedEncryptedKey(t *testing.T) {
	_, good := encryptedFixture(t)
	block, _ := pem.Decode(good)

	mutate := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(block.Bytes, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: SigstorePrivateKeyPEMType, Bytes: b})
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"not JSON", pem.EncodeToMemory(&pem.Block{Type: SigstorePrivateKeyPEMType, Bytes: []byte("\x30\x82garbage")})},
		{"unknown kdf", mutate(func(m map[string]any) { m["kdf"].(map[string]any)["name"] = "pbkdf2" })},
		{"expensive scrypt", mutate(func(m map[string]any) { m["kdf"].(map[string]any)["params"].(map[string]any)["N"] = 1 << 22 })},
		{"unknown cipher", mutate(func(m map[string]any) { m["cipher"].(map[string]any)["name"] = "aes-gcm" })},
		{"short nonce", mutate(func(m map[string]any) { m["cipher"].(map[string]any)["nonce"] = "AAAA" })},
		{"truncated ciphertext", mutate(func(m map[string]any) { m["ciphertext"] = "AAAA" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePrivatePEM(tt.data, noPass(t))
			wantKind(t, err, errkind.Input)
			if errors.Is(err, ErrWrongPassphrase) {
				t.Errorf("damaged key reported as wrong passphrase: %v", err)
			}
		})
	}
}

// ecParamsBlock is the "EC PARAMETERS" block openssl writes before a SEC1 key.
func ecParamsBlock(t *testing.T, oid asn1.ObjectIdentifier) []byte {
	t.Helper()
	b, err := asn1.Marshal(oid)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: b})
}

func TestParsePlainFormats(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	secp256r1 := asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	tests := []struct {
		name string
		data []byte
		want crypto.Signer
	}{
		{"PKCS#1", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), rsaKey},
		{"SEC1", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), ecKey},
		{"SEC1 after EC PARAMETERS", append(ecParamsBlock(t, secp256r1), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})...), ecKey},
		{"PKCS#8 RSA", pkcs8(rsaKey), rsaKey},
		{"PKCS#8 ECDSA", pkcs8(ecKey), ecKey},
		{"PKCS#8 Ed25519", pkcs8(edKey), edKey},
		{"text before the block", append([]byte("key for CI\n"), pkcs8(edKey)...), edKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePrivatePEM(tt.data, noPass(t))
			if err != nil {
				t.Fatalf("ParsePrivatePEM: %v", err)
			}
			samePublic(t, got.Public(), tt.want.Public())
		})
	}
}

func TestParseRefused(t *testing.T) {
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsaOdd, err := rsa.GenerateKey(rand.Reader, 2056)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pemOf := func(typ string, der []byte) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	}
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	p224SEC1, err := x509.MarshalECPrivateKey(p224)
	if err != nil {
		t.Fatal(err)
	}
	// An encrypted weak key: the refusal must also happen after decryption.
	enc1024, err := encrypted.EncryptWithCustomKDFParameters(pkcs8(rsa1024), []byte("pw"), encrypted.Legacy)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(p224.Public())
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		data     []byte
		contains []string
	}{
		{"RSA-1024 PKCS#1", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsa1024)), []string{"1024", "2048"}},
		{"RSA-1024 PKCS#8", pemOf("PRIVATE KEY", pkcs8(rsa1024)), []string{"1024", "2048"}},
		{"RSA-1024 encrypted", pemOf(SigstorePrivateKeyPEMType, enc1024), []string{"1024", "2048"}},
		{"RSA-2056 has no Sigstore algorithm", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaOdd)), []string{"2056", "4096"}},
		{"P-224 SEC1", pemOf("EC PRIVATE KEY", p224SEC1), []string{"P-224", "P-256"}},
		{"P-224 PKCS#8", pemOf("PRIVATE KEY", pkcs8(p224)), []string{"P-224", "P-256"}},
		{"X25519 PKCS#8", pemOf("PRIVATE KEY", pkcs8(x25519)), []string{"ecdh"}},
		{"PKCS#8 PBES2", pemOf("ENCRYPTED PRIVATE KEY", []byte{0x30, 0x00}), []string{"openssl pkcs8 -topk8 -nocrypt", "imgsign keys import"}},
		{"legacy OpenSSL encryption", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00112233445566778899AABBCCDDEEFF"}, Bytes: []byte{1, 2, 3}}), []string{"openssl pkey", "imgsign keys import"}},
		{"public key", pemOf("PUBLIC KEY", pubDER), []string{"public key"}},
		{"unknown block", pemOf("CERTIFICATE", []byte{0x30, 0x00}), []string{`"CERTIFICATE"`}},
		{"no PEM", []byte("not a key"), []string{"no private key PEM block"}},
		{"empty", nil, []string{"no private key PEM block"}},
		{"only EC PARAMETERS", ecParamsBlock(t, asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}), []string{"no private key PEM block"}},
		{"corrupt PKCS#1", pemOf("RSA PRIVATE KEY", []byte{0x30, 0x03, 0x02, 0x01, 0x00}), []string{"PKCS#1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePrivatePEM(tt.data, fixedPass("pw", nil))
			wantKind(t, err, errkind.Input)
			for _, c := range tt.contains {
				if !strings.Contains(err.Error(), c) {
					t.Errorf("error %q does not mention %q", err, c)
				}
			}
			if block, _ := pem.Decode(tt.data); block != nil && len(block.Bytes) > 8 {
				wantNoSecret(t, err, base64.StdEncoding.EncodeToString(block.Bytes)[:12])
			}
		})
	}
}

func TestEncodeRefusesWeakKeys(t *testing.T) {
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []crypto.Signer{rsa1024, p224, nil} {
		_, err := EncodePrivate(k, []byte("pw"))
		wantKind(t, err, errkind.Input)
		_, err = EncodePrivateUnencrypted(k)
		wantKind(t, err, errkind.Input)
	}
}
