package e2e

import (
	"archive/zip"
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/testing/fulcioenv"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/internal/testing/testpki"
)

var examplesDir = filepath.Join("..", "examples", "policies")

// What a newcomer runs first: `imgsign policy check examples/policies/*.yaml`
// passes on the files as they are in the repository, with the example
// public keys shipped next to them (their private halves were discarded).
func TestExamplePoliciesAsShipped(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no example policies found: %v", err)
	}
	// From the repository root, as the README's reader runs it.
	e := newEnv(t)
	args := []string{"policy", "check"}
	for _, f := range files {
		args = append(args, filepath.Join("examples", "policies", filepath.Base(f)))
	}
	r := testenv.Run(t, "..", nil, e.bin, args...)
	if r.Code != 0 {
		t.Fatalf("imgsign policy check examples/policies/*.yaml: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, f := range files {
		if !strings.Contains(r.Stdout, filepath.Base(f)+": ok") {
			t.Errorf("policy check says nothing of %s:\n%s", f, r.Stdout)
		}
		// Every key a policy names is shipped, and is a public key.
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range publicKeyPaths(string(data)) {
			b, err := os.ReadFile(filepath.Join(examplesDir, p))
			if err != nil {
				t.Errorf("%s names %s: %v", filepath.Base(f), p, err)
				continue
			}
			block, _ := pem.Decode(b)
			if block == nil || block.Type != "PUBLIC KEY" {
				t.Errorf("%s is not a PEM public key", p)
			} else if _, err := x509.ParsePKIXPublicKey(block.Bytes); err != nil {
				t.Errorf("%s: %v", p, err)
			}
		}
	}
	// No private key is shipped with the examples.
	err = filepath.WalkDir(filepath.Join("..", "examples"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".key") || bytes.Contains(b, []byte("PRIVATE KEY-----")) {
			t.Errorf("%s is (or holds) a private key", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// release.yaml and quickstart.yaml name release.pub and ci.pub next to
	// them (make demo copies the policy next to its own keys): the same
	// example keys as keys/release.pub and keys/ci.pub.
	for _, k := range []string{"release.pub", "ci.pub"} {
		a, _ := os.ReadFile(filepath.Join(examplesDir, k))
		b, _ := os.ReadFile(filepath.Join(examplesDir, "keys", k))
		if !bytes.Equal(a, b) || len(a) == 0 {
			t.Errorf("%s and keys/%s differ", k, k)
		}
	}
}

// certificatesRE finds the certificate files of example trust stores,
// written as a flow list.
var certificatesRE = regexp.MustCompile(`(?m)^\s*certificates:\s*\[([^\]]+)\]`)

var publicKeyRE = regexp.MustCompile(`(?m)^\s*publicKey:\s*([\w./-]+\.pub)\s*$`)

func publicKeyPaths(policy string) []string {
	var out []string
	for _, m := range publicKeyRE.FindAllStringSubmatch(policy, -1) {
		out = append(out, m[1])
	}
	return out
}

// scopeRE finds the registry part of example scopes ("registry.example.com/…",
// "ghcr.io/…") so tests can point them at a local registry.
var scopeRE = regexp.MustCompile(`"(registry\.example\.com|ghcr\.io)/([^"]*)`)

// Each example policy does what its comment says: for each, images that must
// pass and images that must fail (each for the reason the policy is about),
// signed and attested through the CLI and verified against a real registry
// with the example's own text — only its registry moved to the test
// registry and its keys replaced by keys generated here.
func TestExamplePolicies(t *testing.T) {
	cases := map[string]func(x *example){
		"single-key.yaml":               exampleSingleKey,
		"two-of-three.yaml":             exampleTwoOfThree,
		"provenance-from-workflow.yaml": exampleProvenanceFromWorkflow,
		"no-critical-cves.yaml":         exampleNoCriticalCVEs,
		"non-root.yaml":                 exampleNonRoot,
		"sbom-required.yaml":            exampleSBOMRequired,
		"dct-migrated.yaml":             exampleDCTMigrated,
		"quickstart.yaml":               exampleQuickstart,
		"release.yaml":                  exampleRelease,
		"sigstore-and-notary.yaml":      exampleSigstoreAndNotary,
	}
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no example policies found: %v", err)
	}
	for _, f := range files {
		if cases[filepath.Base(f)] == nil {
			t.Errorf("example %s has no test of its intent here", f)
		}
	}
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		t.Run(n, func(t *testing.T) { cases[n](loadExample(t, n)) })
	}
}

// example is one example policy in a test directory, pointed at a test
// registry, with a fresh key pair for every publicKey it names.
type example struct {
	t      *testing.T
	e      *env
	host   string
	policy string
	// pki issues the certificates of the CAs a policy's trust stores name
	// (each replaced by pki's root).
	pki *testpki.PKI
}

func loadExample(t *testing.T, file string) *example {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(examplesDir, file))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	for _, p := range publicKeyPaths(string(data)) {
		if err := os.MkdirAll(filepath.Join(e.dir, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		e.key(strings.TrimSuffix(p, ".pub"), "ecdsa-p256")
	}
	var pki *testpki.PKI
	for _, m := range certificatesRE.FindAllStringSubmatch(string(data), -1) {
		if pki == nil {
			pki = testpki.New(t)
		}
		for _, p := range strings.Split(m[1], ",") {
			p = filepath.Join(e.dir, strings.TrimSpace(p))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			testpki.ChainPEM(t, filepath.Dir(p), filepath.Base(p), []*x509.Certificate{pki.Root})
		}
	}
	host := testenv.Registry(t, true).Addr
	local := scopeRE.ReplaceAllString(string(data), `"`+host+`/$2`)
	if local == string(data) && !strings.Contains(local, `"127.0.0.1:*/`) {
		t.Fatalf("%s: no scope to point at the test registry", file)
	}
	return &example{t: t, e: e, host: host, policy: e.write(file, local), pki: pki}
}

// push pushes a random image whose config edit changed, returning host/repo:tag.
func (x *example) push(repo, tag string, edit func(*v1.ConfigFile)) string {
	x.t.Helper()
	testenv.PushImageWithConfig(x.t, x.host, repo, tag, edit)
	return x.host + "/" + repo + ":" + tag
}

// sign signs img with each named key (a path without .key).
func (x *example) sign(img string, keys ...string) {
	x.t.Helper()
	for _, k := range keys {
		x.e.must("sign", "--key", k+".key", img)
	}
}

// pass requires verify to accept img (exit 0) and print wants.
func (x *example) pass(why, img string, wants ...string) {
	x.t.Helper()
	r := x.e.run("verify", "--policy", x.policy, img)
	if r.Code != 0 {
		x.t.Errorf("%s: verify %s: exit %d, want 0 (PASS)\n%s%s", why, img, r.Code, r.Stdout, r.Stderr)
		return
	}
	for _, w := range wants {
		if !strings.Contains(r.Stdout, w) {
			x.t.Errorf("%s: verify %s passed but does not say %q:\n%s", why, img, w, r.Stdout)
		}
	}
}

// fail requires verify to reject img (exit 1) with every want in its output.
func (x *example) fail(why, img string, wants ...string) {
	x.t.Helper()
	r := x.e.run("verify", "--policy", x.policy, img)
	if r.Code != 1 || !strings.Contains(r.Stdout, "FAIL") {
		x.t.Errorf("%s: verify %s: exit %d, want 1 (FAIL)\n%s%s", why, img, r.Code, r.Stdout, r.Stderr)
		return
	}
	for _, w := range wants {
		if !strings.Contains(r.Stdout, w) {
			x.t.Errorf("%s: verify %s failed but not saying %q:\n%s", why, img, w, r.Stdout)
		}
	}
}

func exampleSigstoreAndNotary(x *example) {
	security := x.pki.Leaf(x.t, testpki.LeafOptions{Subject: pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"Acme"}, CommonName: "security release"}})
	intruder := x.pki.Leaf(x.t, testpki.LeafOptions{Subject: pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"Acme"}, CommonName: "intern"}})
	notary := func(img string, l *testpki.Leaf) {
		x.t.Helper()
		dir := x.t.TempDir()
		x.e.must("sign", "--format", "notation", "--key", l.WriteKey(x.t, dir), "--cert", l.WriteChain(x.t, dir), img)
	}
	both := x.push("prod/app", "v1", nil)
	x.sign(both, "keys/release")
	notary(both, security)
	x.pass("the release key and the security certificate", both, "[notary-jws]")

	keyOnly := x.push("prod/key-only", "v1", nil)
	x.sign(keyOnly, "keys/release", "keys/release")
	x.fail("the release key alone, twice", keyOnly, "1 of 2")
	certOnly := x.push("prod/cert-only", "v1", nil)
	notary(certOnly, security)
	notary(certOnly, security)
	x.fail("the security certificate alone, twice", certOnly, "1 of 2")
	wrongCN := x.push("prod/intern", "v1", nil)
	x.sign(wrongCN, "keys/release")
	notary(wrongCN, intruder)
	x.fail("the release key and another certificate of the same CA", wrongCN, "1 of 2", "does not match the X.509 trusted identities")
}

