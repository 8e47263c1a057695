package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/testing/fakesigstore"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/internal/trustroot/tuftest"
)

// trust-root update fetches a trusted root through a TUF repository (here a
// local one standing for a private Sigstore's, anchored with --tuf-root)
// and from then on verify-blob's default root is that one; a repository
// that does not verify changes nothing, and a damaged cache is passed over
// for the embedded snapshot.
func TestTrustRootUpdate(t *testing.T) {
	e := newEnv(t)
	cache := filepath.Join(e.dir, "cache")
	run := func(args ...string) testenv.Result {
		t.Helper()
		return testenv.Run(t, e.dir, []string{"IMGSIGN_CACHE_DIR=" + cache}, e.bin, args...)
	}
	expect := func(r testenv.Result, code int, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(r.Stdout+r.Stderr, w) {
				code = -1
			}
		}
		if r.Code != code {
			t.Fatalf("exit %d, want %d and %q in:\n%s%s", r.Code, code, want, r.Stdout, r.Stderr)
		}
	}

	fs := fakesigstore.New(t)
	repo := tuftest.New(t, map[string][]byte{"trusted_root.json": fs.TrustedRootJSON(t)})
	repo.WriteRoot(filepath.Join(e.dir, "root.json"))
	artifact := e.write("app.tar.gz", "release bytes")
	e.write("message.json", string(fs.MessageBundle(t, []byte("release bytes"), ghCert(ghWorkflow, "github-hosted"))))
	verifyBlob := func() testenv.Result {
		t.Helper()
		return run("verify-blob", "--bundle", "message.json", "--certificate-identity", ghWorkflow, "--certificate-oidc-issuer", ghIssuer, artifact)
	}

	// Before: the embedded public-good snapshot, which knows nothing of
	// this Sigstore.
	expect(run("trust-root", "show"), 0, "public-good: embedded snapshot (no cached copy", "https://fulcio.sigstore.dev")
	expect(verifyBlob(), 1, "does not verify")

	r := run("trust-root", "update", "--mirror", repo.URL, "--tuf-root", "root.json")
	expect(r, 0, "updated public-good trust root from "+repo.URL, ": changed", filepath.Join(cache, "tuf", "public-good.json"),
		"1 certificate authority, 2 transparency logs, 1 CT log, 1 timestamp authority")
	if !strings.Contains(r.Stderr, "now mean the trust root of "+repo.URL) {
		t.Errorf("no note that public-good now means another root:\n%s", r.Stderr)
	}
	expect(run("trust-root", "show"), 0, "public-good: cached, updated", "from "+repo.URL, fakesigstore.FulcioURL, fakesigstore.TSAURL)
	r = run("trust-root", "show", "-o", "json")
	var info struct {
		Source, Mirror, SHA256 string
		Authorities            []struct{ Kind, Name string }
	}
	if err := json.Unmarshal([]byte(r.Stdout), &info); err != nil || r.Code != 0 || info.Source != "cached" || info.Mirror != repo.URL || len(info.Authorities) != 5 {
		t.Fatalf("show -o json: exit %d, %v: %+v\n%s", r.Code, err, info, r.Stdout)
	}
	if strings.Contains(r.Stdout, "BEGIN") || strings.Contains(r.Stdout, "rawBytes") {
		t.Errorf("show prints key material:\n%s", r.Stdout)
	}
	expect(verifyBlob(), 0, "verified", ghWorkflow)
	expect(run("trust-root", "update", "--mirror", repo.URL, "--tuf-root", "root.json"), 0, ": unchanged")
	r = run("trust-root", "update", "--mirror", repo.URL, "--tuf-root", "root.json", "-o", "json")
	var res struct {
		Source, SHA256 string
		Changed        *bool
	}
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil || r.Code != 0 || res.Source != "cached" || res.SHA256 != info.SHA256 || res.Changed == nil || *res.Changed {
		t.Fatalf("update -o json: exit %d, %v: %+v\n%s", r.Code, err, res, r.Stdout)
	}

	// A mirror serving a tampered root, a stale timestamp, an unreachable
	// mirror, bad input: the cached root stays, verify-blob still passes.
	cached, err := os.ReadFile(filepath.Join(cache, "tuf", "public-good.json"))
	if err != nil {
		t.Fatal(err)
	}
	mallory := fakesigstore.New(t).TrustedRootJSON(t)
	repo.Publish(map[string][]byte{"trusted_root.json": mallory})
	repo.Tamper("trusted_root.json", append(mallory[:len(mallory)-1:len(mallory)-1], ' '))
	expect(run("trust-root", "update", "--mirror", repo.URL, "--tuf-root", "root.json"), 1, "does not verify", "hash verification failed", "unchanged")
	repo.ExpireTimestamp()
	expect(run("trust-root", "update", "--mirror", repo.URL, "--tuf-root", "root.json"), 1, "timestamp.json is expired")
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	expect(run("trust-root", "update", "--mirror", closed.URL, "--tuf-root", "root.json"), 3, "unreachable")
	expect(run("trust-root", "update", "--mirror", repo.URL, "--tuf-root", "message.json"), 2, "is not a TUF root.json")
	expect(run("trust-root", "update", "--mirror", "file:///etc", "--tuf-root", "root.json"), 2, "expected an http(s) URL")
	expect(run("trust-root", "update", "--mirror", repo.URL, "--tuf-root", "root.json", "extra"), 2, "takes no arguments")
	if now, err := os.ReadFile(filepath.Join(cache, "tuf", "public-good.json")); err != nil || string(now) != string(cached) {
		t.Fatalf("a failed update changed the cache: %v", err)
	}
	expect(verifyBlob(), 0, "verified")

	// A damaged cache is not used, and show says so.
	if err := os.WriteFile(filepath.Join(cache, "tuf", "public-good.json"), cached[:len(cached)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	r = run("trust-root", "show")
	expect(r, 0, "public-good: embedded snapshot (the cached copy is damaged)")
	if !strings.Contains(r.Stderr, "warning: the cached trust root is not used") || !strings.Contains(r.Stderr, "is damaged") {
		t.Errorf("no warning about the damaged cache:\n%s", r.Stderr)
	}
	expect(verifyBlob(), 1, "does not verify")
}

// With no --mirror and no network, update fails as operational, and the
// embedded snapshot stays in use.
func TestTrustRootUpdateOffline(t *testing.T) {
	e := newEnv(t)
	env := []string{"IMGSIGN_CACHE_DIR=" + filepath.Join(e.dir, "cache"), "HTTPS_PROXY=http://127.0.0.1:1"}
	r := testenv.Run(t, e.dir, env, e.bin, "trust-root", "update")
	if r.Code != 3 || !strings.Contains(r.Stderr, "TUF mirror https://tuf-repo-cdn.sigstore.dev unreachable") {
		t.Fatalf("exit %d:\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = testenv.Run(t, e.dir, env, e.bin, "trust-root", "show")
	if r.Code != 0 || !strings.Contains(r.Stdout, "public-good: embedded snapshot") {
		t.Fatalf("exit %d:\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}
