package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var (
	podKind        = metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}
	deploymentKind = metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	cronJobKind    = metav1.GroupVersionKind{Group: "batch", Version: "v1", Kind: "CronJob"}
)

const podSpecJSON = `{"containers":[{"name":"app","image":"reg.example/app:1"},{"name":"side","image":"reg.example/side@sha256:aaaa"}],
"initContainers":[{"name":"setup","image":"reg.example/setup:2"}],
"ephemeralContainers":[{"name":"debug","image":"reg.example/debug:3"}]}`

func TestImages(t *testing.T) {
	want := []Image{
		{"reg.example/app:1", "%s/containers/0/image", "container app"},
		{"reg.example/side@sha256:aaaa", "%s/containers/1/image", "container side"},
		{"reg.example/setup:2", "%s/initContainers/0/image", "initContainer setup"},
		{"reg.example/debug:3", "%s/ephemeralContainers/0/image", "ephemeralContainer debug"},
	}
	for _, tc := range []struct {
		kind    metav1.GroupVersionKind
		object  string
		pointer string
	}{
		{podKind, `{"spec":` + podSpecJSON + `}`, "/spec"},
		{deploymentKind, `{"spec":{"template":{"spec":` + podSpecJSON + `}}}`, "/spec/template/spec"},
		{metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"}, `{"spec":{"template":{"spec":` + podSpecJSON + `}}}`, "/spec/template/spec"},
		{metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "DaemonSet"}, `{"spec":{"template":{"spec":` + podSpecJSON + `}}}`, "/spec/template/spec"},
		{metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ReplicaSet"}, `{"spec":{"template":{"spec":` + podSpecJSON + `}}}`, "/spec/template/spec"},
		{metav1.GroupVersionKind{Group: "batch", Version: "v1", Kind: "Job"}, `{"spec":{"template":{"spec":` + podSpecJSON + `}}}`, "/spec/template/spec"},
		{cronJobKind, `{"spec":{"jobTemplate":{"spec":{"template":{"spec":` + podSpecJSON + `}}}}}`, "/spec/jobTemplate/spec/template/spec"},
		{metav1.GroupVersionKind{Version: "v1", Kind: "ReplicationController"}, `{"spec":{"template":{"spec":` + podSpecJSON + `}}}`, "/spec/template/spec"},
		{metav1.GroupVersionKind{Version: "v1", Kind: "PodTemplate"}, `{"template":{"spec":` + podSpecJSON + `}}`, "/template/spec"},
	} {
		t.Run(tc.kind.Kind, func(t *testing.T) {
			got, err := Images(tc.kind, []byte(tc.object))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d images: %+v", len(got), got)
			}
			for i, w := range want {
				w.Path = strings.Replace(w.Path, "%s", tc.pointer, 1)
				if got[i] != w {
					t.Errorf("image %d: %+v, want %+v", i, got[i], w)
				}
			}
		})
	}
}

// An object imgsign cannot read is an error, never "no images".
func TestImagesRefuses(t *testing.T) {
	for _, tc := range []struct {
		kind   metav1.GroupVersionKind
		object string
	}{
		{metav1.GroupVersionKind{Group: "apps", Version: "v1beta1", Kind: "Deployment"}, `{}`},
		{metav1.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "Rollout"}, `{}`},
		{podKind, `{"spec":{"containers":"nope"}}`},
		{podKind, `not json`},
	} {
		if imgs, err := Images(tc.kind, []byte(tc.object)); err == nil {
			t.Errorf("%v %s: %+v, want an error", tc.kind, tc.object, imgs)
		}
	}
}

// mapJudge answers from a table: the protocol layer is tested here; verdicts
// themselves are serve's and verify's.
type mapJudge map[string]Verdict

func (m mapJudge) Judge(_ context.Context, image string) Verdict {
	if v, ok := m[image]; ok {
		return v
	}
	return Verdict{Verdict: Fail, Enforced: true, Reason: "not signed"}
}

var judge = mapJudge{
	"reg.example/app:1":            {Verdict: Pass, Enforced: true, Digest: "sha256:1111", Pinned: "reg.example/app:1@sha256:1111", Rule: "apps"},
	"reg.example/side@sha256:aaaa": {Verdict: Pass, Enforced: true, Digest: "sha256:aaaa", Rule: "apps"},
	"reg.example/setup:2":          {Verdict: Pass, Enforced: true, Digest: "sha256:2222", Pinned: "reg.example/setup:2@sha256:2222", Rule: "apps"},
	"reg.example/debug:3":          {Verdict: Pass, Enforced: true, Digest: "sha256:3333", Pinned: "reg.example/debug:3@sha256:3333", Rule: "apps"},
	"reg.example/audited:1":        {Verdict: Fail, Enforced: false, Digest: "sha256:4444", Pinned: "reg.example/audited:1@sha256:4444", Reason: "no signature", Rule: "legacy"},
	"reg.example/down:1":           {Verdict: Error, Enforced: true, Reason: "registry unreachable"},
}

func review(t *testing.T, h http.Handler, kind metav1.GroupVersionKind, op admissionv1.Operation, object string) *admissionv1.AdmissionResponse {
	t.Helper()
	return reviewSub(t, h, kind, op, "", object)
}

