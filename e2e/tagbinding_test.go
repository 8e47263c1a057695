package e2e

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// bindTagPolicy is e.policy with signatures.bindTag: true.
func (e *env) bindTagPolicy(host string) string {
	e.t.Helper()
	p := e.policy(host, []string{"k"}, 1, nil)
	b, err := os.ReadFile(p)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.write("trust.yaml", string(b)+"      bindTag: true\n")
}

// retag points host/repo:tag at the manifest host/repo:from points to.
func retag(t *testing.T, host, repo, from, tag string) {
	t.Helper()
	src, err := name.ParseReference(host+"/"+repo+":"+from, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(src)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := name.NewTag(host+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Tag(dst, desc); err != nil {
		t.Fatal(err)
	}
}

// A signature made through a tag names it; bindTag holds a tag to the
// digest it was signed for, so a tag moved to another (even signed) image
// fails, and a digest reports the tags it is signed for.
func TestTagBinding(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	pol := e.bindTagPolicy(host)
	img := host + "/tb/app"

	d1 := testenv.PushImage(t, host, "tb/app", "v1")
	signOut := e.must("sign", "--key", "k.key", "-a", "env=prod", img+":v1").Stdout
	if !strings.Contains(signOut, "bound to tag v1") {
		t.Errorf("sign output does not say the tag is bound:\n%s", signOut)
	}

	t.Run("signed tag passes", func(t *testing.T) {
		rep, r := e.verifyJSON(pol, img+":v1")
		if r.Code != 0 {
			t.Fatalf("verify %s:v1: exit %d\n%s", img, r.Code, r.Stdout)
		}
		got := rep.Images[0]
		if got.Tag != "v1" || strings.Join(got.Requirements[0].SignedTags, ",") != "v1" {
			t.Errorf("tag %q, signed tags %v; want v1, [v1]", got.Tag, got.Requirements[0].SignedTags)
		}
	})

	t.Run("digest reports its tags", func(t *testing.T) {
		retag(t, host, "tb/app", "v1", "latest")
		e.must("sign", "--key", "k.key", img+":latest")
		ref := digestRef(host, "tb/app", d1)
		rep, r := e.verifyJSON(pol, ref)
		if r.Code != 0 {
			t.Fatalf("verify by digest: exit %d\n%s", r.Code, r.Stdout)
		}
		if got := rep.Images[0]; got.Tag != "" || strings.Join(got.Requirements[0].SignedTags, ",") != "latest,v1" {
			t.Errorf("tag %q, signed tags %v; want \"\", [latest v1]", got.Tag, got.Requirements[0].SignedTags)
		}
		text := e.must("verify", "--policy", pol, ref).Stdout
		if !strings.Contains(text, "tags: latest, v1") {
			t.Errorf("text report lacks the tags line:\n%s", text)
		}
	})

	t.Run("tag moved to an image signed for another tag fails", func(t *testing.T) {
		d2 := testenv.PushImage(t, host, "tb/app", "v2")
		e.must("sign", "--key", "k.key", img+":v2")
		e.must("verify", "--policy", pol, img+":v2")
		retag(t, host, "tb/app", "v2", "v1")

		rep, r := e.verifyJSON(pol, img+":v1")
		if r.Code != 1 {
			t.Fatalf("verify of moved tag: exit %d, want 1\n%s", r.Code, r.Stdout)
		}
		got := rep.Images[0]
		if got.Digest != d2.String() {
			t.Fatalf("v1 resolved to %s, want %s", got.Digest, d2)
		}
		rq := got.Requirements[0]
		if len(rq.Rejected) != 1 || !strings.Contains(rq.Rejected[0].Reason, "signed for tag v2, not v1") {
			t.Errorf("rejections %+v do not say the signature is for v2", rq.Rejected)
		}
		text := e.run("verify", "--policy", pol, img+":v1").Stdout
		t.Logf("verify of the moved tag:\n%s", text)
		for _, want := range []string{"this digest is signed for tag v2", "signed for tag v2, not v1 — the tag v1 was moved to this digest?", "tags: v2"} {
			if !strings.Contains(text, want) {
				t.Errorf("text report lacks %q:\n%s", want, text)
			}
		}
	})

	t.Run("no-tag-binding signature fails bindTag", func(t *testing.T) {
		testenv.PushImage(t, host, "tb/untagged", "v1")
		out := e.must("sign", "--key", "k.key", "--no-tag-binding", host+"/tb/untagged:v1").Stdout
		if strings.Contains(out, "bound to tag") {
			t.Errorf("--no-tag-binding still bound the tag:\n%s", out)
		}
		rep, r := e.verifyJSON(pol, host+"/tb/untagged:v1")
		if r.Code != 1 {
			t.Fatalf("exit %d, want 1\n%s", r.Code, r.Stdout)
		}
		if rj := rep.Images[0].Requirements[0].Rejected; len(rj) != 1 || !strings.Contains(rj[0].Reason, "signature binds no tag") {
			t.Errorf("rejections %+v do not say the signature binds no tag", rj)
		}
		// Without bindTag the same signature is fine.
		e.must("verify", "--policy", e.policy(host, []string{"k"}, 1, nil), host+"/tb/untagged:v1")
	})

	t.Run("reserved annotation is refused", func(t *testing.T) {
		if r := e.run("sign", "--key", "k.key", "-a", "dev.imgsign.tag=v9", img+":v2"); r.Code != 2 || !strings.Contains(r.Stderr, "reserved") {
			t.Errorf("exit %d, want 2 and a reserved-annotation error\n%s", r.Code, r.Stderr)
		}
	})
}

// cosign verifies a tag-bound signature, with and without -a checks.
func TestTagBindingCosignInterop(t *testing.T) {
	cosign := testenv.Tool(t, "cosign")
	host := testenv.Registry(t, true).Addr
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	testenv.PushImage(t, host, "tb/cosign", "v1")
	img := host + "/tb/cosign:v1"
	e.must("sign", "--key", "k.key", "-a", "env=prod", img)
	cosignEnv := []string{"COSIGN_PASSWORD=" + passphrase}
	base := []string{"verify", "--key", "k.pub", "--insecure-ignore-tlog", "--allow-insecure-registry"}
	for _, extra := range [][]string{nil, {"-a", "env=prod"}, {"-a", "dev.imgsign.tag=v1"}} {
		args := append(append(append([]string{}, base...), extra...), img)
		if r := testenv.Run(t, e.dir, cosignEnv, cosign, args...); r.Code != 0 || !strings.Contains(r.Stderr, "verified against the specified public key") {
			t.Errorf("cosign %s: exit %d\n%s\n%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
		}
	}
	if r := testenv.Run(t, e.dir, cosignEnv, cosign, append(append([]string{}, base...), "-a", "dev.imgsign.tag=v2", img)...); r.Code == 0 {
		t.Errorf("cosign verify -a dev.imgsign.tag=v2 accepted a signature bound to v1")
	}
	e.must("verify", "--policy", e.bindTagPolicy(host), img)
}
