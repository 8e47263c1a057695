package e2e

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"

	"github.com/imgsign/imgsign/internal/testing/fakesigstore"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/statement"
)

const (
	ghIssuer   = "https://token.actions.githubusercontent.com"
	ghWorkflow = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0"
)

func ghCert(subject, runner string) fakesigstore.Identity {
	return fakesigstore.Identity{Subject: subject, Issuer: ghIssuer, Extensions: certificate.Extensions{
		SourceRepositoryURI: "https://github.com/acme/app", SourceRepositoryRef: "refs/tags/v1.0.0", RunnerEnvironment: runner}}
}

// keylessSignature is a certificate-based cosign-v3-style signature bundle
// about repo@d, attached as a referrer.
func keylessSignature(t *testing.T, fs *fakesigstore.Sigstore, host, repo string, d v1.Hash, id fakesigstore.Identity, opts ...fakesigstore.BundleOption) {
	t.Helper()
	r, err := name.NewRepository(host+"/"+repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	st, err := statement.About(r, d, statement.Signature, map[string]any{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	attachRaw(t, host, repo, d, fs.DSSEBundle(t, st, id, opts...))
}

// keylessPolicy trusts the release workflow of acme/app on tags, on
// GitHub-hosted runners, under a trust root file for fs; with a key too
// when key is set, both required.
func (e *env) keylessPolicy(host, key string) string {
	e.t.Helper()
	signers, threshold, keys := "release", 1, ""
	if key != "" {
		signers, threshold = "release, "+key, 2
		keys = "keys:\n  - name: " + key + "\n    publicKey: " + key + ".pub\n"
	}
	return e.write("keyless.yaml", `version: 1
`+keys+`trustRoots:
  - name: ci
    file: trusted_root.json
identities:
  - name: release
    issuer: `+ghIssuer+`
    subjectGlob: https://github.com/acme/app/.github/workflows/release.yml@refs/tags/*
    claims:
      sourceRepository: https://github.com/acme/app
      runnerEnvironment: github-hosted
    trustRoots: [ci]
policies:
  - name: keyless
    scopes: ["`+host+`/**"]
    signatures:
      keys: [`+signers+`]
      threshold: `+strconv.Itoa(threshold)+`
`)
}

// Keyless signatures verify through the CLI on both kinds of registry:
// the identity the policy names passes, anything else fails with the
// reason, and an identity and a key make a 2-of-2.
func TestKeylessImages(t *testing.T) {
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			e := newEnv(t)
			fs := fakesigstore.New(t)
			fs.WriteTrustedRoot(t, filepath.Join(e.dir, "trusted_root.json"))
			policy := e.keylessPolicy(host, "")
			cases := []struct {
				name   string
				cert   fakesigstore.Identity
				opts   []fakesigstore.BundleOption
				signer *fakesigstore.Sigstore
				code   int
				want   []string
			}{
				{"the release workflow on a tag", ghCert(ghWorkflow, "github-hosted"), nil, fs, 0, []string{"PASS", "certificate for " + ghWorkflow, "logged", "log entry "}},
				{"its certificate long expired, logged while valid", ghCert(ghWorkflow, "github-hosted"), []fakesigstore.BundleOption{fakesigstore.AtTime(time.Now().Add(-3 * time.Hour))}, fs, 0, []string{"PASS"}},
				{"a branch build", ghCert("https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main", "github-hosted"), nil, fs, 1, []string{"FAIL", "does not match subjectGlob"}},
				{"a self-hosted runner", ghCert(ghWorkflow, "self-hosted"), nil, fs, 1, []string{"FAIL", "no   a certificate referrer", "runnerEnvironment"}},
				{"no log entry", ghCert(ghWorkflow, "github-hosted"), []fakesigstore.BundleOption{fakesigstore.WithoutTlog(), fakesigstore.WithTimestamp()}, fs, 1, []string{"FAIL", "does not verify under the policy's trust roots"}},
				{"a CA the policy does not trust", ghCert(ghWorkflow, "github-hosted"), nil, fakesigstore.New(t), 1, []string{"FAIL", "does not verify under the policy's trust roots"}},
			}
			for i, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					repo := "keyless" + strconv.Itoa(i)
					d := testenv.PushImage(t, host, repo, "v1")
					keylessSignature(t, tc.signer, host, repo, d, tc.cert, tc.opts...)
					r := e.run("verify", "--policy", policy, host+"/"+repo+":v1")
					if r.Code != tc.code {
						t.Fatalf("exit %d, want %d\n%s%s", r.Code, tc.code, r.Stdout, r.Stderr)
					}
					for _, w := range tc.want {
						if !strings.Contains(r.Stdout+r.Stderr, w) {
							t.Fatalf("output lacks %q:\n%s%s", w, r.Stdout, r.Stderr)
						}
					}
				})
			}
			t.Run("identity and key, 2 of 2", func(t *testing.T) {
				e.key("k", "ecdsa-p256")
				both := e.keylessPolicy(host, "k")
				d := testenv.PushImage(t, host, "both", "v1")
				img := host + "/both:v1"
				e.must("sign", "--key", "k.key", img)
				if r := e.run("verify", "--policy", both, img); r.Code != 1 || !strings.Contains(r.Stdout, "only 1 of 2") {
					t.Fatalf("key alone: exit %d\n%s", r.Code, r.Stdout)
				}
				keylessSignature(t, fs, host, "both", d, ghCert(ghWorkflow, "github-hosted"))
				rep, r := e.verifyJSON(both, img)
				if r.Code != 0 {
					t.Fatalf("identity + key: exit %d\n%s", r.Code, r.Stdout)
				}
				var identity bool
				for _, a := range rep.Images[0].Requirements[0].Accepted {
					identity = identity || a.Identity != nil && a.Identity.Subject == ghWorkflow && strings.HasPrefix(a.TimeSource, "tlog:")
				}
				if !identity {
					t.Fatalf("the report does not show the certificate identity: %s", r.Stdout)
				}
				tree := e.must("tree", img).Stdout
				for _, w := range []string{"certificate (unverified): " + ghWorkflow, "runner github-hosted", "log entry (unverified): "} {
					if !strings.Contains(tree, w) {
						t.Fatalf("tree lacks %q:\n%s", w, tree)
					}
				}
			})
		})
	}
}

