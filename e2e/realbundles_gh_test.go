package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Real bundles from the GitHub CLI's test data (testdata/sigstore/gh-*,
// MIT, see testdata/sigstore/README.md), verified offline through the CLI
// against the public-good root imgsign embeds.
const (
	ghJSWorkflow     = "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main"
	ghReusableSigner = "https://github.com/github/artifact-attestations-workflows/.github/workflows/attest.yml@09b495c3f12c7881b3cc17209a327792065c1a1d"
	ghReusableCaller = "https://github.com/malancas/attest-demo/.github/workflows/shared.yml@refs/heads/main"
	ghCustomWorkflow = "https://github.com/too-legit/attest/.github/workflows/integration.yml@refs/heads/main"
	ghCustomIssuer   = "https://token.actions.githubusercontent.com/hammer-time"
	ghDemoWorkflow   = "https://github.com/actions/attest-demo/.github/workflows/build-python.yml@refs/heads/main"
	ghJSDigest       = "sha512:90f223f992e4c88dd068cd2a5fc57f9d2b30798343dd6e38f29c240e04ba090ef831f84490847c4e82b9232c78e8a258463b1e55c0f7469f730265008fa6633f"
	ghJSSHA256       = "sha256:f0c641fce0310cb43208f4272dc1423153630e44ba8cdc0b5ce8466f724e0eed" // the same .tgz, a digest its statement does not carry
)

// ghFixture is testdata/sigstore/name as an absolute path.
func ghFixture(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "testdata", "sigstore", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// ghLine is a fixture bundle as one JSON line.
func ghLine(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile(ghFixture(t, name))
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	line, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(line)
}

func ghSHA256Of(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

type blobCase struct {
	name    string
	args    []string
	code    int
	want    []string
	notWant []string
}

func runBlobCases(t *testing.T, e *env, cases []blobCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.run(append([]string{"verify-blob", "--offline"}, tc.args...)...)
			out := r.Stdout + r.Stderr
			if r.Code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s", r.Code, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			nw := append([]string{"panic", "goroutine"}, tc.notWant...)
			if tc.code != 0 {
				nw = append(nw, "verified:")
			}
			for _, w := range nw {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
		})
	}
}

