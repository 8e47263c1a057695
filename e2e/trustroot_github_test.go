package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgsign/imgsign/internal/testing/fakesigstore"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/internal/trustroot/tuftest"
)

// trust-root update github verifies GitHub's TUF repository under GitHub's
// TUF root built into imgsign (the GitHub CLI's). This binary only ever
// trusts that root, so a local repository cannot stand in for GitHub's
// here (that an update from one is cached and used is tested in
// internal/trustroot): what is tested through the CLI is that GitHub's root
// is never embedded — show says none, a policy naming 'sigstore: github'
// fails closed with one line saying what to run — and that a mirror not
// signed by GitHub's TUF keys, or a cache record anyone else wrote, is
// refused.
func TestTrustRootGitHub(t *testing.T) {
	e := newEnv(t)
	cache := filepath.Join(e.dir, "cache")
	ghFile := filepath.Join(cache, "tuf", "github.json")
	run := e.withCache(cache)
	noGitHub := func() {
		t.Helper()
		if _, err := os.Stat(ghFile); !os.IsNotExist(err) {
			t.Fatalf("%s: %v; want no github root cached", ghFile, err)
		}
	}
	const failClosed = "no verified github trust root (there is no cached copy): imgsign does not embed GitHub's trusted root; run 'imgsign trust-root update github' online, or name the output of 'gh attestation trusted-root' as a trusted-root file"

	expectExit(t, run("trust-root", "show", "github"), 0, "github: none (no cached copy; imgsign does not embed it): 'imgsign trust-root update github' fetches one")
	r := run("trust-root", "show", "github", "-o", "json")
	var info struct {
		Name, Source, CacheProblem string
		Authorities                []any
	}
	if err := json.Unmarshal([]byte(r.Stdout), &info); err != nil || r.Code != 0 || info.Name != "github" || info.Source != "none" || len(info.Authorities) != 0 {
		t.Fatalf("show github -o json: exit %d, %v: %+v\n%s", r.Code, err, info, r.Stdout)
	}
	expectExit(t, run("trust-root", "show"), 0, "public-good: embedded snapshot (no cached copy")
	expectExit(t, run("trust-root", "show", "gitlab"), 2, `unknown Sigstore trust root "gitlab": imgsign knows github, public-good`)

	pol := e.write("github.yaml", `version: 1
trustRoots:
  - name: gh
    sigstore: github
identities:
  - name: release
    issuer: `+ghIssuer+`
    subject: `+ghWorkflow+`
    trustRoots: [gh]
policies:
  - name: keyless
    scopes: ["r.example/**"]
    signatures:
      keys: [release]
`)
	expectExit(t, run("policy", "check", pol), 2, "trustRoots[0].sigstore", failClosed)

	// A repository not signed by GitHub's TUF root keys: one that never
	// rotated (the client finds no root after GitHub's, which has
	// expired), and one whose root versions after GitHub's are signed by
	// keys of its own.
	fs := fakesigstore.New(t)
	target := fs.TrustedRootJSON(t)
	repo := tuftest.New(t, map[string][]byte{"trusted_root.json": target})
	expectExit(t, run("trust-root", "update", "github", "--mirror", repo.URL), 1, "does not verify", "the cached github trust root is unchanged")
	noGitHub()
	for range 4 {
		repo.RotateRoot()
	}
	expectExit(t, run("trust-root", "update", "github", "--mirror", repo.URL), 1, "does not verify", "the cached github trust root is unchanged")
	noGitHub()
	expectExit(t, run("trust-root", "update", "github", "--mirror", repo.URL, "--tuf-root", "root.json", "--out", "x.json"), 2, "give one or the other")
	expectExit(t, run("trust-root", "update", "gitlab"), 2, `unknown Sigstore trust root "gitlab"`)
	expectExit(t, run("trust-root", "update", "github", "extra"), 2, "trust-root update takes one [INSTANCE], but was also given extra")
	if _, err := os.Stat(filepath.Join(cache, "tuf", "public-good.json")); !os.IsNotExist(err) {
		t.Fatalf("update github wrote public-good.json: %v", err)
	}

	// A record anyone could write into github.json: a root of theirs with
	// its sha256, claiming GitHub's TUF root, with TUF metadata of their
	// own repository; then the real record format with none. Neither
	// verifies under GitHub's TUF root: show says none is used, and the
	// policy still fails closed.
	sum := sha256.Sum256(target)
	md := repo.Metadata()
	forged, err := json.Marshal(map[string]any{
		"mirror": "https://tuf-repo.github.com", "tufRoot": "github (embedded)", "updated": time.Now().UTC(),
		"sha256": hex.EncodeToString(sum[:]), "trustedRoot": target,
		"tuf": map[string]any{"roots": md.Roots, "timestamp": md.Timestamp, "snapshot": md.Snapshot, "targets": md.Targets},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(ghFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ghFile, forged, 0o644); err != nil {
		t.Fatal(err)
	}
	r = run("trust-root", "show", "github")
	expectExit(t, r, 0, "github: none (the cached copy is not used: see the warning")
	if !strings.Contains(r.Stderr, "warning: the cached github trust root is not used, and imgsign embeds none") || !strings.Contains(r.Stderr, "does not verify under the github TUF root") {
		t.Errorf("no warning saying why github.json is not used:\n%s", r.Stderr)
	}
	if strings.Contains(r.Stdout, fakesigstore.FulcioURL) {
		t.Errorf("show lists the forged root's CA:\n%s", r.Stdout)
	}
	expectExit(t, run("policy", "check", pol), 2, "no verified github trust root (the cached copy is not used: "+ghFile+" does not verify under the github TUF root")
}

// `gh attestation trusted-root` prints JSON lines, one trusted root each
// (public-good's, then GitHub's): --trusted-root and file: in a policy
// take them, a bundle verifying when it verifies under one line, with that
// line's requirements; a malformed line or an empty file is refused.
func TestTrustRootJSONLines(t *testing.T) {
	e := newEnv(t)
	run := e.withCache(filepath.Join(e.dir, "cache"))
	compact := func(data []byte) string {
		var b bytes.Buffer
		if err := json.Compact(&b, data); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	publicGood, err := os.ReadFile(filepath.Join(moduleRoot(t), "internal", "trustroot", "public-good.json"))
	if err != nil {
		t.Fatal(err)
	}
	fs := fakesigstore.New(t)
	lines := compact(publicGood) + "\n" + compact(fs.TrustedRootJSON(t)) + "\n"
	e.write("trusted_root.jsonl", lines)
	artifact := e.write("app.tar.gz", "release bytes")
	e.write("message.json", string(fs.MessageBundle(t, []byte("release bytes"), ghCert(ghWorkflow, "github-hosted"))))
	verifyBlob := func(root string) testenv.Result {
		t.Helper()
		return run("verify-blob", "--trusted-root", root, "--bundle", "message.json", "--certificate-identity", ghWorkflow, "--certificate-oidc-issuer", ghIssuer, artifact)
	}
	expectExit(t, verifyBlob("trusted_root.jsonl"), 0, "verified", ghWorkflow)
	// The public-good line alone does not trust this Sigstore: the union
	// is what verified.
	e.write("public-good-only.jsonl", compact(publicGood)+"\n")
	expectExit(t, verifyBlob("public-good-only.jsonl"), 1, "does not verify")

	// In a policy, as file:.
	host := registries[0].start(t)
	d := testenv.PushImage(t, host, "app", "v1")
	keylessSignature(t, fs, host, "app", d, ghCert(ghWorkflow, "github-hosted"))
	pol := e.write("policy.yaml", `version: 1
trustRoots:
  - name: gh-cli
    file: trusted_root.jsonl
identities:
  - name: release
    issuer: `+ghIssuer+`
    subject: `+ghWorkflow+`
    trustRoots: [gh-cli]
policies:
  - name: keyless
    scopes: ["`+host+`/**"]
    signatures:
      keys: [release]
      threshold: 1
`)
	expectExit(t, run("verify", "--policy", pol, host+"/app:v1"), 0, "PASS")

	// As gh prints it, GitHub's instance's line lists no log: its bundles
	// (a timestamp, no log entry, no SCT) verify under that line on its
	// own, not under the union's log and SCT requirements. Here a second
	// local Sigstore without logs stands in for GitHub's.
	ghs := fakesigstore.New(t)
	e.write("trusted_root.jsonl", lines+compact(ghs.TrustedRootJSON(t, fakesigstore.WithoutRekor(), fakesigstore.WithoutCTLog()))+"\n")
	e.write("message.json", string(ghs.MessageBundle(t, []byte("release bytes"), ghCert(ghWorkflow, "github-hosted"), fakesigstore.WithoutTlog(), fakesigstore.WithoutSCT(), fakesigstore.WithTimestamp())))
	expectExit(t, verifyBlob("trusted_root.jsonl"), 0, "verified", ghWorkflow)
	d2 := testenv.PushImage(t, host, "ghapp", "v1")
	keylessSignature(t, ghs, host, "ghapp", d2, ghCert(ghWorkflow, "github-hosted"), fakesigstore.WithoutTlog(), fakesigstore.WithoutSCT(), fakesigstore.WithTimestamp())
	expectExit(t, run("verify", "--policy", pol, host+"/ghapp:v1"), 0, "PASS")
	// But a line's requirements are its own: a bundle of the Sigstore
	// with logs that shows no log entry (only a timestamp) is refused,
	// though another line (GitHub's stand-in) requires none.
	e.write("message.json", string(fs.MessageBundle(t, []byte("release bytes"), ghCert(ghWorkflow, "github-hosted"), fakesigstore.WithoutTlog(), fakesigstore.WithTimestamp())))
	expectExit(t, verifyBlob("trusted_root.jsonl"), 1, "does not verify", "(line 2)", "(line 3)")

	// Refused: any malformed line, an empty file.
	root := filepath.Join(e.dir, "trusted_root.jsonl")
	e.write("trusted_root.jsonl", compact(publicGood)+"\n"+`{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1", "tlogs": [`+"\n")
	expectExit(t, verifyBlob("trusted_root.jsonl"), 2, "trusted_root.jsonl line 2 is not a Sigstore trusted_root.json")
	expectExit(t, run("verify", "--policy", pol, host+"/app:v1"), 2, root+" line 2 is not a Sigstore trusted_root.json")
	e.write("trusted_root.jsonl", "")
	expectExit(t, verifyBlob("trusted_root.jsonl"), 2, "trusted_root.jsonl is empty")
}
