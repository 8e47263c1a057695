// Package idtoken obtains the OIDC identity token keyless signing trades
// for a Fulcio certificate: from a file, from GitLab CI's SIGSTORE_ID_TOKEN,
// or from GitHub Actions' token endpoint with audience "sigstore". The
// token is a credential: it is never printed, only the claims that say who
// it names (issuer, subject), which are the signer's identity anyway.
package idtoken

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/imgsign/imgsign/internal/boundedfile"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/safetext"
)

// Audience is the audience Fulcio accepts tokens for.
const Audience = "sigstore"

// maxTokenBytes bounds a token read from a file or an endpoint.
const maxTokenBytes = 64 << 10

// Token is an OIDC ID token and what it says about itself, unverified:
// Fulcio verifies it; imgsign reads the claims only to name the signer and
// to refuse an expired token before asking Fulcio.
type Token struct {
	Raw string
	// Source says where it came from, for messages: "--identity-token
	// FILE", "SIGSTORE_ID_TOKEN", "GitHub Actions".
	Source  string
	Issuer  string
	Subject string
	Expiry  time.Time
}

// Options says where Get looks.
type Options struct {
	// File is --identity-token: a file holding the token ("-" is not
	// accepted: a token on stdin would be lost to a retry).
	File string
	// Getenv reads the environment (os.Getenv).
	Getenv func(string) string
	// Client asks GitHub Actions' endpoint; nil means a client with a
	// 30-second timeout.
	Client *http.Client
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Get returns the first token found: the file, SIGSTORE_ID_TOKEN, then
// GitHub Actions' endpoint (ACTIONS_ID_TOKEN_REQUEST_URL and
// ACTIONS_ID_TOKEN_REQUEST_TOKEN, set when the job has `id-token: write`).
// None found, an unreadable or expired token, is an errkind.Input error
// naming the fix; the endpoint failing is errkind.Operational.
func Get(ctx context.Context, o Options) (*Token, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	var raw, source string
	switch {
	case o.File != "":
		b, err := boundedfile.Read(o.File, maxTokenBytes)
		if err != nil {
			return nil, errkind.Inputf("--identity-token %s: %w", o.File, err)
		}
		raw, source = strings.TrimSpace(string(b)), "--identity-token "+o.File
	case o.Getenv("SIGSTORE_ID_TOKEN") != "":
		raw, source = strings.TrimSpace(o.Getenv("SIGSTORE_ID_TOKEN")), "SIGSTORE_ID_TOKEN"
	case o.Getenv("ACTIONS_ID_TOKEN_REQUEST_URL") != "":
		t, err := github(ctx, o)
		if err != nil {
			return nil, err
		}
		raw, source = t, "GitHub Actions"
	default:
		return nil, errkind.Inputf("keyless signing needs an OIDC identity token: in GitHub Actions give the job `permissions: id-token: write`; in GitLab CI declare `id_tokens: SIGSTORE_ID_TOKEN: aud: sigstore`; elsewhere pass --identity-token FILE")
	}
	t, err := parse(raw, source)
	if err != nil {
		return nil, err
	}
	if !t.Expiry.IsZero() && !now().Before(t.Expiry) {
		return nil, errkind.Inputf("the identity token from %s expired at %s: get a fresh one (tokens live minutes)", source, t.Expiry.UTC().Format(time.RFC3339))
	}
	return t, nil
}

// parse reads a JWT's claims without verifying it.
func parse(raw, source string) (*Token, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, errkind.Inputf("the identity token from %s is not a JWT (header.payload.signature)", source)
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, errkind.Inputf("the identity token from %s is not a JWT: its payload is not base64url", source)
	}
	var c struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Exp json.Number     `json:"exp"`
		Aud json.RawMessage `json:"aud"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, errkind.Inputf("the identity token from %s is not a JWT: its claims are not JSON", source)
	}
	t := &Token{Raw: raw, Source: source, Issuer: c.Iss, Subject: c.Sub}
	if c.Exp != "" {
		if sec, err := c.Exp.Int64(); err == nil {
			t.Expiry = time.Unix(sec, 0)
		}
	}
	if !audienceHas(c.Aud, Audience) {
		return nil, errkind.Inputf("the identity token from %s is not for audience %q, which Fulcio requires: request it with audience %s", source, Audience, Audience)
	}
	return t, nil
}

func audienceHas(raw json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		for _, a := range many {
			if a == want {
				return true
			}
		}
	}
	return false
}

// github asks GitHub Actions' token endpoint for a token with audience
// sigstore, as actions/toolkit's core.getIDToken does.
func github(ctx context.Context, o Options) (string, error) {
	bearer := o.Getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
	if bearer == "" {
		return "", errkind.Inputf("ACTIONS_ID_TOKEN_REQUEST_URL is set but ACTIONS_ID_TOKEN_REQUEST_TOKEN is not: give the job `permissions: id-token: write`")
	}
	u, err := url.Parse(o.Getenv("ACTIONS_ID_TOKEN_REQUEST_URL"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return "", errkind.Inputf("ACTIONS_ID_TOKEN_REQUEST_URL is not an http(s) URL")
	}
	q := u.Query()
	q.Set("audience", Audience)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Accept", "application/json")
	client := o.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", errkind.Operationalf("asking GitHub Actions for an identity token at %s: %w", u.Host, stripURL(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenBytes+1))
	if err != nil {
		return "", errkind.Operationalf("reading GitHub Actions' identity token: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", errkind.Operationalf("GitHub Actions refused an identity token (HTTP %d): %s", resp.StatusCode, clip(safetext.Clean(string(body))))
	}
	var r struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Value == "" {
		return "", errkind.Operationalf("GitHub Actions answered with no identity token")
	}
	return r.Value, nil
}

// stripURL drops the URL (whose query holds nothing secret, but is long)
// from a client error.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s", ue.Err)
	}
	return err
}

// clip shortens an endpoint's error body for a one-line message.
func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 200 {
		return string(r[:200]) + "…"
	}
	return s
}
