package provenance

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/imgsign/imgsign/internal/errkind"
)

// Where a fact in the predicate came from, recorded under
// internalParameters["imgsign.dev/factsSource"] and ["imgsign.dev/factSources"].
const (
	// SourceEnvironment: read from environment variables, which anything
	// running earlier in the job could have set.
	SourceEnvironment = "environment"
	// SourceUnverifiedOIDC: read from the CI's OIDC token, fetched from the
	// CI's token endpoint, whose signature was not checked.
	SourceUnverifiedOIDC = "unverified-oidc"
	// SourceVerifiedOIDC: read from an OIDC token whose signature, issuer
	// and audience a TokenVerifier checked.
	SourceVerifiedOIDC = "verified-oidc"
	// SourceCaller: given explicitly by whoever ran imgsign (--builder-id,
	// Inputs.Source).
	SourceCaller = "caller"
	// SourceBuildKitMetadata and SourceBuildKitIndex: BuildKit's own
	// (unsigned) provenance, from the buildx metadata file or the image index.
	SourceBuildKitMetadata = "buildkit-metadata-file"
	SourceBuildKitIndex    = "buildkit-image-index"
)

// DefaultAudience is the audience imgsign asks the CI's token endpoint for.
const DefaultAudience = "imgsign"

// TokenSource fetches an OIDC identity token for audience from the CI
// platform. GitHubTokenSource is the GitHub Actions implementation.
type TokenSource interface {
	Token(ctx context.Context, audience string) (string, error)
}

// TokenVerifier checks a token's signature against the issuer's keys, its
// issuer, audience and expiry, and returns its claims. Without one, Generate
// reads the claims unverified and records them as "unverified-oidc".
// (An implementation needs the issuer's JWKS, e.g.
// https://token.actions.githubusercontent.com/.well-known/jwks, which is not
// reachable from every runner; none ships in this package.)
type TokenVerifier interface {
	Verify(ctx context.Context, rawToken, audience string) (Claims, error)
}

// Claims are a JWT's claims. Values are JSON values (strings, json.Number…).
type Claims map[string]any

// String returns claim name as a string; numbers are formatted.
func (c Claims) String(name string) string {
	switch v := c[name].(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case float64, bool:
		return fmt.Sprint(v)
	}
	return ""
}

// ParseClaimsUnverified decodes a JWT's payload WITHOUT checking its
// signature. The result must be treated as the word of whoever handed over
// the token, which is why Generate labels such facts "unverified-oidc".
func ParseClaimsUnverified(rawToken string) (Claims, error) {
	parts := strings.Split(rawToken, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("OIDC token is not a JWT (want 3 dot-separated parts, got %d)", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, fmt.Errorf("OIDC token payload is not base64url: %w", err)
	}
	var c Claims
	if err := decodeJSON(payload, &c); err != nil {
		return nil, fmt.Errorf("OIDC token payload is not a JSON object: %w", err)
	}
	return c, nil
}

// GitHubTokenSource requests a token from the GitHub Actions OIDC endpoint:
// GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=AUD with
// "Authorization: Bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN", answered with
// {"value": "<JWT>"}. The job needs `permissions: id-token: write` for the
// runner to set those variables.
type GitHubTokenSource struct {
	RequestURL   string
	RequestToken string
	// Client defaults to http.DefaultClient.
	Client *http.Client
}

// GitHubTokenSourceFromEnv returns a GitHubTokenSource when the runner
// offers OIDC tokens (both ACTIONS_ID_TOKEN_REQUEST_* variables are set).
func GitHubTokenSourceFromEnv(env func(string) string) (*GitHubTokenSource, bool) {
	u, t := env("ACTIONS_ID_TOKEN_REQUEST_URL"), env("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
	if u == "" || t == "" {
		return nil, false
	}
	return &GitHubTokenSource{RequestURL: u, RequestToken: t}, true
}

// maxTokenResponse bounds what we read from the token endpoint; a GitHub
// token response is about 1.5 KiB.
const maxTokenResponse = 64 << 10

// Token implements TokenSource. Errors never include the request token.
func (s *GitHubTokenSource) Token(ctx context.Context, audience string) (string, error) {
	u, err := url.Parse(s.RequestURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", errkind.Inputf("ACTIONS_ID_TOKEN_REQUEST_URL is not a URL")
	}
	if audience != "" {
		q := u.Query()
		q.Set("audience", audience)
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", errkind.Operationalf("GitHub OIDC token request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+s.RequestToken)
	req.Header.Set("Accept", "application/json")
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", errkind.Operationalf("GitHub OIDC token request to %s: %v", u.Host, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse+1))
	if err != nil {
		return "", errkind.Operationalf("GitHub OIDC token response from %s: %v", u.Host, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", errkind.Operationalf("GitHub OIDC token endpoint %s answered %s (does the job have `permissions: id-token: write`?)", u.Host, resp.Status)
	}
	if len(body) > maxTokenResponse {
		return "", errkind.Operationalf("GitHub OIDC token response from %s is over %d bytes", u.Host, maxTokenResponse)
	}
	var out struct {
		Value string `json:"value"`
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&out); err != nil || out.Value == "" {
		return "", errkind.Operationalf("GitHub OIDC token response from %s has no token value", u.Host)
	}
	return out.Value, nil
}

// githubServerFromIssuer maps a GitHub OIDC issuer to its server URL, so that
// with a token even the host in builder.id comes from the claims:
// github.com's issuer is https://token.actions.githubusercontent.com, GHE.com
// tenants' https://token.actions.TENANT.ghe.com, and GitHub Enterprise
// Server's https://HOST/_services/token.
func githubServerFromIssuer(iss string) string {
	u, err := url.Parse(iss)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return ""
	}
	switch {
	case u.Host == "token.actions.githubusercontent.com" && (u.Path == "" || u.Path == "/"):
		return "https://github.com"
	case strings.HasPrefix(u.Host, "token.actions.") && strings.HasSuffix(u.Host, ".ghe.com"):
		return "https://" + strings.TrimPrefix(u.Host, "token.actions.")
	case u.Path == "/_services/token":
		return "https://" + u.Host
	}
	return ""
}

// tokenClaims fetches a token and returns its claims and how far they can be
// trusted.
func tokenClaims(ctx context.Context, in *Inputs) (Claims, string, error) {
	aud := in.Audience
	if aud == "" {
		aud = DefaultAudience
	}
	tok, err := in.Tokens.Token(ctx, aud)
	if err != nil {
		if _, marked := errkind.Of(err); marked {
			return nil, "", err
		}
		return nil, "", errkind.Operationalf("fetching the CI's OIDC token: %v", err)
	}
	if in.Verifier != nil {
		c, err := in.Verifier.Verify(ctx, tok, aud)
		if err != nil {
			return nil, "", errkind.Operationalf("the CI's OIDC token did not verify: %v", err)
		}
		return c, SourceVerifiedOIDC, nil
	}
	c, err := ParseClaimsUnverified(tok)
	if err != nil {
		return nil, "", errkind.Operationalf("the CI's OIDC token: %v", err)
	}
	return c, SourceUnverifiedOIDC, nil
}
