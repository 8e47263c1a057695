//go:build cgo

package keys

// Signing with a key on a token: the sigstore SignerVerifier that Signer
// wraps, checking every signature the token returns against the public key.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"

	"github.com/miekg/pkcs11"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/imgsign/imgsign/internal/errkind"
)

// pkcs11SignerVerifier is a sigstore SignerVerifier over a key on a token.
// sigstore's LoadSignerVerifier only accepts *ecdsa.PrivateKey,
// *rsa.PrivateKey and ed25519.PrivateKey, not a crypto.Signer, hence this.
type pkcs11SignerVerifier struct {
	key      crypto.Signer
	pub      crypto.PublicKey
	hash     crypto.Hash // crypto.Hash(0) for pure Ed25519
	verifier signature.Verifier
	what     string // `object "L" on token "T"`, for messages
}

// newPKCS11SignerVerifier signs the way FromPrivateKey's signers do for the
// same key: ECDSA over the curve's hash, RSA PKCS#1 v1.5 over SHA-256, pure
// Ed25519 over the message (the Sigstore defaults keys.Verifier and cosign
// check).
func newPKCS11SignerVerifier(key crypto.Signer, what string) (*pkcs11SignerVerifier, error) {
	pub := key.Public()
	details, err := algorithmFor(pub)
	if err != nil {
		return nil, fmt.Errorf("PKCS#11 key %s: %w", what, err)
	}
	v, err := Verifier(pub)
	if err != nil {
		return nil, err
	}
	return &pkcs11SignerVerifier{key: key, pub: pub, hash: details.GetHashType(), verifier: v, what: what}, nil
}

func (s *pkcs11SignerVerifier) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return s.pub, nil
}

func (s *pkcs11SignerVerifier) SignMessage(message io.Reader, opts ...signature.SignOption) ([]byte, error) {
	ctx := context.Background()
	for _, o := range opts {
		o.ApplyContext(&ctx)
	}
	// A PKCS#11 call cannot be interrupted; at least do not start one
	// for a caller that has given up.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.hash == crypto.Hash(0) {
		return s.signEd25519(message)
	}
	// Only the key's own hash: a digest of another size would be signed
	// by the token but fail every verifier.
	digest, hf, err := signature.ComputeDigestForSigning(message, s.hash, []crypto.Hash{s.hash}, opts...)
	if err != nil {
		return nil, fmt.Errorf("PKCS#11 key %s: %w", s.what, err)
	}
	// crypto11 signs RSA with CKM_RSA_PKCS over the DigestInfo of hf,
	// i.e. PKCS#1 v1.5, because hf is not *rsa.PSSOptions.
	sig, err := s.key.Sign(rand.Reader, digest, hf)
	if err != nil {
		return nil, s.signError(err)
	}
	// crypto11 pairs the private key with a public key object by CKA_ID
	// and label; objects imported by hand can disagree. Checking here
	// means no signature leaves that the key id it claims cannot verify.
	if err := verifyDigest(s.pub, hf, digest, sig); err != nil {
		return nil, s.errMismatch(err)
	}
	return sig, nil
}

// signEd25519 signs the whole message with pure Ed25519, as sigstore's
// ED25519SignerVerifier does: digest and hash options do not apply (SignData
// passes none for Ed25519) and are ignored like there.
func (s *pkcs11SignerVerifier) signEd25519(message io.Reader) ([]byte, error) {
	msg, _, err := signature.ComputeDigestForSigning(message, crypto.Hash(0), []crypto.Hash{crypto.Hash(0)})
	if err != nil {
		return nil, fmt.Errorf("PKCS#11 key %s: %w", s.what, err)
	}
	sig, err := s.key.Sign(rand.Reader, msg, crypto.Hash(0))
	if err != nil {
		return nil, s.signError(err)
	}
	// The private and public objects were paired by id and label, which
	// objects imported by hand can get wrong.
	if !ed25519.Verify(s.pub.(ed25519.PublicKey), msg, sig) {
		return nil, s.errMismatch(errors.New("invalid Ed25519 signature"))
	}
	return sig, nil
}

func (s *pkcs11SignerVerifier) signError(err error) error {
	if _, marked := errkind.Of(err); marked {
		return err
	}
	var ckr pkcs11.Error
	if errors.As(err, &ckr) && (ckr == pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED || ckr == pkcs11.CKR_KEY_TYPE_INCONSISTENT || ckr == pkcs11.CKR_MECHANISM_INVALID) {
		return errkind.Inputf("PKCS#11 key %s cannot sign: %w", s.what, err)
	}
	return errkind.Operationalf("signing with PKCS#11 key %s: %w", s.what, err)
}

func (s *pkcs11SignerVerifier) errMismatch(err error) error {
	return errkind.Inputf("PKCS#11 key %s: the token's signature does not verify with the key's public key object (%v): the private and public objects with this id and label are not one key pair", s.what, err)
}

func (s *pkcs11SignerVerifier) VerifySignature(sig, message io.Reader, opts ...signature.VerifyOption) error {
	return s.verifier.VerifySignature(sig, message, opts...)
}

func verifyDigest(pub crypto.PublicKey, hf crypto.Hash, digest, sig []byte) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return errors.New("invalid ECDSA signature")
		}
		return nil
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, hf, digest, sig)
	}
	return fmt.Errorf("unexpected public key type %T", pub)
}