// Each real bundle verifies for its exact signer, issuer and artifact, and
// for nothing else; the malformed ones are bad input, and the ones made on
// GitHub's own Sigstore instance are refused under the public-good root.
func TestRealBundlesGH(t *testing.T) {
	e := newEnv(t)
	f := func(name string) string { return ghFixture(t, name) }
	js, jsV01, js2 := f("gh-sigstore-js-2.1.0-provenance.sigstore.json"), f("gh-sigstore-js-2.1.0-provenance-v0.1.sigstore.json"), f("gh-sigstore-js-2.1.0-provenance-2-bundles.jsonl")
	tgz := f("gh-sigstore-js-2.1.0.tgz")
	reusable, reusableArt := f("gh-reusable-workflow-provenance.sigstore.json"), f("gh-reusable-workflow-artifact.whl")
	custom, customArt := f("gh-custom-issuer-provenance.sigstore.json"), f("gh-custom-issuer-artifact")
	demo, demoWhl := f("gh-github-instance-provenance.jsonl"), f("gh-github_provenance_demo-0.0.12-py3-none-any.whl")
	release, releaseZip := f("gh-github-release-attestation.sigstore.json"), f("gh-github_release_artifact.zip")
	other := e.write("other.bin", "other bytes")
	hello := e.write("hello.txt", "hello, world!")
	id := func(subject, issuer string) []string {
		return []string{"--certificate-identity", subject, "--certificate-oidc-issuer", issuer}
	}
	args := func(bundle string, rest ...string) []string { return append([]string{"--bundle", bundle}, rest...) }
	jsID := id(ghJSWorkflow, ghIssuer)

	runBlobCases(t, e, []blobCase{
		// Positives: each with its exact identity and issuer.
		{"sigstore-js v0.3, the tgz", args(js, append(jsID, tgz)...), 0, []string{"verified: " + js + " signed by", ghJSWorkflow, "tlog:https://rekor.sigstore.dev"}, nil},
		{"sigstore-js v0.1 (certificate chain), the tgz", args(jsV01, append(jsID, tgz)...), 0, []string{ghJSWorkflow}, nil},
		{"sigstore-js v0.3, the tgz's sha512", args(js, append(jsID, ghJSDigest)...), 0, []string{ghJSWorkflow}, nil},
		{"sigstore-js v0.1, the tgz's sha512", args(jsV01, append(jsID, ghJSDigest)...), 0, []string{ghJSWorkflow}, nil},
		{"sigstore-js, JSON lines with 2 bundles", args(js2, append(jsID, tgz)...), 0, []string{"verified: " + js2 + ":1 signed by", ghJSWorkflow}, nil},
		{"reusable workflow: the build signer", args(reusable, append(id(ghReusableSigner, ghIssuer), reusableArt)...), 0, []string{ghReusableSigner}, nil},
		{"reusable workflow: the signer by a whole regexp", args(reusable, "--certificate-identity-regexp", `https://github\.com/github/artifact-attestations-workflows/\.github/workflows/attest\.yml@[0-9a-f]{40}`, "--certificate-oidc-issuer", ghIssuer, reusableArt), 0, []string{ghReusableSigner}, nil},
		{"custom issuer", args(custom, append(id(ghCustomWorkflow, ghCustomIssuer), customArt)...), 0, []string{ghCustomIssuer}, nil},
		{"custom issuer by a whole regexp", args(custom, "--certificate-identity", ghCustomWorkflow, "--certificate-oidc-issuer-regexp", `https://token\.actions\.githubusercontent\.com/[a-z-]+`, customArt), 0, []string{ghCustomIssuer}, nil},
		{"custom issuer, the artifact's sha256", args(custom, append(id(ghCustomWorkflow, ghCustomIssuer), ghSHA256Of("hello-world"))...), 0, []string{ghCustomWorkflow}, nil},

		// Wrong identity.
		{"sigstore-js, another workflow of the repository", args(js, append(id("https://github.com/sigstore/sigstore-js/.github/workflows/ci.yml@refs/heads/main", ghIssuer), tgz)...), 1, []string{"is not"}, nil},
		{"sigstore-js, the same workflow on a tag", args(js, append(id("https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/tags/v2.1.0", ghIssuer), tgz)...), 1, []string{"is not"}, nil},
		{"sigstore-js v0.1, another identity", args(jsV01, append(id(ghCustomWorkflow, ghIssuer), tgz)...), 1, []string{"is not"}, nil},
		{"sigstore-js, a regexp matching a prefix", args(js, "--certificate-identity-regexp", `https://github\.com/sigstore/`, "--certificate-oidc-issuer", ghIssuer, tgz), 1, []string{"the whole value must match"}, nil},
		{"reusable workflow: the calling workflow is not the signer", args(reusable, append(id(ghReusableCaller, ghIssuer), reusableArt)...), 1, []string{"is not"}, nil},
		{"reusable workflow: a prefix regexp of the signer", args(reusable, "--certificate-identity-regexp", `https://github\.com/github/artifact-attestations-workflows/`, "--certificate-oidc-issuer", ghIssuer, reusableArt), 1, []string{"the whole value must match"}, nil},
		{"reusable workflow: the signer without its pinned commit", args(reusable, "--certificate-identity-regexp", `https://github\.com/github/artifact-attestations-workflows/\.github/workflows/attest\.yml`, "--certificate-oidc-issuer", ghIssuer, reusableArt), 1, []string{"the whole value must match"}, nil},
		{"reusable workflow: the caller's repository by regexp (an extension, not the SAN)", args(reusable, "--certificate-identity-regexp", `.*malancas/attest-demo.*`, "--certificate-oidc-issuer", ghIssuer, reusableArt), 1, []string{"does not match"}, nil},

		{"reusable workflow: an alternation whose first branch is a prefix", args(reusable, "--certificate-identity-regexp", `https://github\.com/github/artifact-attestations-workflows/|nomatch`, "--certificate-oidc-issuer", ghIssuer, reusableArt), 1, []string{"the whole value must match"}, nil},

		// Wrong issuer.
		{"custom issuer, GitHub's default issuer asked", args(custom, append(id(ghCustomWorkflow, ghIssuer), customArt)...), 1, []string{"issuer"}, nil},
		{"custom issuer, a regexp matching GitHub's issuer as a prefix", args(custom, "--certificate-identity", ghCustomWorkflow, "--certificate-oidc-issuer-regexp", `https://token\.actions\.githubusercontent\.com`, customArt), 1, []string{"issuer"}, nil},
		{"custom issuer, an alternation whose last branch is a prefix", args(custom, "--certificate-identity", ghCustomWorkflow, "--certificate-oidc-issuer-regexp", `nomatch|https://token\.actions\.githubusercontent\.com`, customArt), 1, []string{"the whole value must match"}, nil},
		{"sigstore-js, the custom issuer asked", args(js, append(id(ghJSWorkflow, ghCustomIssuer), tgz)...), 1, []string{"issuer"}, nil},
		{"sigstore-js, another issuer", args(js, append(id(ghJSWorkflow, "https://accounts.google.com"), tgz)...), 1, []string{"issuer"}, nil},

		// Wrong artifact.
		{"sigstore-js, another file", args(js, append(jsID, other)...), 1, []string{"do not match"}, nil},
		{"sigstore-js, the custom-issuer artifact", args(js, append(jsID, customArt)...), 1, []string{"do not match"}, nil},
		{"sigstore-js, the sha256 of other bytes", args(js, append(jsID, ghSHA256Of("other bytes"))...), 1, nil, nil},
		{"sigstore-js, the tgz's sha256 (its statement names only sha512)", args(js, append(jsID, ghJSSHA256)...), 1, nil, nil},
		{"sigstore-js v0.1, another sha512", args(jsV01, append(jsID, strings.Replace(ghJSDigest, "90f2", "90f3", 1))...), 1, nil, nil},
		{"reusable workflow, the GitHub-instance wheel", args(reusable, append(id(ghReusableSigner, ghIssuer), demoWhl)...), 1, []string{"do not match"}, nil},
		{"custom issuer, the sha256 of other bytes", args(custom, append(id(ghCustomWorkflow, ghCustomIssuer), ghSHA256Of("hello-world\n"))...), 1, nil, nil},
		{"JSON lines, another file", args(js2, append(jsID, other)...), 1, []string{"none of the 2 bundles", js2 + ":1:", js2 + ":2:"}, nil},

		// A tampered bundle: its log entry is about another envelope.
		{"invalid signature", args(f("gh-invalid-signature.sigstore.json"), append(id("brian@dehamer.com", "https://github.com/login/oauth"), hello)...), 1, []string{"does not verify"}, nil},

		// Malformed bundles: an invalid file is bad input (exit 2), as for
		// every other file imgsign reads (README, exit codes).
		{"missing certificate", args(f("gh-github-instance-provenance-missing-cert.jsonl"), append(id(ghDemoWorkflow, ghIssuer), demoWhl)...), 2, []string{"not a valid Sigstore bundle", "missing bundle content"}, nil},
		{"missing verification material", args(f("gh-github-instance-provenance-missing-verification-material.jsonl"), append(id(ghDemoWorkflow, ghIssuer), demoWhl)...), 2, []string{"not a valid Sigstore bundle", "missing verification material"}, nil},

		// GitHub's own Sigstore instance: its CA is not in the public-good root.
		{"GitHub-instance provenance under the public-good root", args(demo, append(id(ghDemoWorkflow, ghIssuer), demoWhl)...), 1, []string{`issued by "Fulcio Intermediate l2, GitHub, Inc."`, `trust root "public-good"`, "--trusted-root"}, nil},
		{"GitHub release attestation under the public-good root", args(release, "--certificate-identity", "https://dotcom.releases.github.com", "--certificate-oidc-issuer-regexp", ".*", releaseZip), 1, []string{`issued by "Fulcio Intermediate l1, GitHub, Inc."`, "--trusted-root"}, nil},
		{"GitHub release attestation, its sha256, under the public-good root", args(release, "--certificate-identity", "https://dotcom.releases.github.com", "--certificate-oidc-issuer-regexp", ".*", "sha256:e15b593c6ab8d7725a3cc82226ef816cac6bf9c70eed383bd459295cc65f5ec3"), 1, []string{"Fulcio Intermediate l1"}, nil},

		// A certificate's key is never a --key.
		{"sigstore-js with --key", args(js, "--key", e.pubKey("k"), tgz), 1, []string{"never trusted by itself"}, nil},
	})
}

