package admission

// Attacks on the admission protocol layer (security review of imgsign
// serve): each test fails if the defence it names is removed.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// zeroJudge answers the zero Verdict for every image: a Judge that forgot
// to answer (or a verdict value this package does not know).
type zeroJudge struct{ verdict string }

func (z zeroJudge) Judge(context.Context, string) Verdict { return Verdict{Verdict: z.verdict} }

// A verdict that is neither Pass nor a judged audit-mode Fail/Error must
// not admit: Enforced's zero value used to read as "audit mode", so the
// zero Verdict admitted with a warning.
func TestReview2ZeroVerdictNotAdmitted(t *testing.T) {
	for _, verdict := range []string{"", "skipped", "PASS"} {
		j := zeroJudge{verdict}
		if (Verdict{Verdict: verdict}).Admitted() {
			t.Errorf("%q: Admitted() is true", verdict)
		}
		if resp := review(t, &Handler{Judge: j, Deadline: deadline}, podKind, admissionv1.Create, pod("reg.example/app:1")); resp.Allowed {
			t.Errorf("%q: validating webhook allowed: warnings %q", verdict, resp.Warnings)
		}
		r := providerCall(t, &ExternalData{Judge: j, Deadline: deadline}, "reg.example/app:1")
		if len(r.Items) != 1 || r.Items[0].Error == "" {
			t.Errorf("%q: external data gave no error: %+v", verdict, r)
		}
		r = providerCall(t, &ExternalData{Judge: j, Mutate: true, Deadline: deadline}, "reg.example/app:1")
		if len(r.Items) != 1 || r.Items[0].Error == "" || r.Items[0].Value != nil {
			t.Errorf("%q: external data mutation gave a value: %+v", verdict, r)
		}
	}
	// Audit mode still admits what it judged.
	for _, v := range []Verdict{{Verdict: Fail}, {Verdict: Error}, {Verdict: Pass, Enforced: true}} {
		if !v.Admitted() {
			t.Errorf("%+v is not admitted", v)
		}
	}
}

// countJudge counts the questions it is asked.
type countJudge struct {
	mu    sync.Mutex
	asked map[string]int
	inner Judge
}

func (c *countJudge) Judge(ctx context.Context, image string) Verdict {
	c.mu.Lock()
	c.asked[image]++
	c.mu.Unlock()
	return c.inner.Judge(ctx, image)
}

// Many images in one Pod: every one is judged (no partial verdict past a
// limit), the one unsigned image among hundreds of signed ones denies.
func TestReview2ManyImagesNoPartialVerdict(t *testing.T) {
	var imgs []string
	j := mapJudge{}
	for i := range 300 {
		ref := fmt.Sprintf("reg.example/app%d:1", i)
		j[ref] = Verdict{Verdict: Pass, Enforced: true, Digest: "sha256:1111", Pinned: ref + "@sha256:1111"}
		imgs = append(imgs, ref)
	}
	imgs = append(imgs, "evil.example/last:1")
	var cs []string
	for i, img := range imgs {
		cs = append(cs, fmt.Sprintf(`{"name":"c%d","image":%q}`, i, img))
	}
	obj := `{"spec":{"containers":[` + strings.Join(cs[:150], ",") + `],"initContainers":[` + strings.Join(cs[150:], ",") + `]}}`
	cj := &countJudge{asked: map[string]int{}, inner: j}
	resp := review(t, &Handler{Judge: cj, Deadline: deadline}, podKind, admissionv1.Create, obj)
	if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "1 of 301 images not trusted") || !strings.Contains(resp.Result.Message, "evil.example/last:1") {
		t.Fatalf("%+v", resp.Result)
	}
	if len(cj.asked) != 301 {
		t.Errorf("judged %d distinct images of 301", len(cj.asked))
	}
	// The mutating webhook pins every verified image at its own index,
	// and not the unsigned one.
	resp = review(t, &Handler{Judge: j, Mutate: true, Deadline: deadline}, podKind, admissionv1.Create, obj)
	var ops []patchOp
	if err := json.Unmarshal(resp.Patch, &ops); err != nil {
		t.Fatal(err)
	}
	if len(ops) != 300 {
		t.Fatalf("%d patch operations, want 300", len(ops))
	}
	for _, op := range ops {
		var i int
		if _, err := fmt.Sscanf(op.Value, "reg.example/app%d:1@sha256:1111", &i); err != nil {
			t.Fatalf("%+v", op)
		}
		want := fmt.Sprintf("/spec/containers/%d/image", i)
		if i >= 150 {
			want = fmt.Sprintf("/spec/initContainers/%d/image", i-150)
		}
		if op.Op != "replace" || op.Path != want {
			t.Errorf("%+v, want path %s", op, want)
		}
	}
}

// Containers that share a name (containers and initContainers may) and
// names that would need escaping in a JSON pointer: patches address
// containers by index, never by name, so each image is pinned to its own
// verified digest.
func TestReview2PatchPathsByIndex(t *testing.T) {
	j := mapJudge{
		"reg.example/a:1": {Verdict: Pass, Enforced: true, Digest: "sha256:aaaa", Pinned: "reg.example/a:1@sha256:aaaa"},
		"reg.example/b:1": {Verdict: Pass, Enforced: true, Digest: "sha256:bbbb", Pinned: "reg.example/b:1@sha256:bbbb"},
	}
	obj := `{"spec":{"containers":[{"name":"x/~1y","image":"reg.example/a:1"},{"name":"x/~1y","image":"evil.example/e:1"}],
"initContainers":[{"name":"x/~1y","image":"reg.example/b:1"}]}}`
	resp := review(t, &Handler{Judge: j, Mutate: true, Deadline: deadline}, podKind, admissionv1.Create, obj)
	var ops []patchOp
	if err := json.Unmarshal(resp.Patch, &ops); err != nil {
		t.Fatal(err)
	}
	want := []patchOp{{"replace", "/spec/containers/0/image", "reg.example/a:1@sha256:aaaa"}, {"replace", "/spec/initContainers/0/image", "reg.example/b:1@sha256:bbbb"}}
	if len(ops) != len(want) {
		t.Fatalf("patch %s", resp.Patch)
	}
	for i := range want {
		if ops[i] != want[i] {
			t.Errorf("op %d: %+v, want %+v", i, ops[i], want[i])
		}
	}
}