func exampleSingleKey(x *example) {
	img := x.push("team/app", "v1", nil)
	x.sign(img, "keys/release")
	x.pass("signed by the release key", img)

	x.fail("unsigned", x.push("team/unsigned", "v1", nil), "no signature found")
	x.e.key("other", "ecdsa-p256")
	other := x.push("team/other", "v1", nil)
	x.sign(other, "other")
	x.fail("signed by a key the policy does not name", other, "which the policy does not list")
	outside := x.push("elsewhere/app", "v1", nil)
	x.sign(outside, "keys/release")
	x.fail("outside registry.example.com/team/", outside, "no trust policy scope matches")
}

func exampleTwoOfThree(x *example) {
	// bob and carol: alice's key is only trusted until 2027, and this test
	// must not start failing then.
	img := x.push("prod/app", "v1", nil)
	x.sign(img, "keys/bob", "keys/carol")
	x.pass("two of the three", img)

	one := x.push("prod/one", "v1", nil)
	x.sign(one, "keys/bob")
	x.fail("one of the three", one, "1 of 2")
	twice := x.push("prod/twice", "v1", nil)
	x.sign(twice, "keys/bob", "keys/bob")
	x.fail("the same key twice", twice, "1 of 2")

	// Staging: one signature is enough, and failures only report.
	staged := x.push("staging/app", "v1", nil)
	x.sign(staged, "keys/carol")
	x.pass("staging, one signature", staged, "PASS")
	x.pass("staging, unsigned: audit reports and exits 0", x.push("staging/unsigned", "v1", nil), "FAIL", "audit")
}

