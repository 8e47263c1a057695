package keys

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
)

// requireOpenSSL skips without openssl on a developer machine (listed in
// make test's summary of skips); in CI, where every component the tests
// need is installed, a missing tool is a failure, not a skip.
func requireOpenSSL(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		testenv.Missing(t, "openssl is not installed (%v): apt-get install openssl", err)
	}
}

func openssl(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func pemTypes(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return types
		}
		types = append(types, b.Type)
	}
}

func TestOpenSSLKeys(t *testing.T) {
	requireOpenSSL(t)
	tests := []struct {
		name   string
		gen    []string // "OUT" is replaced by the key path
		blocks []string
		alg    protocommon.PublicKeyDetails
	}{
		{"PKCS#1 RSA-2048", []string{"genrsa", "-traditional", "-out", "OUT", "2048"},
			[]string{"RSA PRIVATE KEY"}, protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256},
		{"SEC1 P-256 with EC PARAMETERS", []string{"ecparam", "-genkey", "-name", "prime256v1", "-out", "OUT"},
			[]string{"EC PARAMETERS", "EC PRIVATE KEY"}, protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256},
		{"SEC1 P-384", []string{"ecparam", "-genkey", "-noout", "-name", "secp384r1", "-out", "OUT"},
			[]string{"EC PRIVATE KEY"}, protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384},
		{"PKCS#8 Ed25519", []string{"genpkey", "-algorithm", "ed25519", "-out", "OUT"},
			[]string{"PRIVATE KEY"}, protocommon.PublicKeyDetails_PKIX_ED25519},
		{"PKCS#8 P-384", []string{"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", "OUT"},
			[]string{"PRIVATE KEY"}, protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384},
		{"PKCS#8 RSA-3072", []string{"genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072", "-out", "OUT"},
			[]string{"PRIVATE KEY"}, protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_3072_SHA256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			keyPath := filepath.Join(dir, "key.pem")
			pubPath := filepath.Join(dir, "key.pub")
			args := slices.Clone(tt.gen)
			args[slices.Index(args, "OUT")] = keyPath
			openssl(t, args...)
			if got := pemTypes(t, keyPath); !slices.Equal(got, tt.blocks) {
				t.Fatalf("openssl wrote PEM blocks %q, the test expects %q", got, tt.blocks)
			}
			openssl(t, "pkey", "-in", keyPath, "-pubout", "-out", pubPath)

			s, err := loadSigner(t.Context(), keyPath, noPass(t))
			if err != nil {
				t.Fatalf("LoadSigner: %v", err)
			}
			if s.GetSigningAlgorithm() != tt.alg {
				t.Errorf("algorithm %v, want %v", s.GetSigningAlgorithm(), tt.alg)
			}
			fromPub, err := loadPublic(t.Context(), pubPath, noPass(t))
			if err != nil {
				t.Fatalf("loadPublic(openssl public key): %v", err)
			}
			fromPriv, err := loadPublic(t.Context(), keyPath, noPass(t))
			if err != nil {
				t.Fatalf("loadPublic(openssl private key): %v", err)
			}
			samePublic(t, fromPub, s.Public())
			samePublic(t, fromPriv, s.Public())
			signAndVerify(t, s)
			opensslVerifies(t, s, pubPath)
		})
	}
}

