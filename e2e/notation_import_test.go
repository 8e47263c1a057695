package e2e

import (
	"crypto/x509/pkix"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/internal/testing/testpki"
)

// imgsign policy import-notation (docs/notation.md, "Importing a notation
// setup") on a realistic notation setup: notation signs images in several
// repositories of two registries with four keys (a release leaf of the
// Acme CA, a revoked one, notation's own generate-test key, an intruder's
// leaf of a CA nobody trusts); a trust policy of several statements (an exact scope
// trusting the Acme CA and the release identity, one with a wrong
// identity, one that skips revocation checks, a permissive one, an audit one, the "*" statement and a skip
// one) is imported, and for every image `imgsign verify --policy` under
// the imported policy (with the certificates copied, and inlined) gives
// the verdict `notation verify` gives, exit 0 or not — except where the
// import says what it did not map (the skip level; an audit statement's
// image without a signature).
func TestImportNotation(t *testing.T) {
	regA := testenv.Registry(t, true).Addr
	regB := testenv.Distribution(t)
	n := testenv.Notation(t)
	e := newEnv(t)

	acme := testpki.New(t, testpki.WithName("Acme"))
	release := acme.Leaf(t, testpki.LeafOptions{Subject: pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"Acme"}, CommonName: "release"}})
	release.NotationKey(t, n.Config, "release")
	// A release leaf whose serial the Acme CA has revoked (on the CRL its
	// certificate names) before anything is verified.
	revoked := acme.Leaf(t, testpki.LeafOptions{Subject: pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"Acme"}, CommonName: "release"}, CRL: true})
	revoked.NotationKey(t, n.Config, "revoked")
	acme.Revoke(revoked.Cert.SerialNumber)
	intruder := testpki.New(t, testpki.WithName("Intruder")).Leaf(t, testpki.LeafOptions{Subject: pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"Acme"}, CommonName: "release"}})
	intruder.NotationKey(t, n.Config, "intruder")
	// The Acme root goes into notation's trust store ca:acme, as `notation
	// cert add --type ca --store acme` puts it; generate-test made
	// ca:imgsign.test.
	store := filepath.Join(n.Config, "truststore")
	acmeDir := filepath.Join(store, "x509", "ca", "acme")
	if err := os.MkdirAll(acmeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	acme.RootPEM(t, acmeDir)

	type image struct {
		name string
		ref  string
		// notation's verdict (and so imgsign's, but for what is not
		// mapped): exit 0 or not.
		pass, imgsignPass bool
	}
	var images []image
	push := func(name, host, repo, tag, key string, pass bool) *image {
		ref := digestRef(host, repo, testenv.PushImage(t, host, repo, tag))
		if key != "" {
			n.Run(t, "sign", "--insecure-registry", "--key", key, ref)
		}
		images = append(images, image{name, ref, pass, pass})
		return &images[len(images)-1]
	}
	push("prod signed by release", regA, "prod/app", "v1", "release", true)
	push("prod signed by the intruder", regA, "prod/app", "v2", "intruder", false)
	push("prod signed by the test key, another CA", regA, "prod/app", "v3", testenv.NotationKey, false)
	push("prod unsigned", regA, "prod/app", "v4", "", false)
	push("prod signed by a revoked leaf", regA, "prod/app", "v5", "revoked", false)
	push("wrong identity", regA, "prod/wrongid", "v1", "release", false)
	push("revocation skipped, revoked leaf", regA, "norev/app", "v1", "revoked", true)
	push("revocation skipped, the intruder", regA, "norev/app", "v2", "intruder", false)
	push("permissive signed by release", regA, "staging/app", "v1", "release", true)
	push("permissive signed by the intruder", regA, "staging/app", "v2", "intruder", false)
	push("permissive signed by a revoked leaf", regA, "staging/app", "v3", "revoked", true)
	push("audit signed by release", regA, "legacy/app", "v1", "release", true)
	push("audit signed by the intruder", regA, "legacy/app", "v2", "intruder", true)
	// What is not mapped of the audit level: notation still fails an
	// image without a signature; imgsign's audit mode reports it, exit 0.
	push("audit unsigned", regA, "legacy/app", "v3", "", false).imgsignPass = true
	push("catch-all signed by the test key", regB, "other/app", "v1", testenv.NotationKey, true)
	push("catch-all signed by release", regB, "other/app", "v2", "release", false)
	push("catch-all unsigned", regB, "other/unsigned", "v1", "", false)
	push("catch-all on the first registry", regA, "misc/tool", "v1", testenv.NotationKey, true)

	policy := map[string]any{
		"version": "1.0",
		"trustPolicies": []any{
			notationStatement("prod", []string{regA + "/prod/app"}, map[string]any{"level": "strict"}, []string{"ca:acme"}, release.Identity()),
			notationStatement("wrongid", []string{regA + "/prod/wrongid"}, map[string]any{"level": "strict"}, []string{"ca:acme"}, "x509.subject: C=US, ST=WA, O=Acme, CN=someone-else"),
			notationStatement("norev", []string{regA + "/norev/app"}, map[string]any{"level": "strict", "override": map[string]string{"revocation": "skip"}}, []string{"ca:acme"}, release.Identity()),
			notationStatement("staging", []string{regA + "/staging/app"}, map[string]any{"level": "permissive"}, []string{"ca:acme"}, "*"),
			notationStatement("legacy", []string{regA + "/legacy/app"}, map[string]any{"level": "audit"}, []string{"ca:acme"}, release.Identity()),
			notationStatement("everything-else", []string{"*"}, map[string]any{"level": "strict", "override": map[string]string{"revocation": "log"}}, []string{"ca:" + testenv.NotationKey}, "*"),
			map[string]any{"name": "public", "registryScopes": []string{regA + "/public/app"}, "signatureVerification": map[string]any{"level": "skip"}},
		},
	}
	b, err := json.MarshalIndent(policy, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	n.TrustPolicy(t, string(b))
	tp := filepath.Join(n.Config, "trustpolicy.json")

	// A skip statement is not mapped: notation passes an unsigned image
	// there, imgsign judges it by the catch-all rule and rejects it (fail
	// closed).
	push("skip level, unsigned", regA, "public/app", "v1", "", true).imgsignPass = false

	out := filepath.Join(e.dir, "imported", "trust.yaml")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	r := e.must("policy", "import-notation", tp, "--trust-store", store, "--out", out)
	notes := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	if len(notes) != 3 || !strings.HasPrefix(notes[0], `import-notation: statement "legacy": the integrity check of level "audit" is not mapped: `) ||
		!strings.HasPrefix(notes[1], `import-notation: statement "public": verification level "skip" is not mapped: `) ||
		!strings.HasPrefix(notes[2], "import-notation: wrote "+out+" (") {
		t.Errorf("import-notation stderr:\n%s", r.Stderr)
	}
	e.must("policy", "check", out)
	for _, f := range []string{"trust.certs/ca/acme/root.crt", "trust.certs/ca/" + testenv.NotationKey + "/" + testenv.NotationKey + ".crt"} {
		if _, err := os.Stat(filepath.Join(filepath.Dir(out), f)); err != nil {
			t.Errorf("certificate not copied: %v", err)
		}
	}
	r = e.must("policy", "import-notation", tp, "--trust-store", store)
	inline := e.write("inline.yaml", r.Stdout)
	if !strings.Contains(r.Stdout, "-----BEGIN CERTIFICATE-----") {
		t.Errorf("stdout import has no inline certificates:\n%s", r.Stdout)
	}

	for _, img := range images {
		t.Run(img.name, func(t *testing.T) {
			nr := n.Exec(t, "verify", "--insecure-registry", img.ref)
			if got := nr.Code == 0; got != img.pass {
				t.Fatalf("notation verify %s: exit %d, want a %s (the test's setup is wrong)\nstdout:\n%s\nstderr:\n%s",
					img.ref, nr.Code, passOrFail(img.pass), nr.Stdout, nr.Stderr)
			}
			for _, p := range []string{out, inline} {
				ir := e.run("verify", "--policy", p, img.ref)
				want := img.imgsignPass
				if got := ir.Code == 0; got != want {
					t.Errorf("imgsign verify --policy %s %s: exit %d, want a %s (notation verify: exit %d)\nstdout:\n%s\nstderr:\n%s\nnotation:\n%s%s",
						filepath.Base(p), img.ref, ir.Code, passOrFail(want), nr.Code, ir.Stdout, ir.Stderr, nr.Stdout, nr.Stderr)
				}
				if !want && ir.Code != 1 {
					t.Errorf("imgsign verify rejected with exit %d, want 1 (not trusted)\n%s", ir.Code, ir.Stderr)
				}
			}
		})
	}
}

func notationStatement(name string, scopes []string, verification map[string]any, stores []string, identities ...string) map[string]any {
	return map[string]any{
		"name":                  name,
		"registryScopes":        scopes,
		"signatureVerification": verification,
		"trustStores":           stores,
		"trustedIdentities":     identities,
	}
}

func passOrFail(pass bool) string {
	if pass {
		return "pass"
	}
	return "failure"
}

// The command's contract, without registries: bad input exits 2 with one
// line naming the file and the fix; notes go to stderr with exit 0; --out
// refuses to replace files unless --force.
func TestImportNotationCLI(t *testing.T) {
	e := newEnv(t)
	n := testenv.Notation(t)
	store := filepath.Join(n.Config, "truststore")
	tp := filepath.Join(n.Config, "trustpolicy.json")

	// testenv.Notation's own policy: one "*" statement over ca:imgsign.test.
	r := e.must("policy", "import-notation", tp, "--trust-store", store)
	if r.Stderr != "" || !strings.Contains(r.Stdout, "scopes: ['**']") || !strings.HasPrefix(r.Stdout, "# Imported from a notation setup") {
		t.Errorf("import of the default policy:\nstdout:\n%s\nstderr:\n%s", r.Stdout, r.Stderr)
	}

	// The line names the file at fault: the trust policy, or the trust
	// store directory.
	policyFile := func(f, _ string) string { return f }
	storeDir := func(_, store string) string { return filepath.Join(store, "x509", "ca", "nope") }
	bad := []struct {
		name, policy, want string
		file               func(policy, store string) string
	}{
		{"malformed", `{"version": "1.0", `, "malformed trust policy", policyFile},
		{"refused by notation", `{"version": "1.0", "trustPolicies": [{"name": "a", "registryScopes": ["r.example.com/*"], "signatureVerification": {"level": "strict"}, "trustStores": ["ca:imgsign.test"], "trustedIdentities": ["*"]}]}`, "notation refuses this trust policy", policyFile},
		{"missing store", `{"version": "1.0", "trustPolicies": [{"name": "a", "registryScopes": ["*"], "signatureVerification": {"level": "strict"}, "trustStores": ["ca:nope"], "trustedIdentities": ["*"]}]}`, "notation cert add --type ca --store nope", storeDir},
		{"escapes", "{\"version\": \"1.0\", \"trustPolicies\": [{\"name\": \"a\\u001b[2J\", \"registryScopes\": [\"*\"], \"signatureVerification\": {\"level\": \"strict\"}, \"trustStores\": [\"ca:nope\"], \"trustedIdentities\": [\"*\"]}]}", `statement "a\x1b[2J"`, storeDir},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			f := e.write("bad.json", tc.policy)
			r := e.run("policy", "import-notation", f, "--trust-store", store)
			if r.Code != 2 || r.Stdout != "" || strings.Count(r.Stderr, "\n") != 1 ||
				!strings.HasPrefix(r.Stderr, "imgsign: "+tc.file(f, store)+": ") || !strings.Contains(r.Stderr, tc.want) || strings.Contains(r.Stderr, "\x1b") {
				t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%q\nwant exit 2 and one line with %q", r.Code, r.Stdout, r.Stderr, tc.want)
			}
		})
	}
	if r := e.run("policy", "import-notation", filepath.Join(e.dir, "missing.json"), "--trust-store", store); r.Code != 2 || !strings.Contains(r.Stderr, "reading the notation trust policy") {
		t.Errorf("missing trust policy: exit %d\n%s", r.Code, r.Stderr)
	}
	if r := e.run("policy", "import-notation", tp); r.Code != 2 || !strings.Contains(r.Stderr, "trust-store") {
		t.Errorf("without --trust-store: exit %d\n%s", r.Code, r.Stderr)
	}

	// A statement not mapped: a line on stderr, exit 0, the rest imported.
	f := e.write("skip.json", `{"version": "1.0", "trustPolicies": [
  {"name": "public", "registryScopes": ["r.example.com/public"], "signatureVerification": {"level": "skip"}},
  {"name": "rest", "registryScopes": ["*"], "signatureVerification": {"level": "strict"}, "trustStores": ["ca:imgsign.test"], "trustedIdentities": ["*"], "pluginConfig": {"a": "b"}}]}`)
	r = e.must("policy", "import-notation", f, "--trust-store", store)
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], `import-notation: statement "public": verification level "skip" is not mapped: `) ||
		!strings.HasPrefix(lines[1], `import-notation: statement "rest": field "pluginConfig" is not mapped: `) {
		t.Errorf("notes:\n%s", r.Stderr)
	}

	out := filepath.Join(e.dir, "p.yaml")
	e.must("policy", "import-notation", tp, "--trust-store", store, "--out", out)
	r = e.run("policy", "import-notation", tp, "--trust-store", store, "--out", out)
	if r.Code != 2 || !strings.Contains(r.Stderr, "already exists: choose another --out or pass --force") {
		t.Errorf("second import over the file: exit %d\n%s", r.Code, r.Stderr)
	}
	e.must("policy", "import-notation", tp, "--trust-store", store, "--out", out, "--force")
	e.must("policy", "check", out)
}
