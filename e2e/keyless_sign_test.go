package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/testing/fulcioenv"
	"github.com/imgsign/imgsign/internal/testing/oidctest"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/sign"
)

// keylessEnv is a real Fulcio (ephemeral CA) trusting a test OIDC issuer
// of GitHub Actions' kind, the local TSA and a Rekor v2 log, and the
// trusted root and signing config naming them.
type keylessEnv struct {
	*env
	f    *fulcioenv.Fulcio
	host string
}

func newKeylessEnv(t *testing.T, referrers bool) *keylessEnv {
	t.Helper()
	tsaURL, tsaChain := testenv.TSA(t)
	rekor := fulcioenv.StartRekor(t)
	f := fulcioenv.Start(t, fulcioenv.WithTSA(tsaURL, tsaChain), fulcioenv.WithRekor(rekor))
	return &keylessEnv{env: newEnv(t), f: f, host: testenv.Registry(t, referrers).Addr}
}

// token writes a token for w (with opts) to a file and returns its path.
func (k *keylessEnv) token(name string, w oidctest.Workflow, opts ...oidctest.TokenOption) string {
	k.t.Helper()
	return k.write(name+".jwt", k.f.Token(k.t, append([]oidctest.TokenOption{oidctest.ForWorkflow(w)}, opts...)...))
}

// keyless are the flags of a keyless signing run with the token file.
func (k *keylessEnv) keyless(token string) []string {
	return []string{"--identity-token", token, "--signing-config", k.f.SigningConfigPath, "--trusted-root", k.f.TrustedRootPath}
}

// policy trusts the identity of release.yml of repo on tags, under the
// test trust root.
func (k *keylessEnv) policy(name, repo, subjectGlob string) string {
	k.t.Helper()
	return k.write(name+".yaml", `version: 1
trustRoots:
  - name: test
    file: `+k.f.TrustedRootPath+`
identities:
  - name: release
    issuer: `+k.f.Issuer.URL()+`
    subjectGlob: `+subjectGlob+`
    claims:
      sourceRepository: https://github.com/`+repo+`
      sourceRef: refs/tags/*
      runnerEnvironment: github-hosted
    trustRoots: [test]
policies:
  - name: app
    scopes: ["`+k.host+`/**"]
    signatures:
      keys: [release]
    attestations:
      - type: https://example.com/review/v1
        keys: [release]
`)
}