// verify-blob checks real public-good bundles offline against the root
// imgsign embeds, and what the test Sigstore makes against its root file.
func TestVerifyBlob(t *testing.T) {
	e := newEnv(t)
	real := func(name string) string {
		p, err := filepath.Abs(filepath.Join("..", "testdata", "sigstore", name))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	dehamer := real("dsse-dehamer.sigstore.json")
	sigstoreJS := real("sigstore-js-2.0.0-provenance.sigstore.json")
	const dehamerDigest = "sha512:bbfd372fc9beeb777fe35d05bb10c0c70a9733d366a75fed7dd18866c7391de3ee7e88ba74dd47abf3e15c845e547fcf0e5c3da80854c751554224d3a6d4e55f"
	const jsDigest = "sha512:46d4e2f74c4877316640000a6fdf8a8b59f1e0847667973e9859f774dd31b8f1e0937813b777fb66a2ac67d50540fe34640966eee9fc2ccca387082b4c85cd3c"
	jsWorkflow := "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main"

	fs := fakesigstore.New(t)
	fs.WriteTrustedRoot(t, filepath.Join(e.dir, "root.json"))
	artifact := e.write("app.tar.gz", "release bytes")
	e.write("message.json", string(fs.MessageBundle(t, []byte("release bytes"), ghCert(ghWorkflow, "github-hosted"))))
	e.key("k", "ecdsa-p256")
	e.must("attest", "blob", "--key", "k.key", "--type", "https://acme.example/review/v1", "--predicate", e.write("review.json", `{"ok":true}`), "--bundle", "keyed.json", artifact)
	other := e.write("other.bin", "other bytes")

	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"real: email identity", []string{"--bundle", dehamer, "--certificate-identity", "brian@dehamer.com", "--certificate-oidc-issuer", "https://github.com/login/oauth", dehamerDigest}, 0, "brian@dehamer.com"},
		{"real: workflow identity by regexp", []string{"--bundle", sigstoreJS, "--certificate-identity-regexp", `https://github\.com/sigstore/sigstore-js/\.github/workflows/release\.yml@refs/heads/.+`, "--certificate-oidc-issuer", ghIssuer, jsDigest}, 0, jsWorkflow},
		{"real: a cosign v3 image attestation", []string{"--bundle", real("cosign-v3-attestation.sigstore.json"), "--certificate-identity", "cody@soyland.com", "--certificate-oidc-issuer", "https://github.com/login/oauth", "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4"}, 0, "cody@soyland.com"},
		{"real: a cosign v3 attestation, another image", []string{"--bundle", real("cosign-v3-attestation.sigstore.json"), "--certificate-identity", "cody@soyland.com", "--certificate-oidc-issuer", "https://github.com/login/oauth", "sha256:832112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4"}, 1, "does not match"},
		{"real: wrong identity", []string{"--bundle", dehamer, "--certificate-identity", "mallory@example.com", "--certificate-oidc-issuer", "https://github.com/login/oauth", dehamerDigest}, 1, "is not \"mallory@example.com\""},
		{"real: wrong issuer", []string{"--bundle", dehamer, "--certificate-identity", "brian@dehamer.com", "--certificate-oidc-issuer", "https://accounts.google.com", dehamerDigest}, 1, "issuer"},
		{"real: wrong artifact", []string{"--bundle", sigstoreJS, "--certificate-identity", jsWorkflow, "--certificate-oidc-issuer", ghIssuer, strings.Replace(jsDigest, "46d4", "56d4", 1)}, 1, "does not match"},
		{"real: a regexp matching only part", []string{"--bundle", sigstoreJS, "--certificate-identity-regexp", `sigstore-js`, "--certificate-oidc-issuer", ghIssuer, jsDigest}, 1, "the whole value must match"},
		{"real: under another root", []string{"--bundle", dehamer, "--trusted-root", filepath.Join(e.dir, "root.json"), "--certificate-identity", "brian@dehamer.com", "--certificate-oidc-issuer", "https://github.com/login/oauth", dehamerDigest}, 1, "does not verify"},
		{"message signature of a file", []string{"--bundle", "message.json", "--trusted-root", "root.json", "--certificate-identity", ghWorkflow, "--certificate-oidc-issuer", ghIssuer, artifact}, 0, ghWorkflow},
		{"message signature, other file", []string{"--bundle", "message.json", "--trusted-root", "root.json", "--certificate-identity", ghWorkflow, "--certificate-oidc-issuer", ghIssuer, other}, 1, "does not verify"},
		{"key-signed attest blob", []string{"--bundle", "keyed.json", "--key", "k.pub", artifact}, 0, "signed by key"},
		{"key-signed bundle, certificate asked", []string{"--bundle", "keyed.json", "--certificate-identity", ghWorkflow, "--certificate-oidc-issuer", ghIssuer, artifact}, 1, "signed with a key"},
		{"certificate bundle, key asked", []string{"--bundle", "message.json", "--key", "k.pub", artifact}, 1, "never trusted by itself"},
		{"neither key nor identity", []string{"--bundle", "message.json", artifact}, 2, "give --key"},
		{"identity without issuer", []string{"--bundle", "message.json", "--certificate-identity", ghWorkflow, artifact}, 2, "certificate-oidc-issuer"},
		{"bad digest", []string{"--bundle", dehamer, "--certificate-identity", "brian@dehamer.com", "--certificate-oidc-issuer", "https://github.com/login/oauth", "sha256:abc"}, 2, "artifact"},
		{"not a bundle", []string{"--bundle", "review.json", "--key", "k.pub", artifact}, 2, "not a valid Sigstore bundle"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.run(append([]string{"verify-blob"}, tc.args...)...)
			if r.Code != tc.code || !strings.Contains(r.Stdout+r.Stderr, tc.want) {
				t.Fatalf("exit %d (want %d), output lacks %q:\n%s%s", r.Code, tc.code, tc.want, r.Stdout, r.Stderr)
			}
		})
	}
}

