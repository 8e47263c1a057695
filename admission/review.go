package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// maxReviewBytes bounds an AdmissionReview body: an object is at most
// ~1.5 MiB in etcd, and an UPDATE carries the old one too.
const maxReviewBytes = 8 << 20

// maxMessage bounds the denial message; the API server shows it to the
// user who applied the object.
const maxMessage = 4096

// parallel is how many images of one object are judged at once.
const parallel = 8

// Handler serves one webhook: Validate or Mutate.
type Handler struct {
	Judge Judge
	// Mutate selects the mutating webhook: pin admitted images to their
	// digest. Otherwise the handler validates: deny untrusted images.
	Mutate bool
	// Deadline bounds the time to answer a review (the webhook's
	// timeoutSeconds minus a margin).
	Deadline func(r *http.Request) (context.Context, context.CancelFunc)
	// Observe, when set, is told each answered review's outcome:
	// "allowed", "denied" or "invalid".
	Observe func(outcome string)
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "an AdmissionReview is POSTed", http.StatusMethodNotAllowed)
		return
	}
	review, err := readReview(r)
	if err != nil {
		h.observe("invalid")
		http.Error(w, clip(err.Error(), maxMessage), http.StatusBadRequest)
		return
	}
	ctx, cancel := h.Deadline(r)
	defer cancel()
	resp := h.review(ctx, review.Request)
	resp.UID = review.Request.UID
	if resp.Allowed {
		h.observe("allowed")
	} else {
		h.observe("denied")
	}
	out := admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(&out)
}

func (h *Handler) observe(outcome string) {
	if h.Observe != nil {
		h.Observe(outcome)
	}
}

func readReview(r *http.Request) (*admissionv1.AdmissionReview, error) {
	body, err := readAll(io.LimitReader(r.Body, maxReviewBytes+1), r.ContentLength)
	if err != nil {
		return nil, fmt.Errorf("reading the AdmissionReview: %w", err)
	}
	if len(body) > maxReviewBytes {
		return nil, fmt.Errorf("the AdmissionReview is larger than %d MiB", maxReviewBytes>>20)
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		return nil, fmt.Errorf("decoding the AdmissionReview: %w", err)
	}
	if review.APIVersion != "admission.k8s.io/v1" || review.Kind != "AdmissionReview" {
		return nil, fmt.Errorf("expected an admission.k8s.io/v1 AdmissionReview, got %s %s (set admissionReviewVersions: [v1])", review.APIVersion, review.Kind)
	}
	if review.Request == nil {
		return nil, errors.New("the AdmissionReview has no request")
	}
	return &review, nil
}

// readAll is io.ReadAll with room made at once for the size the request
// declares (bounded by maxReviewBytes), rather than grown from 512 bytes
// by copies.
func readAll(r io.Reader, size int64) ([]byte, error) {
	b := make([]byte, 0, min(max(size, 0), maxReviewBytes)+512)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // let append pick the growth
		}
	}
}

// review answers one admission request.
func (h *Handler) review(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return &admissionv1.AdmissionResponse{Allowed: true}
	}
	// Images change through the object itself and a Pod's
	// ephemeralcontainers; other subresources (status, scale, binding,
	// eviction, resize) cannot, and carry other kinds: a webhook
	// registered for pods/* must not refuse the scheduler's bindings.
	if req.SubResource != "" && req.SubResource != "ephemeralcontainers" {
		return &admissionv1.AdmissionResponse{Allowed: true}
	}
	images, err := Images(req.Kind, req.Object.Raw)
	if err != nil {
		// Fail closed: an object whose images cannot be read is refused.
		return deny(metav1.StatusReasonBadRequest, "imgsign: "+clip(err.Error(), maxMessage-9))
	}
	if req.Operation == admissionv1.Update {
		images = changed(req.Kind, req.OldObject.Raw, images)
	}
	verdicts := judgeAll(ctx, h.Judge, images)
	if h.Mutate {
		return pin(images, verdicts)
	}
	return decide(images, verdicts)
}

// changed drops, from an update's images, those the old object already
// ran: scaling a Deployment or finalizing a Job must not fail because a key
// was revoked or a registry is down since they were admitted. Nothing runs
// unjudged for it: every Pod is judged when it is created, whatever its
// controller's template says.
func changed(kind metav1.GroupVersionKind, oldRaw []byte, images []Image) []Image {
	old, err := Images(kind, oldRaw)
	if err != nil {
		return images // judge everything rather than guess
	}
	had := map[string]bool{}
	for _, img := range old {
		had[img.Ref] = true
	}
	var out []Image
	for _, img := range images {
		if !had[img.Ref] {
			out = append(out, img)
		}
	}
	return out
}

