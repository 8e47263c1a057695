//go:build cgo

package keys

// Ed25519: crypto11 knows only RSA, ECDSA and DSA key objects, so
// CKK_EC_EDWARDS keys are generated, found and used with miekg/pkcs11
// directly, on short-lived sessions opened with the package's own handle on
// the module (pk11.modules) next to the crypto11.Context of the same token.
// Both handles are dlopen handles on the one library, so they share its
// initialisation and login state: while the crypto11.Context is open (its
// persistent session keeps the module initialised and the token logged
// in), a session opened through the raw handle is logged in too, and
// closing it never logs the token out, as it is never the last session.
// crypto11 still does the key lookup; only when it fails on an Edwards key
// does the raw lookup take over (see findKey).

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/ThalesIgnite/crypto11"
	"github.com/miekg/pkcs11"

	"github.com/imgsign/imgsign/internal/errkind"
)

// PKCS#11 3.0 constants for Edwards-curve keys, which miekg/pkcs11 v1.1.1
// predates.
const (
	ckkECEdwards           = 0x40   // CKK_EC_EDWARDS
	ckmECEdwardsKeyPairGen = 0x1055 // CKM_EC_EDWARDS_KEY_PAIR_GEN
	ckmEdDSA               = 0x1057 // CKM_EDDSA
)

// CKA_EC_PARAMS of an Ed25519 key may be, by PKCS#11 3.0, the curve's OID
// (id-Ed25519, RFC 8410) or its name as a PrintableString (what pkcs11-tool
// 0.23 writes). ed25519ECParams lists what generateEd25519 offers the token,
// in order; SoftHSM2 2.6.1 takes both.
var (
	oidEd25519      = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidEd448        = asn1.ObjectIdentifier{1, 3, 101, 113}
	ed25519ECParams = [][]byte{
		{0x06, 0x03, 0x2b, 0x65, 0x70},                // OBJECT IDENTIFIER 1.3.101.112
		append([]byte{0x13, 0x0c}, "edwards25519"...), // PrintableString "edwards25519"
	}
)

// pk11Pair is a private key object and the public key object (or, for the
// key types crypto11 knows, certificate) that goes with it.
type pk11Pair struct {
	priv, pub pkcs11.ObjectHandle
	edwards   bool // CKK_EC_EDWARDS
}

// findEdwardsKey is findKey for when crypto11 has met an Edwards key; cause
// is crypto11's error.
func (c *pk11Conn) findEdwardsKey(u *pkcs11URI, cause error) (crypto.Signer, error) {
	label, id := u.object()
	var (
		pairs []pk11Pair
		pub   ed25519.PublicKey
	)
	err := c.withSession(func(sh pkcs11.SessionHandle) error {
		var err error
		if pairs, err = c.findPairs(sh, id, label); err != nil || len(pairs) != 1 || !pairs[0].edwards {
			return err
		}
		pub, err = c.readEd25519Public(sh, pairs[0].pub, u.describeObject())
		return err
	})
	if err != nil {
		return nil, markIfUnmarked(errkind.Operational, fmt.Errorf("looking up PKCS#11 key %s on token %q: %w", u.describeObject(), c.token, err))
	}
	switch {
	case len(pairs) == 0:
		return nil, c.errNoKeyPair(u)
	case len(pairs) > 1:
		return nil, c.errAmbiguous(u, len(pairs))
	case !pairs[0].edwards:
		// crypto11 failed on a key this lookup does not see; say what
		// crypto11 said.
		return nil, c.findError(u, cause)
	}
	return &pk11Ed25519Key{c: c, priv: pairs[0].priv, pub: pub}, nil
}