func reviewSub(t *testing.T, h http.Handler, kind metav1.GroupVersionKind, op admissionv1.Operation, sub, object string) *admissionv1.AdmissionResponse {
	t.Helper()
	in := admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: "uid-1", Kind: kind, Operation: op, SubResource: sub}}
	in.Request.Object.Raw = []byte(object)
	body, _ := json.Marshal(in)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/admission/validate?timeout=10s", bytes.NewReader(body)))
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" || out.Response == nil || out.Response.UID != "uid-1" {
		t.Fatalf("response does not answer the review: %s", w.Body)
	}
	return out.Response
}

func deadline(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), time.Second)
}

func pod(images ...string) string {
	var cs []string
	for i, img := range images {
		cs = append(cs, `{"name":"c`+string(rune('0'+i))+`","image":"`+img+`"}`)
	}
	return `{"spec":{"containers":[` + strings.Join(cs, ",") + `]}}`
}

func TestValidate(t *testing.T) {
	h := &Handler{Judge: judge, Deadline: deadline}
	for _, tc := range []struct {
		name     string
		kind     metav1.GroupVersionKind
		op       admissionv1.Operation
		object   string
		allowed  bool
		message  []string
		warnings int
	}{
		{"all verified", podKind, admissionv1.Create, `{"spec":` + podSpecJSON + `}`, true, nil, 0},
		{"one unsigned", podKind, admissionv1.Create, pod("reg.example/app:1", "evil.example/x:1"), false, []string{"1 of 2 images not trusted", "container c1 evil.example/x:1: fail: not signed"}, 0},
		{"unsigned in a deployment", deploymentKind, admissionv1.Update, `{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"evil.example/x:1"}]}}}}`, false, []string{"container web evil.example/x:1"}, 0},
		{"registry down", podKind, admissionv1.Create, pod("reg.example/down:1"), false, []string{"error: registry unreachable"}, 0},
		{"audit mode admits with a warning", podKind, admissionv1.Create, pod("reg.example/audited:1"), true, nil, 1},
		{"unknown kind is refused", metav1.GroupVersionKind{Group: "x", Version: "v1", Kind: "Y"}, admissionv1.Create, `{}`, false, []string{"does not read images of x/v1 Y"}, 0},
		{"delete is not judged", podKind, admissionv1.Delete, `null`, true, nil, 0},
		{"control characters are escaped", podKind, admissionv1.Create, pod(`evil\u001b[31m:1`), false, []string{`evil\x1b[31m:1`}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := review(t, h, tc.kind, tc.op, tc.object)
			if resp.Allowed != tc.allowed {
				t.Fatalf("allowed %v, want %v: %+v", resp.Allowed, tc.allowed, resp.Result)
			}
			for _, m := range tc.message {
				if resp.Result == nil || !strings.Contains(resp.Result.Message, m) {
					t.Errorf("message %+v does not say %q", resp.Result, m)
				}
			}
			if resp.Result != nil && strings.ContainsRune(resp.Result.Message, 0x1b) {
				t.Errorf("raw escape in the message: %q", resp.Result.Message)
			}
			if len(resp.Warnings) != tc.warnings {
				t.Errorf("warnings %q, want %d", resp.Warnings, tc.warnings)
			}
			if resp.Patch != nil {
				t.Errorf("the validating webhook patched: %s", resp.Patch)
			}
		})
	}
}

// Subresources that cannot change images pass without a look (a binding is
// not a Pod); ephemeralcontainers is judged.
func TestValidateSubresources(t *testing.T) {
	h := &Handler{Judge: judge, Deadline: deadline}
	binding := metav1.GroupVersionKind{Version: "v1", Kind: "Binding"}
	if resp := reviewSub(t, h, binding, admissionv1.Create, "binding", `{"target":{"name":"node"}}`); !resp.Allowed {
		t.Errorf("pods/binding: %+v", resp.Result)
	}
	if resp := reviewSub(t, h, podKind, admissionv1.Update, "status", pod("evil.example/x:1")); !resp.Allowed {
		t.Errorf("pods/status: %+v", resp.Result)
	}
	eph := `{"spec":{"containers":[{"name":"a","image":"reg.example/app:1"}],"ephemeralContainers":[{"name":"dbg","image":"evil.example/x:1"}]}}`
	if resp := reviewSub(t, h, podKind, admissionv1.Update, "ephemeralcontainers", eph); resp.Allowed {
		t.Error("pods/ephemeralcontainers with an unsigned image was allowed")
	}
}