// opensslVerifies checks a SignData signature with openssl, an
// implementation that shares no code with Go's.
func opensslVerifies(t *testing.T, s *Signer, pubPath string) {
	t.Helper()
	dir := t.TempDir()
	data := []byte("signed by imgsign, checked by openssl")
	sig, _, err := s.SignData(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	dataPath := writeFile(t, "data", data)
	sigPath := filepath.Join(dir, "sig")
	if err := os.WriteFile(sigPath, sig, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Public().(ed25519.PublicKey); ok {
		openssl(t, "pkeyutl", "-verify", "-pubin", "-inkey", pubPath, "-rawin", "-in", dataPath, "-sigfile", sigPath)
		return
	}
	digest := map[protocommon.HashAlgorithm]string{
		protocommon.HashAlgorithm_SHA2_256: "-sha256",
		protocommon.HashAlgorithm_SHA2_384: "-sha384",
		protocommon.HashAlgorithm_SHA2_512: "-sha512",
	}[s.GetHashAlgorithm()]
	openssl(t, "dgst", digest, "-verify", pubPath, "-signature", sigPath, dataPath)
}

func TestOpenSSLRefusedKeys(t *testing.T) {
	requireOpenSSL(t)
	tests := []struct {
		name     string
		gen      []string
		contains []string
	}{
		{"RSA-1024", []string{"genrsa", "-traditional", "-out", "OUT", "1024"}, []string{"1024", "2048"}},
		{"secp256k1 SEC1", []string{"ecparam", "-genkey", "-name", "secp256k1", "-out", "OUT"}, []string{"P-256"}},
		{"secp256k1 PKCS#8", []string{"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1", "-out", "OUT"}, []string{"elliptic curve"}},
		{"P-224 PKCS#8", []string{"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-224", "-out", "OUT"}, []string{"P-224", "P-256"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keyPath := filepath.Join(t.TempDir(), "key.pem")
			args := slices.Clone(tt.gen)
			args[slices.Index(args, "OUT")] = keyPath
			openssl(t, args...)
			_, err := loadSigner(t.Context(), keyPath, noPass(t))
			wantKind(t, err, errkind.Input)
			for _, c := range tt.contains {
				if !strings.Contains(err.Error(), c) {
					t.Errorf("error %q does not mention %q", err, c)
				}
			}
		})
	}
}

// Password-encrypted openssl keys are refused with a conversion command;
// following the message must give a key imgsign loads.
func TestOpenSSLEncryptedKeysNeedConversion(t *testing.T) {
	requireOpenSSL(t)
	const pw = "openssl-pw-77"
	tests := []struct {
		name    string
		gen     []string
		block   string
		convert []string // IN and OUT are replaced
		hint    string
	}{
		{"PKCS#8 PBES2",
			[]string{"genpkey", "-algorithm", "ed25519", "-aes-256-cbc", "-pass", "pass:" + pw, "-out", "OUT"},
			"ENCRYPTED PRIVATE KEY",
			[]string{"pkcs8", "-topk8", "-nocrypt", "-passin", "pass:" + pw, "-in", "IN", "-out", "OUT"},
			"openssl pkcs8 -topk8 -nocrypt"},
		{"traditional with Proc-Type",
			[]string{"genrsa", "-traditional", "-aes256", "-passout", "pass:" + pw, "-out", "OUT", "2048"},
			"RSA PRIVATE KEY",
			[]string{"pkey", "-passin", "pass:" + pw, "-in", "IN", "-out", "OUT"},
			"openssl pkey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			encPath, plainPath := filepath.Join(dir, "enc.pem"), filepath.Join(dir, "plain.pem")
			gen := slices.Clone(tt.gen)
			gen[slices.Index(gen, "OUT")] = encPath
			openssl(t, gen...)
			if got := pemTypes(t, encPath); !slices.Equal(got, []string{tt.block}) {
				t.Fatalf("openssl wrote PEM blocks %q, the test expects [%q]", got, tt.block)
			}

			_, err := loadSigner(t.Context(), encPath, noPass(t))
			wantKind(t, err, errkind.Input)
			wantNoSecret(t, err, pw)
			for _, want := range []string{tt.hint, "imgsign keys import"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}

			conv := slices.Clone(tt.convert)
			conv[slices.Index(conv, "IN")] = encPath
			conv[slices.Index(conv, "OUT")] = plainPath
			openssl(t, conv...)
			s, err := loadSigner(t.Context(), plainPath, noPass(t))
			if err != nil {
				t.Fatalf("key converted as the error said does not load: %v", err)
			}
			signAndVerify(t, s)
		})
	}
}

// EncodePrivateUnencrypted output must be a key openssl reads as the same
// key, since users will inspect or convert it with openssl.
func TestOpenSSLReadsOurPKCS8(t *testing.T) {
	requireOpenSSL(t)
	for _, typ := range []Type{TypeEd25519, TypeECDSAP384} {
		t.Run(string(typ), func(t *testing.T) {
			priv, err := Generate(typ)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := EncodePrivateUnencrypted(priv)
			if err != nil {
				t.Fatal(err)
			}
			keyPath := writeFile(t, "key.pem", plain)
			pubPath := filepath.Join(filepath.Dir(keyPath), "key.pub")
			openssl(t, "pkey", "-in", keyPath, "-pubout", "-out", pubPath)
			got, err := os.ReadFile(pubPath)
			if err != nil {
				t.Fatal(err)
			}
			want, err := EncodePublic(priv.Public())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
				t.Errorf("openssl derives public key\n%s\nwant\n%s", got, want)
			}
		})
	}
}
