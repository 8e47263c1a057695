package verify

import (
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/testing/testpki"
	"github.com/imgsign/imgsign/verify/policy"
)

// Offline review: an x509 signer whose revocation is enforced (the
// default, notation's strict level) cannot be checked offline, since no
// OCSP or CRL server may be asked. verify --offline used to skip the check
// and PASS a signature whose certificate is revoked (which fails online,
// and fails in an air gap without --offline); Offline refuses such a
// policy before any connection, and lets through signers that skip or only
// log revocation, where skipping it offline changes no verdict.
func TestOfflineReviewRevocationEnforced(t *testing.T) {
	pki := testpki.New(t)
	dir := t.TempDir()
	root := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.Root.Raw})
	if err := os.WriteFile(filepath.Join(dir, "root.pem"), root, 0o644); err != nil {
		t.Fatal(err)
	}
	parse := func(signers string) *policy.Policy {
		t.Helper()
		p, err := policy.Parse([]byte(`version: 1
trustStores: [{name: acme, type: ca, certificates: [root.pem]}]
x509Signers:
`+signers+`policies: [{name: app, scopes: ["r.io/**"], signatures: {keys: [acme]}}]
`), dir)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, signers, want string
	}{
		{"default (strict level)", "  - {name: acme, trustStores: [acme], trustedIdentities: ['*']}\n",
			"--offline: x509 signer acme checks revocation (revocation: enforce), which asks the OCSP and CRL servers its certificates name: set revocation: skip (or log) on it"},
		{"enforce written out", "  - {name: acme, trustStores: [acme], trustedIdentities: ['*'], revocation: enforce}\n",
			"--offline: x509 signer acme checks revocation (revocation: enforce)"},
		{"two signers, one skipping", "  - {name: acme, trustStores: [acme], trustedIdentities: ['*'], revocation: skip}\n" +
			"  - {name: ci, trustStores: [acme], trustedIdentities: ['*']}\n" +
			"  - {name: qa, trustStores: [acme], trustedIdentities: ['*'], revocation: enforce}\n",
			"--offline: x509 signers ci, qa check revocation (revocation: enforce)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Offline(parse(tc.signers))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("Offline = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("not one line: %q", err)
			}
			if k, _ := errkind.Of(err); k != errkind.Input {
				t.Errorf("kind %v, want Input (exit 2)", k)
			}
		})
	}
	for _, rev := range []string{"skip", "log"} {
		if err := Offline(parse("  - {name: acme, trustStores: [acme], trustedIdentities: ['*'], revocation: " + rev + "}\n")); err != nil {
			t.Errorf("revocation: %s: %v", rev, err)
		}
	}
}