// judgeAll judges each distinct image once, a few at a time.
func judgeAll(ctx context.Context, j Judge, images []Image) map[string]Verdict {
	out := map[string]Verdict{}
	if len(images) == 1 { // most Pods: no goroutine to start
		out[images[0].Ref] = j.Judge(ctx, images[0].Ref)
		return out
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	for _, img := range images {
		mu.Lock()
		_, seen := out[img.Ref]
		if !seen {
			out[img.Ref] = Verdict{}
		}
		mu.Unlock()
		if seen {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(ref string) {
			defer func() { <-sem; wg.Done() }()
			v := j.Judge(ctx, ref)
			mu.Lock()
			out[ref] = v
			mu.Unlock()
		}(img.Ref)
	}
	wg.Wait()
	return out
}

// decide is the validating webhook's answer: denied when any image is not
// admitted, naming every such image with the policy's reason; audit-mode
// failures admit with a warning each.
func decide(images []Image, verdicts map[string]Verdict) *admissionv1.AdmissionResponse {
	var denied, warnings []string
	var reasons []string
	for _, img := range images {
		v := verdicts[img.Ref]
		line := fmt.Sprintf("%s %s: %s", img.Container, clip(img.Ref, 512), describe(v))
		switch {
		case v.Verdict == Pass:
		case v.Admitted():
			warnings = append(warnings, clip("imgsign audit: "+line, 512))
		default:
			denied = append(denied, line)
			reasons = append(reasons, string(verdictReason(v)))
		}
	}
	resp := &admissionv1.AdmissionResponse{Allowed: len(denied) == 0, Warnings: warnings, AuditAnnotations: auditAnnotations(images, verdicts)}
	if len(denied) > 0 {
		msg := fmt.Sprintf("imgsign: %d of %d images not trusted: %s", len(denied), len(images), strings.Join(denied, "; "))
		resp.Result = &metav1.Status{Status: metav1.StatusFailure, Message: clip(msg, maxMessage), Reason: metav1.StatusReason(reasons[0]), Code: http.StatusForbidden}
	}
	return resp
}

// verdictReason is the Status reason of a denial: Forbidden for an
// untrusted image, ServiceUnavailable when it could not be judged.
func verdictReason(v Verdict) metav1.StatusReason {
	if v.Verdict == Error {
		return metav1.StatusReasonServiceUnavailable
	}
	return metav1.StatusReasonForbidden
}

// describe is a verdict in a few words: "pass (rule prod, sha256:…)" or
// "fail: <reason>".
func describe(v Verdict) string {
	if v.Verdict == Pass {
		return fmt.Sprintf("pass (rule %s, %s)", clip(v.Rule, 128), v.Digest)
	}
	return v.Verdict + ": " + clip(v.Reason, 1024)
}

// auditAnnotations record every image's verdict in the API server's audit
// log (the key is prefixed with the webhook's name).
func auditAnnotations(images []Image, verdicts map[string]Verdict) map[string]string {
	seen := map[string]bool{}
	var lines []string
	for _, img := range images {
		if seen[img.Ref] {
			continue
		}
		seen[img.Ref] = true
		lines = append(lines, clip(img.Ref, 512)+" "+describe(verdicts[img.Ref]))
	}
	sort.Strings(lines)
	return map[string]string{"verdicts": clip(strings.Join(lines, "; "), 8192)}
}

// patchOp is one RFC 6902 operation.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value string `json:"value"`
}

// pin is the mutating webhook's answer: every image that passed and is not
// yet pinned is replaced by the digest that was verified, so the digest
// that runs is the one judged. It never denies — the validating webhook
// does — and patches nothing on re-admission of pinned images.
func pin(images []Image, verdicts map[string]Verdict) *admissionv1.AdmissionResponse {
	var ops []patchOp
	for _, img := range images {
		v := verdicts[img.Ref]
		if v.Verdict != Pass || v.Pinned == "" {
			continue
		}
		ops = append(ops, patchOp{Op: "replace", Path: img.Path, Value: v.Pinned})
	}
	resp := &admissionv1.AdmissionResponse{Allowed: true}
	if len(ops) == 0 {
		return resp
	}
	patch, _ := json.Marshal(ops)
	pt := admissionv1.PatchTypeJSONPatch
	resp.Patch, resp.PatchType = patch, &pt
	return resp
}

func deny(reason metav1.StatusReason, msg string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{Status: metav1.StatusFailure, Message: msg, Reason: reason, Code: http.StatusBadRequest}}
}
