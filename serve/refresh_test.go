package serve

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgsign/imgsign/admission"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/internal/testing/fakesigstore"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/internal/testing/vaulttransit"
	"github.com/imgsign/imgsign/internal/trustroot"
	"github.com/imgsign/imgsign/internal/trustroot/tuftest"
	"github.com/imgsign/imgsign/keys"
	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/statement"
)

// syncBuffer is a log the server writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// watched is a server whose log the test reads, and the counts a reload
// moves.
type watched struct {
	*Server
	log *syncBuffer
}

func newWatched(t *testing.T, policyFile string, mod func(*Config)) *watched {
	t.Helper()
	buf := &syncBuffer{}
	cfg := Config{PolicyFile: policyFile, Deadline: 5 * time.Second, VerdictTTL: time.Minute, NegativeTTL: time.Minute,
		ResolveTTL: time.Minute, ReloadInterval: time.Second, Log: slog.New(slog.NewTextHandler(buf, nil))}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Reload(context.Background())
	return &watched{Server: s, log: buf}
}

// hash is the hash of the policy in force ("" when none is).
func (w *watched) hash() string {
	if l := w.judge.state.Load(); l != nil {
		return l.hash
	}
	return ""
}

// step reloads and checks what the reload did: whether a new policy is in
// force (its hash changed, the verdict cache was dropped) and image's
// verdict after it.
func (w *watched) step(t *testing.T, what string, wantNew bool, image, wantVerdict string) {
	t.Helper()
	before, reloads, cached := w.hash(), counter(t, w.Server, "imgsign_reloads_total"), w.judge.verdicts.len()
	w.Reload(context.Background())
	after := w.hash()
	switch {
	case wantNew && (after == before || after == ""):
		t.Errorf("%s: policy hash %q, then %q: want a new policy", what, before, after)
	case wantNew && w.judge.verdicts.len() != 0:
		t.Errorf("%s: %d cached verdicts survived the new policy", what, w.judge.verdicts.len())
	case !wantNew && after != before:
		t.Errorf("%s: policy hash %q, then %q: want it unchanged", what, before, after)
	case !wantNew && counter(t, w.Server, "imgsign_reloads_total") != reloads:
		t.Errorf("%s: counted a reload", what)
	case !wantNew && w.judge.verdicts.len() != cached:
		t.Errorf("%s: %d cached verdicts, then %d: want them kept", what, cached, w.judge.verdicts.len())
	}
	if image == "" {
		return
	}
	if v := judgeOne(t, w.Server, image); v.Verdict != wantVerdict {
		t.Errorf("%s: %s is %s (%s), want %s", what, image, v.Verdict, v.Reason, wantVerdict)
	}
}

// keylessEnv is a registry, a test Sigstore standing in for the
// public-good instance through a local TUF repository (its root the
// public-good TUF anchor for the test, its trusted root cached by
// `trust-root update`), and a policy trusting a workflow identity under
// `sigstore: public-good`.
type keylessEnv struct {
	host, dir, policyFile string
	sigstore              *fakesigstore.Sigstore
	target                []byte // the trusted_root.json the repository publishes
	repo                  *tuftest.Repo
}

const (
	ghIssuer   = "https://token.actions.githubusercontent.com"
	ghWorkflow = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1"
)

