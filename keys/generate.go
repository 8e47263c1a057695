package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"strings"

	"github.com/imgsign/imgsign/internal/errkind"
)

// Type is a key type `imgsign keys generate --type` accepts. Its value is the
// flag spelling, so it can be printed back to the user unchanged.
type Type string

const (
	TypeEd25519   Type = "ed25519"
	TypeECDSAP256 Type = "ecdsa-p256"
	TypeECDSAP384 Type = "ecdsa-p384"
	TypeRSA3072   Type = "rsa-3072"
	TypeRSA4096   Type = "rsa-4096"
)

// Types lists the generatable key types in the order help text shows them.
func Types() []Type {
	return []Type{TypeEd25519, TypeECDSAP256, TypeECDSAP384, TypeRSA3072, TypeRSA4096}
}

func typeList() string {
	names := make([]string, 0, len(Types()))
	for _, t := range Types() {
		names = append(names, string(t))
	}
	return strings.Join(names, ", ")
}

// ParseType parses a --type flag value. Case is ignored because "ECDSA-P256"
// is an obvious spelling of the same thing and there is no ambiguity.
func ParseType(s string) (Type, error) {
	want := Type(strings.ToLower(strings.TrimSpace(s)))
	for _, t := range Types() {
		if t == want {
			return t, nil
		}
	}
	return "", errkind.Inputf("unknown key type %q: use one of %s", s, typeList())
}

// Generate creates a new private key of type t.
func Generate(t Type) (crypto.Signer, error) {
	var (
		priv crypto.Signer
		err  error
	)
	switch t {
	case TypeEd25519:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case TypeECDSAP256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case TypeECDSAP384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case TypeRSA3072:
		priv, err = rsa.GenerateKey(rand.Reader, 3072)
	case TypeRSA4096:
		priv, err = rsa.GenerateKey(rand.Reader, 4096)
	default:
		return nil, errkind.Inputf("unknown key type %q: use one of %s", string(t), typeList())
	}
	if err != nil {
		// Only a broken system RNG gets here: not the user's fault, and not a
		// remote service either, so it is left unclassified.
		return nil, fmt.Errorf("generating %s key: %w", t, err)
	}
	return priv, nil
}