// ghEnv is a GitHub Actions job's environment: repo's workflow file at ref,
// on a runner of the given environment.
func ghEnv(repo, workflow, ref, runner string) []string {
	return []string{"IMGSIGN_PASSWORD=" + passphrase, "GITHUB_ACTIONS=true", "GITHUB_SERVER_URL=https://github.com",
		"GITHUB_REPOSITORY=" + repo, "GITHUB_REPOSITORY_ID=1", "GITHUB_REPOSITORY_OWNER_ID=2",
		"GITHUB_WORKFLOW_REF=" + repo + "/.github/workflows/" + workflow + "@" + ref,
		"GITHUB_REF=" + ref, "GITHUB_SHA=0123456789abcdef0123456789abcdef01234567", "GITHUB_EVENT_NAME=push",
		"GITHUB_RUN_ID=42", "GITHUB_RUN_ATTEMPT=1", "RUNNER_ENVIRONMENT=" + runner}
}

func exampleProvenanceFromWorkflow(x *example) {
	build := func(tag string, env []string) string {
		img := x.push("acme/app", tag, nil)
		x.sign(img, "keys/ci")
		if r := testenv.Run(x.t, x.e.dir, env, x.e.bin, "attest", "provenance", "--key", "keys/ci.key", img); r.Code != 0 {
			x.t.Fatalf("attest provenance in a GitHub job: exit %d\n%s", r.Code, r.Stderr)
		}
		return img
	}
	x.pass("acme/app's release workflow for tag v1.2.0",
		build("v1.2.0", ghEnv("acme/app", "release.yml", "refs/tags/v1.2.0", "github-hosted")))

	x.fail("built by another repository",
		build("evil", ghEnv("evil/app", "release.yml", "refs/tags/v1.2.0", "github-hosted")), "sourceRepository", "evil/app")
	x.fail("built from a branch, not a version tag",
		build("main", ghEnv("acme/app", "release.yml", "refs/heads/main", "github-hosted")), "sourceRef", "refs/heads/main")
	x.fail("built by another workflow of acme/app",
		build("ci", ghEnv("acme/app", "ci.yml", "refs/tags/v1.2.0", "github-hosted")), "builder.id", "ci.yml")
	x.fail("built on a self-hosted runner",
		build("self", ghEnv("acme/app", "release.yml", "refs/tags/v1.2.0", "self-hosted")), "runner_environment", "self-hosted")
	unattested := x.push("acme/app", "bare", nil)
	x.sign(unattested, "keys/ci")
	x.fail("signed, but no provenance", unattested, "https://slsa.dev/provenance/v1")
}

