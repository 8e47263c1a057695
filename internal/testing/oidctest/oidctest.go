// Package oidctest is an OpenID Connect issuer for tests that mints ID
// tokens the way GitHub Actions' issuer (token.actions.githubusercontent.com)
// does: served on 127.0.0.1 with a discovery document
// (/.well-known/openid-configuration) and a JWKS, so a real relying party —
// Fulcio's github-workflow issuer type, go-oidc — fetches its keys and
// verifies its tokens as it would GitHub's.
//
// Product code never imports this package (internal/layering checks it).
package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Algorithm is the JWS algorithm an issuer signs its tokens with.
type Algorithm string

// The algorithms an Issuer can sign with: GitHub's issuer uses RS256.
const (
	RS256 Algorithm = "RS256"
	ES256 Algorithm = "ES256"
)

// Audience is the audience Fulcio expects (its ClientID for every issuer of
// the public-good instance): what `actions/core.getIDToken('sigstore')` asks
// GitHub for.
const Audience = "sigstore"

// Issuer is one running OIDC issuer with one signing key.
type Issuer struct {
	srv *httptest.Server
	alg Algorithm
	key crypto.Signer
	kid string

	// The runner's token endpoint (ActionsEnv).
	requestToken string
	mu           sync.Mutex
	actionsOpts  []TokenOption
	requests     []string // the audiences asked for
}

// Option configures Start.
type Option func(*Issuer)

// WithAlgorithm makes the issuer sign with alg (RS256 by default, as GitHub).
func WithAlgorithm(alg Algorithm) Option { return func(i *Issuer) { i.alg = alg } }

// Start serves a new issuer on 127.0.0.1 with a fresh key until t ends.
func Start(t testing.TB, opts ...Option) *Issuer {
	t.Helper()
	i, err := New(opts...)
	if err != nil {
		t.Fatalf("oidctest: %v", err)
	}
	t.Cleanup(i.Close)
	return i
}

// New serves a new issuer on 127.0.0.1 with a fresh key until Close: for a
// program outside tests (the demo's local Sigstore, internal/cmd/devsigstore).
func New(opts ...Option) (*Issuer, error) {
	i := &Issuer{alg: RS256}
	for _, o := range opts {
		o(i)
	}
	var err error
	switch i.alg {
	case RS256:
		i.key, err = rsa.GenerateKey(rand.Reader, 2048)
	case ES256:
		i.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("unsupported algorithm %q", i.alg)
	}
	if err != nil {
		return nil, err
	}
	i.kid = keyID(i.key.Public())
	i.requestToken = randomID()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", i.discovery)
	mux.HandleFunc("GET /.well-known/jwks", i.jwks)
	mux.HandleFunc("GET "+actionsPath, i.actionsToken)
	i.srv = httptest.NewServer(mux) // 127.0.0.1
	return i, nil
}

// Close stops serving.
func (i *Issuer) Close() { i.srv.Close() }

// URL is the issuer URL: the iss claim and the base of the discovery
// document.
func (i *Issuer) URL() string { return i.srv.URL }

// Algorithm is what the issuer signs with.
func (i *Issuer) Algorithm() Algorithm { return i.alg }

// PublicKey is the issuer's token signing key.
func (i *Issuer) PublicKey() crypto.PublicKey { return i.key.Public() }

func (i *Issuer) discovery(w http.ResponseWriter, _ *http.Request) {
	// The fields GitHub's discovery document has.
	writeJSON(w, map[string]any{
		"issuer":                                i.URL(),
		"jwks_uri":                              i.URL() + "/.well-known/jwks",
		"subject_types_supported":               []string{"public", "pairwise"},
		"response_types_supported":              []string{"id_token"},
		"claims_supported":                      claimsSupported,
		"id_token_signing_alg_values_supported": []string{string(i.alg)},
		"scopes_supported":                      []string{"openid"},
	})
}