func newKeylessEnv(t *testing.T) *keylessEnv {
	t.Helper()
	e := &keylessEnv{host: testenv.Registry(t, true).Addr, dir: t.TempDir(), sigstore: fakesigstore.New(t)}
	e.target = e.sigstore.TrustedRootJSON(t)
	e.repo = tuftest.New(t, map[string][]byte{trustroot.TargetName: e.target})
	trustroot.UseTUFAnchorForTest(t, trustroot.PublicGood, e.repo.RootJSON())
	t.Setenv(trustroot.EnvCacheDir, t.TempDir())
	e.policyFile = filepath.Join(e.dir, "policy.yaml")
	doc := `version: 1
trustRoots:
  - {name: pg, sigstore: public-good}
identities:
  - name: release
    issuer: ` + ghIssuer + `
    subject: ` + ghWorkflow + `
    trustRoots: [pg]
policies:
  - name: apps
    scopes: ["` + e.host + `/**"]
    signatures: {keys: [release]}
`
	if err := os.WriteFile(e.policyFile, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

// update is `imgsign trust-root update` from the test repository,
// publishing target first when it is not nil.
func (e *keylessEnv) update(t *testing.T, target []byte) *trustroot.UpdateResult {
	t.Helper()
	if target != nil {
		e.repo.Publish(map[string][]byte{trustroot.TargetName: target})
	}
	res, err := trustroot.Update(context.Background(), trustroot.UpdateRequest{MirrorURL: e.repo.URL})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// push pushes an image signed keyless by the release workflow under the
// test Sigstore.
func (e *keylessEnv) push(t *testing.T, repoName string) string {
	t.Helper()
	d := testenv.PushImage(t, e.host, repoName, "v1")
	repo, err := name.NewRepository(e.host+"/"+repoName, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	st, err := statement.About(repo, d, statement.Signature, map[string]any{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	bundle := e.sigstore.DSSEBundle(t, st, fakesigstore.Identity{Subject: ghWorkflow, Issuer: ghIssuer})
	rp, err := registry.New().Open(context.Background(), repo, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sign.Push(context.Background(), rp, v1.Descriptor{MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: d}, statement.Signature, bundle, sign.Options{}); err != nil {
		t.Fatal(err)
	}
	return e.host + "/" + repoName + ":v1"
}

// serve resolved `sigstore: public-good` once and kept it: a root Sigstore
// changed (a key removed) through `trust-root update`, or whose cached
// TUF metadata expired (where verify falls back to the embedded snapshot),
// went on being trusted. Now the next reload loads the policy again under
// what a fresh verify would use, with a new hash, so the signature that
// verified under the old root is refused without a restart; and an
// unchanged cache reloads nothing.
func TestReloadNamedTrustRoot(t *testing.T) {
	e := newKeylessEnv(t)
	res := e.update(t, nil)
	image := e.push(t, "app/keyless")
	var clock time.Time
	trustroot.UseTimeForTest(t, func() time.Time {
		if clock.IsZero() {
			return time.Now()
		}
		return clock
	})
	w := newWatched(t, e.policyFile, nil)
	if v := judgeOne(t, w.Server, image); v.Verdict != admission.Pass {
		t.Fatalf("under the cached root: %+v\n%s", v, w.log)
	}
	first := w.hash()
	other := fakesigstore.New(t).TrustedRootJSON(t)
	for _, s := range []struct {
		what    string
		change  func()
		wantNew bool
		verdict string
	}{
		{"nothing changed", func() {}, false, admission.Pass},
		{"nothing changed, again", func() {}, false, admission.Pass},
		{"the record re-signed around the same root", func() { res = e.update(t, e.target) }, false, admission.Pass},
		{"Sigstore published another root", func() { res = e.update(t, other) }, true, admission.Fail},
		{"and it stays", func() {}, false, admission.Fail},
		{"the first root is back", func() { res = e.update(t, e.target) }, true, admission.Pass},
		{"a minute before the metadata expires", func() { clock = res.TUFExpires.Add(-time.Minute) }, false, admission.Pass},
		{"the metadata expired: the embedded snapshot", func() { clock = res.TUFExpires.Add(time.Minute) }, true, admission.Fail},
		{"still expired", func() {}, false, admission.Fail},
		{"the record deleted: still the embedded snapshot", func() {
			dir, err := trustroot.CacheDir()
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(dir, trustroot.PublicGood+".json")); err != nil {
				t.Fatal(err)
			}
		}, false, admission.Fail},
		{"updated again", func() { clock = time.Time{}; res = e.update(t, e.target) }, true, admission.Pass},
	} {
		s.change()
		w.step(t, s.what, s.wantNew, image, s.verdict)
	}
	if w.hash() != first {
		t.Errorf("the same inputs hash to %s, then %s", first, w.hash())
	}
	if n := strings.Count(w.log.String(), "trust policy loaded"); n != 5 {
		t.Errorf("logged %d loads, want 5 (one per change)\n%s", n, w.log)
	}
	if n := counter(t, w.Server, "imgsign_reload_errors_total"); n != 0 {
		t.Errorf("%v reload errors", n)
	}
}

// A policy naming `sigstore: github` is refused until `trust-root update
// github` caches GitHub's root (there is no snapshot), and loads at the
// next check once it is there, without a restart or a policy edit.
func TestReloadGitHubRootAppears(t *testing.T) {
	e := newKeylessEnv(t)
	gh := tuftest.New(t, map[string][]byte{trustroot.TargetName: e.target})
	trustroot.UseTUFAnchorForTest(t, trustroot.GitHub, gh.RootJSON())
	doc, err := os.ReadFile(e.policyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.policyFile, bytes.Replace(doc, []byte("sigstore: public-good"), []byte("sigstore: github"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	image := e.push(t, "app/gh")
	w := newWatched(t, e.policyFile, nil)
	if status, code := w.policy.status(); code == 200 || !strings.Contains(status, "trust-root update github") {
		t.Fatalf("without GitHub's root: %d %s", code, status)
	}
	w.Reload(context.Background())
	if n := counter(t, w.Server, "imgsign_reload_errors_total"); n != 1 {
		t.Errorf("%v reload errors, want the refusal reported once", n)
	}
	res, err := trustroot.Update(context.Background(), trustroot.UpdateRequest{Instance: trustroot.GitHub, MirrorURL: gh.URL})
	if err != nil {
		t.Fatal(err)
	}
	w.step(t, "GitHub's root cached", true, image, admission.Pass)
	w.step(t, "unchanged", false, image, admission.Pass)
	// public-good's cache changing does not concern this policy: it is
	// read again, to the same hash, and nothing is replaced.
	e.update(t, nil)
	w.step(t, "public-good's root cached", false, image, admission.Pass)
	loaded := w.hash()

	// The cached copy's TUF metadata expires: verify has no GitHub root
	// and refuses the policy; serve must not go on with the expired one.
	var clock time.Time
	trustroot.UseTimeForTest(t, func() time.Time {
		if clock.IsZero() {
			return time.Now()
		}
		return clock
	})
	clock = res.TUFExpires.Add(time.Minute)
	w.Reload(context.Background())
	if h := w.hash(); h != "" {
		t.Fatalf("GitHub's cached root expired and policy %s stays in force\n%s", h, w.log)
	}
	if v := judgeOne(t, w.Server, image); v.Verdict != admission.Error || !v.Enforced || !strings.Contains(v.Reason, "Sigstore trust root github") {
		t.Errorf("with GitHub's root expired: %+v", v)
	}
	if status, code := w.policy.status(); code == 200 || !strings.Contains(status, "out of date") {
		t.Errorf("readyz with GitHub's root expired: %d %s", code, status)
	}
	w.Reload(context.Background())
	if n := counter(t, w.Server, "imgsign_reload_errors_total"); n != 2 {
		t.Errorf("%v reload errors, want 2 (each refusal once)", n)
	}
	// The CronJob's next `trust-root update github`: in force again.
	clock = time.Time{}
	gh.Publish(map[string][]byte{trustroot.TargetName: e.target})
	if _, err := trustroot.Update(context.Background(), trustroot.UpdateRequest{Instance: trustroot.GitHub, MirrorURL: gh.URL}); err != nil {
		t.Fatal(err)
	}
	w.Reload(context.Background())
	if h := w.hash(); h != loaded {
		t.Errorf("GitHub's root updated again: policy %q, want %s", h, loaded)
	}
	if v := judgeOne(t, w.Server, image); v.Verdict != admission.Pass {
		t.Errorf("GitHub's root updated again: %+v", v)
	}
}

// kmsEnv is a registry, a Vault transit server holding the release key,
// and a policy trusting hashivault://release.
type kmsEnv struct {
	host, policyFile string
	vault            *vaulttransit.Server
}

func newKMSEnv(t *testing.T) *kmsEnv {
	t.Helper()
	e := &kmsEnv{host: testenv.Registry(t, true).Addr, vault: vaulttransit.Start()}
	t.Cleanup(e.vault.Close)
	e.vault.Setenv(t)
	if err := e.vault.CreateKey("release", vaulttransit.TypeECDSAP256); err != nil {
		t.Fatal(err)
	}
	e.policyFile = filepath.Join(t.TempDir(), "policy.yaml")
	doc := fmt.Sprintf("version: 1\nkeys:\n  - name: release\n    publicKey: hashivault://release\npolicies:\n  - name: apps\n    scopes: [\"%s/**\"]\n    signatures:\n      keys: [release]\n", e.host)
	if err := os.WriteFile(e.policyFile, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

// push pushes an image signed with the KMS key's latest version.
func (e *kmsEnv) push(t *testing.T, repoName string) string {
	t.Helper()
	testenv.PushImage(t, e.host, repoName, "v1")
	image := e.host + "/" + repoName + ":v1"
	signer, err := keys.LoadKMSSigner(context.Background(), "hashivault://release")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sign.Image(context.Background(), registry.New(), image, signer, sign.Options{}); err != nil {
		t.Fatal(err)
	}
	return image
}

// everyReload fetches the KMS keys at every Reload.
func everyReload(c *Config) { c.KMSRefresh = time.Nanosecond }

// serve fetched KMS keys once: a version retired in the KMS (or a key
// rotated) was trusted until a restart. Now they are fetched again every
// --kms-refresh, and a change loads a policy under a new hash, so a
// signature by a retired version is refused without a restart; the same
// keys reload nothing.
func TestKMSRefresh(t *testing.T) {
	e := newKMSEnv(t)
	image := e.push(t, "app/kms")
	w := newWatched(t, e.policyFile, everyReload)
	if v := judgeOne(t, w.Server, image); v.Verdict != admission.Pass {
		t.Fatalf("signed with v1: %+v\n%s", v, w.log)
	}
	first := w.hash()
	w.step(t, "the same keys", false, image, admission.Pass)
	w.step(t, "the same keys, again", false, image, admission.Pass)
	if _, err := e.vault.Rotate("release"); err != nil {
		t.Fatal(err)
	}
	w.step(t, "rotated: v1 and v2", true, image, admission.Pass)
	if err := e.vault.SetMinDecryptionVersion("release", 2); err != nil {
		t.Fatal(err)
	}
	w.step(t, "v1 retired", true, image, admission.Fail)
	if w.hash() == first {
		t.Error("the policy trusting v2 only has v1's hash")
	}
	w.step(t, "unchanged", false, image, admission.Fail)
	if n := counter(t, w.Server, "imgsign_reload_errors_total"); n != 0 {
		t.Errorf("%v reload errors\n%s", n, w.log)
	}

	// Without --kms-refresh due, the KMS is not asked.
	quiet := newWatched(t, e.policyFile, nil)
	asked := len(e.vault.Requests())
	for range 3 {
		quiet.Reload(context.Background())
	}
	if n := len(e.vault.Requests()) - asked; n != 0 {
		t.Errorf("%d KMS requests before the refresh was due", n)
	}
}

// A KMS that cannot be reached keeps the keys fetched before (reported
// once); a KMS that says the key is not there withdraws the policy: every
// admission is denied until the key loads again.
func TestKMSRefreshFailures(t *testing.T) {
	e := newKMSEnv(t)
	image := e.push(t, "app/kms")
	w := newWatched(t, e.policyFile, everyReload)
	if v := judgeOne(t, w.Server, image); v.Verdict != admission.Pass {
		t.Fatalf("%+v\n%s", v, w.log)
	}
	first := w.hash()
	errs := func() float64 { return counter(t, w.Server, "imgsign_reload_errors_total") }

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	t.Setenv("VAULT_ADDR", closed)
	for i := range 3 {
		w.step(t, fmt.Sprintf("KMS unreachable (%d)", i+1), false, image, admission.Pass)
	}
	if n := errs(); n != 1 {
		t.Errorf("%v reload errors for an unreachable KMS, want 1 (reported once)", n)
	}
	if status, code := w.policy.status(); code != 200 || !strings.Contains(status, "cannot reach") {
		t.Errorf("readyz while the KMS is unreachable: %d %s", code, status)
	}
	if !strings.Contains(w.log.String(), "KMS keys could not be fetched again; the ones fetched before stay in force") {
		t.Errorf("log:\n%s", w.log)
	}
	t.Setenv("VAULT_ADDR", e.vault.URL)
	w.step(t, "KMS back", false, image, admission.Pass)
	if status, _ := w.policy.status(); strings.Contains(status, "refused") {
		t.Errorf("readyz after the KMS came back: %s", status)
	}

	// The key is gone (here: the engine it was in).
	t.Setenv("TRANSIT_SECRET_ENGINE_PATH", "elsewhere")
	w.Reload(context.Background())
	if h := w.hash(); h != "" {
		t.Fatalf("the KMS says the key is gone and policy %s stays in force\n%s", h, w.log)
	}
	v := judgeOne(t, w.Server, image)
	if v.Verdict != admission.Error || !v.Enforced || !strings.Contains(v.Reason, "KMS no longer returns a key") {
		t.Errorf("with the key gone: %+v", v)
	}
	if status, code := w.policy.status(); code == 200 || !strings.Contains(status, "not found") {
		t.Errorf("readyz with the key gone: %d %s", code, status)
	}
	for range 2 {
		w.Reload(context.Background())
	}
	if n := errs(); n != 2 {
		t.Errorf("%v reload errors, want 2 (each failure reported once)", n)
	}
	t.Setenv("TRANSIT_SECRET_ENGINE_PATH", e.vault.Mount)
	w.Reload(context.Background())
	if h := w.hash(); h != first {
		t.Fatalf("the key is back: policy %q, want %s\n%s", h, first, w.log)
	}
	if v := judgeOne(t, w.Server, image); v.Verdict != admission.Pass {
		t.Errorf("the key is back: %+v", v)
	}
}