// trivyReport is a Trivy JSON report of one finding per severity, made at.
func trivyReport(at time.Time, severities ...string) string {
	var vulns []string
	for i, s := range severities {
		vulns = append(vulns, fmt.Sprintf(`{"VulnerabilityID": "CVE-2026-%04d", "PkgName": "libexample", "InstalledVersion": "1.0", "Severity": %q}`, 1000+i, s))
	}
	return fmt.Sprintf(`{"SchemaVersion": 2, "CreatedAt": %q, "ArtifactName": "app", "ArtifactType": "container_image",
  "Trivy": {"Version": "0.68.1"},
  "Results": [{"Target": "app (debian 12.9)", "Class": "os-pkgs", "Type": "debian", "Vulnerabilities": [%s]}]}`,
		at.UTC().Format(time.RFC3339Nano), strings.Join(vulns, ", "))
}

func exampleNoCriticalCVEs(x *example) {
	scanned := func(repo, report, scanner string) string {
		img := x.push(repo, "v1", nil)
		x.sign(img, "keys/release")
		x.e.write(repo[len("prod/"):]+".json", report)
		x.e.must("attest", "predicate", "--key", scanner+".key", "--type", "vuln", "--predicate", repo[len("prod/"):]+".json", img)
		return img
	}
	now := time.Now()
	x.pass("HIGH and below, scanned today", scanned("prod/high", trivyReport(now, "HIGH", "MEDIUM", "LOW"), "keys/scanner"))

	x.fail("a CRITICAL finding", scanned("prod/critical", trivyReport(now, "HIGH", "CRITICAL"), "keys/scanner"),
		"maxSeverity", "CVE-2026-1001 (CRITICAL)")
	x.fail("a clean scan 10 days old", scanned("prod/stale", trivyReport(now.Add(-10*24*time.Hour), "LOW"), "keys/scanner"), "maxAge")
	x.fail("a clean scan signed by the release key, not the scanner's", scanned("prod/wrongkey", trivyReport(now, "LOW"), "keys/release"),
		"https://cosign.sigstore.dev/attestation/vuln/v1")
	unscanned := x.push("prod/unscanned", "v1", nil)
	x.sign(unscanned, "keys/release")
	x.fail("never scanned", unscanned, "https://cosign.sigstore.dev/attestation/vuln/v1")
}

