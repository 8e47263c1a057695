package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"errors"
	"fmt"

	"github.com/imgsign/imgsign/internal/errkind"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// Signer is a signing key of any kind (file, KMS or PKCS#11, see Backend)
// presented as sigstore-go's sign.Keypair, so sign.Bundle can use it
// directly and the bundle's hint is the imgsign key id.
type Signer struct {
	sv      signature.SignerVerifier
	pub     crypto.PublicKey
	id      string
	details signature.AlgorithmDetails
	// raw is the key as a crypto.Signer, for key files and PKCS#11 keys;
	// nil for KMS keys (see Crypto).
	raw crypto.Signer
}

var _ sign.Keypair = (*Signer)(nil)

// NewSigner wraps sv. Only sv's public key and SignMessage are used, because
// KMS and PKCS#11 SignerVerifiers have no crypto.Signer to offer. The
// algorithm is the Sigstore default for the key: pure Ed25519, ECDSA with the
// curve's hash, RSA PKCS#1 v1.5 with SHA-256; sv must sign that way.
func NewSigner(sv signature.SignerVerifier) (*Signer, error) {
	if sv == nil {
		return nil, errors.New("keys.NewSigner: nil SignerVerifier")
	}
	// Sigstore-go and cosign verify Ed25519 bundle signatures as pure
	// Ed25519; a pre-hashed signer would produce signatures nothing accepts.
	if _, ph := sv.(*signature.ED25519phSignerVerifier); ph {
		return nil, errors.New("keys.NewSigner: Ed25519ph signers are not supported, load the key as pure Ed25519")
	}
	pub, err := sv.PublicKey()
	if err != nil {
		return nil, markIfUnmarked(errkind.Operational, fmt.Errorf("getting the signing key's public key: %w", err))
	}
	details, err := algorithmFor(pub)
	if err != nil {
		return nil, err
	}
	id, err := ID(pub)
	if err != nil {
		return nil, err
	}
	return &Signer{sv: sv, pub: pub, id: id, details: details}, nil
}

// FromPrivateKey returns a Signer for an in-memory private key.
func FromPrivateKey(priv crypto.Signer) (*Signer, error) {
	if priv == nil {
		return nil, errkind.Inputf("loading signer: no private key given")
	}
	// Checked before LoadDefaultSignerVerifier so a weak or odd key gets the
	// actionable message rather than sigstore's "unsupported public key type".
	if err := checkSigningKey(priv.Public()); err != nil {
		return nil, err
	}
	// No load options: that selects pure Ed25519 (cosign's key-file default,
	// Ed25519ph, is not what bundles use).
	sv, err := signature.LoadDefaultSignerVerifier(priv)
	if err != nil {
		return nil, errkind.Inputf("loading signer: %w", err)
	}
	s, err := NewSigner(sv)
	if err != nil {
		return nil, err
	}
	s.raw = priv
	return s, nil
}

// Crypto returns the key as a crypto.Signer that signs with whatever
// crypto.SignerOpts it is given (RSASSA-PSS included), for formats whose
// algorithm is not the Sigstore default SignData uses (Notary Project
// signatures sign RSA keys with PSS). Key files and PKCS#11 keys have one;
// a KMS key has none (nil): it signs only through SignData.
func (s *Signer) Crypto() crypto.Signer { return s.raw }

// ID returns the key id: the bundle hint, the policy and output key id.
func (s *Signer) ID() string { return s.id }

// Public returns the public key.
func (s *Signer) Public() crypto.PublicKey { return s.pub }

// GetHashAlgorithm returns the hash SignData signs, or HASH_ALGORITHM_UNSPECIFIED
// for pure Ed25519, which signs the data itself.
func (s *Signer) GetHashAlgorithm() protocommon.HashAlgorithm {
	return s.details.GetProtoHashType()
}

// GetSigningAlgorithm returns the Sigstore algorithm registry entry of the key.
func (s *Signer) GetSigningAlgorithm() protocommon.PublicKeyDetails {
	return s.details.GetSignatureAlgorithm()
}