var claimsSupported = []string{
	"sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "sha", "repository", "repository_id",
	"repository_owner", "repository_owner_id", "enterprise", "enterprise_id", "run_id", "run_number",
	"run_attempt", "actor", "actor_id", "workflow", "workflow_ref", "workflow_sha", "head_ref", "base_ref",
	"event_name", "ref_type", "ref_protected", "environment", "environment_node_id", "job_workflow_ref",
	"job_workflow_sha", "repository_visibility", "runner_environment", "issuer_scope",
}

func (i *Issuer) jwks(w http.ResponseWriter, _ *http.Request) {
	k := map[string]any{"kid": i.kid, "use": "sig", "alg": string(i.alg)}
	switch pub := i.key.Public().(type) {
	case *rsa.PublicKey:
		k["kty"] = "RSA"
		k["n"] = b64(pub.N.Bytes())
		k["e"] = b64(big.NewInt(int64(pub.E)).Bytes())
	case *ecdsa.PublicKey:
		k["kty"] = "EC"
		k["crv"] = "P-256"
		k["x"] = b64(pub.X.FillBytes(make([]byte, 32)))
		k["y"] = b64(pub.Y.FillBytes(make([]byte, 32)))
	}
	writeJSON(w, map[string]any{"keys": []any{k}})
}

// Workflow is the GitHub Actions run a token speaks for: Claims derives
// every claim GitHub puts in an ID token from it. DefaultWorkflow is the one
// Token uses unless told otherwise.
type Workflow struct {
	Repository           string // owner/name
	RepositoryID         string
	RepositoryOwnerID    string
	RepositoryVisibility string // public, private, internal
	Ref                  string // refs/tags/v1.0, refs/heads/main
	SHA                  string // the commit built
	EventName            string // push, workflow_dispatch, release…
	// Workflow is the top-level workflow's path in Repository
	// (.github/workflows/release.yml); WorkflowSHA its commit.
	Workflow    string
	WorkflowSHA string
	// JobWorkflowRef is the reusable workflow the job ran
	// (owner/repo/.github/workflows/x.yml@ref) and JobWorkflowSHA its
	// commit; empty means the top-level workflow at Ref and SHA.
	JobWorkflowRef    string
	JobWorkflowSHA    string
	RunnerEnvironment string // github-hosted, self-hosted
	RunID             string
	RunAttempt        string
	Actor             string
	Environment       string // the deployment environment, if any
}

// DefaultWorkflow is a tag push of acme/app building v1.0 on a
// GitHub-hosted runner.
func DefaultWorkflow() Workflow {
	return Workflow{
		Repository:           "acme/app",
		RepositoryID:         "123456789",
		RepositoryOwnerID:    "987654",
		RepositoryVisibility: "public",
		Ref:                  "refs/tags/v1.0",
		SHA:                  "0123456789abcdef0123456789abcdef01234567",
		EventName:            "push",
		Workflow:             ".github/workflows/release.yml",
		WorkflowSHA:          "0123456789abcdef0123456789abcdef01234567",
		RunnerEnvironment:    "github-hosted",
		RunID:                "4242424242",
		RunAttempt:           "1",
		Actor:                "octocat",
	}
}

