//go:build !cgo

package keys

// PKCS#11 modules are C shared libraries, which a Go binary can only load
// through cgo. Without it, every other key reference still works and a
// pkcs11: one says what to do. The URI is parsed first so a typo gets the
// same message as in the cgo build.

import (
	"context"
	"crypto"
	"io"

	"github.com/imgsign/imgsign/internal/errkind"
)

// LoadPKCS11Signer always fails in a build without cgo.
func LoadPKCS11Signer(ctx context.Context, ref string, stderr io.Writer) (*Signer, error) {
	return nil, errNoCgo(ref)
}

// LoadPKCS11Public always fails in a build without cgo.
func LoadPKCS11Public(ctx context.Context, ref string, stderr io.Writer) (crypto.PublicKey, error) {
	return nil, errNoCgo(ref)
}

// GeneratePKCS11 always fails in a build without cgo.
func GeneratePKCS11(ctx context.Context, ref string, t Type, stderr io.Writer) (crypto.PublicKey, error) {
	return nil, errNoCgo(ref)
}

// ClosePKCS11 has nothing to close in a build without cgo.
func ClosePKCS11() error { return nil }

func errNoCgo(ref string) error {
	if _, err := parsePKCS11URI(ref); err != nil {
		return err
	}
	return errkind.Inputf("PKCS#11 keys need the cgo build of imgsign: this binary was built with CGO_ENABLED=0; imgsign's release binaries are built so (static, reproducible): install with a C compiler and CGO_ENABLED=1 go install github.com/imgsign/imgsign/cmd/imgsign@VERSION")
}