// GetHint returns the key id, which sigstore-go writes as
// verificationMaterial.publicKey.hint.
func (s *Signer) GetHint() []byte { return []byte(s.id) }

// GetKeyAlgorithm returns the coarse algorithm name Fulcio requests use.
func (s *Signer) GetKeyAlgorithm() string {
	switch s.details.GetKeyType() {
	case signature.ECDSA:
		return "ECDSA"
	case signature.RSA:
		return "RSA"
	case signature.ED25519:
		return "ED25519"
	}
	return ""
}

// GetPublicKey returns the public key.
func (s *Signer) GetPublicKey() crypto.PublicKey { return s.pub }

// GetPublicKeyPem returns the public key as a "PUBLIC KEY" PEM block.
func (s *Signer) GetPublicKeyPem() (string, error) {
	b, err := cryptoutils.MarshalPublicKeyToPEM(s.pub)
	if err != nil {
		return "", fmt.Errorf("encoding public key: %w", err)
	}
	return string(b), nil
}

// SignData signs data and returns the signature and what was signed: the
// digest of data, or data itself for pure Ed25519 (as EphemeralKeypair does,
// since sigstore-go records that value in the bundle).
func (s *Signer) SignData(ctx context.Context, data []byte) ([]byte, []byte, error) {
	opts := []signature.SignOption{options.WithContext(ctx)}
	signed := data
	if hf := s.details.GetHashType(); hf != crypto.Hash(0) {
		h := hf.New()
		h.Write(data)
		signed = h.Sum(nil)
		// Handing over the digest and its hash makes a remote signer sign
		// exactly the digest returned here, whatever hash it defaults to.
		opts = append(opts, options.WithDigest(signed), options.WithCryptoSignerOpts(hf))
	}
	sig, err := s.sv.SignMessage(bytes.NewReader(data), opts...)
	if err != nil {
		// A local key cannot fail here; a KMS or HSM that did is operational
		// unless its own error already says otherwise.
		return nil, nil, markIfUnmarked(errkind.Operational, fmt.Errorf("signing with key %s: %w", s.id, err))
	}
	return sig, signed, nil
}

// Verifier returns a verifier for pub with the same algorithm choice as
// Signer (pure Ed25519), so what a Signer signs this verifies.
func Verifier(pub crypto.PublicKey) (signature.Verifier, error) {
	if _, err := algorithmFor(pub); err != nil {
		return nil, err
	}
	v, err := signature.LoadDefaultVerifier(pub)
	if err != nil {
		return nil, errkind.Inputf("loading verifier: %w", err)
	}
	return v, nil
}

// algorithmFor returns the Sigstore algorithm imgsign uses with pub, refusing
// keys CheckStrength refuses and RSA sizes the Sigstore algorithm registry
// has no entry for (anything but 2048, 3072 and 4096 bits).
func algorithmFor(pub crypto.PublicKey) (signature.AlgorithmDetails, error) {
	if err := CheckStrength(pub); err != nil {
		return signature.AlgorithmDetails{}, err
	}
	d, err := signature.GetDefaultAlgorithmDetails(pub)
	if err != nil {
		if k, ok := pub.(*rsa.PublicKey); ok {
			return signature.AlgorithmDetails{}, errkind.Inputf("RSA key is %d bits: Sigstore signatures use 2048, 3072 or 4096-bit RSA keys (imgsign keys generate --type rsa-3072)", k.N.BitLen())
		}
		return signature.AlgorithmDetails{}, errkind.Inputf("unsupported key: %w", err)
	}
	return d, nil
}

func checkSigningKey(pub crypto.PublicKey) error {
	_, err := algorithmFor(pub)
	return err
}

func markIfUnmarked(kind errkind.Kind, err error) error {
	if _, ok := errkind.Of(err); ok {
		return err
	}
	return errkind.Mark(kind, err)
}
