package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/keys"
	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/verify/conditions"
	"github.com/imgsign/imgsign/verify/policy"
)

// mirrorFixture is a loopback registry standing in for a mirror of
// ghcr.io/acme: images are copied to HOST/mirror/acme/… with signatures
// made for their ghcr.io names. Key "release" is trusted for ghcr.io/acme
// (bindTag); key "local" for the mirror's own repositories.
type mirrorFixture struct {
	host    string
	signers map[string]sign.Signer
	pems    map[string]string
}

func newMirrorFixture(t *testing.T) *mirrorFixture {
	t.Helper()
	f := &mirrorFixture{host: testenv.Registry(t, true).Addr, signers: map[string]sign.Signer{}, pems: map[string]string{}}
	for _, n := range []string{"release", "local"} {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		s, err := keys.FromPrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := keys.EncodePublic(priv.Public())
		if err != nil {
			t.Fatal(err)
		}
		f.signers[n] = s
		f.pems[n] = strings.ReplaceAll(strings.TrimSpace(string(pub)), "\n", "\n      ")
	}
	return f
}

// policy is the fixture's policy, with the mapping when mapped.
func (f *mirrorFixture) policy(t *testing.T, mapped bool) *policy.Policy {
	t.Helper()
	doc := fmt.Sprintf("version: 1\nkeys:\n  - name: release\n    publicKey: |\n      %s\n  - name: local\n    publicKey: |\n      %s\n", f.pems["release"], f.pems["local"])
	if mapped {
		doc += fmt.Sprintf("mirrors:\n  - mirror: %s/mirror/acme\n    canonical: ghcr.io/acme\n", f.host)
	}
	doc += fmt.Sprintf(`policies:
  - name: acme
    scopes: ["ghcr.io/acme/**"]
    signatures: {keys: [release], bindTag: true}
  - name: mirror-own
    scopes: ["%s/**"]
    signatures: {keys: [local]}
`, f.host)
	p, err := policy.Parse([]byte(doc), "")
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	return p
}

// signAs attaches to repo's image tagged tag a signature by key k whose
// statement names canonical:boundTag — a signature made there, copied here.
func (f *mirrorFixture) signAs(t *testing.T, k, repo, tag, canonical, boundTag string) {
	t.Helper()
	ctx := context.Background()
	target, err := registry.New().Resolve(ctx, f.host+"/"+repo+":"+tag, true)
	if err != nil {
		t.Fatal(err)
	}
	w, err := target.Writer()
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.NewRepository(canonical)
	if err != nil {
		t.Fatal(err)
	}
	ann := map[string]string{statement.TagAnnotation: boundTag, statement.SignedAtAnnotation: time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano)}
	st, err := statement.About(r, target.Descriptor.Digest, statement.Signature, map[string]any{}, ann)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sign.Bundle(ctx, st, f.signers[k], "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sign.Push(ctx, w, target.Descriptor, statement.Signature, b, sign.Options{}); err != nil {
		t.Fatal(err)
	}
}

func (f *mirrorFixture) verify(t *testing.T, p *policy.Policy, image string) *ImageResult {
	t.Helper()
	return New(registry.New(), p).Verify(context.Background(), f.host+"/"+image)
}

