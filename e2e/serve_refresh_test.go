package e2e

// imgsign serve and KMS keys that change while it runs: it fetched them once
// at load, so a version retired in the KMS stayed trusted until a restart.
// Now it fetches them again every --kms-refresh. (Named Sigstore trust
// roots changing under serve are tested in serve/refresh_test.go, through
// the HTTP handler: a cached public-good root only counts if it verifies
// under the TUF root built into the binary, which only the serve package's
// tests can stand a local TUF repository in for.)

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// validate posts a Pod running image to serve's validating webhook, as the
// API server does, and returns whether it was allowed and the message.
func (s *served) validate(t *testing.T, image string) (bool, string) {
	t.Helper()
	pod, _ := json.Marshal(map[string]any{"spec": map[string]any{"containers": []map[string]string{{"name": "a", "image": image}}}})
	review, _ := json.Marshal(map[string]any{
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{"uid": "u", "kind": map[string]string{"group": "", "version": "v1", "kind": "Pod"},
			"resource":  map[string]string{"group": "", "version": "v1", "resource": "pods"},
			"operation": "CREATE", "namespace": "default", "object": json.RawMessage(pod)},
	})
	resp, err := s.client.Post(s.url+"/admission/validate?timeout=10s", "application/json", bytes.NewReader(review))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Response *struct {
			Allowed bool `json:"allowed"`
			Status  *struct {
				Message string `json:"message"`
			} `json:"status"`
		} `json:"response"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Response == nil {
		t.Fatalf("validate %s: HTTP %d, %v", image, resp.StatusCode, err)
	}
	msg := ""
	if out.Response.Status != nil {
		msg = out.Response.Status.Message
	}
	return out.Response.Allowed, msg
}

// eventually waits up to 10 s for validate(image) to answer allowed.
func (s *served) eventually(t *testing.T, image string, allowed bool, what string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, msg := s.validate(t, image)
		if got == allowed {
			return msg
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s still allowed=%v (%s); log:\n%s", what, image, got, msg, s.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The attack: a release key version is retired in Vault (compromised), and
// an image its signature covers is refused by the running serve within
// --kms-refresh, without a restart. A Vault that goes away afterwards
// keeps the keys fetched before: serve goes on answering, reports the
// failure once, and stays ready.
func TestServeKMSRefresh(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	e := newKMSEnv(t)
	e.vault.Setenv(t) // serve inherits the environment
	e.kmsMust("keys", "generate", "--kms", "hashivault://release", "--type", "ecdsa-p256")
	for _, repo := range []string{"old", "new"} {
		testenv.PushImage(t, host, repo, "v1")
	}
	old, newer := host+"/old:v1", host+"/new:v1"
	e.kmsMust("sign", "--key", "hashivault://release", old)
	pol := e.kmsPolicy(host, 1)
	s := startServe(t, e.env, pol, "--kms-refresh", "300ms", "--negative-ttl", "0")
	if ok, msg := s.validate(t, old); !ok {
		t.Fatalf("signed with v1: denied: %s", msg)
	}
	_, ready := s.get(t, "/readyz")

	if _, err := e.vault.Rotate("release"); err != nil {
		t.Fatal(err)
	}
	e.kmsMust("sign", "--key", "hashivault://release", newer)
	s.eventually(t, newer, true, "signed with v2 after the rotation")
	if err := e.vault.SetMinDecryptionVersion("release", 2); err != nil {
		t.Fatal(err)
	}
	msg := s.eventually(t, old, false, "v1 retired in Vault")
	t.Logf("after v1 was retired: %s", msg)
	if ok, msg := s.validate(t, newer); !ok {
		t.Errorf("signed with v2 after v1 was retired: denied: %s", msg)
	}
	if _, now := s.get(t, "/readyz"); now == ready {
		t.Errorf("readyz reports the same policy after the keys changed: %s", now)
	}
	if !strings.Contains(s.logs.String(), "trust policy loaded: its KMS keys changed") {
		t.Errorf("the reload is not logged:\n%s", s.logs.String())
	}

	// Vault goes away: the keys fetched before stay in force.
	e.vault.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.logs.String(), "KMS keys could not be fetched again") {
		if time.Now().After(deadline) {
			t.Fatalf("the failed fetch is not reported:\n%s", s.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // a few more refreshes
	if ok, msg := s.validate(t, newer); !ok {
		t.Errorf("Vault unreachable: the v2 signature is denied: %s", msg)
	}
	if ok, _ := s.validate(t, old); ok {
		t.Error("Vault unreachable: the retired v1 is trusted again")
	}
	if status, body := s.get(t, "/readyz"); status != http.StatusOK || !strings.Contains(body, "cannot reach") {
		t.Errorf("readyz with Vault unreachable: %d %s", status, body)
	}
	if n := strings.Count(s.logs.String(), "KMS keys could not be fetched again"); n != 1 {
		t.Errorf("the unreachable Vault was reported %d times, want once:\n%s", n, s.logs.String())
	}
}