// buildKitProvenance is SLSA v1 provenance as BuildKit writes it, built FROM base.
func buildKitProvenance(base string) string {
	return `{"buildDefinition": {"buildType": "https://mobyproject.org/buildkit@v1", "externalParameters": {}, "resolvedDependencies": [
		{"uri": "pkg:docker/docker/dockerfile@1"}, {"uri": "` + base + `", "digest": {"sha256": "ab"}}]},
		"runDetails": {"builder": {"id": "https://github.com/acme/app/actions"}}}`
}

func exampleNonRoot(x *example) {
	n := 0
	built := func(user string, env []string, base string) string {
		n++
		img := x.push(fmt.Sprintf("team/app%d", n), "v1", func(c *v1.ConfigFile) {
			c.Config.User = user
			c.Config.Env = env
		})
		x.sign(img, "keys/release")
		f := x.e.write(fmt.Sprintf("prov%d.json", n), buildKitProvenance(base))
		x.e.must("attest", "predicate", "--key", "keys/ci.key", "--type", "slsaprovenance1", "--predicate", f, img)
		return img
	}
	const chainguard = "pkg:docker/cgr.dev/chainguard/static@latest?platform=linux%2Famd64"
	path := []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	x.pass("uid 1000, FROM cgr.dev/chainguard/static", built("1000", path, chainguard))
	x.pass("a named user, FROM debian:bookworm-slim", built("app:app", path, "pkg:docker/debian@bookworm-slim?platform=linux%2Famd64"))

	x.fail("runs as root", built("root", path, chainguard), "nonRootUser", `"root"`)
	x.fail("runs as uid 0", built("0:0", path, chainguard), "nonRootUser", "(root)")
	x.fail("sets no USER", built("", path, chainguard), "nonRootUser", "sets no USER")
	x.fail("a credential in the environment", built("1000", append(path, "DB_PASSWORD=hunter2-but-longer"), chainguard),
		"noSecretsInEnv", "DB_PASSWORD")
	x.fail("FROM an unapproved base", built("1000", path, "pkg:docker/alpine@3.20?platform=linux%2Famd64"),
		"allowedBaseImages", "docker.io/library/alpine:3.20")
}

// log4jImage is an image with one Java archive: log4j-core at version, as
// Maven packs it (its pom.properties names it).
func log4jImage(t *testing.T, version string) v1.Image {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for p, c := range map[string]string{
		"META-INF/MANIFEST.MF": "Manifest-Version: 1.0\r\nImplementation-Title: Apache Log4j Core\r\nImplementation-Version: " + version + "\r\n\r\n",
		"META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties": "groupId=org.apache.logging.log4j\nartifactId=log4j-core\nversion=" + version + "\n",
		"org/apache/logging/log4j/core/Logger.class":                        "\xca\xfe\xba\xbe",
	} {
		w, err := zw.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layerTar(t, map[string]string{"app/lib/log4j-core-" + version + ".jar": b.String()}))
	if err != nil {
		t.Fatal(err)
	}
	return mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
}