// Keyless signing through the CLI against a real Fulcio, TSA and Rekor v2:
// what it signs verifies under an identity policy, with imgsign and with
// cosign; the identity is the workflow's, so another workflow, repository
// or a pull-request ref fails; and a token or service failure pushes
// nothing.
func TestKeylessSigning(t *testing.T) {
	for _, api := range []bool{true, false} {
		name := "referrers-api"
		if !api {
			name = "referrers-tag-schema"
		}
		t.Run(name, func(t *testing.T) {
			k := newKeylessEnv(t, api)
			release := oidctest.DefaultWorkflow()
			san := "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/*"
			pol := k.policy("trust", "acme/app", san)
			pred := k.write("review.json", `{"reviewed": true}`)

			img := k.host + "/acme/app:v1.0"
			d := testenv.PushImage(t, k.host, "acme/app", "v1.0")
			tok := k.token("release", release)
			r := k.must(append(append([]string{"sign", "--output", "json"}, k.keyless(tok)...), img)...)
			var res []sign.Result
			if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil || len(res) != 1 || len(res[0].Attached) != 1 {
				t.Fatalf("sign --output json: %v\n%s", err, r.Stdout)
			}
			a := res[0].Attached[0]
			if !strings.Contains(a.Identity, "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0") || len(a.LogEntries) != 1 {
				t.Errorf("signed as %q with log entries %q", a.Identity, a.LogEntries)
			}
			if strings.Contains(r.Stdout+r.Stderr, strings.TrimSpace(readFile(t, tok))) {
				t.Error("the identity token was printed")
			}
			k.must(append(append([]string{"attest", "predicate", "--type", "https://example.com/review/v1", "--predicate", pred}, k.keyless(tok)...), img)...)
			v := k.run("verify", "--policy", pol, img)
			if v.Code != 0 || !strings.Contains(v.Stdout, "certificate for https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0") {
				t.Fatalf("verify: exit %d\n%s%s", v.Code, v.Stdout, v.Stderr)
			}

			// cosign accepts imgsign's keyless signature under the same root.
			cosign := testenv.Tool(t, "cosign")
			cr := testenv.Run(t, k.dir, []string{"HOME=" + k.dir}, cosign, "verify",
				"--certificate-identity", "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0",
				"--certificate-oidc-issuer", k.f.Issuer.URL(), "--trusted-root", k.f.TrustedRootPath,
				"--insecure-ignore-sct", "--allow-insecure-registry", "--allow-http-registry",
				k.host+"/acme/app@"+d.String())
			if cr.Code != 0 {
				t.Errorf("cosign verify of imgsign's keyless signature: exit %d\n%s%s", cr.Code, cr.Stdout, cr.Stderr)
			}

			// The identity is the workflow's: each of these signs with a
			// real certificate, and the policy refuses it.
			for _, c := range []struct {
				name string
				w    func(*oidctest.Workflow)
				want string
			}{
				{"another workflow", func(w *oidctest.Workflow) { w.Workflow = ".github/workflows/nightly.yml" }, "subject"},
				{"another repository", func(w *oidctest.Workflow) { w.Repository = "evil/app" }, "subject"},
				{"a pull request", func(w *oidctest.Workflow) { w.Ref, w.EventName = "refs/pull/7/merge", "pull_request" }, "subject"},
				{"a self-hosted runner", func(w *oidctest.Workflow) { w.RunnerEnvironment = "self-hosted" }, "runnerEnvironment"},
			} {
				t.Run(c.name, func(t *testing.T) {
					w := oidctest.DefaultWorkflow()
					c.w(&w)
					repo := "acme/" + strings.ReplaceAll(c.name, " ", "-")
					testenv.PushImage(t, k.host, repo, "v1.0")
					other := k.host + "/" + repo + ":v1.0"
					k.must(append(append([]string{"sign"}, k.keyless(k.token(repo[5:], w))...), other)...)
					v := k.run("verify", "--policy", pol, other)
					if v.Code != 1 || !strings.Contains(v.Stdout, c.want) {
						t.Errorf("verify: exit %d, want 1 naming %s\n%s%s", v.Code, c.want, v.Stdout, v.Stderr)
					}
				})
			}

			// Nothing half-signed: each failure exits with its code and
			// leaves the image with nothing attached.
			bad := filepath.Join(k.dir, "dead-tsa.json")
			cfg := strings.Replace(readFile(t, k.f.SigningConfigPath), k.f.TSAURL, "http://"+testenv.FreeAddr(t)+"/api/v1/timestamp", 1)
			if err := os.WriteFile(bad, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			stranger := oidctest.Start(t)
			for _, c := range []struct {
				name string
				args []string
				code int
				want string
			}{
				{"expired token", k.keyless(k.token("expired", release, oidctest.Expired())), 2, "expired at"},
				{"token of an issuer Fulcio does not trust", k.keyless(k.write("stranger.jwt", stranger.Token(t))), 2, "refused the identity token"},
				{"token for another audience", k.keyless(k.token("aud", release, oidctest.WithAudience("github"))), 2, `audience "sigstore"`},
				{"unreachable TSA", []string{"--identity-token", tok, "--signing-config", bad, "--trusted-root", k.f.TrustedRootPath}, 3, "timestamp"},
				{"no token at all", []string{"--keyless", "--signing-config", k.f.SigningConfigPath}, 2, "id-token: write"},
				{"a key and keyless", append([]string{"--key", "x.key"}, k.keyless(tok)...), 2, "--key and --keyless"},
			} {
				t.Run(c.name, func(t *testing.T) {
					repo := "fail/" + strings.ToLower(strings.ReplaceAll(c.name, " ", "-"))
					testenv.PushImage(t, k.host, repo, "v1")
					r := k.run(append(append([]string{"sign"}, c.args...), k.host+"/"+repo+":v1")...)
					if r.Code != c.code || !strings.Contains(r.Stderr, c.want) {
						t.Errorf("exit %d, want %d saying %q\n%s", r.Code, c.code, c.want, r.Stderr)
					}
					for _, a := range c.args {
						if strings.HasSuffix(a, ".jwt") && strings.Contains(r.Stdout+r.Stderr, strings.TrimSpace(readFile(t, a))) {
							t.Errorf("the identity token was printed:\n%s", r.Stderr)
						}
					}
					if lines := strings.Count(strings.TrimSpace(r.Stderr), "\n"); lines > 0 {
						t.Errorf("error is %d lines, want one:\n%s", lines+1, r.Stderr)
					}
					if tree := k.must("tree", k.host+"/"+repo+":v1").Stdout; !strings.Contains(tree, "0 attached") {
						t.Errorf("something was pushed:\n%s", tree)
					}
				})
			}
		})
	}
}

// In GitHub Actions the token comes from the runner's endpoint, asked for
// audience sigstore; nothing on the command line names it.
func TestKeylessSigningFromGitHubActions(t *testing.T) {
	k := newKeylessEnv(t, true)
	testenv.PushImage(t, k.host, "acme/app", "v1.0")
	env := append(k.f.Issuer.ActionsEnv(oidctest.ForWorkflow(oidctest.DefaultWorkflow())), "HOME="+k.dir)
	r := testenv.Run(t, k.dir, env, k.bin, "sign", "--keyless", "--signing-config", k.f.SigningConfigPath, "--trusted-root", k.f.TrustedRootPath, k.host+"/acme/app:v1.0")
	if r.Code != 0 || !strings.Contains(r.Stdout, "keyless, certificate for https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0") {
		t.Fatalf("sign --keyless: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if got := k.f.Issuer.ActionsRequests(); len(got) != 1 || got[0] != "sigstore" {
		t.Errorf("the runner's token endpoint was asked for audiences %q, want [sigstore]", got)
	}
	if v := k.run("verify", "--policy", k.policy("trust", "acme/app", "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/*"), k.host+"/acme/app:v1.0"); v.Code != 1 || !strings.Contains(v.Stdout, "✓ signatures") {
		// The attestation the policy also asks for is missing: the
		// signature itself must have counted.
		t.Errorf("verify: exit %d\n%s%s", v.Code, v.Stdout, v.Stderr)
	}
}

// dct import --keyless carries Docker Content Trust's tags over signed with
// the migrating workflow's identity: each trusted tag's digest, bound to the
// tag, verifies under an identity policy with bindTag.
func TestDCTImportKeyless(t *testing.T) {
	k := newKeylessEnv(t, true)
	r := newDCTRepo(t, k.host, "legacy/app")
	tok := k.token("release", oidctest.DefaultWorkflow())
	p, res := k.importPlan(append(append([]string{"--keyless", "--allow-partial", "--root-key-id", r.rootID}, k.keyless(tok)...), append(r.server(t), r.gun)...)...)
	if res.Code != 0 {
		t.Fatalf("dct import --keyless: exit %d\n%s%s", res.Code, res.Stdout, res.Stderr)
	}
	imported := 0
	for _, e := range p.Entries {
		if e.Import {
			imported++
		}
	}
	if imported != 2 {
		t.Fatalf("%d tags imported, want v1 and v2: %+v", imported, p.Entries)
	}
	pol := k.write("dct.yaml", `version: 1
trustRoots:
  - {name: test, file: `+k.f.TrustedRootPath+`}
identities:
  - name: migration
    issuer: `+k.f.Issuer.URL()+`
    subject: https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0
    trustRoots: [test]
policies:
  - name: legacy
    scopes: ["`+k.host+`/legacy/**"]
    signatures: {keys: [migration], bindTag: true}
`)
	if v := k.run("verify", "--policy", pol, r.gun+":v1", r.gun+":v2"); v.Code != 0 {
		t.Errorf("verify of the keyless import: exit %d\n%s%s", v.Code, v.Stdout, v.Stderr)
	}
}
