package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/imgsign/imgsign/internal/testing/kubeenv"
	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// served is `imgsign serve` running as a plain process on loopback.
type served struct {
	url    string
	caPEM  []byte
	client *http.Client
	logs   *testenv.LockedBuffer
}

// startServe runs imgsign serve with policy and extra flags, and waits
// until it is ready.
func startServe(t *testing.T, e *env, policy string, extra ...string) *served {
	t.Helper()
	caFile, certFile, keyFile := testenv.WriteTLS(t, t.TempDir())
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	addr := testenv.FreeAddr(t)
	args := append([]string{"serve", "--policy", policy, "--listen", addr, "--tls-cert", certFile, "--tls-key", keyFile, "--reload-interval", "100ms"}, extra...)
	cmd := exec.Command(e.bin, args...)
	cmd.Dir = e.dir
	logs := &testenv.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("imgsign serve log:\n%s", logs.String())
		}
	})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	s := &served{url: "https://" + addr, caPEM: caPEM, logs: logs,
		client: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, body := s.get(t, "/readyz")
		if status == http.StatusOK {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("imgsign serve not ready (%d %s); log:\n%s", status, body, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *served) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := s.client.Get(s.url + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitReload waits until /readyz reports another policy than before.
func (s *served) waitReload(t *testing.T, before string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, body := s.get(t, "/readyz"); body != before && strings.HasPrefix(body, "ready:") && !strings.Contains(body, "refused") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the policy was not reloaded; log:\n%s", s.logs.String())
}

const e2eLabel = "imgsign-e2e"

// registerWebhooks points validating and mutating webhooks at s for the
// namespaces labelled e2eLabel=value, as deploy/kubernetes does for every
// namespace but kube-system and imgsign's own.
func registerWebhooks(t *testing.T, kube *kubeenv.Env, s *served, value string) {
	t.Helper()
	fail, none := admissionregistrationv1.Fail, admissionregistrationv1.SideEffectClassNone
	equivalent, timeout := admissionregistrationv1.Equivalent, int32(10)
	reinvoke := admissionregistrationv1.IfNeededReinvocationPolicy
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{e2eLabel: value}}
	ops := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
	rules := []admissionregistrationv1.RuleWithOperations{
		{Operations: ops, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods", "pods/ephemeralcontainers"}}},
		{Operations: ops, Rule: admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments", "replicasets", "statefulsets", "daemonsets"}}},
		{Operations: ops, Rule: admissionregistrationv1.Rule{APIGroups: []string{"batch"}, APIVersions: []string{"v1"}, Resources: []string{"jobs", "cronjobs"}}},
	}
	cfg := func(path string) admissionregistrationv1.WebhookClientConfig {
		u := s.url + path
		return admissionregistrationv1.WebhookClientConfig{URL: &u, CABundle: s.caPEM}
	}
	name := "imgsign-e2e-" + value
	ctx := context.Background()
	_, err := kube.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{Name: "validate.imgsign.dev", ClientConfig: cfg("/admission/validate"), Rules: rules,
			FailurePolicy: &fail, SideEffects: &none, MatchPolicy: &equivalent, TimeoutSeconds: &timeout, NamespaceSelector: selector, AdmissionReviewVersions: []string{"v1"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kube.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	_, err = kube.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "mutate.imgsign.dev", ClientConfig: cfg("/admission/mutate"), Rules: rules,
			FailurePolicy: &fail, SideEffects: &none, MatchPolicy: &equivalent, TimeoutSeconds: &timeout, NamespaceSelector: selector,
			AdmissionReviewVersions: []string{"v1"}, ReinvocationPolicy: &reinvoke}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kube.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
}

// warnings collects the API server's warnings to one client.
type warnings struct {
	mu  sync.Mutex
	got []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.got = append(w.got, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	got := w.got
	w.got = nil
	return got
}

func podOf(name string, images ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for i, img := range images {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: img})
	}
	return p
}

func deploymentOf(name, image string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}}},
	}}
}