// pubKey generates a key pair and returns the public key's path.
func (e *env) pubKey(name string) string {
	e.t.Helper()
	e.key(name, "ecdsa-p256")
	return filepath.Join(e.dir, name+".pub")
}

// The JSON output names the bundle that verified: the line of a JSON-lines
// file, or the file.
func TestRealBundlesGHJSONOutput(t *testing.T) {
	e := newEnv(t)
	tgz := ghFixture(t, "gh-sigstore-js-2.1.0.tgz")
	for _, tc := range []struct{ bundle, want string }{
		{ghFixture(t, "gh-sigstore-js-2.1.0-provenance-2-bundles.jsonl"), ghFixture(t, "gh-sigstore-js-2.1.0-provenance-2-bundles.jsonl") + ":1"},
		{ghFixture(t, "gh-sigstore-js-2.1.0-provenance.sigstore.json"), ghFixture(t, "gh-sigstore-js-2.1.0-provenance.sigstore.json")},
		{e.write("other-first.jsonl", ghLine(t, "gh-custom-issuer-provenance.sigstore.json")+"\n"+ghLine(t, "gh-sigstore-js-2.1.0-provenance-v0.1.sigstore.json")+"\n"), filepath.Join(e.dir, "other-first.jsonl") + ":2"},
	} {
		r := e.run("verify-blob", "--offline", "--output", "json", "--bundle", tc.bundle, "--certificate-identity", ghJSWorkflow, "--certificate-oidc-issuer", ghIssuer, tgz)
		if r.Code != 0 {
			t.Fatalf("%s: exit %d\n%s%s", tc.bundle, r.Code, r.Stdout, r.Stderr)
		}
		var res struct {
			Bundle   string `json:"bundle"`
			Identity struct {
				Subject, Issuer string
			} `json:"identity"`
			PredicateType string `json:"predicateType"`
		}
		if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
			t.Fatalf("%v\n%s", err, r.Stdout)
		}
		if res.Bundle != tc.want || res.Identity.Subject != ghJSWorkflow || res.Identity.Issuer != ghIssuer || res.PredicateType != "https://slsa.dev/provenance/v1" {
			t.Fatalf("got %+v, want bundle %s", res, tc.want)
		}
	}
}

