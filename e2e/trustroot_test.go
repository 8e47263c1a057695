package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgsign/imgsign/internal/testing/fakesigstore"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/internal/trustroot/tuftest"
)

// trust-root update --tuf-root fetches a private Sigstore's trusted root
// through its TUF repository (here a local one, anchored with --tuf-root)
// into a file of the user's (--out), which verify-blob then names with
// --trusted-root: it never becomes what public-good means. A repository
// that does not verify changes nothing. A cache file that anyone but an
// update from Sigstore's repository wrote (the red team's attack: an
// attacker's root with its sha256, or with TUF metadata of their own) is
// passed over for the embedded snapshot, as is a damaged one, and show
// warns. (That a cache an update from the public-good repository wrote is
// used is tested in internal/trustroot, which can stand a local repository
// in for Sigstore's; this binary only ever trusts Sigstore's TUF root.)
func TestTrustRootUpdate(t *testing.T) {
	e := newEnv(t)
	cache := filepath.Join(e.dir, "cache")
	cacheFile := filepath.Join(cache, "tuf", "public-good.json")
	run := e.withCache(cache)

	fs := fakesigstore.New(t)
	target := fs.TrustedRootJSON(t)
	repo := tuftest.New(t, map[string][]byte{"trusted_root.json": target})
	repo.WriteRoot(filepath.Join(e.dir, "root.json"))
	artifact := e.write("app.tar.gz", "release bytes")
	e.write("message.json", string(fs.MessageBundle(t, []byte("release bytes"), ghCert(ghWorkflow, "github-hosted"))))
	verifyBlob := func(extra ...string) testenv.Result {
		t.Helper()
		return run(append(append([]string{"verify-blob"}, extra...), "--bundle", "message.json", "--certificate-identity", ghWorkflow, "--certificate-oidc-issuer", ghIssuer, artifact)...)
	}
	noCache := func() {
		t.Helper()
		if _, err := os.Stat(cacheFile); !os.IsNotExist(err) {
			t.Fatalf("%s: %v; want no public-good root cached", cacheFile, err)
		}
	}

	// Before: the embedded public-good snapshot, which knows nothing of
	// this Sigstore.
	expectExit(t, run("trust-root", "show"), 0, "public-good: embedded snapshot (no cached copy", "https://fulcio.sigstore.dev")
	expectExit(t, verifyBlob(), 1, "does not verify")

	// A private TUF root never replaces public-good: without --out it is
	// bad input.
	expectExit(t, run("trust-root", "update", "--mirror", repo.URL, "--tuf-root", "root.json"), 2, "never replaces the public-good trust root", "--out FILE")
	if len(repo.Requests()) != 0 {
		t.Fatalf("bad input fetched %v", repo.Requests())
	}

	out := filepath.Join(e.dir, "private-root.json")
	r := run("trust-root", "update", "--mirror", repo.URL, "--tuf-root", "root.json", "--out", "private-root.json")
	expectExit(t, r, 0, "wrote the trusted root of "+repo.URL, "to "+out+": changed",
		"1 certificate authority, 2 transparency logs, 1 CT log, 1 timestamp authority", "verify-blob --trusted-root "+out, "the named trust roots (github, public-good) are unchanged")
	if got, err := os.ReadFile(out); err != nil || string(got) != string(target) {
		t.Fatalf("%s is not the trusted root the repository published: %v", out, err)
	}
	noCache()
	expectExit(t, run("trust-root", "show"), 0, "public-good: embedded snapshot (no cached copy")
	expectExit(t, verifyBlob(), 1, "does not verify")
	expectExit(t, verifyBlob("--trusted-root", "private-root.json"), 0, "verified", ghWorkflow)
	expectExit(t, run("trust-root", "update", "--mirror", repo.URL, "--tuf-root", "root.json", "--out", "private-root.json"), 0, ": unchanged")
	r = run("trust-root", "update", "--mirror", repo.URL, "--tuf-root", "root.json", "--out", "private-root.json", "-o", "json")
	var res struct {
		Name, Source, Path, TUFRoot, SHA256 string
		Changed                             *bool
		Authorities                         []struct{ Kind, Name string }
	}
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil || r.Code != 0 || res.Name != "" || res.Source != "file" || res.Path != out ||
		!strings.HasPrefix(res.TUFRoot, "sha256:") || res.Changed == nil || *res.Changed || len(res.Authorities) != 5 {
		t.Fatalf("update -o json: exit %d, %v: %+v\n%s", r.Code, err, res, r.Stdout)
	}
	if strings.Contains(r.Stdout, "BEGIN") || strings.Contains(r.Stdout, "rawBytes") {
		t.Errorf("update prints key material:\n%s", r.Stdout)
	}

	// A mirror serving a tampered root, a stale timestamp, an unreachable
	// mirror, bad input: the file stays, verify-blob still passes with it.
	mallory := fakesigstore.New(t).TrustedRootJSON(t)
	repo.Publish(map[string][]byte{"trusted_root.json": mallory})
	repo.Tamper("trusted_root.json", append(mallory[:len(mallory)-1:len(mallory)-1], ' '))
	update := func(args ...string) testenv.Result {
		t.Helper()
		return run(append([]string{"trust-root", "update", "--out", "private-root.json"}, args...)...)
	}
	expectExit(t, update("--mirror", repo.URL, "--tuf-root", "root.json"), 1, "does not verify", "hash verification failed", out+" is unchanged")
	repo.ExpireTimestamp()
	expectExit(t, update("--mirror", repo.URL, "--tuf-root", "root.json"), 1, "timestamp.json is expired")
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	expectExit(t, update("--mirror", closed.URL, "--tuf-root", "root.json"), 3, "unreachable")
	expectExit(t, update("--mirror", repo.URL, "--tuf-root", "message.json"), 2, "is not a TUF root.json")
	expectExit(t, update("--mirror", "file:///etc", "--tuf-root", "root.json"), 2, "expected an http(s) URL")
	expectExit(t, update("--mirror", repo.URL, "--tuf-root", "root.json", "extra"), 2, `unknown Sigstore trust root "extra"`)
	expectExit(t, update("--mirror", repo.URL, "--tuf-root", "root.json", "github", "extra"), 2, "takes one [INSTANCE], but was also given extra")
	if got, err := os.ReadFile(out); err != nil || string(got) != string(target) {
		t.Fatalf("a failed update changed %s: %v", out, err)
	}
	noCache()
	expectExit(t, verifyBlob("--trusted-root", "private-root.json"), 0, "verified")

	// The red team's attack: whoever can write the cache directory (a
	// poisoned CI cache, a shared runner) puts the root of a CA of theirs
	// there, as the cache record imgsign writes, with the matching sha256
	// and claiming the public-good TUF root; then with TUF metadata of
	// their own repository too. Neither verifies under the public-good TUF
	// root built into imgsign: the embedded snapshot is used, show warns,
	// and the attacker's bundle does not verify.
	type tufMetadata struct {
		Roots     [][]byte `json:"roots,omitempty"`
		Timestamp []byte   `json:"timestamp"`
		Snapshot  []byte   `json:"snapshot"`
		Targets   []byte   `json:"targets"`
	}
	type record struct {
		Mirror      string       `json:"mirror"`
		TUFRoot     string       `json:"tufRoot"`
		Updated     time.Time    `json:"updated"`
		SHA256      string       `json:"sha256"`
		TrustedRoot []byte       `json:"trustedRoot"`
		TUF         *tufMetadata `json:"tuf,omitempty"`
	}
	sum := sha256.Sum256(target)
	attack := record{Mirror: "https://tuf-repo-cdn.sigstore.dev", TUFRoot: "public-good (embedded)", Updated: time.Now().UTC(), SHA256: hex.EncodeToString(sum[:]), TrustedRoot: target}
	theirs := tuftest.New(t, map[string][]byte{"trusted_root.json": target})
	theirs.RotateRoot()
	md := theirs.Metadata()
	withTUF := attack
	withTUF.TUF = &tufMetadata{Roots: md.Roots, Timestamp: md.Timestamp, Snapshot: md.Snapshot, Targets: md.Targets}
	host := registries[0].start(t)
	d := testenv.PushImage(t, host, "app", "v1")
	keylessSignature(t, fs, host, "app", d, ghCert(ghWorkflow, "github-hosted"))
	policy := e.write("public-good.yaml", `version: 1
trustRoots:
  - name: sigstore
    sigstore: public-good
identities:
  - name: release
    issuer: `+ghIssuer+`
    subjectGlob: https://github.com/acme/app/.github/workflows/release.yml@refs/tags/*
    trustRoots: [sigstore]
policies:
  - name: keyless
    scopes: ["`+host+`/**"]
    signatures:
      keys: [release]
      threshold: 1
`)
	for _, tc := range []struct {
		name string
		rec  record
		why  string
	}{
		{"the attacker's root with its sha256", attack, "holds no TUF metadata"},
		{"the attacker's root and TUF metadata", withTUF, "does not verify under the public-good TUF root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := json.Marshal(tc.rec)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Dir(cacheFile), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(cacheFile, data, 0o644); err != nil {
				t.Fatal(err)
			}
			r := run("trust-root", "show")
			expectExit(t, r, 0, "public-good: embedded snapshot (the cached copy is not used", "https://fulcio.sigstore.dev")
			if strings.Contains(r.Stdout, fakesigstore.FulcioURL) {
				t.Errorf("show lists the attacker's CA:\n%s", r.Stdout)
			}
			if !strings.Contains(r.Stderr, "warning: the cached trust root is not used") || !strings.Contains(r.Stderr, tc.why) {
				t.Errorf("no warning saying why the cache is not used (%q):\n%s", tc.why, r.Stderr)
			}
			r = run("trust-root", "show", "-o", "json")
			var info struct{ Source, CacheProblem string }
			if err := json.Unmarshal([]byte(r.Stdout), &info); err != nil || r.Code != 0 || info.Source != "embedded" || !strings.Contains(info.CacheProblem, tc.why) {
				t.Fatalf("show -o json: exit %d, %v: %+v\n%s", r.Code, err, info, r.Stdout)
			}
			expectExit(t, verifyBlob(), 1, "does not verify")
			r = run("verify", "--policy", policy, host+"/app:v1")
			expectExit(t, r, 1, "FAIL", "does not verify under the policy's trust roots")
			if !strings.Contains(r.Stderr, "warning: the cached trust root is not used") || !strings.Contains(r.Stderr, tc.why) {
				t.Errorf("verify does not say the cached trust root was passed over (%q):\n%s", tc.why, r.Stderr)
			}
		})
	}

	// A damaged cache is not used either, and show says so.
	if err := os.WriteFile(cacheFile, []byte(`{"sha256": "`), 0o644); err != nil {
		t.Fatal(err)
	}
	r = run("trust-root", "show")
	expectExit(t, r, 0, "public-good: embedded snapshot (the cached copy is not used")
	if !strings.Contains(r.Stderr, "warning: the cached trust root is not used") || !strings.Contains(r.Stderr, "is damaged") {
		t.Errorf("no warning about the damaged cache:\n%s", r.Stderr)
	}
	expectExit(t, verifyBlob(), 1, "does not verify")
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