// waitActive waits until the API server calls the new webhooks: it caches
// webhook configurations and picks new ones up within a second or so.
func waitActive(t *testing.T, c kubernetes.Interface, ns, unsigned string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := c.CoreV1().Pods(ns).Create(context.Background(), podOf("probe", unsigned), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil && strings.Contains(err.Error(), "imgsign") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the webhooks never answered (last: %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Through a real API server: Pods and Deployments with unsigned images are
// denied with imgsign's reason, signed ones admitted and pinned to the
// digest verified; a moved tag, a revoked key, a hanging registry and audit
// mode each do what docs/kubernetes.md says.
func TestAdmission(t *testing.T) {
	kube := kubeenv.Start(t)
	host := testenv.Registry(t, true).Addr
	hang := silentServer(t)
	e := newEnv(t)
	e.key("release", "ecdsa-p256")
	policyDoc := func(keyExtra string) string {
		return fmt.Sprintf(`version: 1
keys:
  - name: release
    publicKey: release.pub
%spolicies:
  - name: apps
    scopes: ["%s/**", "%s/**"]
    signatures:
      keys: [release]
  - name: legacy
    mode: audit
    scopes: ["%s/legacy/**"]
    signatures:
      keys: [release]
`, keyExtra, host, hang, host)
	}
	policy := e.write("trust.yaml", policyDoc(""))
	s := startServe(t, e, policy, "--resolve-ttl", "0")
	registerWebhooks(t, kube, s, "admission")
	ns := kube.Namespace(t, map[string]string{e2eLabel: "admission"})

	w := &warnings{}
	cfg := rest.CopyConfig(kube.Config)
	cfg.WarningHandlerWithContext = nil
	cfg.WarningHandler = w
	c := kubernetes.NewForConfigOrDie(cfg)
	pods, deployments := c.CoreV1().Pods(ns), c.AppsV1().Deployments(ns)
	ctx := context.Background()

	sign := func(image string, extra ...string) {
		t.Helper()
		e.must(append(append([]string{"sign", "--key", "release.key"}, extra...), image)...)
	}
	signedD := testenv.PushImage(t, host, "app/web", "1.0")
	signed := host + "/app/web:1.0"
	sign(signed)
	testenv.PushImage(t, host, "app/unsigned", "1.0")
	unsigned := host + "/app/unsigned:1.0"
	waitActive(t, c, ns, unsigned)

	t.Run("unsigned Pod denied", func(t *testing.T) {
		_, err := pods.Create(ctx, podOf("unsigned", signed, unsigned), metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), `admission webhook "validate.imgsign.dev" denied the request: imgsign: 1 of 2 images not trusted: container c1 `+unsigned+`: fail:`) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("unsigned Deployment denied", func(t *testing.T) {
		_, err := deployments.Create(ctx, deploymentOf("unsigned", unsigned), metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), "container app "+unsigned) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("signed Pod admitted and pinned", func(t *testing.T) {
		p, err := pods.Create(ctx, podOf("signed", signed), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if want := signed + "@" + signedD.String(); p.Spec.Containers[0].Image != want {
			t.Fatalf("image %s, want %s", p.Spec.Containers[0].Image, want)
		}
		// Re-admission changes nothing.
		p.Labels = map[string]string{"touched": "yes"}
		p2, err := pods.Update(ctx, p, metav1.UpdateOptions{})
		if err != nil || p2.Spec.Containers[0].Image != p.Spec.Containers[0].Image {
			t.Fatalf("update: %v, image %s", err, p2.Spec.Containers[0].Image)
		}
	})
	t.Run("signed Deployment admitted and pinned", func(t *testing.T) {
		d, err := deployments.Create(ctx, deploymentOf("signed", signed), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if want := signed + "@" + signedD.String(); d.Spec.Template.Spec.Containers[0].Image != want {
			t.Fatalf("image %s, want %s", d.Spec.Template.Spec.Containers[0].Image, want)
		}
	})
	t.Run("ephemeral container with an unsigned image denied", func(t *testing.T) {
		p, err := pods.Get(ctx, "signed", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: unsigned}})
		_, err = pods.UpdateEphemeralContainers(ctx, "signed", p, metav1.UpdateOptions{})
		if err == nil || !strings.Contains(err.Error(), "ephemeralContainer debug "+unsigned) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("tag moved to an unsigned image denied on the next apply", func(t *testing.T) {
		testenv.PushImage(t, host, "app/moving", "1.0")
		moving := host + "/app/moving:1.0"
		sign(moving)
		if _, err := pods.Create(ctx, podOf("moving-1", moving), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		testenv.PushImage(t, host, "app/moving", "1.0")
		_, err := pods.Create(ctx, podOf("moving-2", moving), metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), "not trusted") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("multi-arch: the index digest must verify", func(t *testing.T) {
		idx, children := testenv.PushIndex(t, host, "app/multi", "1.0")
		multi := host + "/app/multi:1.0"
		sign(multi)
		p, err := pods.Create(ctx, podOf("multi", multi), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if want := multi + "@" + idx.String(); p.Spec.Containers[0].Image != want {
			t.Errorf("image %s, want the index digest %s", p.Spec.Containers[0].Image, want)
		}
		// A child named by its own digest carries no signature of its own.
		child := host + "/app/multi@" + children[0].String()
		if _, err := pods.Create(ctx, podOf("multi-child", child), metav1.CreateOptions{}); err == nil {
			t.Error("a platform manifest named by digest passed on the index's signature")
		}
		// Children signed one by one do not make an unsigned index pass.
		_, kids := testenv.PushIndex(t, host, "app/kids", "1.0")
		for _, k := range kids {
			sign(host + "/app/kids@" + k.String())
		}
		if _, err := pods.Create(ctx, podOf("kids", host+"/app/kids:1.0"), metav1.CreateOptions{}); err == nil {
			t.Error("an unsigned index passed because its children are signed")
		}
	})
	t.Run("audit mode admits with a warning", func(t *testing.T) {
		testenv.PushImage(t, host, "legacy/tool", "1.0")
		w.take()
		p, err := pods.Create(ctx, podOf("legacy", host+"/legacy/tool:1.0"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(w.take(), "\n")
		if !strings.Contains(got, "imgsign audit: container c0 "+host+"/legacy/tool:1.0: fail:") {
			t.Errorf("warnings: %q", got)
		}
		if strings.Contains(p.Spec.Containers[0].Image, "@") {
			t.Errorf("an image that failed in audit mode was pinned: %s", p.Spec.Containers[0].Image)
		}
	})
	t.Run("a hanging registry is denied within the deadline", func(t *testing.T) {
		start := time.Now()
		_, err := pods.Create(ctx, podOf("hang", hang+"/app/x:1"), metav1.CreateOptions{})
		elapsed := time.Since(start)
		if err == nil || !strings.Contains(err.Error(), `admission webhook "validate.imgsign.dev" denied the request: imgsign: 1 of 1 images not trusted`) || !strings.Contains(err.Error(), "did not answer within 9s") {
			t.Fatalf("got %v", err)
		}
		if strings.Contains(err.Error(), "failed calling webhook") {
			t.Errorf("the API server gave up on the webhook instead of getting imgsign's denial: %v", err)
		}
		// The mutating webhook's failed resolution is remembered for a
		// moment, so the validating webhook answers at once.
		if elapsed > 11*time.Second {
			t.Errorf("answered after %s", elapsed)
		}
	})
	t.Run("a reload that revokes the key denies an image admitted from cache a second earlier", func(t *testing.T) {
		if _, err := pods.Create(ctx, podOf("before-revoke", signed), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		_, before := s.get(t, "/readyz")
		e.write("trust.yaml", policyDoc("    revokedAt: 2020-01-01T00:00:00Z\n"))
		s.waitReload(t, before)
		_, err := pods.Create(ctx, podOf("after-revoke", signed), metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), "revoked") {
			t.Fatalf("got %v", err)
		}
	})
	status, metrics := s.get(t, "/metrics")
	for _, m := range []string{"imgsign_admission_requests_total", "imgsign_verdict_cache_hits_total", "imgsign_registry_requests_total", "imgsign_admission_duration_seconds_bucket"} {
		if status != http.StatusOK || !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}