// An update is judged on the images it changes: the ones the old object
// ran were judged when it was admitted, and its Pods are judged when made.
func TestValidateUpdate(t *testing.T) {
	h := &Handler{Judge: judge, Deadline: deadline}
	send := func(old, obj string) *admissionv1.AdmissionResponse {
		in := admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request: &admissionv1.AdmissionRequest{UID: "uid-1", Kind: deploymentKind, Operation: admissionv1.Update}}
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
	dep := func(images ...string) string {
		var cs []string
		for i, img := range images {
			cs = append(cs, fmt.Sprintf(`{"name":"c%d","image":%q}`, i, img))
		}
		return `{"spec":{"template":{"spec":{"containers":[` + strings.Join(cs, ",") + `]}}}}`
	}
	if r := send(dep("reg.example/down:1"), dep("reg.example/down:1")); !r.Allowed {
		t.Errorf("scaling a Deployment whose registry is down was refused: %+v", r.Result)
	}
	if r := send(dep("reg.example/app:1"), dep("reg.example/app:1", "evil.example/x:1")); r.Allowed {
		t.Error("an image added by an update was not judged")
	}
	if r := send(`{"spec":{"template":"x"}}`, dep("evil.example/x:1")); r.Allowed {
		t.Error("an unreadable old object let an update pass unjudged")
	}
}

func TestMutate(t *testing.T) {
	h := &Handler{Judge: judge, Mutate: true, Deadline: deadline}
	resp := review(t, h, cronJobKind, admissionv1.Create, `{"spec":{"jobTemplate":{"spec":{"template":{"spec":`+podSpecJSON+`}}}}}`)
	if !resp.Allowed || resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("%+v", resp)
	}
	var ops []patchOp
	if err := json.Unmarshal(resp.Patch, &ops); err != nil {
		t.Fatal(err)
	}
	want := []patchOp{
		{"replace", "/spec/jobTemplate/spec/template/spec/containers/0/image", "reg.example/app:1@sha256:1111"},
		{"replace", "/spec/jobTemplate/spec/template/spec/initContainers/0/image", "reg.example/setup:2@sha256:2222"},
		{"replace", "/spec/jobTemplate/spec/template/spec/ephemeralContainers/0/image", "reg.example/debug:3@sha256:3333"},
	}
	if len(ops) != len(want) {
		t.Fatalf("patch %s", resp.Patch)
	}
	for i := range want {
		if ops[i] != want[i] {
			t.Errorf("op %d: %+v, want %+v", i, ops[i], want[i])
		}
	}
	// Unverified and audited images are left alone, and nothing denies.
	resp = review(t, h, podKind, admissionv1.Create, pod("evil.example/x:1", "reg.example/audited:1", "reg.example/side@sha256:aaaa"))
	if !resp.Allowed || resp.Patch != nil {
		t.Errorf("%+v", resp)
	}
}

func TestReviewRefusesNonReviews(t *testing.T) {
	h := &Handler{Judge: judge, Deadline: deadline}
	for _, body := range []string{`{}`, `{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{}}`, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, `[`} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body)))
		if w.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d", body, w.Code)
		}
	}
}

func providerCall(t *testing.T, h http.Handler, keys ...string) Response {
	t.Helper()
	var req ProviderRequest
	req.APIVersion, req.Kind, req.Request.Keys = "externaldata.gatekeeper.sh/v1beta1", "ProviderRequest", keys
	body, _ := json.Marshal(req)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/externaldata", bytes.NewReader(body)))
	var out ProviderResponse
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.Kind != "ProviderResponse" || out.APIVersion != "externaldata.gatekeeper.sh/v1beta1" || !out.Response.Idempotent {
		t.Fatalf("%s", w.Body)
	}
	return out.Response
}

func TestExternalData(t *testing.T) {
	r := providerCall(t, &ExternalData{Judge: judge, Deadline: deadline}, "reg.example/app:1", "evil.example/x:1", "reg.example/audited:1")
	if len(r.Items) != 3 || r.SystemError != "" {
		t.Fatalf("%+v", r)
	}
	if it := r.Items[0]; it.Error != "" || it.Value.(map[string]any)["digest"] != "sha256:1111" || it.Value.(map[string]any)["verdict"] != "pass" {
		t.Errorf("pass: %+v", it)
	}
	if it := r.Items[1]; it.Error != "fail: not signed" {
		t.Errorf("fail: %+v", it)
	}
	if it := r.Items[2]; it.Error != "" || it.Value.(map[string]any)["verdict"] != "fail" {
		t.Errorf("audit: %+v", it)
	}

	r = providerCall(t, &ExternalData{Judge: judge, Mutate: true, Deadline: deadline}, "reg.example/app:1", "reg.example/side@sha256:aaaa", "evil.example/x:1", "reg.example/audited:1")
	want := []Item{{Key: "reg.example/app:1", Value: "reg.example/app:1@sha256:1111"}, {Key: "reg.example/side@sha256:aaaa", Value: "reg.example/side@sha256:aaaa"},
		{Key: "evil.example/x:1", Error: "evil.example/x:1: fail: not signed"}, {Key: "reg.example/audited:1", Value: "reg.example/audited:1"}}
	for i, w := range want {
		if r.Items[i] != w {
			t.Errorf("mutate item %d: %+v, want %+v", i, r.Items[i], w)
		}
	}

	notReady := &ExternalData{Judge: judge, Deadline: deadline, Ready: func() error { return context.Canceled }}
	if r := providerCall(t, notReady, "reg.example/app:1"); r.SystemError == "" || len(r.Items) != 0 {
		t.Errorf("not ready: %+v", r)
	}
}
