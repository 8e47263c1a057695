package oidctest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/imgsign/imgsign/internal/testing/oidctest"
)

// TestTokensVerify: go-oidc (what Fulcio verifies tokens with) discovers the
// issuer, fetches its JWKS and accepts its tokens, RS256 and ES256, with
// GitHub's claims; it refuses an expired one and one for another audience.
func TestTokensVerify(t *testing.T) {
	for _, alg := range []oidctest.Algorithm{oidctest.RS256, oidctest.ES256} {
		t.Run(string(alg), func(t *testing.T) {
			iss := oidctest.Start(t, oidctest.WithAlgorithm(alg))
			ctx := context.Background()
			p, err := oidc.NewProvider(ctx, iss.URL())
			if err != nil {
				t.Fatal(err)
			}
			v := p.Verifier(&oidc.Config{ClientID: oidctest.Audience})
			tok, err := v.Verify(ctx, iss.Token(t))
			if err != nil {
				t.Fatal(err)
			}
			var c struct {
				JobWorkflowRef    string `json:"job_workflow_ref"`
				Repository        string `json:"repository"`
				RefType           string `json:"ref_type"`
				RunnerEnvironment string `json:"runner_environment"`
			}
			if err := tok.Claims(&c); err != nil {
				t.Fatal(err)
			}
			if tok.Subject != "repo:acme/app:ref:refs/tags/v1.0" || c.Repository != "acme/app" || c.RefType != "tag" ||
				c.JobWorkflowRef != "acme/app/.github/workflows/release.yml@refs/tags/v1.0" || c.RunnerEnvironment != "github-hosted" {
				t.Errorf("claims: sub %q, %+v", tok.Subject, c)
			}
			if _, err := v.Verify(ctx, iss.Token(t, oidctest.Expired())); err == nil {
				t.Error("an expired token verified")
			}
			if _, err := v.Verify(ctx, iss.Token(t, oidctest.WithAudience("other"))); err == nil {
				t.Error("a token for another audience verified")
			}
			tok, err = v.Verify(ctx, iss.Token(t, oidctest.WithClaim("sub", "repo:x/y:ref:refs/heads/main"), oidctest.IssuedAt(time.Now().Add(-time.Minute))))
			if err != nil || tok.Subject != "repo:x/y:ref:refs/heads/main" {
				t.Errorf("override: %v, %v", tok, err)
			}
		})
	}
}

// TestActionsEnv: the runner's token endpoint demands its bearer token and
// answers {"value": JWT} for the audience asked for, GitHub's default
// audience without one.
func TestActionsEnv(t *testing.T) {
	iss := oidctest.Start(t)
	w := oidctest.DefaultWorkflow()
	w.Ref = "refs/heads/main"
	env := map[string]string{}
	for _, kv := range iss.ActionsEnv(oidctest.ForWorkflow(w)) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	ctx := context.Background()
	p, err := oidc.NewProvider(ctx, iss.URL())
	if err != nil {
		t.Fatal(err)
	}
	get := func(query, bearer string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, env["ACTIONS_ID_TOKEN_REQUEST_URL"]+query, nil)
		req.Header.Set("Authorization", "Bearer "+bearer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct{ Value string }
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out.Value
	}
	if code, _ := get("&audience=sigstore", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("a wrong request token: %d, want 401", code)
	}
	for query, aud := range map[string]string{"&audience=sigstore": "sigstore", "": "https://github.com/acme"} {
		code, tok := get(query, env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"])
		if code != http.StatusOK {
			t.Fatalf("%q: %d", query, code)
		}
		idt, err := p.Verifier(&oidc.Config{ClientID: aud}).Verify(ctx, tok)
		if err != nil {
			t.Fatalf("%q: %v", query, err)
		}
		if idt.Subject != "repo:acme/app:ref:refs/heads/main" {
			t.Errorf("%q: sub %q", query, idt.Subject)
		}
	}
	if got := iss.ActionsRequests(); len(got) != 2 { // the refused one is not counted
		t.Errorf("requests %q", got)
	}
}
