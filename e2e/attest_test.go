package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgsign/imgsign/internal/testing/testenv"
)

func fixture(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// attestationPolicy requires a signature by k and a provenance attestation by
// k with the given extra rule lines.
func attestationPolicy(e *env, host, extra string) string {
	return e.write("trust.yaml", `version: 1
keys:
  - name: k
    publicKey: k.pub
policies:
  - name: release
    scopes: ["`+host+`/**"]
    signatures:
      keys: [k]
    attestations:
      - type: https://slsa.dev/provenance/v1
        keys: [k]
`+extra)
}

// Attestations of any predicate are signed, pushed and verified with
// conditions, convenience fields and maxAge; failures name what they saw.
func TestAttestPredicateAndConditions(t *testing.T) {
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			e := newEnv(t)
			e.key("k", "ecdsa-p256")
			img := host + "/attested:v1"
			testenv.PushImage(t, host, "attested", "v1")
			e.must("sign", "--key", "k.key", img)
			// The build finished an hour ago, so maxAge can be judged either way.
			finished := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
			prov := strings.Replace(fixture(t, "attest/slsa-github.json"), "2026-11-20T10:05:00Z", finished, 1)
			e.write("prov.json", prov)
			out := e.must("attest", "predicate", "--key", "k.key", "--type", "slsaprovenance1", "--predicate", "prov.json", img).Stdout
			if !strings.Contains(out, "https://slsa.dev/provenance/v1") {
				t.Fatalf("attest output: %s", out)
			}

			cases := []struct {
				name  string
				extra string
				code  int
				want  string
			}{
				{"no conditions", "", 0, "PASS"},
				{"convenience fields hold", `        builderId: https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main
        sourceRepository: github.com/acme/app
        sourceRef: refs/heads/*
        buildType: https://actions.github.io/buildtypes/workflow/v1
        maxAge: 1d
        conditions:
          - predicate.runDetails.builder.id.startsWith("https://github.com/acme/")
`, 0, "PASS"},
				{"sourceRef fails with what it saw", "        sourceRef: refs/tags/v*\n", 1, `condition "sourceRef: refs/tags/v*" failed (saw source.ref = "refs/heads/main" from predicate.buildDefinition.externalParameters.workflow.ref`},
				{"condition fails with what it saw", "        conditions:\n          - predicate.runDetails.builder.id.startsWith(\"https://github.com/evil/\")\n", 1, `(saw predicate.runDetails.builder.id = "https://github.com/acme/app/`},
				{"too old", "        maxAge: 30m\n", 1, "over maxAge 30m0s"},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					pol := attestationPolicy(e, host, c.extra)
					r := e.run("verify", "--policy", pol, img)
					if r.Code != c.code || !strings.Contains(r.Stdout, c.want) {
						t.Fatalf("exit %d (want %d), want %q in:\n%s\n%s", r.Code, c.code, c.want, r.Stdout, r.Stderr)
					}
				})
			}
		})
	}
}

// A condition that does not compile is a policy error pointing at its line.
func TestConditionCompileError(t *testing.T) {
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	pol := attestationPolicy(e, "127.0.0.1:1", "        conditions:\n          - predicate.runDetails.builder.id.startsWith(\n")
	r := e.run("policy", "check", pol)
	if r.Code != 2 || !strings.Contains(r.Stderr, "trust.yaml:14") || !strings.Contains(r.Stderr, "does not compile") {
		t.Fatalf("exit %d, stderr:\n%s", r.Code, r.Stderr)
	}
}

// Trivy and Grype reports become cosign vuln predicates; cosign
// verify-attestation accepts them and imgsign's provenance and custom types.
func TestAttestVulnAndCosignVerifyAttestation(t *testing.T) {
	cosign := testenv.Tool(t, "cosign")
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			e := newEnv(t)
			e.key("k", "ecdsa-p256")
			img := host + "/vuln:v1"
			testenv.PushImage(t, host, "vuln", "v1")
			e.write("trivy.json", fixture(t, "vuln/trivy.json"))
			e.write("grype.json", fixture(t, "vuln/grype.json"))
			e.write("prov.json", fixture(t, "attest/slsa-github.json"))
			e.write("custom.json", `{"reviewed": true, "by": "security@acme.example"}`)
			e.must("attest", "predicate", "--key", "k.key", "--type", "vuln", "--predicate", "trivy.json", img)
			e.must("attest", "predicate", "--key", "k.key", "--type", "vuln", "--predicate", "grype.json", img)
			e.must("attest", "predicate", "--key", "k.key", "--type", "slsaprovenance1", "--predicate", "prov.json", img)
			e.must("attest", "predicate", "--key", "k.key", "--type", "https://acme.example/review/v1", "--predicate", "custom.json", img)

			cosignEnv := []string{"COSIGN_PASSWORD=" + passphrase}
			for _, typ := range []string{"vuln", "slsaprovenance1", "https://acme.example/review/v1"} {
				r := testenv.Run(t, e.dir, cosignEnv, cosign, "verify-attestation", "--key", "k.pub", "--type", typ,
					"--insecure-ignore-tlog", "--allow-insecure-registry", img)
				if r.Code != 0 {
					t.Errorf("cosign verify-attestation --type %s: exit %d\n%s", typ, r.Code, r.Stderr)
				}
			}

			bad := e.write("bad.json", `{"not": "a scanner report"}`)
			if r := e.run("attest", "predicate", "--key", "k.key", "--type", "vuln", "--predicate", bad, img); r.Code != 2 || !strings.Contains(r.Stderr, "neither Trivy") {
				t.Errorf("non-report vuln input: exit %d %s", r.Code, r.Stderr)
			}
			if r := e.run("attest", "predicate", "--key", "k.key", "--type", "not a uri", "--predicate", "custom.json", img); r.Code != 2 {
				t.Errorf("bad type: exit %d %s", r.Code, r.Stderr)
			}
		})
	}
}
