package kubeenv

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/imgsign/imgsign/internal/testing/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

func TestStart(t *testing.T) {
	env := Start(t)
	v, err := env.Client.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != "v1.37.2" {
		t.Errorf("server version %q, want v1.37.2", v.GitVersion)
	}
	ns := env.Namespace(t, map[string]string{"team": "a"})
	got, err := env.Client.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Labels["team"] != "a" || !strings.HasPrefix(ns, "teststart-") {
		t.Errorf("namespace %s labels %v", ns, got.Labels)
	}
	if again := Start(t); again != env {
		t.Error("a second Start started another control plane")
	}

	// The kubeconfig works for external tools; a Pod is stored (never run).
	kubectl := testenv.Tool(t, "kubectl")
	pod := fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":%q},"spec":{"containers":[{"name":"c","image":"example.com/app:1"}]}}`, ns)
	res := testenv.Run(t, t.TempDir(), []string{"KUBECONFIG=" + env.Kubeconfig}, kubectl, "apply", "--dry-run=server", "-o", "name", "-f", writeFile(t, pod))
	if res.Code != 0 || strings.TrimSpace(res.Stdout) != "pod/p" {
		t.Fatalf("kubectl apply --dry-run=server: exit %d\n%s%s", res.Code, res.Stdout, res.Stderr)
	}
	ApplyYAML(t, env, pod)
	if _, err := env.Client.CoreV1().Pods(ns).Get(context.Background(), "p", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "*.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

const requiredLabels = `
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: k8srequiredlabels
spec:
  crd:
    spec:
      names:
        kind: K8sRequiredLabels
      validation:
        openAPIV3Schema:
          type: object
          properties:
            labels:
              type: array
              items:
                type: string
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package k8srequiredlabels

        violation[{"msg": msg}] {
          provided := {label | input.review.object.metadata.labels[label]}
          required := {label | label := input.parameters.labels[_]}
          missing := required - provided
          count(missing) > 0
          msg := sprintf("you must provide labels: %v", [missing])
        }
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sRequiredLabels
metadata:
  name: pods-must-have-owner
spec:
  match:
    kinds:
      - apiGroups: [""]
        kinds: ["Pod"]
    namespaceSelector:
      matchLabels:
        kubeenv-test: gatekeeper
  parameters:
    labels: ["owner"]
`

func pod(ns, name string, labels map[string]string, images ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}}
	for i, img := range images {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: img})
	}
	return p
}

func TestGatekeeper(t *testing.T) {
	env := Start(t)
	ignored := env.Namespace(t, map[string]string{IgnoreLabel: "yes", "kubeenv-test": "gatekeeper"})
	g := StartGatekeeper(t, env)
	ns := env.Namespace(t, map[string]string{"kubeenv-test": "gatekeeper"})
	g.Apply(t, requiredLabels)

	ctx := context.Background()
	_, err := env.Client.CoreV1().Pods(ns).Create(ctx, pod(ns, "unlabelled", nil, "example.com/app:1"), metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "validation.gatekeeper.sh") || !strings.Contains(err.Error(), "you must provide labels") {
		t.Fatalf("creating a Pod without the owner label: %v, want Gatekeeper's denial", err)
	}
	if _, err := env.Client.CoreV1().Pods(ns).Create(ctx, pod(ns, "labelled", map[string]string{"owner": "me"}, "example.com/app:1"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating a Pod with the owner label: %v", err)
	}
	// The webhook's namespaceSelector leaves ignored namespaces alone.
	if _, err := env.Client.CoreV1().Pods(ignored).Create(ctx, pod(ignored, "unlabelled", nil, "example.com/app:1"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating a Pod in a namespace labelled %s: %v", IgnoreLabel, err)
	}
}

const externalData = `
apiVersion: externaldata.gatekeeper.sh/v1beta1
kind: Provider
metadata:
  name: kubeenv-test-provider
spec:
  url: PROVIDER_URL/validate
  timeout: 5
  caBundle: CA_BUNDLE
---
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: k8sexternalimages
spec:
  crd:
    spec:
      names:
        kind: K8sExternalImages
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package k8sexternalimages

        violation[{"msg": msg}] {
          images := [img | img := input.review.object.spec.containers[_].image]
          response := external_data({"provider": "kubeenv-test-provider", "keys": images})
          count(response.errors) > 0
          msg := sprintf("provider errors: %v", [response.errors])
        }

        violation[{"msg": msg}] {
          images := [img | img := input.review.object.spec.containers[_].image]
          response := external_data({"provider": "kubeenv-test-provider", "keys": images})
          response.system_error != ""
          msg := sprintf("provider system error: %v", [response.system_error])
        }
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sExternalImages
metadata:
  name: images-checked-by-provider
spec:
  match:
    kinds:
      - apiGroups: [""]
        kinds: ["Pod"]
    namespaceSelector:
      matchLabels:
        kubeenv-test: external-data
`

// TestGatekeeperExternalData checks what an external-data provider sees:
// HTTPS (TLS 1.3) with the caBundle of the Provider, and Gatekeeper's
// ClientCertPEM as client certificate, verifiable with its CAPEM.
func TestGatekeeperExternalData(t *testing.T) {
	env := Start(t)
	g := StartGatekeeper(t, env, "--external-data-provider-response-cache-ttl=0")
	ns := env.Namespace(t, map[string]string{"kubeenv-test": "external-data"})

	providerCerts, err := issue("provider-ca", "provider", nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(providerCerts.certPEM, providerCerts.keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	gatekeeperCA := x509.NewCertPool()
	gatekeeperCA.AppendCertsFromPEM(g.CAPEM)
	var (
		mu         sync.Mutex
		clientCert []byte
		keys       []string
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Kind    string `json:"kind"`
			Request struct {
				Keys []string `json:"keys"`
			} `json:"request"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Kind != "ProviderRequest" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		mu.Lock()
		clientCert = r.TLS.PeerCertificates[0].Raw
		keys = append(keys, req.Request.Keys...)
		mu.Unlock()
		var items []map[string]string
		for _, k := range req.Request.Keys {
			if strings.Contains(k, "unsigned") {
				items = append(items, map[string]string{"key": k, "error": "no signature"})
			} else {
				items = append(items, map[string]string{"key": k, "value": "verified"})
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"apiVersion": "externaldata.gatekeeper.sh/v1beta1",
			"kind":       "ProviderResponse",
			"response":   map[string]any{"items": items},
		})
	}))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    gatekeeperCA,
		MinVersion:   tls.VersionTLS13,
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	g.Apply(t, strings.NewReplacer("PROVIDER_URL", srv.URL, "CA_BUNDLE", base64.StdEncoding.EncodeToString(providerCerts.caPEM)).Replace(externalData))

	ctx := context.Background()
	_, err = env.Client.CoreV1().Pods(ns).Create(ctx, pod(ns, "bad", nil, "example.com/unsigned:1"), metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "no signature") {
		t.Fatalf("creating a Pod the provider rejects: %v, want Gatekeeper's denial with the provider's error", err)
	}
	if _, err := env.Client.CoreV1().Pods(ns).Create(ctx, pod(ns, "good", nil, "example.com/signed:1"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating a Pod the provider accepts: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	block, _ := pem.Decode(g.ClientCertPEM)
	if !bytes.Equal(clientCert, block.Bytes) {
		t.Error("Gatekeeper's client certificate is not ClientCertPEM")
	}
	got := strings.Join(keys, " ")
	if !strings.Contains(got, "example.com/unsigned:1") || !strings.Contains(got, "example.com/signed:1") {
		t.Errorf("provider got keys %q", keys)
	}
}