// GitHub artifact attestations given as files (`gh attestation download`
// writes JSON lines, one bundle per line) count as if attached: here from a
// GitHub-like instance, a CA and a TSA without a transparency log.
func TestKeylessBundleFiles(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	e := newEnv(t)
	fs := fakesigstore.New(t)
	fs.WriteTrustedRoot(t, filepath.Join(e.dir, "trusted_root.json"), fakesigstore.WithoutRekor())
	policy := e.keylessPolicy(host, "")
	d := testenv.PushImage(t, host, "ghattest", "v1")
	other := testenv.PushImage(t, host, "ghattest", "other")
	r, err := name.NewRepository(host+"/ghattest", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	bundleFor := func(d v1.Hash, id fakesigstore.Identity) string {
		st, err := statement.About(r, d, statement.Signature, map[string]any{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return string(fs.DSSEBundle(t, st, id, fakesigstore.WithoutTlog(), fakesigstore.WithTimestamp()))
	}
	good := ghCert(ghWorkflow, "github-hosted")
	e.write("att.jsonl", bundleFor(other, good)+"\n"+bundleFor(d, good)+"\n")
	e.write("wrong.jsonl", bundleFor(d, ghCert(ghWorkflow, "self-hosted"))+"\n")
	e.write("broken.jsonl", "{\"mediaType\": 1}\nnot json\n")
	img := host + "/ghattest:v1"
	if r := e.run("verify", "--policy", policy, img); r.Code != 1 {
		t.Fatalf("without the file: exit %d\n%s", r.Code, r.Stdout)
	}
	if r := e.run("verify", "--policy", policy, "--bundle", "att.jsonl", img); r.Code != 0 || !strings.Contains(r.Stdout, "timestamped") {
		t.Fatalf("with the attestation file: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := e.run("verify", "--policy", policy, "--bundle", "wrong.jsonl", img); r.Code != 1 || !strings.Contains(r.Stdout, "runnerEnvironment") {
		t.Fatalf("a self-hosted runner's attestation: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := e.run("verify", "--policy", policy, "--bundle", "broken.jsonl", img); r.Code != 2 || !strings.Contains(r.Stderr, "line 2 is not a JSON document") {
		t.Fatalf("a broken file: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

// verify-blob and image verification agree on the same bundles: what one
// accepts about an image digest under a trust root and identity, the other
// does, and what one refuses, the other does.
func TestVerifyBlobAgreesWithVerify(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	e := newEnv(t)
	fs := fakesigstore.New(t)
	fs.WriteTrustedRoot(t, filepath.Join(e.dir, "trusted_root.json"))
	policy := e.write("exact.yaml", `version: 1
trustRoots: [{name: ci, file: trusted_root.json}]
identities: [{name: release, issuer: `+ghIssuer+`, subject: `+ghWorkflow+`, trustRoots: [ci]}]
policies: [{name: p, scopes: ["`+host+`/**"], signatures: {keys: [release]}}]
`)
	r, err := name.NewRepository(host+"/agree", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		name   string
		signer *fakesigstore.Sigstore
		cert   fakesigstore.Identity
		code   int
	}{
		{"the identity", fs, ghCert(ghWorkflow, "github-hosted"), 0},
		{"another workflow", fs, ghCert("https://github.com/acme/app/.github/workflows/ci.yml@refs/tags/v1.0.0", "github-hosted"), 1},
		{"another CA", fakesigstore.New(t), ghCert(ghWorkflow, "github-hosted"), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tag := "v" + strconv.Itoa(i)
			d := testenv.PushImage(t, host, "agree", tag)
			st, err := statement.About(r, d, statement.Signature, map[string]any{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			b := tc.signer.DSSEBundle(t, st, tc.cert)
			attachRaw(t, host, "agree", d, b)
			e.write("b.json", string(b))
			img := e.run("verify", "--policy", policy, host+"/agree@"+d.String())
			blob := e.run("verify-blob", "--bundle", "b.json", "--trusted-root", "trusted_root.json", "--certificate-identity", ghWorkflow, "--certificate-oidc-issuer", ghIssuer, d.String())
			if img.Code != tc.code || blob.Code != tc.code {
				t.Fatalf("verify exit %d, verify-blob exit %d, want both %d\n%s%s\n%s%s", img.Code, blob.Code, tc.code, img.Stdout, img.Stderr, blob.Stdout, blob.Stderr)
			}
		})
	}
}