// findPairs lists the key pairs whose private key matches id and label as
// crypto11's FindKeyPairs pairs them: a private key with a non-empty
// CKA_ID, and a public key object of the same type with its CKA_ID and
// CKA_LABEL, else its CKA_ID alone; failing that, for the key types
// crypto11 handles, a certificate with its CKA_ID.
func (c *pk11Conn) findPairs(sh pkcs11.SessionHandle, id, label []byte) ([]pk11Pair, error) {
	tmpl := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY)}
	if id != nil {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_ID, id))
	}
	if label != nil {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_LABEL, label))
	}
	privs, err := c.findObjects(sh, tmpl)
	if err != nil {
		return nil, err
	}
	edwards := pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, ckkECEdwards).Value
	var pairs []pk11Pair
	for _, priv := range privs {
		attrs, err := c.mod.GetAttributeValue(sh, priv, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_ID, nil),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, nil),
		})
		if err != nil {
			return nil, err
		}
		pid, plabel, ktype := attrs[0].Value, attrs[1].Value, attrs[2].Value
		if len(pid) == 0 {
			continue
		}
		p := pk11Pair{priv: priv, edwards: bytes.Equal(ktype, edwards)}
		pubTmpl := []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
			{Type: pkcs11.CKA_KEY_TYPE, Value: ktype},
			pkcs11.NewAttribute(pkcs11.CKA_ID, pid),
		}
		withLabel := append(slices.Clip(pubTmpl), pkcs11.NewAttribute(pkcs11.CKA_LABEL, plabel))
		pubs, err := c.findObjects(sh, withLabel)
		if err != nil || len(pubs) == 0 {
			// Some tokens refuse an empty CKA_LABEL in a template
			// (crypto11 says CloudHSM); the id alone will do.
			if pubs, err = c.findObjects(sh, pubTmpl); err != nil {
				return nil, err
			}
		}
		if len(pubs) == 0 && !p.edwards {
			certs, err := c.findObjects(sh, []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
				pkcs11.NewAttribute(pkcs11.CKA_ID, pid),
			})
			if err != nil {
				return nil, err
			}
			pubs = certs
		}
		if len(pubs) == 0 {
			continue // crypto11 skips a private key without a public half
		}
		p.pub = pubs[0]
		pairs = append(pairs, p)
	}
	return pairs, nil
}

// findObjects returns the handles of every object matching tmpl.
func (c *pk11Conn) findObjects(sh pkcs11.SessionHandle, tmpl []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	if err := c.mod.FindObjectsInit(sh, tmpl); err != nil {
		return nil, err
	}
	var all []pkcs11.ObjectHandle
	for {
		hs, _, err := c.mod.FindObjects(sh, 64)
		if err != nil {
			_ = c.mod.FindObjectsFinal(sh)
			return nil, err
		}
		if len(hs) == 0 {
			break
		}
		all = append(all, hs...)
	}
	return all, c.mod.FindObjectsFinal(sh)
}

// readEd25519Public reads the Ed25519 public key of an Edwards public key
// object. Ed448 and curves not named in CKA_EC_PARAMS are refused.
func (c *pk11Conn) readEd25519Public(sh pkcs11.SessionHandle, obj pkcs11.ObjectHandle, what string) (ed25519.PublicKey, error) {
	attrs, err := c.mod.GetAttributeValue(sh, obj, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, nil),
		pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil),
	})
	if err != nil {
		return nil, fmt.Errorf("reading CKA_EC_PARAMS and CKA_EC_POINT of the public key: %w", err)
	}
	if err := checkEd25519Params(attrs[0].Value); err != nil {
		return nil, errkind.Inputf("PKCS#11 key %s on token %q: %w", what, c.token, err)
	}
	pub, err := parseEd25519Point(attrs[1].Value)
	if err != nil {
		return nil, errkind.Inputf("PKCS#11 key %s on token %q: %w", what, c.token, err)
	}
	return pub, nil
}

// checkEd25519Params accepts the CKA_EC_PARAMS of an Ed25519 key: the
// curve's OID or name (ed25519ECParams), or nothing, in which case the
// point's size decides.
func checkEd25519Params(der []byte) error {
	if len(der) == 0 {
		return nil
	}
	var oid asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(der, &oid); err == nil && len(rest) == 0 {
		switch {
		case oid.Equal(oidEd25519):
			return nil
		case oid.Equal(oidEd448):
			return errkind.Inputf("the key is an Ed448 key, which Sigstore signatures do not use: use an Ed25519 key")
		}
		return errkind.Inputf("the Edwards-curve key has curve OID %s, not Ed25519's %s", oid, oidEd25519)
	}
	var name string
	if rest, err := asn1.Unmarshal(der, &name); err == nil && len(rest) == 0 {
		switch name {
		case "edwards25519":
			return nil
		case "edwards448":
			return errkind.Inputf("the key is an Ed448 key, which Sigstore signatures do not use: use an Ed25519 key")
		}
		return errkind.Inputf("the Edwards-curve key has curve %q, not edwards25519", name)
	}
	return errkind.Inputf("the Edwards-curve key's CKA_EC_PARAMS (%x) is neither a curve OID nor a curve name", der)
}

