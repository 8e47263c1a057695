package keys

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/sign"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/testing/vaulttransit"
)

// vaultServer starts a transit-API server and points the hashivault
// provider at it.
func vaultServer(t *testing.T) *vaulttransit.Server {
	t.Helper()
	s := vaulttransit.Start()
	t.Cleanup(s.Close)
	s.Setenv(t)
	t.Setenv("BAO_ADDR", "")
	t.Setenv("BAO_TOKEN", "")
	return s
}

// closedURL is an http:// address on loopback where nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func sameKMSPublic(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

func wantContains(t *testing.T, err error, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
}

func TestIsKMSRef(t *testing.T) {
	for ref, want := range map[string]bool{
		"awskms:///alias/release":                                 true,
		"gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k": true,
		"azurekms://v.vault.azure.net/k":                          true,
		"hashivault://release":                                    true,
		"hashivault:/release":                                     false,
		"openbao://release":                                       false,
		"pkcs11:token=t;object=o":                                 false,
		"release.key":                                             false,
		"":                                                        false,
	} {
		if got := IsKMSRef(ref); got != want {
			t.Errorf("IsKMSRef(%q) = %v, want %v", ref, got, want)
		}
	}
}

// A malformed reference is bad input naming the provider and the expected
// form, before any network call.
func TestKMSMalformedReferences(t *testing.T) {
	t.Setenv("VAULT_ADDR", closedURL(t))
	for _, tc := range []struct{ ref, form string }{
		{"hashivault://", "hashivault://KEY_NAME"},
		{"hashivault://team/release", "hashivault://KEY_NAME"},
		{"hashivault://-release", "hashivault://KEY_NAME"},
		{"awskms://", "awskms:///alias/NAME"},
		{"awskms:///not-a-key-id", "awskms:///alias/NAME"},
		{"gcpkms://projects/p/keyRings/r", "gcpkms://projects/PROJECT/locations/LOCATION"},
		{"azurekms://vault-only", "azurekms://VAULT_NAME.vault.azure.net/KEY_NAME"},
		{"azurekms://v.vault.azure.net/k/VERSION/extra", "azurekms://VAULT_NAME"},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			provider := strings.TrimSuffix(tc.ref[:strings.Index(tc.ref, "://")], ":")
			for name, call := range kmsCalls(tc.ref) {
				err := call(t.Context())
				wantKind(t, err, errkind.Input)
				wantContains(t, err, provider+": malformed key reference", tc.form)
				if t.Failed() {
					t.Fatalf("%s", name)
				}
			}
		})
	}
	t.Run("VAULT_ADDR unset", func(t *testing.T) {
		t.Setenv("VAULT_ADDR", "")
		t.Setenv("BAO_ADDR", "")
		for name, call := range kmsCalls("hashivault://release") {
			err := call(t.Context())
			wantKind(t, err, errkind.Input)
			wantContains(t, err, "hashivault: VAULT_ADDR is not set")
			if t.Failed() {
				t.Fatalf("%s", name)
			}
		}
	})
}

// kmsCalls are the exported KMS functions applied to ref, by name.
func kmsCalls(ref string) map[string]func(context.Context) error {
	return map[string]func(context.Context) error{
		"LoadKMSSigner": func(ctx context.Context) error { _, err := LoadKMSSigner(ctx, ref); return err },
		"LoadKMSPublic": func(ctx context.Context) error { _, err := LoadKMSPublic(ctx, ref); return err },
		"LoadKMSPublicKeys": func(ctx context.Context) error {
			_, err := LoadKMSPublicKeys(ctx, ref)
			return err
		},
		"GenerateKMS": func(ctx context.Context) error { _, err := GenerateKMS(ctx, ref, TypeECDSAP256); return err },
	}
}

