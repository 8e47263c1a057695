package e2e

import (
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/testing/actionharness"
	"github.com/imgsign/imgsign/internal/testing/fulcioenv"
	"github.com/imgsign/imgsign/internal/testing/oidctest"
	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// The Action signs keyless when the job has id-token: write and no key is
// given: the test OIDC issuer stands in for GitHub's token endpoint, a real
// Fulcio certifies the workflow's identity, and the summary names it. With
// a policy, keyless needs keyless: true, and a verify-only run with a
// token available still only verifies.
func actKeyless(t *testing.T, temp, host string) {
	tsaURL, tsaChain := testenv.TSA(t)
	f := fulcioenv.Start(t, fulcioenv.WithTSA(tsaURL, tsaChain), fulcioenv.WithRekor(fulcioenv.StartRekor(t)))
	e := newEnv(t)
	san := "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0"
	pol := e.write("trust.yaml", `version: 1
trustRoots:
  - {name: test, file: `+f.TrustedRootPath+`}
identities:
  - name: release
    issuer: `+f.Issuer.URL()+`
    subject: `+san+`
    trustRoots: [test]
policies:
  - name: app
    scopes: ["`+host+`/keyless/**"]
    signatures: {keys: [release]}
    attestations:
      - {type: https://slsa.dev/provenance/v1, keys: [release]}
      - {type: https://spdx.dev/Document, keys: [release]}
`)
	run := func(repo string, inputs map[string]string) (*actionharness.Result, string) {
		t.Helper()
		d := testenv.PushImage(t, host, repo, "v1.0")
		r := newActRunner(t, temp, "")
		for _, kv := range f.Issuer.ActionsEnv(oidctest.ForWorkflow(oidctest.DefaultWorkflow())) {
			k, v, _ := strings.Cut(kv, "=")
			r.Env[k] = v
		}
		inputs["image"], inputs["digest"] = host+"/"+repo, d.String()
		return runAct(t, r, inputs), host + "/" + repo + "@" + d.String()
	}

	t.Run("no key: keyless by default", func(t *testing.T) {
		res, ref := run("keyless/auto", map[string]string{"signing-config": f.SigningConfigPath})
		actMustSucceed(t, res)
		if !strings.Contains(res.Summary, san) || !strings.Contains(res.Summary, "Transparency log entries") {
			t.Errorf("the summary does not name the signing identity %s and its log entries:\n%s", san, res.Summary)
		}
		if n := len(actTree(t, e, ref)); n != 3 {
			t.Errorf("%d referrers, want signature, provenance and SBOM", n)
		}
		if v := e.run("verify", "--policy", pol, ref); v.Code != 0 {
			t.Errorf("verify of what the Action signed keyless: exit %d\n%s%s", v.Code, v.Stdout, v.Stderr)
		}
	})
	t.Run("keyless: true with a policy signs, then verifies", func(t *testing.T) {
		res, _ := run("keyless/policy", map[string]string{"keyless": "true", "signing-config": f.SigningConfigPath, "policy": pol})
		actMustSucceed(t, res)
		if res.Outputs["verdict"] != "pass" {
			t.Errorf("verdict %q, want pass:\n%s", res.Outputs["verdict"], res.Log)
		}
	})
	t.Run("a policy alone only verifies, token or not", func(t *testing.T) {
		res, ref := run("keyless/verify-only", map[string]string{"policy": pol})
		actMustFail(t, res) // nothing signed it
		if n := len(actTree(t, e, ref)); n != 0 {
			t.Errorf("a verify-only run attached %d referrers", n)
		}
	})
	t.Run("keyless: true and a key", func(t *testing.T) {
		pem, _ := actKey(t, e, "ci")
		res, _ := run("keyless/both", map[string]string{"keyless": "true", "key": pem, "password": passphrase})
		actMustFail(t, res)
		if !actAnnotated(res, "sign with one") {
			t.Errorf("no error naming the conflict:\n%s", res.Log)
		}
	})
}

// The SLSA Build L3 reusable workflow without a key signs keyless, and the
// certificate names the reusable workflow — the identity an L3 policy pins
// — with the caller's repository as its source.
func actReusableWorkflowKeyless(t *testing.T, temp, host string) {
	const (
		wfSHA  = "3c1b5e7d9f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c"
		jobRef = "imgsign/imgsign/.github/workflows/imgsign.yml@refs/tags/v1.2.0"
	)
	tsaURL, tsaChain := testenv.TSA(t)
	f := fulcioenv.Start(t, fulcioenv.WithTSA(tsaURL, tsaChain))
	e := newEnv(t)
	w := oidctest.DefaultWorkflow()
	w.JobWorkflowRef, w.JobWorkflowSHA = jobRef, wfSHA
	var tokenURL, requestToken string
	for _, kv := range f.Issuer.ActionsEnv(oidctest.ForWorkflow(w)) {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "ACTIONS_ID_TOKEN_REQUEST_URL":
			tokenURL = v
		case "ACTIONS_ID_TOKEN_REQUEST_TOKEN":
			requestToken = v
		}
	}
	d := testenv.PushImage(t, host, "l3k/app", "1.0")
	image := host + "/l3k/app"
	// The checkout of imgsign at wfSHA is this repository: the workspace.
	r := newActRunner(t, temp, actRoot(t))
	r.IDToken = &actionharness.IDToken{URL: tokenURL, RequestToken: requestToken}
	res := runActJob(t, r, ".github/workflows/imgsign.yml", "sign", actionharness.JobOptions{
		Inputs: map[string]string{"image": image, "digest": d.String(), "signing-config": readFile(t, f.SigningConfigPath)},
	})
	actMustSucceed(t, res)
	ref := image + "@" + d.String()
	san := "https://github.com/" + jobRef
	if !strings.Contains(res.Summary, san) {
		t.Errorf("the summary does not name the reusable workflow's identity:\n%s", res.Summary)
	}
	pol := e.write("l3.yaml", `version: 1
trustRoots:
  - {name: test, file: `+f.TrustedRootPath+`}
identities:
  - name: imgsign-l3
    issuer: `+f.Issuer.URL()+`
    subjectGlob: https://github.com/imgsign/imgsign/.github/workflows/imgsign.yml@refs/tags/v1.*
    claims:
      sourceRepository: https://github.com/acme/app
      sourceRef: refs/tags/*
    trustRoots: [test]
policies:
  - name: l3
    scopes: ["`+host+`/l3k/**"]
    signatures: {keys: [imgsign-l3]}
    attestations:
      - type: https://slsa.dev/provenance/v1
        keys: [imgsign-l3]
        builderId: `+san+`
        sourceRepository: github.com/acme/app
`)
	if v := e.run("verify", "--policy", pol, ref); v.Code != 0 {
		t.Errorf("verify under the L3 identity policy: exit %d\n%s%s", v.Code, v.Stdout, v.Stderr)
	}
	// The caller's own workflow signing keyless is not the L3 identity.
	other := e.write("other.jwt", f.Token(t, oidctest.ForWorkflow(oidctest.DefaultWorkflow())))
	d2 := testenv.PushImage(t, host, "l3k/inline", "1.0")
	e.must("sign", "--identity-token", other, "--signing-config", f.SigningConfigPath, host+"/l3k/inline@"+d2.String())
	if v := e.run("verify", "--policy", pol, host+"/l3k/inline@"+d2.String()); v.Code != 1 {
		t.Errorf("a build job's own keyless signature passed the L3 policy: exit %d\n%s", v.Code, v.Stdout)
	}
}
