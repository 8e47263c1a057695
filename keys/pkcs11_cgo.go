//go:build cgo

package keys

// PKCS#11 keys through github.com/ThalesIgnite/crypto11, the library cosign
// uses, over github.com/miekg/pkcs11 (cgo: PKCS#11 modules are C shared
// libraries loaded with dlopen).
//
// This file has the entry points (load, generate, close) and the key
// lookup. pkcs11_pool.go keeps the process's logged-in tokens,
// pkcs11_login.go checks PINs, pkcs11_ed25519.go does what crypto11 cannot
// for Edwards keys, and pkcs11_signer.go signs.

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ThalesIgnite/crypto11"
	"github.com/miekg/pkcs11"

	"github.com/imgsign/imgsign/internal/errkind"
)

// LoadPKCS11Signer returns a Signer for the key pair a pkcs11: URI names.
// The PIN comes from the URI (pin-source=FILE; pin-value with a warning on
// stderr), IMGSIGN_PKCS11_PIN, or a no-echo prompt on stderr; with a nil
// stderr nobody is prompted or warned. The token context stays open for the
// Signer's use until ClosePKCS11 or process exit.
func LoadPKCS11Signer(ctx context.Context, ref string, stderr io.Writer) (*Signer, error) {
	u, err := parsePKCS11URI(ref)
	if err != nil {
		return nil, err
	}
	if t, ok := u.attr("type"); ok && t != "private" {
		return nil, errkind.Inputf("PKCS#11 URI has type=%s: a signing key is a private key (type=private, or leave type out)", t)
	}
	if err := u.needObject(); err != nil {
		return nil, err
	}
	c, err := pk11Acquire(ctx, u, defaultPINPrompt(stderr))
	if err != nil {
		return nil, err
	}
	defer pk11Release(c)
	key, err := c.findKey(u)
	if err != nil {
		return nil, err
	}
	sv, err := newPKCS11SignerVerifier(key, fmt.Sprintf("%s on token %q", u.describeObject(), c.token))
	if err != nil {
		return nil, err
	}
	s, err := NewSigner(sv)
	if err != nil {
		return nil, err
	}
	s.raw = key
	pk11Keep(c)
	return s, nil
}

// LoadPKCS11Public returns the public key of the key pair a pkcs11: URI
// names. Reading it needs a login, as private objects are only listed to a
// logged-in user.
func LoadPKCS11Public(ctx context.Context, ref string, stderr io.Writer) (crypto.PublicKey, error) {
	u, err := parsePKCS11URI(ref)
	if err != nil {
		return nil, err
	}
	if t, ok := u.attr("type"); ok && t != "private" && t != "public" {
		return nil, errkind.Inputf("PKCS#11 URI has type=%s: imgsign reads key pairs (type=private or type=public)", t)
	}
	if err := u.needObject(); err != nil {
		return nil, err
	}
	c, err := pk11Acquire(ctx, u, defaultPINPrompt(stderr))
	if err != nil {
		return nil, err
	}
	defer pk11Release(c)
	key, err := c.findKey(u)
	if err != nil {
		return nil, err
	}
	pub := key.Public()
	if _, err := algorithmFor(pub); err != nil {
		return nil, fmt.Errorf("PKCS#11 key %s on token %q: %w", u.describeObject(), c.token, err)
	}
	return pub, nil
}