// parseEd25519Point returns the key in a CKA_EC_POINT: by PKCS#11 3.0 a DER
// OCTET STRING around the 32-byte RFC 8032 encoding, though some tokens
// store the 32 bytes bare.
func parseEd25519Point(b []byte) (ed25519.PublicKey, error) {
	raw := b
	if len(b) != ed25519.PublicKeySize {
		if rest, err := asn1.Unmarshal(b, &raw); err != nil || len(rest) != 0 {
			return nil, errkind.Inputf("the public key's CKA_EC_POINT (%d bytes) is neither an Ed25519 key nor a DER OCTET STRING holding one", len(b))
		}
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, errkind.Inputf("the public key's CKA_EC_POINT holds %d bytes, not an Ed25519 key's %d", len(raw), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(bytes.Clone(raw)), nil
}

// generateEd25519 makes an Ed25519 key pair with the templates of
// keygenAttributes and returns its public key; what names it for messages.
// Its errors are unmarked PKCS#11 errors for GeneratePKCS11 to classify, or
// marked ones.
func (c *pk11Conn) generateEd25519(pubAttrs, privAttrs crypto11.AttributeSet, what string) (crypto.PublicKey, error) {
	var pub ed25519.PublicKey
	err := c.withSession(func(sh pkcs11.SessionHandle) error {
		var err error
		for i, params := range ed25519ECParams {
			pubT, privT := pubAttrs.Copy(), privAttrs.Copy()
			pubT.AddIfNotPresent([]*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
				pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, ckkECEdwards),
				pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
				pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params),
			})
			privT.AddIfNotPresent([]*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
				pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, ckkECEdwards),
				pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			})
			var pubH pkcs11.ObjectHandle
			pubH, _, err = c.mod.GenerateKeyPair(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(ckmECEdwardsKeyPairGen, nil)}, pubT.ToSlice(), privT.ToSlice())
			if err != nil {
				// A token that wants the curve's other spelling says
				// so with one of these; anything else is final.
				if i < len(ed25519ECParams)-1 && (isCKR(err, pkcs11.CKR_DOMAIN_PARAMS_INVALID) || isCKR(err, pkcs11.CKR_CURVE_NOT_SUPPORTED) ||
					isCKR(err, pkcs11.CKR_ATTRIBUTE_VALUE_INVALID) || isCKR(err, pkcs11.CKR_TEMPLATE_INCONSISTENT)) {
					continue
				}
				return err
			}
			pub, err = c.readEd25519Public(sh, pubH, what)
			return err
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return pub, nil
}

// pk11Ed25519Key is an Ed25519 private key on a token, as a crypto.Signer
// with crypto/ed25519's conventions: Sign signs the message itself (pure
// Ed25519, CKM_EDDSA without parameters) and opts must be crypto.Hash(0).
type pk11Ed25519Key struct {
	c    *pk11Conn
	priv pkcs11.ObjectHandle
	pub  ed25519.PublicKey
}

func (k *pk11Ed25519Key) Public() crypto.PublicKey { return k.pub }

func (k *pk11Ed25519Key) Sign(_ io.Reader, message []byte, opts crypto.SignerOpts) ([]byte, error) {
	// Ed25519ph and Ed25519ctx would need CK_EDDSA_PARAMS, and produce
	// signatures Sigstore does not accept.
	if opts != nil && opts.HashFunc() != crypto.Hash(0) {
		return nil, fmt.Errorf("PKCS#11 Ed25519 keys sign messages, not %v digests (Ed25519ph is not supported)", opts.HashFunc())
	}
	if o, ok := opts.(*ed25519.Options); ok && o.Context != "" {
		return nil, errors.New("PKCS#11 Ed25519 keys do not sign with a context (Ed25519ctx is not supported)")
	}
	var sig []byte
	err := k.c.withSession(func(sh pkcs11.SessionHandle) error {
		if err := k.c.mod.SignInit(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(ckmEdDSA, nil)}, k.priv); err != nil {
			return err
		}
		var err error
		sig, err = k.c.mod.Sign(sh, message)
		return err
	})
	return sig, err
}