func exampleSBOMRequired(x *example) {
	// The SBOM is imgsign's own, generated from the image's layers.
	withLog4j := func(version string) string {
		img := x.host + "/app/log4j-" + version + ":v1"
		ref, err := name.ParseReference(img, name.Insecure)
		if err != nil {
			x.t.Fatal(err)
		}
		if err := remote.Write(ref, log4jImage(x.t, version)); err != nil {
			x.t.Fatal(err)
		}
		x.e.must("attest", "sbom", "--key", "keys/ci.key", img)
		return img
	}
	for _, v := range []string{"2.17.1", "2.18.0", "2.24.3"} {
		x.pass("log4j-core "+v, withLog4j(v))
	}
	const cond = "versionLess(p.versionInfo"
	for _, v := range []string{"2.8.2", "2.14.1", "2.17.0", "2.0-beta9"} {
		x.fail("log4j-core "+v+", affected by Log4Shell", withLog4j(v), cond)
	}
	// The policy's choice: the Java 7 and Java 6 backports are refused too.
	for _, v := range []string{"2.12.4", "2.3.2"} {
		x.fail("log4j-core "+v+", a fixed backport on a Java line without further fixes", withLog4j(v), cond)
	}

	empty := x.push("app/empty", "v1", nil)
	x.e.must("attest", "sbom", "--key", "keys/ci.key", empty)
	x.fail("an SBOM listing only the image itself", empty, "primaryPackagePurpose")
	x.fail("no SBOM", x.push("app/nosbom", "v1", nil), "https://spdx.dev/Document")

	// An SBOM made by syft, attached with --input: the same rules read it.
	syft := fixture(x.t, "examples/syft-log4j.spdx.json")
	old := x.push("app/syft-old", "v1", nil)
	x.e.write("syft-old.spdx.json", syft)
	x.e.must("attest", "sbom", "--key", "keys/ci.key", "--input", "syft-old.spdx.json", old)
	x.fail("syft's SBOM with log4j-core 2.14.1", old, cond)
	fixed := x.push("app/syft-fixed", "v1", nil)
	x.e.write("syft-fixed.spdx.json", strings.ReplaceAll(syft, "2.14.1", "2.17.2"))
	x.e.must("attest", "sbom", "--key", "keys/ci.key", "--input", "syft-fixed.spdx.json", fixed)
	x.pass("syft's SBOM with log4j-core 2.17.2", fixed)
}

// dctEvidence is the predicate `imgsign dct import` attaches, reduced to
// the fields the example's conditions read and a few around them.
func dctEvidence(tag, role, pinning string) string {
	return fmt.Sprintf(`{"gun": "registry.example.com/legacy/app", "tag": %q,
  "target": {"name": %q, "length": 528, "hashes": {"sha256": "q83vEjRWeJA="}},
  "role": %q, "signers": [{"role": %q, "keyIds": ["4d3c"]}],
  "root": {"keyIds": ["9f1e"], "pinning": %q},
  "metadata": {}, "allowExpired": false, "source": {"server": "https://notary.example.com"},
  "importedAt": %q}`, tag, tag, role, role, pinning, time.Now().UTC().Format(time.RFC3339))
}

func exampleDCTMigrated(x *example) {
	// team/: signed for the tag with imgsign sign.
	v1img := x.push("team/app", "v1", nil)
	x.sign(v1img, "keys/release")
	x.pass("signed for tag v1", v1img)
	v2img := x.push("team/app", "v2", nil)
	x.sign(v2img, "keys/release")
	retag(x.t, x.host, "team/app", "v2", "v1")
	x.fail("tag v1 moved to v2's image", v1img, "signed for tag v2, not v1")
	unbound := x.push("team/unbound", "v1", nil)
	x.e.must("sign", "--no-tag-binding", "--key", "keys/release.key", unbound)
	x.fail("signed without the tag", unbound, "signature binds no tag")

	// legacy/: also the DCT import's evidence, from a pinned root.
	imported := func(repo, role, pinning string) string {
		img := x.push(repo, "v1", nil)
		x.sign(img, "keys/release")
		f := x.e.write(strings.ReplaceAll(repo, "/", "-")+".json", dctEvidence("v1", role, pinning))
		x.e.must("attest", "predicate", "--key", "keys/release.key", "--type", "https://imgsign.dev/attestations/dct-evidence/v1", "--predicate", f, img)
		return img
	}
	x.pass("imported from targets, root pinned by the trust dir", imported("legacy/app", "targets", "trust-dir"))
	x.pass("imported from targets/releases, root pinned by key id", imported("legacy/rel", "targets/releases", "key-id"))
	x.fail("root trusted on first use", imported("legacy/tofu", "targets", "tofu"), `predicate.root.pinning != "tofu"`, `"tofu"`)
	x.fail("trusted from a delegation other than targets/releases", imported("legacy/deleg", "targets/ci", "trust-dir"), "predicate.role", `"targets/ci"`)
	noEvidence := x.push("legacy/bare", "v1", nil)
	x.sign(noEvidence, "keys/release")
	x.fail("signed, but no DCT evidence", noEvidence, "https://imgsign.dev/attestations/dct-evidence/v1")
}

