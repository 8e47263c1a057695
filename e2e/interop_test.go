package e2e

import (
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// cosign v3 (built from the pinned tools module) and imgsign accept each
// other's signatures, for every key type, on both kinds of registry. The
// keys are imgsign's own encrypted key files: cosign reads them as its own.
func TestCosignInterop(t *testing.T) {
	cosign := testenv.Tool(t, "cosign")
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			for _, typ := range []string{"ed25519", "ecdsa-p256", "ecdsa-p384", "rsa-3072", "rsa-4096"} {
				t.Run(typ, func(t *testing.T) {
					e := newEnv(t)
					e.key("k", typ)
					cosignEnv := []string{"COSIGN_PASSWORD=" + passphrase, "COSIGN_YES=true"}
					verifyArgs := []string{"verify", "--key", "k.pub", "--insecure-ignore-tlog", "--allow-insecure-registry"}
					if typ == "ecdsa-p384" {
						// cosign verifies with SHA-256 unless told; it needs this for its own P-384 signatures too.
						verifyArgs = append(verifyArgs, "--signature-digest-algorithm", "sha384")
					}

					t.Run("cosign verifies imgsign", func(t *testing.T) {
						repo := "by-imgsign/" + typ
						testenv.PushImage(t, host, repo, "v1")
						e.must("sign", "--key", "k.key", host+"/"+repo+":v1")
						r := testenv.Run(t, e.dir, cosignEnv, cosign, append(verifyArgs, host+"/"+repo+":v1")...)
						if r.Code != 0 || !strings.Contains(r.Stderr, "verified against the specified public key") {
							t.Fatalf("cosign verify: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
						}
					})
					t.Run("imgsign verifies cosign", func(t *testing.T) {
						repo := "by-cosign/" + typ
						testenv.PushImage(t, host, repo, "v1")
						r := testenv.Run(t, e.dir, cosignEnv, cosign, "sign", "--key", "k.key", "--tlog-upload=false",
							"--use-signing-config=false", "--allow-insecure-registry", "-y", host+"/"+repo+":v1")
						if r.Code != 0 {
							t.Fatalf("cosign sign: exit %d\n%s", r.Code, r.Stderr)
						}
						rep, res := e.verifyJSON(e.policy(host, []string{"k"}, 1, nil), host+"/"+repo+":v1")
						if res.Code != 0 {
							t.Fatalf("imgsign verify of cosign's signature: exit %d\n%s", res.Code, res.Stdout)
						}
						if n := len(rep.Images[0].Requirements[0].Accepted); n != 1 {
							t.Fatalf("accepted %d signatures, want 1", n)
						}
					})
				})
			}
		})
	}
}

// tree lists cosign's legacy .sig tag next to imgsign's referrers, and
// annotations imgsign signs are what `cosign verify -a` checks.
func TestCosignLegacyTreeAndAnnotations(t *testing.T) {
	cosign := testenv.Tool(t, "cosign")
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			e := newEnv(t)
			e.key("k", "ecdsa-p256")
			img := host + "/mixed:v1"
			testenv.PushImage(t, host, "mixed", "v1")
			cosignEnv := []string{"COSIGN_PASSWORD=" + passphrase, "COSIGN_YES=true"}
			r := testenv.Run(t, e.dir, cosignEnv, cosign, "sign", "--key", "k.key", "--tlog-upload=false", "--use-signing-config=false",
				"--new-bundle-format=false", "--allow-insecure-registry", "-y", img)
			if r.Code != 0 {
				t.Fatalf("cosign sign (legacy): exit %d\n%s", r.Code, r.Stderr)
			}
			e.must("sign", "--key", "k.key", "-a", "env=prod", img)

			tree := e.must("tree", img).Stdout
			for _, want := range []string{".sig (1 signature layers)", "cosign-legacy", "https://sigstore.dev/cosign/sign/v1"} {
				if !strings.Contains(tree, want) {
					t.Errorf("tree lacks %q:\n%s", want, tree)
				}
			}

			base := []string{"verify", "--key", "k.pub", "--insecure-ignore-tlog", "--allow-insecure-registry", "--new-bundle-format"}
			if r := testenv.Run(t, e.dir, cosignEnv, cosign, append(base, "-a", "env=prod", img)...); r.Code != 0 {
				t.Errorf("cosign verify -a env=prod: exit %d\n%s", r.Code, r.Stderr)
			}
			if r := testenv.Run(t, e.dir, cosignEnv, cosign, append(base, "-a", "env=dev", img)...); r.Code == 0 {
				t.Errorf("cosign verify -a env=dev accepted a signature annotated env=prod")
			}
		})
	}
}

// Attestations both ways with cosign v3's bundle format, for each key type:
// cosign verify-attestation accepts imgsign's, imgsign verifies cosign's.
func TestCosignAttestationInterop(t *testing.T) {
	cosign := testenv.Tool(t, "cosign")
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			for _, typ := range []string{"ed25519", "ecdsa-p256", "rsa-3072"} {
				t.Run(typ, func(t *testing.T) {
					e := newEnv(t)
					e.key("k", typ)
					e.write("prov.json", fixture(t, "attest/slsa-github.json"))
					cosignEnv := []string{"COSIGN_PASSWORD=" + passphrase, "COSIGN_YES=true"}

					mine := host + "/att-by-imgsign/" + typ + ":v1"
					testenv.PushImage(t, host, "att-by-imgsign/"+typ, "v1")
					e.must("attest", "predicate", "--key", "k.key", "--type", "slsaprovenance1", "--predicate", "prov.json", mine)
					r := testenv.Run(t, e.dir, cosignEnv, cosign, "verify-attestation", "--key", "k.pub", "--type", "slsaprovenance1",
						"--insecure-ignore-tlog", "--allow-insecure-registry", mine)
					if r.Code != 0 {
						t.Errorf("cosign verify-attestation of imgsign's: exit %d\n%s", r.Code, r.Stderr)
					}

					theirs := host + "/att-by-cosign/" + typ + ":v1"
					testenv.PushImage(t, host, "att-by-cosign/"+typ, "v1")
					r = testenv.Run(t, e.dir, cosignEnv, cosign, "attest", "--key", "k.key", "--type", "slsaprovenance1", "--predicate", "prov.json",
						"--tlog-upload=false", "--use-signing-config=false", "--allow-insecure-registry", "-y", theirs)
					if r.Code != 0 {
						t.Fatalf("cosign attest: exit %d\n%s", r.Code, r.Stderr)
					}
					pol := e.write("trust.yaml", `version: 1
keys:
  - name: k
    publicKey: k.pub
policies:
  - name: p
    scopes: ["`+host+`/**"]
    attestations:
      - type: https://slsa.dev/provenance/v1
        keys: [k]
        builderId: https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main
`)
					if r := e.run("verify", "--policy", pol, theirs); r.Code != 0 {
						t.Errorf("imgsign verify of cosign's attestation: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
					}
				})
			}
		})
	}
}
