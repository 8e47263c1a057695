package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// MinRSABits is the smallest RSA modulus imgsign signs with or trusts.
const MinRSABits = 2048

// ID returns the key id of pub: base64(sha256(PKIX DER)). It is the Sigstore
// bundle's verificationMaterial.publicKey.hint, so the id in a policy, in
// output and in a bundle are the same string.
func ID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", errkind.Inputf("encoding public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}

// EncodePublic returns pub as a PKIX "PUBLIC KEY" PEM block.
func EncodePublic(pub crypto.PublicKey) ([]byte, error) {
	b, err := cryptoutils.MarshalPublicKeyToPEM(pub)
	if err != nil {
		return nil, errkind.Inputf("encoding public key: %w", err)
	}
	return b, nil
}

// ParsePublicPEM parses a PKIX (or PKCS#1 "RSA PUBLIC KEY") PEM public key and
// refuses keys too weak to trust.
func ParsePublicPEM(data []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errkind.Inputf("no PEM block found: expected a \"PUBLIC KEY\" PEM")
	}
	var pub crypto.PublicKey
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		return nil, errkind.Inputf("PEM block is %q, expected \"PUBLIC KEY\"", block.Type)
	}
	if err != nil {
		return nil, errkind.Inputf("parsing public key: %w", err)
	}
	if err := CheckStrength(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// CheckStrength refuses key types and sizes imgsign will not sign with or
// trust: RSA below 2048 bits and curves other than P-256, P-384 and P-521.
func CheckStrength(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < MinRSABits {
			return errkind.Inputf("RSA key is %d bits, the minimum is %d: generate a stronger key (imgsign keys generate --type rsa-3072)", k.N.BitLen(), MinRSABits)
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return errkind.Inputf("unsupported elliptic curve %s: use P-256, P-384 or P-521", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	default:
		return errkind.Inputf("unsupported key type %T: use ed25519, ECDSA or RSA", pub)
	}
	return nil
}
