package admission

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// Gatekeeper's external-data protocol (externaldata.gatekeeper.sh/v1beta1):
// Gatekeeper POSTs a ProviderRequest with keys, the provider answers a
// ProviderResponse with one item per key. The types are written out here
// (they are a few fields) rather than importing Gatekeeper, whose module
// brings its controller and OPA with it.
const (
	externalDataAPIVersion = "externaldata.gatekeeper.sh/v1beta1"
	maxKeys                = 1000
	maxRequestBytes        = 1 << 20
)

// ProviderRequest is what Gatekeeper sends.
type ProviderRequest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Request    struct {
		Keys []string `json:"keys"`
	} `json:"request"`
}

// ProviderResponse is what the provider answers.
type ProviderResponse struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Response   Response `json:"response"`
}

// Response is the body of a ProviderResponse. SystemError is set when the
// provider could not answer at all; Gatekeeper then fails the request per
// the Provider's failure policy.
type Response struct {
	Idempotent  bool   `json:"idempotent"`
	Items       []Item `json:"items"`
	SystemError string `json:"systemError,omitempty"`
}

// Item is the answer for one key: a value, or an error.
type Item struct {
	Key   string `json:"key"`
	Value any    `json:"value,omitempty"`
	Error string `json:"error,omitempty"`
}

// ExternalData serves Gatekeeper's external data: each key is an image
// reference. For validation (the default) an item's value is the Verdict
// and its error is set when the image is not admitted, so a
// ConstraintTemplate needs only check for errors. With Mutate, for
// Gatekeeper's Assign mutation, the value is the string the image is
// replaced by (the pinned reference, or the reference itself when it
// already names a digest; an audit-mode failure's reference unchanged) and
// images that are not admitted get an error.
type ExternalData struct {
	Judge  Judge
	Mutate bool
	// Deadline bounds the time to answer, as for Handler; set Gatekeeper's
	// Provider timeout above it.
	Deadline func(r *http.Request) (context.Context, context.CancelFunc)
	// Ready, when set, reports why the provider cannot judge yet (no
	// policy loaded): the whole response is then a systemError.
	Ready func() error
}

func (h *ExternalData) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "a ProviderRequest is POSTed", http.StatusMethodNotAllowed)
		return
	}
	resp := ProviderResponse{APIVersion: externalDataAPIVersion, Kind: "ProviderResponse", Response: Response{Idempotent: true, Items: []Item{}}}
	keys, err := readProviderRequest(r)
	if err == nil && h.Ready != nil {
		err = h.Ready()
	}
	if err != nil {
		resp.Response.SystemError = "imgsign: " + clip(err.Error(), maxMessage)
		writeJSON(w, &resp)
		return
	}
	ctx, cancel := h.Deadline(r)
	defer cancel()
	images := make([]Image, len(keys))
	for i, k := range keys {
		images[i] = Image{Ref: k}
	}
	verdicts := judgeAll(ctx, h.Judge, images)
	for _, k := range keys {
		resp.Response.Items = append(resp.Response.Items, h.item(k, verdicts[k]))
	}
	writeJSON(w, &resp)
}

func (h *ExternalData) item(key string, v Verdict) Item {
	it := Item{Key: key}
	if !h.Mutate {
		v.Reason = clip(v.Reason, 1024)
		it.Value = v
		if !v.Admitted() {
			it.Error = v.Verdict + ": " + v.Reason
		}
		return it
	}
	switch {
	case v.Verdict != Pass && v.Admitted():
		// Audit mode: admitted as written, not pinned — only a verified
		// digest is pinned (the validation constraint warns).
		it.Value = key
	case v.Verdict != Pass:
		// Gatekeeper quotes the error without the key: it names the image.
		it.Error = clip(key, 512) + ": " + v.Verdict + ": " + clip(v.Reason, 1024)
	case v.Pinned != "":
		it.Value = v.Pinned
	default:
		it.Value = key
	}
	return it
}

func readProviderRequest(r *http.Request) ([]string, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the ProviderRequest: %w", err)
	}
	if len(body) > maxRequestBytes {
		return nil, fmt.Errorf("the ProviderRequest is larger than %d MiB", maxRequestBytes>>20)
	}
	var req ProviderRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("decoding the ProviderRequest: %w", err)
	}
	if req.APIVersion != externalDataAPIVersion || req.Kind != "ProviderRequest" {
		return nil, fmt.Errorf("expected an %s ProviderRequest, got %s %s", externalDataAPIVersion, req.APIVersion, req.Kind)
	}
	if len(req.Request.Keys) > maxKeys {
		return nil, fmt.Errorf("the ProviderRequest has %d keys, more than %d", len(req.Request.Keys), maxKeys)
	}
	return req.Request.Keys, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