// Claims are the claims GitHub puts in an ID token for w, with iss, aud,
// iat, nbf and exp left to Token.
func (w Workflow) Claims() map[string]any {
	owner, _, _ := strings.Cut(w.Repository, "/")
	workflowRef := w.Repository + "/" + w.Workflow + "@" + w.Ref
	jobRef, jobSHA := w.JobWorkflowRef, w.JobWorkflowSHA
	if jobRef == "" {
		jobRef, jobSHA = workflowRef, w.WorkflowSHA
	}
	refType := "branch"
	if strings.HasPrefix(w.Ref, "refs/tags/") {
		refType = "tag"
	}
	// sub: repo:OWNER/REPO:environment:NAME for a job with an environment,
	// else repo:OWNER/REPO:ref:REF (pull requests aside).
	sub := "repo:" + w.Repository + ":ref:" + w.Ref
	if w.Environment != "" {
		sub = "repo:" + w.Repository + ":environment:" + w.Environment
	}
	name := strings.TrimSuffix(w.Workflow[strings.LastIndex(w.Workflow, "/")+1:], ".yml")
	c := map[string]any{
		"sub":                   sub,
		"jti":                   randomID(),
		"ref":                   w.Ref,
		"ref_type":              refType,
		"ref_protected":         "false",
		"sha":                   w.SHA,
		"repository":            w.Repository,
		"repository_id":         w.RepositoryID,
		"repository_owner":      owner,
		"repository_owner_id":   w.RepositoryOwnerID,
		"repository_visibility": w.RepositoryVisibility,
		"run_id":                w.RunID,
		"run_number":            "7",
		"run_attempt":           w.RunAttempt,
		"actor":                 w.Actor,
		"actor_id":              "583231",
		"workflow":              name,
		"workflow_ref":          workflowRef,
		"workflow_sha":          w.WorkflowSHA,
		"job_workflow_ref":      jobRef,
		"job_workflow_sha":      jobSHA,
		"event_name":            w.EventName,
		"runner_environment":    w.RunnerEnvironment,
		"head_ref":              "",
		"base_ref":              "",
	}
	if w.Environment != "" {
		c["environment"] = w.Environment
	}
	return c
}

type tokenConfig struct {
	workflow  Workflow
	audience  any
	issuedAt  time.Time
	lifetime  time.Duration
	overrides map[string]any
	deletes   []string
	noKID     bool
}

// TokenOption configures Token.
type TokenOption func(*tokenConfig)

// ForWorkflow mints the token for w rather than DefaultWorkflow().
func ForWorkflow(w Workflow) TokenOption { return func(c *tokenConfig) { c.workflow = w } }

// WithAudience sets aud (Audience by default).
func WithAudience(aud string) TokenOption { return func(c *tokenConfig) { c.audience = aud } }

// IssuedAt sets iat and nbf (now by default); exp follows by the lifetime.
func IssuedAt(at time.Time) TokenOption { return func(c *tokenConfig) { c.issuedAt = at } }

// WithLifetime sets exp - iat (10 minutes by default).
func WithLifetime(d time.Duration) TokenOption { return func(c *tokenConfig) { c.lifetime = d } }

// Expired mints a token that expired a minute ago (issued 11 minutes ago).
func Expired() TokenOption {
	return func(c *tokenConfig) {
		c.issuedAt = time.Now().Add(-11 * time.Minute)
		c.lifetime = 10 * time.Minute
	}
}

// WithClaim sets claim name to value after everything else (iss, aud,
// exp… included), overriding what Workflow derived.
func WithClaim(name string, value any) TokenOption {
	return func(c *tokenConfig) {
		if c.overrides == nil {
			c.overrides = map[string]any{}
		}
		c.overrides[name] = value
	}
}

// WithoutClaim leaves claim name out of the token.
func WithoutClaim(name string) TokenOption {
	return func(c *tokenConfig) { c.deletes = append(c.deletes, name) }
}

// Token mints a signed ID token (a compact JWS) for a GitHub Actions
// workflow run: DefaultWorkflow's unless ForWorkflow, audience "sigstore",
// issued now and valid for 10 minutes, unless options say otherwise.
func (i *Issuer) Token(t testing.TB, opts ...TokenOption) string {
	t.Helper()
	tok, err := i.Mint(opts...)
	if err != nil {
		t.Fatalf("oidctest: %v", err)
	}
	return tok
}

