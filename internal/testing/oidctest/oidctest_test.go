package oidctest_test

import (
	"context"
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