// GeneratePKCS11 creates a key pair of type t on the token, labelled with
// the URI's object (CKA_LABEL) and given its id (CKA_ID), or a random
// 16-byte id when the URI has none, and returns the public key. The private
// key is sensitive, not extractable, and may only sign. An existing key with
// the same label or id is an error rather than a second, ambiguous key.
func GeneratePKCS11(ctx context.Context, ref string, t Type, stderr io.Writer) (crypto.PublicKey, error) {
	u, err := parsePKCS11URI(ref)
	if err != nil {
		return nil, err
	}
	if typ, ok := u.attr("type"); ok && typ != "private" && typ != "public" {
		return nil, errkind.Inputf("PKCS#11 URI has type=%s: keys generate makes a key pair (type=private, or leave type out)", typ)
	}
	if _, ok := u.attr("object"); !ok {
		// A label is how people and pkcs11-tool find keys again; an
		// id alone is easy to lose.
		return nil, errkind.Inputf("PKCS#11 URI for a new key needs object=LABEL (and optionally id=%%01)")
	}
	var (
		curve elliptic.Curve
		bits  int
	)
	if t != TypeEd25519 {
		if curve, bits, err = pkcs11KeySpec(t); err != nil {
			return nil, err
		}
	}
	c, err := pk11Acquire(ctx, u, defaultPINPrompt(stderr))
	if err != nil {
		return nil, err
	}
	defer pk11Release(c)
	label, id := u.object()
	if err := c.refuseExisting(u, label, id); err != nil {
		return nil, err
	}
	if id == nil {
		id = make([]byte, 16)
		if _, err := rand.Read(id); err != nil {
			return nil, fmt.Errorf("generating a CKA_ID: %w", err)
		}
	}
	pubAttrs, privAttrs, err := keygenAttributes(id, label)
	if err != nil {
		return nil, err
	}
	var pub crypto.PublicKey
	switch {
	case t == TypeEd25519:
		pub, err = c.generateEd25519(pubAttrs, privAttrs, u.describeObject())
	case bits != 0:
		var key crypto11.Signer
		if key, err = c.ctx.GenerateRSAKeyPairWithAttributes(pubAttrs, privAttrs, bits); err == nil {
			pub = key.Public()
		}
	default:
		var key crypto11.Signer
		if key, err = c.ctx.GenerateECDSAKeyPairWithAttributes(pubAttrs, privAttrs, curve); err == nil {
			pub = key.Public()
		}
	}
	if err != nil {
		if _, marked := errkind.Of(err); marked {
			return nil, err
		}
		var ckr pkcs11.Error
		if errors.As(err, &ckr) && (ckr == pkcs11.CKR_MECHANISM_INVALID || ckr == pkcs11.CKR_DOMAIN_PARAMS_INVALID ||
			ckr == pkcs11.CKR_TEMPLATE_INCONSISTENT || ckr == pkcs11.CKR_ATTRIBUTE_VALUE_INVALID || ckr == pkcs11.CKR_KEY_SIZE_RANGE) {
			return nil, errkind.Inputf("PKCS#11 token %q cannot generate a %s key: %w", c.token, t, err)
		}
		return nil, errkind.Operationalf("generating a %s key on PKCS#11 token %q: %w", t, c.token, err)
	}
	if err := CheckStrength(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// ClosePKCS11 logs out of every token this process opened and closes the
// sessions; Signers loaded from PKCS#11 stop working. Calling it is
// optional (process exit does the same) but lets a long-running program or
// a test release the token.
func ClosePKCS11() error {
	pk11.mu.Lock()
	defer pk11.mu.Unlock()
	var errs []error
	for k, c := range pk11.conns {
		if err := c.close(); err != nil {
			errs = append(errs, fmt.Errorf("closing PKCS#11 token %q: %w", c.token, err))
		}
		delete(pk11.conns, k)
	}
	return errors.Join(errs...)
}

// pkcs11KeySpec maps a key type crypto11 generates to an EC curve or an RSA
// size. Ed25519 is generated without crypto11 (generateEd25519).
func pkcs11KeySpec(t Type) (elliptic.Curve, int, error) {
	switch t {
	case TypeECDSAP256:
		return elliptic.P256(), 0, nil
	case TypeECDSAP384:
		return elliptic.P384(), 0, nil
	case TypeRSA3072:
		return nil, 3072, nil
	case TypeRSA4096:
		return nil, 4096, nil
	}
	return nil, 0, errkind.Inputf("unknown key type %q: use one of %s, %s, %s, %s, %s", string(t), TypeEd25519, TypeECDSAP256, TypeECDSAP384, TypeRSA3072, TypeRSA4096)
}

// keygenAttributes makes sign-only key templates. Left to themselves,
// crypto11 lets RSA keys decrypt and SoftHSM2 lets any private key decrypt,
// unwrap and derive, none of which a signing key should do.
func keygenAttributes(id, label []byte) (pub, priv crypto11.AttributeSet, err error) {
	pub = crypto11.NewAttributeSet()
	if err := pub.Set(crypto11.CkaId, id); err != nil {
		return nil, nil, err
	}
	if label != nil {
		if err := pub.Set(crypto11.CkaLabel, label); err != nil {
			return nil, nil, err
		}
	}
	priv = pub.Copy()
	set := func(a crypto11.AttributeSet, t crypto11.AttributeType, v bool) {
		if err == nil {
			err = a.Set(t, v)
		}
	}
	set(pub, crypto11.CkaVerify, true)
	set(priv, crypto11.CkaSign, true)
	set(priv, crypto11.CkaPrivate, true)
	set(priv, crypto11.CkaSensitive, true)
	set(priv, crypto11.CkaExtractable, false)
	for _, t := range []crypto11.AttributeType{crypto11.CkaEncrypt, crypto11.CkaWrap, crypto11.CkaDerive} {
		set(pub, t, false)
	}
	for _, t := range []crypto11.AttributeType{crypto11.CkaDecrypt, crypto11.CkaUnwrap, crypto11.CkaDerive} {
		set(priv, t, false)
	}
	return pub, priv, err
}

func isCKR(err error, want uint) bool {
	var ckr pkcs11.Error
	return errors.As(err, &ckr) && uint(ckr) == want
}

// findKey returns the one key pair matching u's object and id: a
// crypto11.Signer for RSA and EC keys, a *pk11Ed25519Key for Ed25519.
//
// crypto11 does the lookup; it fails as a whole when a matching private key
// with a public key object is of a type it does not know, reporting
// CKK_EC_EDWARDS only as text. Only then does findEdwardsKey look again,
// pairing objects the way crypto11 does, so which keys match and when a URI
// is ambiguous is the same for every key type.
func (c *pk11Conn) findKey(u *pkcs11URI) (crypto.Signer, error) {
	label, id := u.object()
	found, err := c.ctx.FindKeyPairs(id, label)
	if err != nil {
		if isUnsupportedKeyType(err, ckkECEdwards) {
			return c.findEdwardsKey(u, err)
		}
		return nil, c.findError(u, err)
	}
	switch len(found) {
	case 0:
		return nil, c.errNoKeyPair(u)
	case 1:
		return found[0], nil
	}
	return nil, c.errAmbiguous(u, len(found))
}

func (c *pk11Conn) errNoKeyPair(u *pkcs11URI) error {
	return errkind.Inputf("PKCS#11 token %q has no key pair with %s (a private key with a CKA_ID and its public key object): list the token's keys with pkcs11-tool --module %s --token-label %q --login --list-objects",
		c.token, u.describeObject(), c.slot.module, c.token)
}

func (c *pk11Conn) errAmbiguous(u *pkcs11URI, n int) error {
	return errkind.Inputf("%d key pairs on PKCS#11 token %q match %s: add id= to the URI to pick one", n, c.token, u.describeObject())
}

// isUnsupportedKeyType reports whether err is crypto11's "unsupported key
// type: %X" for CKA_KEY_TYPE keyType; tests pin that text for the version
// in go.mod.
func isUnsupportedKeyType(err error, keyType uint) bool {
	return err.Error() == fmt.Sprintf("unsupported key type: %X", keyType)
}

// findError classifies crypto11's key lookup errors. crypto11 reports an
// unknown key type only as text, "unsupported key type: %X" of CKA_KEY_TYPE;
// tests pin that text for the version in go.mod.
func (c *pk11Conn) findError(u *pkcs11URI, err error) error {
	msg := err.Error()
	if t, ok := strings.CutPrefix(msg, "unsupported key type: "); ok {
		return errkind.Inputf("PKCS#11 key %s on token %q has key type 0x%s, which imgsign cannot sign with: use an Ed25519, EC P-256, EC P-384 or RSA key", u.describeObject(), c.token, t)
	}
	return errkind.Operationalf("looking up PKCS#11 key %s on token %q: %w", u.describeObject(), c.token, err)
}

// refuseExisting refuses to generate a key whose label or id is taken: two
// keys answering to one URI would make it ambiguous.
func (c *pk11Conn) refuseExisting(u *pkcs11URI, label, id []byte) error {
	check := func(id, label []byte, what string) error {
		found, err := c.ctx.FindKeyPairs(id, label)
		if err != nil {
			if strings.HasPrefix(err.Error(), "unsupported key type") {
				found = append(found, nil) // a key crypto11 cannot use still takes the name
			} else {
				return c.findError(u, err)
			}
		}
		if len(found) > 0 {
			return errkind.Inputf("PKCS#11 token %q already has a key with %s: choose another, or delete the old key (pkcs11-tool --delete-object --type privkey …)", c.token, what)
		}
		return nil
	}
	if label != nil {
		if err := check(nil, label, fmt.Sprintf("object %q", label)); err != nil {
			return err
		}
	}
	if id != nil {
		return check(id, nil, "id "+pctEncode(id))
	}
	return nil
}
