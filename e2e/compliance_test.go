package e2e

import (
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// Compliance rules over the image config and verified attestations, each
// passing and failing, through the CLI.
func TestCompliance(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	good := host + "/compliant:v1"
	bad := host + "/noncompliant:v1"
	testenv.PushImageWithConfig(t, host, "compliant", "v1", func(c *v1.ConfigFile) {
		c.Config.User = "65532"
		c.Config.Env = []string{"PATH=/usr/bin", "GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D"}
	})
	testenv.PushImageWithConfig(t, host, "noncompliant", "v1", func(c *v1.ConfigFile) {
		c.Config.User = ""
		c.Config.Env = []string{"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
	})
	prov := func(base string) string {
		return `{"buildDefinition": {"buildType": "https://mobyproject.org/buildkit@v1", "externalParameters": {}, "resolvedDependencies": [
			{"uri": "pkg:docker/docker/dockerfile@1"}, {"uri": "` + base + `", "digest": {"sha256": "ab"}}]},
			"runDetails": {"builder": {"id": "https://github.com/acme/app/actions"}}}`
	}
	e.write("prov-good.json", prov("pkg:docker/cgr.dev/chainguard/static@latest?platform=linux%2Famd64"))
	e.write("prov-bad.json", prov("pkg:docker/random/base@1?platform=linux%2Famd64"))
	e.write("trivy-clean.json", fixture(t, "vuln/trivy-clean.json"))
	e.write("trivy.json", fixture(t, "vuln/trivy.json"))
	for img, files := range map[string][2]string{good: {"prov-good.json", "trivy-clean.json"}, bad: {"prov-bad.json", "trivy.json"}} {
		e.must("sign", "--key", "k.key", img)
		e.must("attest", "predicate", "--key", "k.key", "--type", "slsaprovenance1", "--predicate", files[0], img)
		e.must("attest", "predicate", "--key", "k.key", "--type", "vuln", "--predicate", files[1], img)
	}
	pol := e.write("trust.yaml", `version: 1
keys:
  - name: k
    publicKey: k.pub
policies:
  - name: prod
    scopes: ["`+host+`/**"]
    signatures:
      keys: [k]
    compliance:
      keys: [k]
      nonRootUser: true
      noSecretsInEnv: true
      allowedBaseImages: ["cgr.dev/chainguard/*", "docker.io/library/*"]
      maxSeverity: HIGH
`)
	if r := e.run("verify", "--policy", pol, good); r.Code != 0 {
		t.Fatalf("compliant image: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r := e.run("verify", "--policy", pol, bad)
	if r.Code != 1 {
		t.Fatalf("non-compliant image: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, want := range []string{
		"✗ compliance nonRootUser", "sets no USER",
		"✗ compliance noSecretsInEnv", "env AWS_SECRET_ACCESS_KEY",
		"✗ compliance allowedBaseImages", "base image docker.io/random/base:1 matches none",
		"✗ compliance maxSeverity", "CVE-2024-45490 (CRITICAL)",
	} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.Stdout)
		}
	}
	if strings.Contains(r.Stdout, "wJalrXUtnFEMI") {
		t.Errorf("output shows the secret value:\n%s", r.Stdout)
	}
	// Compliance reading attestations without keys to trust them is a policy error.
	p2 := e.write("bad-policy.yaml", "version: 1\nkeys:\n  - name: k\n    publicKey: k.pub\npolicies:\n  - name: p\n    scopes: [\""+host+"/**\"]\n    compliance:\n      maxSeverity: HIGH\n")
	if r := e.run("policy", "check", p2); r.Code != 2 || !strings.Contains(r.Stderr, "maxSeverity reads the vulnerability attestation") {
		t.Errorf("policy check: exit %d %s", r.Code, r.Stderr)
	}
}