func exampleQuickstart(x *example) {
	img := x.push("demo/hello", "1.0", nil)
	x.sign(img, "release")
	x.pass("signed by the release key", img)
	x.fail("unsigned", x.push("demo/unsigned", "1.0", nil), "no signature found")
	x.e.key("other", "ecdsa-p256")
	other := x.push("demo/other", "1.0", nil)
	x.sign(other, "other")
	x.fail("signed by another key", other, "which the policy does not list")
	outside := x.push("prod/hello", "1.0", nil)
	x.sign(outside, "release")
	x.fail("outside demo/", outside, "no trust policy scope matches")
}

func exampleRelease(x *example) {
	// What make demo does, then what it must refuse.
	type build struct{ sign, sbom bool }
	built := func(repo, sourceRepo string, b build) string {
		img := x.push(repo, "1.0", nil)
		if b.sign {
			x.sign(img, "release")
		}
		x.e.must("attest", "provenance", "--key", "ci.key", "--builder-id", "https://imgsign.dev/demo-builder",
			"--source-repo", sourceRepo, "--source-commit", "0123456789abcdef0123456789abcdef01234567", img)
		if b.sbom {
			x.e.must("attest", "sbom", "--key", "ci.key", img)
		}
		return img
	}
	const ours = "https://github.com/imgsign/imgsign"
	x.pass("signed, provenance from imgsign/imgsign, SBOM", built("demo/hello", ours, build{sign: true, sbom: true}))
	x.fail("provenance from another repository", built("demo/fork", "https://github.com/evil/imgsign", build{sign: true, sbom: true}), "sourceRepository")
	x.fail("no SBOM", built("demo/nosbom", ours, build{sign: true}), "https://spdx.dev/Document")
	x.fail("attested by CI, not signed by the release key", built("demo/unsigned", ours, build{sbom: true}), "no signature found")
}

// make demo (examples/quickstart/demo.sh) runs the main job against
// release.yaml as shipped (PASS), signs keyless through a local Fulcio and
// TSA and passes a policy needing the release key and the workflow's
// identity, then the replaced image is rejected under both.
func TestQuickstartDemo(t *testing.T) {
	tools := filepath.Dir(testenv.Tool(t, fulcioenv.Tool))
	testenv.Tool(t, "imgsign-tsa")
	bin := t.TempDir()
	if err := os.Symlink(testenv.Imgsign(t), filepath.Join(bin, "imgsign")); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"internal/cmd/devregistry", "internal/testing/devsigstore"} {
		build := exec.Command("go", "build", "-o", filepath.Join(bin, filepath.Base(cmd)), "./"+cmd)
		build.Dir = ".."
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", cmd, err, out)
		}
	}
	demo, err := filepath.Abs(filepath.Join("..", "examples", "quickstart", "demo.sh"))
	if err != nil {
		t.Fatal(err)
	}
	r := testenv.Run(t, t.TempDir(), nil, "/bin/sh", demo, bin, tools)
	if r.Code != 0 || !strings.Contains(r.Stdout, "Demo done.") || strings.Count(r.Stdout, "PASS ") != 2 ||
		strings.Count(r.Stdout, "FAIL ") != 2 || !strings.Contains(r.Stdout, "2 of 2 required distinct keys signed") ||
		!strings.Contains(r.Stdout, "ok   release-workflow (identity:") {
		t.Fatalf("demo.sh: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}
