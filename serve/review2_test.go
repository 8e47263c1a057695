package serve

// Attacks on imgsign serve's judge and endpoints (security review): a
// verdict reused for a question it was not given for, or an image admitted
// that no trusted key signed. Each test fails if its defence is removed.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/imgsign/imgsign/admission"
	"github.com/imgsign/imgsign/internal/testing/testkey"
	"github.com/imgsign/imgsign/keys"
)

// An audit-mode verdict (fail, admitted) must not be reused once the rule
// enforces: the verdict cache is keyed by the policy's content.
func TestReview2AuditVerdictNotReusedUnderEnforce(t *testing.T) {
	e := newEnv(t)
	unsigned := e.push(t, "app/legacy:1", false)
	e.writePolicy(t, "", "audit")
	s := newServer(t, e, nil)
	for range 2 { // the second from the cache
		if v := judgeOne(t, s, unsigned); v.Verdict != admission.Fail || v.Enforced || !v.Admitted() {
			t.Fatalf("audit: %+v", v)
		}
	}
	e.writePolicy(t, "", "enforce")
	s.Reload(context.Background())
	if v := judgeOne(t, s, unsigned); v.Verdict != admission.Fail || !v.Enforced || v.Admitted() {
		t.Errorf("after the rule enforces: %+v, want an enforced fail", v)
	}
}

// The policy file is unchanged but the key file it names is replaced (a
// Secret updated in place): a pass cached under the old key must not
// answer.
func TestReview2KeyFileSwapFlushesCache(t *testing.T) {
	e := newEnv(t)
	image := e.push(t, "app/a:1", true)
	s := newServer(t, e, nil)
	if v := judgeOne(t, s, image); v.Verdict != admission.Pass {
		t.Fatalf("%+v", v)
	}
	other, err := keys.EncodePublic(testkey.Signer(t).Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "release.pub"), other, 0o644); err != nil {
		t.Fatal(err)
	}
	s.Reload(context.Background())
	if v := judgeOne(t, s, image); v.Verdict != admission.Fail || !v.Enforced {
		t.Errorf("after the key file was replaced: %+v, want an enforced fail", v)
	}
}

// What the mutating webhook pins is the digest that was verified, even
// when the tag moves between verification and the patch: within the
// resolution's TTL the old (verified) digest is pinned, never the new one
// under the old verdict; the pinned reference verifies on its own.
func TestReview2PinnedIsVerifiedDigest(t *testing.T) {
	e := newEnv(t)
	image := e.push(t, "app/moving:1", true)
	s := newServer(t, e, nil) // resolve TTL one minute
	v := judgeOne(t, s, image)
	if v.Verdict != admission.Pass || v.Pinned != image+"@"+v.Digest {
		t.Fatalf("%+v", v)
	}
	signedD := v.Digest
	e.push(t, "app/moving:1", false)
	moved := judgeOne(t, s, image)
	if moved.Verdict == admission.Pass && (moved.Digest != signedD || moved.Pinned != image+"@"+signedD) {
		t.Fatalf("a pass after the tag moved pins %q (digest %s), want the verified %s", moved.Pinned, moved.Digest, signedD)
	}
	if got := judgeOne(t, s, v.Pinned); got.Verdict != admission.Pass || got.Digest != signedD {
		t.Errorf("the pinned reference: %+v", got)
	}
	// Without the resolution cache the moved tag is judged on its new
	// digest, and fails.
	s2 := newServer(t, e, func(c *Config) { c.ResolveTTL = 0 })
	if got := judgeOne(t, s2, image); got.Verdict != admission.Fail || got.Digest == signedD {
		t.Errorf("the moved tag: %+v", got)
	}
}

// Odd spellings of a digest: upper-case hex, another algorithm, a digest
// too short. None passes as the signed image (the runtime would pull
// something else, or nothing).
func TestReview2DigestSpellings(t *testing.T) {
	e := newEnv(t)
	image := e.push(t, "app/a:1", true)
	s := newServer(t, e, nil)
	v := judgeOne(t, s, image)
	if v.Verdict != admission.Pass {
		t.Fatalf("%+v", v)
	}
	hexd := strings.TrimPrefix(v.Digest, "sha256:")
	repo := e.host + "/app/a"
	for _, ref := range []string{
		repo + "@sha256:" + strings.ToUpper(hexd),
		repo + ":1@sha256:" + strings.ToUpper(hexd),
		repo + "@SHA256:" + hexd,
		repo + "@sha512:" + hexd + hexd,
		repo + "@sha256:" + hexd[:63],
		repo + "@" + hexd,
		repo + ":1@",
	} {
		if got := judgeOne(t, s, ref); got.Verdict == admission.Pass || !got.Enforced {
			t.Errorf("%s: %+v", ref, got)
		}
	}
}

// Through the HTTP endpoints with a real registry: a Pod naming a signed
// tag beside an unsigned digest is denied by the validating webhook and
// not pinned by the mutating one; a signed tag is pinned to exactly the
// digest the validating webhook then passes.
func TestReview2Endpoints(t *testing.T) {
	e := newEnv(t)
	signed := e.push(t, "app/a:1", true)
	unsigned := e.push(t, "app/a:2", false)
	s := newServer(t, e, nil)
	h := s.Handler()
	u := judgeOne(t, s, unsigned)
	if u.Digest == "" {
		t.Fatalf("%+v", u)
	}
	post := func(path, image string) *admissionv1.AdmissionResponse {
		t.Helper()
		in := admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request: &admissionv1.AdmissionRequest{UID: "u", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Operation: admissionv1.Create}}
		in.Request.Object.Raw = []byte(`{"spec":{"containers":[{"name":"a","image":"` + image + `"}]}}`)
		body, _ := json.Marshal(in)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, path+"?timeout=10s", bytes.NewReader(body)))
		var out admissionv1.AdmissionReview
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || out.Response == nil {
			t.Fatalf("%s: %v: %s", path, err, w.Body)
		}
		return out.Response
	}
	mixed := signed + "@" + u.Digest
	if r := post("/admission/validate", mixed); r.Allowed {
		t.Errorf("validate %s: allowed", mixed)
	}
	if r := post("/admission/mutate", mixed); r.Patch != nil {
		t.Errorf("mutate %s: patched %s", mixed, r.Patch)
	}
	r := post("/admission/mutate", signed)
	var ops []struct{ Op, Path, Value string }
	if err := json.Unmarshal(r.Patch, &ops); err != nil || len(ops) != 1 {
		t.Fatalf("mutate %s: %v %s", signed, err, r.Patch)
	}
	pinned := ops[0].Value
	v := judgeOne(t, s, signed)
	if pinned != signed+"@"+v.Digest || ops[0].Path != "/spec/containers/0/image" {
		t.Errorf("pinned %+v, verified %s", ops[0], v.Digest)
	}
	if r := post("/admission/validate", pinned); !r.Allowed {
		t.Errorf("validate %s: %+v", pinned, r.Result)
	}
}
