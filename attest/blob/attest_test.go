package blob

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/testing/testkey"
	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/statement"
)

// Attest refuses what it must before it asks for the key, and writes the
// bundle only when everything succeeded.
func TestAttest(t *testing.T) {
	key := testkey.Signer(t)
	dir := t.TempDir()
	app := write(t, dir, "app", "binary")
	bundle := filepath.Join(dir, "app.sigstore.json")
	pred := func(context.Context) (any, error) { return map[string]any{"review": "ok"}, nil }
	cases := []struct {
		name   string
		req    Request
		err    string // "" = attested
		keyUse bool   // whether the key may be asked for
	}{
		{"attested", Request{Files: []string{app}, PredicateType: "https://acme.example/review/v1", Predicate: pred, Bundle: bundle}, "", true},
		{"plain signature type", Request{Files: []string{app}, PredicateType: statement.Signature, Predicate: pred, Bundle: bundle}, "plain image signature", false},
		{"no bundle name", Request{Files: []string{app}, PredicateType: statement.CosignCustom, Predicate: pred}, "--bundle needs a file name", false},
		{"bundle over an attested file", Request{Files: []string{app}, PredicateType: statement.CosignCustom, Predicate: pred, Bundle: app}, "is one of the files attested", false},
		{"missing file", Request{Files: []string{filepath.Join(dir, "nope")}, PredicateType: statement.CosignCustom, Predicate: pred, Bundle: bundle + ".2"}, "nope", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			asked := false
			tc.req.Signer = func(context.Context) (sign.Signer, error) { asked = true; return key, nil }
			res, err := Attest(context.Background(), tc.req)
			if asked && !tc.keyUse {
				t.Errorf("asked for the key before refusing")
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Attest = %v, want %q", err, tc.err)
				}
				if tc.req.Bundle != "" && tc.req.Bundle != app {
					if _, err := os.Stat(tc.req.Bundle); err == nil && tc.req.Bundle != bundle {
						t.Errorf("wrote %s although refused", tc.req.Bundle)
					}
				}
				return
			}
			if err != nil || res.KeyID != key.ID() || len(res.Subjects) != 1 {
				t.Fatalf("Attest = %+v, %v", res, err)
			}
			if b, err := os.ReadFile(bundle); err != nil || !strings.Contains(string(b), "dsseEnvelope") {
				t.Fatalf("bundle: %v", err)
			}
		})
	}
}
