package serve

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imgsign/imgsign/admission"
	"github.com/imgsign/imgsign/internal/refname"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/internal/testing/testkey"
	"github.com/imgsign/imgsign/keys"
	"github.com/imgsign/imgsign/sign"
)

// env is a real registry, a key that signs in it, and a policy file on disk
// trusting the key for the registry's repositories.
type env struct {
	host, dir, policyFile string
	signer                *keys.Signer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{host: testenv.Registry(t, true).Addr, dir: t.TempDir(), signer: testkey.Signer(t)}
	pub, err := keys.EncodePublic(e.signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "release.pub"), pub, 0o644); err != nil {
		t.Fatal(err)
	}
	e.policyFile = filepath.Join(e.dir, "policy.yaml")
	e.writePolicy(t, "", "enforce")
	return e
}

// writePolicy writes the policy with extra lines under the key (a
// validity window) and the rule's mode.
func (e *env) writePolicy(t *testing.T, keyExtra, mode string) {
	t.Helper()
	doc := fmt.Sprintf("version: 1\nkeys:\n  - name: release\n    publicKey: release.pub\n%spolicies:\n  - name: apps\n    mode: %s\n    scopes: [\"%s/**\"]\n    signatures:\n      keys: [release]\n", keyExtra, mode, e.host)
	if err := os.WriteFile(e.policyFile, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (e *env) push(t *testing.T, repoTag string, signed bool) string {
	t.Helper()
	repo, tag, _ := strings.Cut(repoTag, ":")
	testenv.PushImage(t, e.host, repo, tag)
	image := e.host + "/" + repoTag
	if signed {
		if _, err := sign.Image(context.Background(), registry.New(), image, e.signer, sign.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	return image
}

func newServer(t *testing.T, e *env, mod func(*Config)) *Server {
	t.Helper()
	cfg := Config{PolicyFile: e.policyFile, Deadline: 5 * time.Second, VerdictTTL: time.Minute, NegativeTTL: time.Minute,
		ResolveTTL: time.Minute, ReloadInterval: time.Second, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Reload(context.Background())
	return s
}

func judgeOne(t *testing.T, s *Server, image string) admission.Verdict {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.judge.Judge(ctx, image)
}

func counter(t *testing.T, s *Server, name string) float64 {
	t.Helper()
	mfs, err := s.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

func TestJudge(t *testing.T) {
	e := newEnv(t)
	signed := e.push(t, "app/signed:1", true)
	unsigned := e.push(t, "app/unsigned:1", false)
	s := newServer(t, e, nil)
	for _, tc := range []struct {
		image, verdict string
	}{
		{signed, admission.Pass},
		{unsigned, admission.Fail},
		{"other.example/app:1", admission.Fail}, // no scope: untrusted
		{"UPPER/Case::", admission.Error},       // not a reference
	} {
		v := judgeOne(t, s, tc.image)
		if v.Verdict != tc.verdict || !v.Enforced {
			t.Errorf("%s: %+v, want %s enforced", tc.image, v, tc.verdict)
		}
		if tc.verdict != admission.Pass && v.Reason == "" {
			t.Errorf("%s: no reason", tc.image)
		}
	}
	v := judgeOne(t, s, signed)
	if !strings.HasPrefix(v.Pinned, signed+"@sha256:") || v.Reference == "" || v.Rule != "apps" {
		t.Errorf("pass carries pinned %q reference %q rule %q", v.Pinned, v.Reference, v.Rule)
	}
	if got := judgeOne(t, s, v.Pinned); got.Verdict != admission.Pass || got.Pinned != "" {
		t.Errorf("the pinned reference: %+v, want a pass with nothing left to pin", got)
	}
}

// A thousand admissions of one new image make one verification.
func TestJudgeSingleFlight(t *testing.T) {
	e := newEnv(t)
	image := e.push(t, "app/burst:1", true)
	s := newServer(t, e, nil)
	before := counter(t, s, "imgsign_registry_requests_total")
	var wg sync.WaitGroup
	for range 1000 {
		wg.Go(func() {
			if v := judgeOne(t, s, image); v.Verdict != admission.Pass {
				t.Errorf("%+v", v)
			}
		})
	}
	wg.Wait()
	if n := counter(t, s, "imgsign_verifications_total"); n != 1 {
		t.Errorf("%v verifications, want 1", n)
	}
	if n := counter(t, s, "imgsign_registry_requests_total") - before; n > 5 {
		t.Errorf("%v registry requests, want at most 5", n)
	}
}

// The cache is keyed by digest: a tag moved to an unsigned image is judged
// anew once its resolution expires, and never passes on the old verdict.
func TestJudgeTagMoved(t *testing.T) {
	e := newEnv(t)
	image := e.push(t, "app/moving:1", true)
	s := newServer(t, e, func(c *Config) { c.ResolveTTL = 0 })
	if v := judgeOne(t, s, image); v.Verdict != admission.Pass {
		t.Fatalf("%+v", v)
	}
	e.push(t, "app/moving:1", false)
	if v := judgeOne(t, s, image); v.Verdict != admission.Fail {
		t.Fatalf("after the tag moved: %+v, want fail", v)
	}
}

// A reload that revokes the key denies the next admission of an image
// admitted from the cache a moment before; a broken policy keeps the old.
func TestReload(t *testing.T) {
	e := newEnv(t)
	image := e.push(t, "app/revoked:1", true)
	s := newServer(t, e, nil)
	for range 2 {
		if v := judgeOne(t, s, image); v.Verdict != admission.Pass {
			t.Fatalf("%+v", v)
		}
	}
	if hits := counter(t, s, "imgsign_verdict_cache_hits_total"); hits != 1 {
		t.Fatalf("%v cache hits, want 1", hits)
	}
	if err := os.WriteFile(e.policyFile, []byte("version: 1\npolicies: [oops"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Reload(context.Background())
	if v := judgeOne(t, s, image); v.Verdict != admission.Pass {
		t.Errorf("a broken policy replaced the one in force: %+v", v)
	}
	if status, _ := s.policy.status(); !strings.Contains(status, "refused") {
		t.Errorf("readyz does not report the refused policy: %s", status)
	}
	e.writePolicy(t, "    revokedAt: 2020-01-01T00:00:00Z\n", "enforce")
	s.Reload(context.Background())
	v := judgeOne(t, s, image)
	if v.Verdict != admission.Fail || !strings.Contains(v.Reason, "revoked") {
		t.Errorf("after revoking the key: %+v", v)
	}
	if n := counter(t, s, "imgsign_reload_errors_total"); n != 1 {
		t.Errorf("%v reload errors, want 1", n)
	}
}

// A pass is cached no longer than the key's validUntil.
func TestJudgeTTLBoundedByValidity(t *testing.T) {
	e := newEnv(t)
	image := e.push(t, "app/expiring:1", true)
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	e.writePolicy(t, "    validUntil: "+until.Format(time.RFC3339)+"\n", "enforce")
	s := newServer(t, e, func(c *Config) { c.VerdictTTL = 24 * time.Hour })
	if v := judgeOne(t, s, image); v.Verdict != admission.Pass {
		t.Fatalf("%+v", v)
	}
	judgeOne(t, s, image)
	if n := counter(t, s, "imgsign_verifications_total"); n != 1 {
		t.Fatalf("%v verifications before validUntil, want 1 (cached)", n)
	}
	// A second past validUntil the cached pass must not be used.
	s.judge.now = func() time.Time { return until.Add(time.Second) }
	judgeOne(t, s, image)
	if n := counter(t, s, "imgsign_verifications_total"); n != 2 {
		t.Errorf("%v verifications after validUntil, want 2: the cache answered past the key's validUntil", n)
	}
}

// A registry that accepts connections and never answers gets a denial
// within the deadline; an audit-mode rule admits instead.
func TestJudgeHangingRegistry(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	e := newEnv(t)
	e.host = ln.Addr().String()
	for _, mode := range []string{"enforce", "audit"} {
		e.writePolicy(t, "", mode)
		s := newServer(t, e, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		start := time.Now()
		v := s.judge.Judge(ctx, e.host+"/app/hangs:1")
		cancel()
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Errorf("%s: answered after %s", mode, elapsed)
		}
		if v.Verdict != admission.Error || v.Admitted() != (mode == "audit") || !strings.Contains(v.Reason, "deadline") {
			t.Errorf("%s: %+v", mode, v)
		}
	}
}

// Attacks on the verdict cache: a verdict is reused only for the same
// question about the same bytes.
func TestJudgeCacheAttacks(t *testing.T) {
	e := newEnv(t)
	signed := e.push(t, "app/a:1", true)
	s := newServer(t, e, nil)
	v := judgeOne(t, s, signed)
	if v.Verdict != admission.Pass {
		t.Fatalf("%+v", v)
	}
	digest := v.Digest

	// The same bytes in another repository carry none of the signatures:
	// a cached pass for app/a must not answer for app/b.
	ref, err := registryRef(e.host + "/app/b:1")
	if err != nil {
		t.Fatal(err)
	}
	copyImage(t, signed, ref)
	if got := judgeOne(t, s, e.host+"/app/b:1"); got.Verdict != admission.Fail {
		t.Errorf("the same digest in an unsigned repository: %+v", got)
	}
	if got := judgeOne(t, s, e.host+"/app/b@"+digest); got.Verdict != admission.Fail {
		t.Errorf("the same digest in an unsigned repository, by digest: %+v", got)
	}

	// A signed tag beside an unsigned digest: the digest is what runs.
	unsigned := e.push(t, "app/a:2", false)
	u := judgeOne(t, s, unsigned)
	if u.Verdict != admission.Fail {
		t.Fatalf("%+v", u)
	}
	if got := judgeOne(t, s, signed+"@"+u.Digest); got.Verdict != admission.Fail {
		t.Errorf("a signed tag written beside an unsigned digest: %+v", got)
	}
}

func registryRef(s string) (name.Reference, error) { return name.ParseReference(s, name.Insecure) }

// copyImage copies src to dst by manifest, as a mirror would, keeping the
// digest (no referrers).
func copyImage(t *testing.T, src string, dst name.Reference) {
	t.Helper()
	sref, err := name.ParseReference(src, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(sref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(dst, img); err != nil {
		t.Fatal(err)
	}
}

// A Pod cannot name an image under the host OCI layouts' names use: it
// would be judged by the policy's oci: scopes.
func TestJudgeRefusesLayoutNames(t *testing.T) {
	e := newEnv(t)
	if err := os.WriteFile(e.policyFile, []byte("version: 1\nkeys:\n  - name: release\n    publicKey: release.pub\npolicies:\n  - name: layouts\n    mode: audit\n    scopes: [\"oci:/**\"]\n    signatures:\n      keys: [release]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newServer(t, e, nil)
	repo, err := refname.LayoutRepository("/srv/layouts/app")
	if err != nil {
		t.Fatal(err)
	}
	v := judgeOne(t, s, repo+":1")
	if v.Verdict != admission.Error || !v.Enforced || !strings.Contains(v.Reason, "reserved for OCI layouts") {
		t.Errorf("%+v", v)
	}
}
