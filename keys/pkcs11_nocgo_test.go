//go:build !cgo

package keys

import (
	"context"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/errkind"
)

// Without cgo every PKCS#11 entry point says the build lacks it, after
// the same URI checks the cgo build makes.
func TestPKCS11NeedsCgo(t *testing.T) {
	ctx := context.Background()
	ref := "pkcs11:token=t;object=k?module-path=/usr/lib/softhsm/libsofthsm2.so"
	calls := map[string]func(string) error{
		"LoadPKCS11Signer": func(r string) error { _, err := LoadPKCS11Signer(ctx, r, nil); return err },
		"LoadPKCS11Public": func(r string) error { _, err := LoadPKCS11Public(ctx, r, nil); return err },
		"GeneratePKCS11":   func(r string) error { _, err := GeneratePKCS11(ctx, r, TypeECDSAP256, nil); return err },
	}
	for name, call := range calls {
		err := call(ref)
		wantKind(t, err, errkind.Input)
		if !strings.Contains(err.Error(), "PKCS#11 keys need the cgo build") || !strings.Contains(err.Error(), "CGO_ENABLED=1") {
			t.Errorf("%s: %v", name, err)
		}
		err = call("pkcs11:token=t;lable=k")
		wantKind(t, err, errkind.Input)
		if !strings.Contains(err.Error(), `unknown path attribute "lable"`) {
			t.Errorf("%s with a malformed URI: %v", name, err)
		}
	}
	if err := ClosePKCS11(); err != nil {
		t.Errorf("ClosePKCS11: %v", err)
	}
}
