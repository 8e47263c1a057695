package provenance

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/errkind"
)

// TestGitHubTokenSource runs the request the way the Actions runtime
// expects it against a loopback stand-in for the token endpoint.
func TestGitHubTokenSource(t *testing.T) {
	const requestToken = "ghs_runtimeRequestTokenS3cr3t"
	jwt := fakeJWT(t, githubClaims())
	var gotAuth, gotAudience, gotAPIVersion string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		gotAudience = r.URL.Query().Get("audience")
		gotAPIVersion = r.URL.Query().Get("api-version")
		if gotAuth != "Bearer "+requestToken {
			http.Error(w, "bad credentials", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"count":1,"value":"` + jwt + `"}`))
	}))
	defer srv.Close()

	env := MapEnv(map[string]string{
		"ACTIONS_ID_TOKEN_REQUEST_URL":   srv.URL + "/_apis/pipelines/workflows/9876543210/idtoken?api-version=2.0",
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN": requestToken,
	})
	src, ok := GitHubTokenSourceFromEnv(env)
	if !ok {
		t.Fatal("GitHubTokenSourceFromEnv: not offered")
	}
	src.Client = srv.Client()
	tok, err := src.Token(context.Background(), "imgsign")
	if err != nil {
		t.Fatal(err)
	}
	if tok != jwt {
		t.Errorf("token = %q, want the endpoint's value", tok)
	}
	if gotAudience != "imgsign" || gotAPIVersion != "2.0" {
		t.Errorf("query audience=%q api-version=%q, want imgsign and the URL's own 2.0", gotAudience, gotAPIVersion)
	}

	// The whole chain: Generate with this source records unverified claims.
	genEnv := githubPushEnv()
	p, err := Generate(context.Background(), Inputs{Env: MapEnv(genEnv), Tokens: src, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.BuildDefinition.InternalParameters[keyFactsSource]; got != SourceUnverifiedOIDC {
		t.Errorf("factsSource = %v", got)
	}

	// Failures are operational and never echo the request token.
	bad := &GitHubTokenSource{RequestURL: src.RequestURL, RequestToken: "wrong", Client: srv.Client()}
	_, err = bad.Token(context.Background(), "imgsign")
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "id-token: write") {
		t.Fatalf("err = %v, want a 401 naming the permission", err)
	}
	if k, _ := errkind.Of(err); k != errkind.Operational {
		t.Errorf("kind %v, want operational", k)
	}
	if strings.Contains(err.Error(), "wrong") || strings.Contains(err.Error(), requestToken) {
		t.Error("error leaks the request token")
	}
}

func TestGitHubTokenSourceFromEnvNeedsBoth(t *testing.T) {
	for _, env := range []map[string]string{
		{},
		{"ACTIONS_ID_TOKEN_REQUEST_URL": "https://x.example/token"},
		{"ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t"},
	} {
		if _, ok := GitHubTokenSourceFromEnv(MapEnv(env)); ok {
			t.Errorf("offered with %v", env)
		}
	}
}

func TestParseClaimsUnverified(t *testing.T) {
	c, err := ParseClaimsUnverified(fakeJWT(t, githubClaims()))
	if err != nil {
		t.Fatal(err)
	}
	if c.String("repository") != "acme/app" || c.String("iat") != "1795082100" {
		t.Errorf("claims: repository %q iat %q", c.String("repository"), c.String("iat"))
	}
	for _, bad := range []string{"", "a.b", "a.!!!.c", "a." + "bm90IGpzb24" + ".c"} {
		if _, err := ParseClaimsUnverified(bad); err == nil {
			t.Errorf("ParseClaimsUnverified(%q) succeeded", bad)
		}
	}
}

func TestGitHubServerFromIssuer(t *testing.T) {
	for iss, want := range map[string]string{
		"https://token.actions.githubusercontent.com":      "https://github.com",
		"https://token.actions.octocorp.ghe.com":           "https://octocorp.ghe.com",
		"https://github.example.com/_services/token":       "https://github.example.com",
		"https://token.actions.githubusercontent.com/evil": "",
		"http://token.actions.githubusercontent.com":       "",
		"https://accounts.google.com":                      "",
		"":                                                 "",
	} {
		if got := githubServerFromIssuer(iss); got != want {
			t.Errorf("githubServerFromIssuer(%q) = %q, want %q", iss, got, want)
		}
	}
}

type failingTokens struct{}

func (failingTokens) Token(context.Context, string) (string, error) {
	return "", context.DeadlineExceeded
}

func TestGenerateTokenFailureIsOperational(t *testing.T) {
	_, err := Generate(context.Background(), Inputs{Env: MapEnv(githubPushEnv()), Tokens: failingTokens{}, Now: fixedNow})
	if k, _ := errkind.Of(err); err == nil || k != errkind.Operational {
		t.Fatalf("err = %v (kind %v), want operational", err, k)
	}
}