// TestVerifyThroughMirror: a policy for ghcr.io/acme/** verifies the copy
// at HOST/mirror/acme/app through a mirror mapping, tag binding included;
// without the mapping the mirror's own rule applies.
func TestVerifyThroughMirror(t *testing.T) {
	f := newMirrorFixture(t)
	d := testenv.PushImage(t, f.host, "mirror/acme/app", "1.0")
	f.signAs(t, "release", "mirror/acme/app", "1.0", "ghcr.io/acme/app", "1.0")

	res := f.verify(t, f.policy(t, true), "mirror/acme/app:1.0")
	if res.Verdict != VerdictPass || res.Policy != "acme" {
		t.Fatalf("through the mapping: %s under %q: %s %+v", res.Verdict, res.Policy, res.Error, res.Requirements)
	}
	if res.Canonical != "ghcr.io/acme/app" || res.MirrorMapping == nil || res.MirrorMapping.Mirror != f.host+"/mirror/acme" || res.MirrorMapping.Canonical != "ghcr.io/acme" {
		t.Errorf("canonical %q, mapping %+v", res.Canonical, res.MirrorMapping)
	}
	// Registry reads went to the mirror: the reference to deploy is there.
	if want := f.host + "/mirror/acme/app@" + d.String(); res.Reference != want {
		t.Errorf("reference %s, want %s", res.Reference, want)
	}
	var text strings.Builder
	(&Report{Images: []*ImageResult{res}}).WriteText(&text)
	if !strings.Contains(text.String(), "  mirror of: ghcr.io/acme/app (mirrors: "+f.host+"/mirror/acme → ghcr.io/acme)\n") {
		t.Errorf("text output:\n%s", text.String())
	}

	// VerifyResolved (dct import) and VerifyTarget (serve) map alike.
	target, err := registry.New().Resolve(context.Background(), f.host+"/mirror/acme/app:1.0", false)
	if err != nil {
		t.Fatal(err)
	}
	v := New(registry.New(), f.policy(t, true))
	if r := v.VerifyResolved(context.Background(), target.Repo, target.Descriptor); r.Policy != "acme" || r.Canonical != "ghcr.io/acme/app" || r.Verdict != VerdictPass {
		t.Errorf("VerifyResolved: %s under %q as %q: %s", r.Verdict, r.Policy, r.Canonical, r.Error)
	}
	ref, _ := registry.New().ParseReference(f.host + "/mirror/acme/app:1.0")
	if r := v.VerifyTarget(context.Background(), f.host+"/mirror/acme/app:1.0", ref, target); r.Policy != "acme" || r.Canonical != "ghcr.io/acme/app" || r.Verdict != VerdictPass {
		t.Errorf("VerifyTarget: %s under %q as %q: %s", r.Verdict, r.Policy, r.Canonical, r.Error)
	}

	// Without the mapping the mirror is judged by its own rule, which
	// trusts another key.
	res = f.verify(t, f.policy(t, false), "mirror/acme/app:1.0")
	if res.Verdict != VerdictFail || res.Policy != "mirror-own" || res.Canonical != "" || res.MirrorMapping != nil {
		t.Errorf("without the mapping: %s under %q, canonical %q", res.Verdict, res.Policy, res.Canonical)
	}
}