// An UPDATE is judged on images it brings in, whichever container they
// land in: an image moved between containers is not new, a new image in a
// container that kept its name is.
func TestReview2PodUpdateReplacesImage(t *testing.T) {
	h := &Handler{Judge: judge, Deadline: deadline}
	send := func(kind metav1.GroupVersionKind, sub, old, obj string) *admissionv1.AdmissionResponse {
		in := admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request: &admissionv1.AdmissionRequest{UID: "uid-1", Kind: kind, Operation: admissionv1.Update, SubResource: sub}}
		in.Request.Object.Raw, in.Request.OldObject.Raw = []byte(obj), []byte(old)
		body, _ := json.Marshal(in)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body)))
		var out admissionv1.AdmissionReview
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		return out.Response
	}
	old := pod("reg.example/app:1")
	if r := send(podKind, "", old, pod("evil.example/x:1")); r.Allowed {
		t.Error("a Pod update replacing its image with an unsigned one was allowed")
	}
	if r := send(podKind, "", old, `{"spec":{"containers":[{"name":"c0","image":"reg.example/app:1"}],"initContainers":[{"name":"i","image":"evil.example/x:1"}]}}`); r.Allowed {
		t.Error("a Pod update adding an unsigned init container was allowed")
	}
	// The old object is the API server's, but an update whose old object
	// is missing (null) is judged whole.
	if r := send(podKind, "", `null`, pod("evil.example/x:1")); r.Allowed {
		t.Error("an update without an old object passed unjudged")
	}
	// An ephemeral container whose image a regular container of the old
	// Pod ran is not new; one that is new is judged.
	eph := `{"spec":{"containers":[{"name":"c0","image":"reg.example/app:1"}],"ephemeralContainers":[{"name":"d","image":"evil.example/dbg:1"}]}}`
	if r := send(podKind, "ephemeralcontainers", old, eph); r.Allowed {
		t.Error("pods/ephemeralcontainers update with an unsigned image was allowed")
	}
}

// dryRun requests are judged like any other: `kubectl apply --dry-run=server`
// must give the answer the real apply gets.
func TestReview2DryRunJudged(t *testing.T) {
	h := &Handler{Judge: judge, Deadline: deadline}
	dry := true
	in := admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: "uid-1", Kind: podKind, Operation: admissionv1.Create, DryRun: &dry}}
	in.Request.Object.Raw = []byte(pod("evil.example/x:1"))
	body, _ := json.Marshal(in)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body)))
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.Response == nil || out.Response.Allowed {
		t.Errorf("dry run: %s", w.Body)
	}
}

// An AdmissionReview over the size bound is refused (400: the API
// server's failurePolicy Fail refuses the object), never judged on the
// part that was read.
func TestReview2OversizedReview(t *testing.T) {
	h := &Handler{Judge: judge, Deadline: deadline}
	pad := strings.Repeat("x", maxReviewBytes)
	body := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","object":{"spec":{"containers":[{"name":"a","image":"reg.example/app:1"}]},"pad":"` + pad + `"}}}`
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body)))
	if w.Code != http.StatusBadRequest || strings.Contains(w.Body.String(), `"allowed":true`) {
		t.Errorf("status %d: %.200s", w.Code, w.Body)
	}
}

// Gatekeeper external data: every key gets exactly one item, in order,
// even when repeated; keys with control characters are echoed as JSON
// (Gatekeeper matches items by key) and escaped in the error it shows.
func TestReview2ExternalDataKeys(t *testing.T) {
	evil := "evil.example/x:1\x1b[2J\r\nPASS"
	keys := []string{"reg.example/app:1", evil, "reg.example/app:1", "", evil}
	for _, mutate := range []bool{false, true} {
		r := providerCall(t, &ExternalData{Judge: judge, Mutate: mutate, Deadline: deadline}, keys...)
		if len(r.Items) != len(keys) || r.SystemError != "" {
			t.Fatalf("mutate %v: %+v", mutate, r)
		}
		for i, it := range r.Items {
			if it.Key != keys[i] {
				t.Errorf("mutate %v: item %d key %q, want %q", mutate, i, it.Key, keys[i])
			}
			if keys[i] != "reg.example/app:1" && it.Error == "" {
				t.Errorf("mutate %v: item %d (%q) has no error: %+v", mutate, i, keys[i], it)
			}
			if strings.ContainsAny(it.Error, "\x1b\r\n") {
				t.Errorf("mutate %v: raw control characters in %q", mutate, it.Error)
			}
		}
	}
	// More keys than the bound: the whole answer is a systemError, no item
	// reads as trusted.
	many := make([]string, maxKeys+1)
	for i := range many {
		many[i] = "reg.example/app:1"
	}
	if r := providerCall(t, &ExternalData{Judge: judge, Deadline: deadline}, many...); r.SystemError == "" || len(r.Items) != 0 {
		t.Errorf("%d keys: %d items, systemError %q", len(many), len(r.Items), r.SystemError)
	}
}