// Attacks on a JSON-lines bundle file made of these real bundles: only a
// line that verifies for the identity, issuer and artifact asked counts,
// and anything that is not a bundle fails the whole file closed.
func TestRealBundlesGHLinesAttacks(t *testing.T) {
	e := newEnv(t)
	js := ghLine(t, "gh-sigstore-js-2.1.0-provenance.sigstore.json")
	jsV01 := ghLine(t, "gh-sigstore-js-2.1.0-provenance-v0.1.sigstore.json")
	custom := ghLine(t, "gh-custom-issuer-provenance.sigstore.json")
	demo := ghLine(t, "gh-github-instance-provenance.jsonl")
	invalid := ghLine(t, "gh-invalid-signature.sigstore.json")
	reusable := ghLine(t, "gh-reusable-workflow-provenance.sigstore.json")
	tgz := ghFixture(t, "gh-sigstore-js-2.1.0.tgz")
	customArt := ghFixture(t, "gh-custom-issuer-artifact")
	jsID := []string{"--certificate-identity", ghJSWorkflow, "--certificate-oidc-issuer", ghIssuer}
	customID := []string{"--certificate-identity", ghCustomWorkflow, "--certificate-oidc-issuer", ghCustomIssuer}
	file := func(name string, lines ...string) string { return e.write(name, strings.Join(lines, "\n")+"\n") }
	args := func(bundle string, id []string, artifact string) []string {
		return append(append([]string{"--bundle", bundle}, id...), artifact)
	}

	aThenB := file("a-then-b.jsonl", js, custom)
	bThenA := file("b-then-a.jsonl", custom, js)
	huge := `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","padding":"` + strings.Repeat("A", 8<<20) + `"}`
	tooBig := filepath.Join(e.dir, "too-big.jsonl")
	if err := os.WriteFile(tooBig, []byte(js+"\n"+`{"x":"`+strings.Repeat("A", 64<<20)+`"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	many := make([]string, 101)
	for i := range many {
		many[i] = js
	}

	runBlobCases(t, e, []blobCase{
		// Line 1 verifies for identity A (sigstore-js); B is asked.
		{"line 1 verifies for another identity", args(aThenB, customID, tgz), 1, []string{"none of the 2 bundles", aThenB + ":1:", "is not", aThenB + ":2:"}, nil},
		// Line 2 is B's, but about another artifact than the one given.
		// B's line is about another artifact than the one given; line 2
		// is about it, but A's.
		{"the asked identity's line is about another artifact", args(bThenA, customID, tgz), 1, []string{bThenA + ":1:", "do not match", bThenA + ":2:", "is not"}, nil},
		{"each line for its own artifact: sigstore-js", args(aThenB, jsID, tgz), 0, []string{aThenB + ":1 signed by"}, nil},
		{"each line for its own artifact: custom issuer", args(aThenB, customID, customArt), 0, []string{aThenB + ":2 signed by", ghCustomIssuer}, nil},
		// The right identity's line is found wherever it is, and the
		// artifact is read from its start for each line.
		{"the verifying line last, after others that read the artifact", args(file("last.jsonl", custom, reusable, invalid, jsV01), jsID, tgz), 0, []string{"last.jsonl:4 signed by"}, nil},
		{"v0.1 and v0.3 lines", args(file("mixed.jsonl", jsV01, js), jsID, ghJSDigest), 0, []string{"mixed.jsonl:1 signed by"}, nil},
		// Blank lines are skipped; the line numbers stay the file's.
		{"blank lines between", args(file("blank.jsonl", custom, "", "   ", js), jsID, tgz), 0, []string{"blank.jsonl:4 signed by"}, nil},
		{"CRLF line ends", args(e.write("crlf.jsonl", custom+"\r\n"+js+"\r\n"), jsID, tgz), 0, []string{"crlf.jsonl:2 signed by"}, nil},
		{"only blank lines", args(e.write("empty.jsonl", "\n \n\t\n"), jsID, tgz), 2, []string{"holds no bundle"}, nil},
		{"an empty file", args(e.write("zero.jsonl", ""), jsID, tgz), 2, []string{"holds no bundle"}, nil},
		// Nothing verifies: untrusted, each line's reason given.
		{"an untrusted-root line and a tampered line", args(file("bad.jsonl", demo, invalid), jsID, tgz), 1, []string{"none of the 2 bundles", "bad.jsonl:1:", "Fulcio Intermediate l2", "bad.jsonl:2:"}, nil},
		// Not a bundle anywhere in the file: the whole file is bad input,
		// even next to a line that verifies.
		{"a line that is JSON but no bundle", args(file("notbundle.jsonl", js, `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`), jsID, tgz), 2, []string{"notbundle.jsonl:2 is not a valid Sigstore bundle"}, nil},
		{"a line that is not JSON", args(file("notjson.jsonl", js, "hello"), jsID, tgz), 2, []string{"line 2 is not a JSON document"}, nil},
		{"a truncated line", args(file("truncated.jsonl", js, custom[:len(custom)/2]), jsID, tgz), 2, []string{"line 2 is not a JSON document"}, nil},
		{"two bundles on one line", args(file("oneline.jsonl", js+js), jsID, tgz), 2, []string{"line 1 is not a JSON document"}, nil},
		{"a JSON array of bundles", args(file("array.json", "["+js+","+js+"]"), jsID, tgz), 2, []string{"not a valid Sigstore bundle"}, nil},
		{"a huge line that is no bundle", args(file("huge.jsonl", js, huge), jsID, tgz), 2, []string{"huge.jsonl:2 is not a valid Sigstore bundle"}, nil},
		{"a file over the size limit", args(tooBig, jsID, tgz), 2, []string{"over 64 MiB"}, nil},
		{"more lines than imgsign checks", args(file("many.jsonl", many...), jsID, tgz), 2, []string{"101 bundles, more than the 100"}, nil},
	})
}