// TestMirrorAttacks: what someone who can push to the mirror tries with a
// mapping in place.
func TestMirrorAttacks(t *testing.T) {
	f := newMirrorFixture(t)
	p := f.policy(t, true)

	t.Run("another repository's signature copied onto the copy", func(t *testing.T) {
		testenv.PushImage(t, f.host, "mirror/acme/app", "other")
		f.signAs(t, "release", "mirror/acme/app", "other", "ghcr.io/acme/other", "other")
		res := f.verify(t, p, "mirror/acme/app:other")
		if res.Verdict != VerdictFail || res.Requirements[0].Code != CodeTagNotBound ||
			!strings.Contains(res.Requirements[0].Rejected[0].Reason, "signed for tag other of ghcr.io/acme/other, not of "+f.host+"/mirror/acme/app (a copy of ghcr.io/acme/app)") {
			t.Errorf("%s: %+v", res.Verdict, res.Requirements[0].Rejected)
		}
	})
	t.Run("a tag moved on the mirror", func(t *testing.T) {
		testenv.PushImage(t, f.host, "mirror/acme/app", "1.1")
		f.signAs(t, "release", "mirror/acme/app", "1.1", "ghcr.io/acme/app", "1.1")
		target, err := registry.New().Resolve(context.Background(), f.host+"/mirror/acme/app:1.1", true)
		if err != nil {
			t.Fatal(err)
		}
		w, _ := target.Writer()
		raw, mt, err := target.Repo.Manifest(context.Background(), "", target.Descriptor.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.PutManifest(context.Background(), "2.0", raw, mt); err != nil {
			t.Fatal(err)
		}
		res := f.verify(t, p, "mirror/acme/app:2.0")
		if res.Verdict != VerdictFail || res.Requirements[0].Code != CodeTagMoved {
			t.Errorf("%s %s: %+v", res.Verdict, res.Requirements[0].Code, res.Requirements[0])
		}
	})
	t.Run("a name beside the mirror prefix", func(t *testing.T) {
		// HOST/mirror/acme-evil/app is not in HOST/mirror/acme: the
		// mirror's own rule judges it, and the canonical key does not count.
		testenv.PushImage(t, f.host, "mirror/acme-evil/app", "1.0")
		f.signAs(t, "release", "mirror/acme-evil/app", "1.0", "ghcr.io/acme/app", "1.0")
		res := f.verify(t, p, "mirror/acme-evil/app:1.0")
		if res.Verdict != VerdictFail || res.Policy != "mirror-own" || res.Canonical != "" {
			t.Errorf("%s under %q as %q", res.Verdict, res.Policy, res.Canonical)
		}
	})
	t.Run("a path the registry could resolve into the prefix", func(t *testing.T) {
		res := f.verify(t, p, "mirror/acme-evil/../acme/app:1.0")
		if res.Verdict != VerdictError || res.ExitCode != 2 {
			t.Errorf("%s exit %d: %s", res.Verdict, res.ExitCode, res.Error)
		}
	})
}

// A signature made for the copy itself binds the tag in the copy, and
// only there: the copy's name never stands for the canonical repository.
func TestBoundElsewhereInMirror(t *testing.T) {
	ann := map[string]string{statement.TagAnnotation: "1.0"}
	st := func(repo string) *statement.Statement {
		t.Helper()
		r, _ := name.NewRepository(repo)
		h, _ := v1.NewHash(tagDigest)
		raw, err := statement.About(r, h, statement.Signature, map[string]any{}, ann)
		if err != nil {
			t.Fatal(err)
		}
		s, err := statement.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	copyImg := subjectInfo{digest: tagDigest, repository: "127.0.0.1:5000/mirror/acme/app", canonical: "ghcr.io/acme/app", tag: "1.0"}
	origin := subjectInfo{digest: tagDigest, repository: "ghcr.io/acme/app", tag: "1.0"}
	for _, tc := range []struct {
		stmt string
		img  subjectInfo
		want string
	}{
		{"ghcr.io/acme/app", copyImg, ""},
		{"localhost:5000/mirror/acme/app", copyImg, ""},
		{"ghcr.io/acme/other", copyImg, "ghcr.io/acme/other"},
		{"127.0.0.1:5000/mirror/acme/app", origin, "127.0.0.1:5000/mirror/acme/app"},
	} {
		if got := boundElsewhere(st(tc.stmt), tc.img); got != tc.want {
			t.Errorf("statement for %s, image %+v: bound elsewhere %q, want %q", tc.stmt, tc.img, got, tc.want)
		}
	}
}

// Conditions see the canonical name as image.repository.
func TestConditionsSeeCanonicalName(t *testing.T) {
	prg, err := conditions.Compile(`image.repository == "ghcr.io/acme/app"`)
	if err != nil {
		t.Fatal(err)
	}
	rq := requirement{conditions: []policy.Condition{{Expr: "x", Program: prg}}}
	c := candidate{statement: tagStatement(t, nil)}
	img := subjectInfo{digest: tagDigest, repository: "127.0.0.1:5000/mirror/acme/app", canonical: "ghcr.io/acme/app"}
	if f := checkStatement(rq, c, time.Now(), img); f.reason != "" {
		t.Errorf("mirror's copy: %s", f.reason)
	}
	img.canonical = ""
	if f := checkStatement(rq, c, time.Now(), img); f.reason == "" {
		t.Error("the mirror's own name passed a condition on the canonical name")
	}
}