// Every --type generates in Vault through sigstore's provider, reads back,
// and signs with the algorithm FromPrivateKey would use (checked against
// the standard library by signAndVerify), in a Sigstore bundle too.
func TestKMSHashivaultKeyTypes(t *testing.T) {
	for _, tc := range []struct {
		typ      Type
		signPath string
	}{
		{TypeEd25519, "transit/sign/release"},
		{TypeECDSAP256, "transit/sign/release/sha2-256"},
		{TypeECDSAP384, "transit/sign/release/sha2-384"},
		{TypeRSA3072, "transit/sign/release/sha2-256"},
		{TypeRSA4096, "transit/sign/release/sha2-256"},
	} {
		t.Run(string(tc.typ), func(t *testing.T) {
			s := vaultServer(t)
			ctx := t.Context()
			const ref = "hashivault://release"
			pub, err := GenerateKMS(ctx, ref, tc.typ)
			if err != nil {
				t.Fatalf("GenerateKMS: %v", err)
			}
			if !sameKMSPublic(pub, s.PublicKeys("release")[1]) {
				t.Fatal("GenerateKMS did not return the key Vault holds")
			}
			if got := kmsKeyType(pub); got != string(tc.typ) {
				t.Fatalf("Vault created a %s key, want %s", got, tc.typ)
			}
			if got, err := LoadKMSPublic(ctx, ref); err != nil || !sameKMSPublic(got, pub) {
				t.Fatalf("LoadKMSPublic: %v", err)
			}
			if got, err := LoadKMSPublicKeys(ctx, ref); err != nil || len(got) != 1 || !sameKMSPublic(got[0], pub) {
				t.Fatalf("LoadKMSPublicKeys: %d keys, %v", len(got), err)
			}

			signer, err := LoadKMSSigner(ctx, ref)
			if err != nil {
				t.Fatalf("LoadKMSSigner: %v", err)
			}
			if id, _ := ID(pub); signer.ID() != id {
				t.Errorf("signer id %s, want %s", signer.ID(), id)
			}
			signAndVerify(t, signer)

			var req vaulttransit.Request
			for _, r := range s.Requests() {
				if strings.HasPrefix(r.Path, "transit/sign/") {
					req = r
				}
			}
			if req.Path != tc.signPath || req.Body["signature_algorithm"] != "pkcs1v15" || req.Body["prehashed"] != (tc.typ != TypeEd25519) {
				t.Errorf("sign request %s %v, want %s", req.Path, req.Body, tc.signPath)
			}

			content := &sign.DSSEData{Data: []byte(`{"_type":"https://in-toto.io/Statement/v1"}`), PayloadType: "application/vnd.in-toto+json"}
			b, err := sign.Bundle(content, signer, sign.BundleOptions{Context: ctx})
			if err != nil {
				t.Fatalf("sign.Bundle: %v", err)
			}
			if got := string(b.GetVerificationMaterial().GetPublicKey().GetHint()); got != signer.ID() {
				t.Errorf("bundle hint %q, want %q", got, signer.ID())
			}
			v, _ := Verifier(pub)
			sig := b.GetDsseEnvelope().GetSignatures()[0].GetSig()
			if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(content.PreAuthEncoding())); err != nil {
				t.Errorf("bundle signature does not verify: %v", err)
			}
		})
	}
}

// generate creates keys only: an existing key is refused, and so are types
// the provider cannot create (checked before any network call).
func TestGenerateKMSRefuses(t *testing.T) {
	s := vaultServer(t)
	if err := s.CreateKey("release", vaulttransit.TypeRSA2048); err != nil {
		t.Fatal(err)
	}
	_, err := GenerateKMS(t.Context(), "hashivault://release", TypeECDSAP256)
	wantKind(t, err, errkind.Input)
	wantContains(t, err, "hashivault: key hashivault://release already exists (rsa-2048, key id ")
	if !errors.Is(err, ErrKMSKeyExists) {
		t.Errorf("error %q does not wrap ErrKMSKeyExists", err)
	}
	if v := s.Versions("release"); len(v) != 1 || kmsKeyType(s.PublicKeys("release")[1]) != "rsa-2048" {
		t.Errorf("existing key changed: versions %v", v)
	}

	for _, tc := range []struct {
		ref  string
		typ  Type
		want string
	}{
		{"awskms:///alias/release", TypeEd25519, "awskms: cannot create ed25519 keys"},
		{"gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k", TypeEd25519, "gcpkms: cannot create ed25519 keys"},
		{"azurekms://v.vault.azure.net/k", TypeRSA3072, "azurekms: cannot create rsa-3072 keys"},
		{"awskms:///1234abcd-12ab-34cd-56ef-1234567890ab", TypeECDSAP256, "needs an alias reference"},
		{"hashivault://release", Type("dsa"), `unknown key type "dsa"`},
	} {
		_, err := GenerateKMS(t.Context(), tc.ref, tc.typ)
		wantKind(t, err, errkind.Input)
		wantContains(t, err, tc.want)
	}
}