// Mint is Token for a program outside tests.
func (i *Issuer) Mint(opts ...TokenOption) (string, error) {
	c := &tokenConfig{workflow: DefaultWorkflow(), audience: Audience, issuedAt: time.Now(), lifetime: 10 * time.Minute}
	for _, o := range opts {
		o(c)
	}
	claims := c.workflow.Claims()
	claims["iss"] = i.URL()
	claims["aud"] = c.audience
	claims["iat"] = c.issuedAt.Unix()
	claims["nbf"] = c.issuedAt.Unix()
	claims["exp"] = c.issuedAt.Add(c.lifetime).Unix()
	for k, v := range c.overrides {
		claims[k] = v
	}
	for _, k := range c.deletes {
		delete(claims, k)
	}
	return i.Sign(claims)
}

// Sign signs arbitrary claims as a compact JWS with the issuer's key (header
// typ JWT, alg, kid): for a token Token cannot express.
func (i *Issuer) Sign(claims map[string]any) (string, error) {
	header, err := json.Marshal(map[string]string{"typ": "JWT", "alg": string(i.alg), "kid": i.kid})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signingInput := b64(header) + "." + b64(payload)
	digest := sha256.Sum256([]byte(signingInput))
	var sig []byte
	switch k := i.key.(type) {
	case *rsa.PrivateKey:
		sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest[:])
	case *ecdsa.PrivateKey:
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, k, digest[:])
		if err == nil {
			sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
		}
	default:
		err = fmt.Errorf("unsupported key %T", i.key)
	}
	if err != nil {
		return "", err
	}
	return signingInput + "." + b64(sig), nil
}

// actionsPath is where the runner's token endpoint is served, shaped like
// GitHub's ($ACTIONS_ID_TOKEN_REQUEST_URL).
const actionsPath = "/_apis/pipelines/workflows/4242424242/idtoken"

// ActionsEnv serves tokens the way a GitHub Actions runner does for a job
// with `permissions: id-token: write`, and returns the variables the runner
// sets for it: ACTIONS_ID_TOKEN_REQUEST_URL (with ?api-version=2.0; a client
// adds &audience=AUD) and ACTIONS_ID_TOKEN_REQUEST_TOKEN (the bearer token
// the endpoint demands). The endpoint answers {"count":N,"value":JWT} with
// Token(opts...) for the audience asked for (GitHub's default audience,
// https://github.com/OWNER, when none is). A later ActionsEnv replaces opts.
func (i *Issuer) ActionsEnv(opts ...TokenOption) []string {
	i.mu.Lock()
	i.actionsOpts = opts
	i.mu.Unlock()
	return []string{
		"ACTIONS_ID_TOKEN_REQUEST_URL=" + i.URL() + actionsPath + "?api-version=2.0",
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN=" + i.requestToken,
	}
}

// ActionsRequests are the audiences the token endpoint was asked for, in
// order ("" for a request without one).
func (i *Issuer) ActionsRequests() []string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]string(nil), i.requests...)
}

func (i *Issuer) actionsToken(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+i.requestToken {
		http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
		return
	}
	i.mu.Lock()
	opts := append([]TokenOption(nil), i.actionsOpts...)
	aud := r.URL.Query().Get("audience")
	i.requests = append(i.requests, aud)
	i.mu.Unlock()
	c := &tokenConfig{workflow: DefaultWorkflow()}
	for _, o := range opts {
		o(c)
	}
	if aud == "" {
		owner, _, _ := strings.Cut(c.workflow.Repository, "/")
		aud = "https://github.com/" + owner
	}
	// The audience asked for comes after opts, as on a runner.
	tok, err := i.Mint(append(opts, WithAudience(aud))...)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, map[string]any{"count": len(tok), "value": tok})
}

func keyID(pub crypto.PublicKey) string {
	var s string
	switch k := pub.(type) {
	case *rsa.PublicKey:
		s = k.N.String()
	case *ecdsa.PublicKey:
		s = k.X.String() + k.Y.String()
	}
	sum := sha256.Sum256([]byte(s))
	return fmt.Sprintf("%X", sum[:20])
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
