package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/internal/testing/testpki"
	"github.com/imgsign/imgsign/keys"
)

// Notary Project signatures made with every kind of key imgsign holds — a
// key file, a PKCS#11 token (SoftHSM2), a KMS (Vault transit) — each with a
// certificate issued for it, are accepted by notation verify and by imgsign
// verify; an RSA key in a KMS, which cannot sign RSASSA-PSS here, is refused
// before anything is pushed.
func TestNotarySignWithEveryKeyBackend(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	k := newKMSEnv(t)
	h := newHSM(t, "notary")
	env := append(append([]string{"IMGSIGN_PASSWORD=" + passphrase}, h.env...), k.vault.Env()...)
	run := func(args ...string) testenv.Result {
		t.Helper()
		return testenv.Run(t, k.dir, env, k.bin, args...)
	}
	must := func(args ...string) testenv.Result {
		t.Helper()
		r := run(args...)
		if r.Code != 0 {
			t.Fatalf("imgsign %s: exit %d\n%s%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
		}
		return r
	}
	pki := testpki.New(t)
	n := testenv.Notation(t)
	storeDir := filepath.Join(n.Config, "truststore", "x509", "ca", "acme")
	if err := os.MkdirAll(storeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	pki.RootPEM(t, storeDir)
	n.TrustPolicy(t, `{"version": "1.0", "trustPolicies": [{"name": "acme", "registryScopes": ["*"],
  "signatureVerification": {"level": "strict"}, "trustStores": ["ca:acme"],
  "trustedIdentities": ["x509.subject: C=US, ST=WA, O=imgsign test, CN=imgsign test signer"]}]}`)
	pki.RootPEM(t, k.dir)
	pol := k.write("trust.yaml", `version: 1
trustStores:
  - {name: acme, type: ca, certificates: [root.crt]}
x509Signers:
  - name: acme
    trustStores: [acme]
    trustedIdentities: ["x509.subject: C=US, ST=WA, O=imgsign test, CN=imgsign test signer"]
policies:
  - name: all
    scopes: ["`+host+`/**"]
    signatures: {keys: [acme]}
`)

	// chainFor issues a leaf for ref's public key and writes its chain.
	chainFor := func(name, ref string) string {
		t.Helper()
		pub, err := keys.ParsePublicPEM([]byte(must("keys", "public", "--key", ref).Stdout))
		if err != nil {
			t.Fatal(err)
		}
		return testpki.ChainPEM(t, k.dir, name+".chain.pem", pki.LeafFor(t, pub, testpki.LeafOptions{}))
	}
	cases := []struct {
		name, ref, keyType, generate string
		cose                         bool
	}{
		{"file-rsa", "file-rsa.key", "rsa-3072", "--out", false},
		{"file-p384", "file-p384.key", "ecdsa-p384", "--out", true},
		{"pkcs11-p256", hsmRef("notary", "p256"), "ecdsa-p256", "--pkcs11", false},
		{"pkcs11-rsa", hsmRef("notary", "rsa"), "rsa-3072", "--pkcs11", true},
		{"kms-p256", "hashivault://notary-p256", "ecdsa-p256", "--kms", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			target := c.ref
			if c.generate == "--out" {
				target = strings.TrimSuffix(c.ref, ".key")
			}
			must("keys", "generate", c.generate, target, "--type", c.keyType)
			chain := chainFor(c.name, c.ref)
			d := testenv.PushImage(t, host, "notary/"+c.name, "v1")
			args := []string{"sign", "--format", "notation", "--key", c.ref, "--cert", chain}
			if c.cose {
				args = append(args, "--signature-format", "cose")
			}
			must(append(args, host+"/notary/"+c.name+":v1")...)
			n.Run(t, "verify", "--insecure-registry", host+"/notary/"+c.name+"@"+d.String())
			if r := run("verify", "--policy", pol, host+"/notary/"+c.name+":v1"); r.Code != 0 {
				t.Fatalf("imgsign verify: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
			}
		})
	}

	t.Run("kms-rsa refused before pushing", func(t *testing.T) {
		must("keys", "generate", "--kms", "hashivault://notary-rsa", "--type", "rsa-3072")
		chain := chainFor("kms-rsa", "hashivault://notary-rsa")
		testenv.PushImage(t, host, "notary/kms-rsa", "v1")
		r := run("sign", "--format", "notation", "--key", "hashivault://notary-rsa", "--cert", chain, host+"/notary/kms-rsa:v1")
		if r.Code != 2 || !strings.Contains(r.Stderr, "RSASSA-PSS") {
			t.Fatalf("exit %d, want 2 naming RSASSA-PSS\n%s", r.Code, r.Stderr)
		}
		if out := must("tree", host+"/notary/kms-rsa:v1").Stdout; !strings.Contains(out, "0 attached") {
			t.Errorf("something was pushed:\n%s", out)
		}
	})

	t.Run("certificate of another key refused", func(t *testing.T) {
		chain := chainFor("other", "file-p384.key")
		testenv.PushImage(t, host, "notary/mismatch", "v1")
		r := run("sign", "--format", "notation", "--key", "file-rsa.key", "--cert", chain, host+"/notary/mismatch:v1")
		if r.Code != 2 || !strings.Contains(r.Stderr, "is not for key") {
			t.Fatalf("exit %d, want 2 naming the mismatch\n%s", r.Code, r.Stderr)
		}
	})
}