// A key rotated in Vault: the signer and `keys public` follow the latest
// version, a policy trusts every version Vault still verifies, and retiring
// a version in Vault (min_decryption_version) removes it.
func TestKMSRotation(t *testing.T) {
	s := vaultServer(t)
	ctx := t.Context()
	const ref = "hashivault://release"
	if _, err := GenerateKMS(ctx, ref, TypeECDSAP256); err != nil {
		t.Fatal(err)
	}
	data := []byte("payload")
	s1, err := LoadKMSSigner(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	sig1, _, err := s1.SignData(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rotate("release"); err != nil {
		t.Fatal(err)
	}
	v := s.PublicKeys("release")

	// A signer loaded before the rotation must not put the v2 signature
	// Vault now makes under v1's key id.
	_, _, err = s1.SignData(ctx, data)
	wantKind(t, err, errkind.Operational)
	wantContains(t, err, "rotated")

	s2, err := LoadKMSSigner(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if !sameKMSPublic(s2.Public(), v[2]) || s2.ID() == s1.ID() {
		t.Fatalf("signer after rotation is not version 2")
	}
	sig2, _, err := s2.SignData(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	if pub, err := LoadKMSPublic(ctx, ref); err != nil || !sameKMSPublic(pub, v[2]) {
		t.Fatalf("LoadKMSPublic after rotation: %v", err)
	}

	trusted, err := LoadKMSPublicKeys(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(trusted) != 2 || !sameKMSPublic(trusted[0], v[1]) || !sameKMSPublic(trusted[1], v[2]) {
		t.Fatalf("LoadKMSPublicKeys returned %d keys, want versions 1 and 2 in order", len(trusted))
	}
	// Both signatures verify under the trusted set, each with its own key.
	for i, sig := range [][]byte{sig1, sig2} {
		ok := 0
		for _, pub := range trusted {
			vf, _ := Verifier(pub)
			if vf.VerifySignature(bytes.NewReader(sig), bytes.NewReader(data)) == nil {
				ok++
			}
		}
		if ok != 1 {
			t.Errorf("signature %d verifies with %d trusted keys, want exactly 1", i+1, ok)
		}
	}

	if err := s.SetMinDecryptionVersion("release", 2); err != nil {
		t.Fatal(err)
	}
	trusted, err = LoadKMSPublicKeys(ctx, ref)
	if err != nil || len(trusted) != 1 || !sameKMSPublic(trusted[0], v[2]) {
		t.Fatalf("after retiring v1: %d keys, %v; want only version 2", len(trusted), err)
	}
}

// Failures name the provider and the problem, classified for the exit code:
// unreachable and permission denied are operational, a missing key or token
// and a malformed reference are bad input.
func TestKMSHashivaultErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, s *vaulttransit.Server)
		// calls limits the functions tried; nil means all of kmsCalls.
		calls []string
		kind  errkind.Kind
		want  []string
	}{
		{
			name:  "unreachable",
			setup: func(t *testing.T, s *vaulttransit.Server) { t.Setenv("VAULT_ADDR", closedURL(t)) },
			kind:  errkind.Operational,
			want:  []string{"hashivault: cannot reach VAULT_ADDR http://127.0.0.1:", "connection refused"},
		},
		{
			name:  "wrong token",
			setup: func(t *testing.T, s *vaulttransit.Server) { t.Setenv("VAULT_TOKEN", "hvs.wrong-token-secret") },
			kind:  errkind.Operational,
			want:  []string{"hashivault: permission denied (HTTP 403)", `lacks the "read" capability on transit/keys/release`, "VAULT_ADDR http://127.0.0.1:"},
		},
		{
			name:  "no token",
			setup: noVaultToken,
			kind:  errkind.Input,
			want:  []string{"hashivault: ", "set VAULT_TOKEN"},
		},
		{
			name:  "missing key",
			setup: func(t *testing.T, s *vaulttransit.Server) {},
			calls: []string{"LoadKMSSigner", "LoadKMSPublic", "LoadKMSPublicKeys"},
			kind:  errkind.Input,
			want:  []string{"hashivault: key hashivault://release not found at VAULT_ADDR", `no key "release" in the transit engine mounted at "transit"`, "imgsign keys generate --kms hashivault://release"},
		},
		{
			name:  "wrong mount",
			setup: func(t *testing.T, s *vaulttransit.Server) { t.Setenv("TRANSIT_SECRET_ENGINE_PATH", "other") },
			calls: []string{"LoadKMSSigner", "LoadKMSPublic", "LoadKMSPublicKeys"},
			kind:  errkind.Input,
			want:  []string{"not found", `mounted at "other"`, "TRANSIT_SECRET_ENGINE_PATH"},
		},
		{
			name:  "create denied",
			setup: func(t *testing.T, s *vaulttransit.Server) { s.Deny("transit/keys/release") },
			calls: []string{"GenerateKMS"},
			kind:  errkind.Operational,
			want:  []string{"hashivault: permission denied (HTTP 403) reading the public key of hashivault://release", `"read" capability on transit/keys/release`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := vaultServer(t)
			if tc.name != "missing key" && tc.name != "create denied" {
				if err := s.CreateKey("release", vaulttransit.TypeECDSAP256); err != nil {
					t.Fatal(err)
				}
			}
			tc.setup(t, s)
			calls := kmsCalls("hashivault://release")
			names := tc.calls
			if names == nil {
				names = []string{"LoadKMSSigner", "LoadKMSPublic", "LoadKMSPublicKeys", "GenerateKMS"}
			}
			for _, n := range names {
				err := calls[n](t.Context())
				if err == nil {
					t.Fatalf("%s: no error", n)
				}
				wantKind(t, err, tc.kind)
				wantContains(t, err, tc.want...)
				wantNoSecret(t, err, s.Token, "hvs.wrong-token-secret")
				if t.Failed() {
					t.Fatalf("%s failed", n)
				}
			}
		})
	}
}

func noVaultToken(t *testing.T, _ *vaulttransit.Server) {
	home := t.TempDir()
	t.Setenv("VAULT_TOKEN", "")
	t.Setenv("HOME", home)
	t.Setenv("VAULT_CONFIG_PATH", filepath.Join(home, "no-vault-config"))
}

// Signing that Vault refuses names the capability on the exact sign path.
func TestKMSHashivaultSignDenied(t *testing.T) {
	for _, tc := range []struct {
		typ  Type
		path string
	}{
		{TypeECDSAP384, "transit/sign/release/sha2-384"},
		{TypeEd25519, "transit/sign/release"},
	} {
		t.Run(string(tc.typ), func(t *testing.T) {
			s := vaultServer(t)
			if _, err := GenerateKMS(t.Context(), "hashivault://release", tc.typ); err != nil {
				t.Fatal(err)
			}
			signer, err := LoadKMSSigner(t.Context(), "hashivault://release")
			if err != nil {
				t.Fatal(err)
			}
			s.Deny("transit/sign/release")
			_, _, err = signer.SignData(t.Context(), []byte("x"))
			wantKind(t, err, errkind.Operational)
			wantContains(t, err, "hashivault: permission denied (HTTP 403) signing with hashivault://release", `lacks the "update" capability on `+tc.path+" ")
		})
	}
}

// A VAULT_ADDR that does not parse is local configuration: bad input.
func TestKMSHashivaultBadAddress(t *testing.T) {
	vaultServer(t)
	t.Setenv("VAULT_ADDR", "http://[::1")
	_, err := LoadKMSPublic(t.Context(), "hashivault://release")
	wantKind(t, err, errkind.Input)
	wantContains(t, err, "hashivault: loading hashivault://release: new vault client")
}
