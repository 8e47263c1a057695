package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/verify"
)

// Every key type signs and verifies on both kinds of registry.
func TestSignVerifyEveryKeyType(t *testing.T) {
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			for _, typ := range []string{"ed25519", "ecdsa-p256", "ecdsa-p384", "rsa-3072", "rsa-4096"} {
				t.Run(typ, func(t *testing.T) {
					e := newEnv(t)
					e.key("k", typ)
					repo := "app/" + typ
					d := testenv.PushImage(t, host, repo, "v1")
					r := e.must("sign", "--key", "k.key", host+"/"+repo+":v1")
					if !strings.Contains(r.Stdout, d.String()) {
						t.Errorf("sign output does not name the image digest %s:\n%s", d, r.Stdout)
					}
					pol := e.policy(host, []string{"k"}, 1, nil)
					rep, res := e.verifyJSON(pol, host+"/"+repo+":v1")
					if res.Code != 0 {
						t.Fatalf("verify exit %d: %s\n%s", res.Code, res.Stdout, res.Stderr)
					}
					img := rep.Images[0]
					if img.Verdict != verify.VerdictPass || img.Digest != d.String() || img.Reference != digestRef(host, repo, d) {
						t.Errorf("unexpected result %+v", img)
					}
					if got := img.Requirements[0].Accepted[0].KeyName; got != "k" {
						t.Errorf("accepted key = %q, want k", got)
					}
					text := e.must("verify", "--policy", pol, host+"/"+repo+":v1").Stdout
					if !strings.HasPrefix(text, "PASS  "+digestRef(host, repo, d)) {
						t.Errorf("text verdict does not lead with PASS and the digest reference:\n%s", text)
					}
				})
			}
		})
	}
}

// A multi-platform index is signed at the index digest, and with
// --recursive at each platform too.
func TestSignIndexRecursive(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	idx, children := testenv.PushIndex(t, host, "multi", "v1")
	var res []struct {
		Digest   string `json:"digest"`
		Attached []struct {
			Subject string `json:"subject"`
		} `json:"attached"`
	}
	out := e.must("sign", "--recursive", "--output", "json", "--key", "k.key", host+"/multi:v1").Stdout
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Digest != idx.String() || len(res[0].Attached) != 1+len(children) {
		t.Fatalf("recursive sign result: %s", out)
	}
	pol := e.policy(host, []string{"k"}, 1, nil)
	for _, d := range append(children, idx) {
		if r := e.run("verify", "--policy", pol, digestRef(host, "multi", d)); r.Code != 0 {
			t.Errorf("verify %s: exit %d\n%s%s", d, r.Code, r.Stdout, r.Stderr)
		}
	}
}

// audit mode reports a failure but exits 0.
func TestAuditMode(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	testenv.PushImage(t, host, "audited", "v1")
	pol := e.write("trust.yaml", `version: 1
keys:
  - name: k
    publicKey: k.pub
policies:
  - name: watch
    mode: audit
    scopes: ["`+host+`/**"]
    signatures:
      keys: [k]
`)
	r := e.run("verify", "--policy", pol, host+"/audited:v1")
	if r.Code != 0 || !strings.Contains(r.Stdout, "FAIL (audit mode: not enforced)") {
		t.Fatalf("audit verify: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

// k-of-n counts distinct keys: two keys pass a threshold of 2, one key
// signing twice does not.
func TestThresholdDistinctKeys(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	e := newEnv(t)
	e.key("a", "ecdsa-p256")
	e.key("b", "ed25519")
	testenv.PushImage(t, host, "twice", "v1")
	testenv.PushImage(t, host, "both", "v1")
	pol := e.policy(host, []string{"a", "b"}, 2, nil)

	e.must("sign", "--key", "a.key", host+"/twice:v1")
	e.must("sign", "--key", "a.key", host+"/twice:v1")
	rep, r := e.verifyJSON(pol, host+"/twice:v1")
	if r.Code != 1 {
		t.Fatalf("same key twice: exit %d, want 1\n%s", r.Code, r.Stderr)
	}
	rq := rep.Images[0].Requirements[0]
	if len(rq.Accepted) != 1 || len(rq.AlsoSigned) != 1 || len(rq.Rejected) != 0 || rq.Code != verify.CodeThresholdNotMet {
		t.Errorf("same key twice: accepted %d, also signed %d, rejected %+v, code %q", len(rq.Accepted), len(rq.AlsoSigned), rq.Rejected, rq.Code)
	}

	e.must("sign", "--key", "a.key", host+"/both:v1")
	e.must("sign", "--key", "b.key", host+"/both:v1")
	rep, r = e.verifyJSON(pol, host+"/both:v1")
	if r.Code != 0 || len(rep.Images[0].Requirements[0].Accepted) != 2 {
		t.Fatalf("two distinct keys: exit %d\n%s", r.Code, r.Stdout)
	}
}
