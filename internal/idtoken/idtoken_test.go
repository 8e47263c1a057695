package idtoken

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgsign/imgsign/internal/errkind"
)

// jwt builds an unsigned token with claims: only its shape matters here
// (Fulcio verifies signatures).
func jwt(t *testing.T, claims map[string]any) string {
	t.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc(b) + ".c2ln"
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestGet(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	good := jwt(t, map[string]any{"iss": "https://token.actions.githubusercontent.com", "sub": "repo:acme/app:ref:refs/tags/v1", "aud": "sigstore", "exp": now.Add(5 * time.Minute).Unix()})
	expired := jwt(t, map[string]any{"iss": "https://gitlab.com", "sub": "project_path:acme/app", "aud": []string{"sigstore"}, "exp": now.Add(-time.Second).Unix()})
	wrongAud := jwt(t, map[string]any{"iss": "https://gitlab.com", "aud": "gitlab", "exp": now.Add(time.Hour).Unix()})

	var gotAuth, gotAudience string
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotAudience = r.Header.Get("Authorization"), r.URL.Query().Get("audience")
		if r.Header.Get("Authorization") != "Bearer runner-secret" {
			http.Error(w, "bad credentials", http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"value": good})
	}))
	t.Cleanup(gh.Close)
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte(good+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		o       Options
		source  string
		kind    errkind.Kind
		wantErr string
	}{
		{"file first", Options{File: file, Getenv: env(map[string]string{"SIGSTORE_ID_TOKEN": expired})}, "--identity-token " + file, 0, ""},
		{"GitLab's variable", Options{Getenv: env(map[string]string{"SIGSTORE_ID_TOKEN": good})}, "SIGSTORE_ID_TOKEN", 0, ""},
		{"GitHub Actions endpoint", Options{Getenv: env(map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": gh.URL + "/token?api-version=2.0", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "runner-secret"})}, "GitHub Actions", 0, ""},
		{"GitHub Actions refuses", Options{Getenv: env(map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": gh.URL, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "wrong"})}, "", errkind.Operational, "HTTP 401"},
		{"GitHub Actions without id-token: write", Options{Getenv: env(map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": gh.URL})}, "", errkind.Input, "id-token: write"},
		{"nothing", Options{Getenv: env(nil)}, "", errkind.Input, "--identity-token FILE"},
		{"expired", Options{Getenv: env(map[string]string{"SIGSTORE_ID_TOKEN": expired})}, "", errkind.Input, "expired at"},
		{"wrong audience", Options{Getenv: env(map[string]string{"SIGSTORE_ID_TOKEN": wrongAud})}, "", errkind.Input, `audience "sigstore"`},
		{"not a JWT", Options{Getenv: env(map[string]string{"SIGSTORE_ID_TOKEN": "hunter2"})}, "", errkind.Input, "not a JWT"},
		{"missing file", Options{File: filepath.Join(dir, "nope"), Getenv: env(nil)}, "", errkind.Input, "--identity-token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.Now = func() time.Time { return now }
			tok, err := Get(context.Background(), tt.o)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
				}
				if k, _ := errkind.Of(err); k != tt.kind {
					t.Errorf("kind %v, want %v", k, tt.kind)
				}
				// A token is a credential: never in a message.
				for _, secret := range []string{good, expired, "runner-secret", "hunter2"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error repeats a credential: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tok.Raw != good || tok.Source != tt.source || tok.Issuer != "https://token.actions.githubusercontent.com" {
				t.Errorf("token from %q issuer %q", tok.Source, tok.Issuer)
			}
		})
	}
	if gotAudience != "sigstore" || !strings.HasPrefix(gotAuth, "Bearer ") {
		t.Errorf("GitHub Actions was asked with audience %q and auth %q", gotAudience, gotAuth)
	}
}
