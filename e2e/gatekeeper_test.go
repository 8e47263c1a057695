package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/imgsign/imgsign/internal/testing/kubeenv"
	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// deployed reads a shipped Gatekeeper manifest with the in-cluster
// Service URL and CA placeholder pointed at s.
func deployed(t *testing.T, file string, s *served) string {
	t.Helper()
	data, err := os.ReadFile("../deploy/gatekeeper/" + file)
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.ReplaceAll(string(data), "https://imgsign.imgsign.svc:443", s.url)
	return strings.ReplaceAll(doc, "BASE64_CA_BUNDLE", base64.StdEncoding.EncodeToString(s.caPEM))
}

// Gatekeeper itself, out of cluster against a real API server, with the
// shipped Provider, ConstraintTemplate, Constraints and Assign mutations
// calling imgsign serve: an unsigned Pod is denied through Gatekeeper, a
// signed one admitted with its image pinned to the digest imgsign verified.
func TestGatekeeper(t *testing.T) {
	kube := kubeenv.Start(t)
	host := testenv.Registry(t, true).Addr
	e := newEnv(t)
	e.key("release", "ecdsa-p256")
	policy := e.write("trust.yaml", `version: 1
keys:
  - name: release
    publicKey: release.pub
policies:
  - name: apps
    scopes: ["`+host+`/**"]
    signatures:
      keys: [release]
`)
	s := startServe(t, e, policy)
	ns := kube.Namespace(t, nil)
	gk := kubeenv.StartGatekeeper(t, kube, "--operation=mutation-webhook", "--operation=mutation-status", "--operation=mutation-controller")
	registerGatekeeperMutation(t, kube, gk)
	for _, f := range []string{"provider.yaml", "template.yaml", "constraint.yaml"} {
		gk.Apply(t, deployed(t, f, s))
	}

	signedD := testenv.PushImage(t, host, "app/web", "1.0")
	signed := host + "/app/web:1.0"
	e.must("sign", "--key", "release.key", signed)
	testenv.PushImage(t, host, "app/unsigned", "1.0")
	unsigned := host + "/app/unsigned:1.0"
	pods := kube.Client.CoreV1().Pods(ns)
	ctx := context.Background()

	// Validation: the ConstraintTemplate's external_data call.
	_, err := pods.Create(ctx, podOf("unsigned", unsigned), metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), `admission webhook "validation.gatekeeper.sh" denied the request: [imgsign-verified]`) || !strings.Contains(err.Error(), unsigned) {
		t.Fatalf("unsigned Pod: %v", err)
	}
	if _, err := pods.Create(ctx, podOf("signed", signed), metav1.CreateOptions{}); err != nil {
		t.Fatalf("signed Pod: %v", err)
	}

	// Mutation: Assign pins through the imgsign-mutate provider, and
	// refuses what imgsign does not admit.
	gk.Apply(t, deployed(t, "assign.yaml", s))
	p, err := pods.Create(ctx, podOf("signed-pinned", signed), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("signed Pod: %v", err)
	}
	if want := signed + "@" + signedD.String(); p.Spec.Containers[0].Image != want {
		t.Errorf("image %s, want it pinned by Gatekeeper's Assign to %s", p.Spec.Containers[0].Image, want)
	}
	_, err = pods.Create(ctx, podOf("unsigned-2", unsigned), metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "imgsign-mutate") || !strings.Contains(err.Error(), unsigned) {
		t.Fatalf("unsigned Pod under the Assign mutation: %v", err)
	}

	// kubectl debug: an ephemeral container added through the
	// pods/ephemeralcontainers subresource is pinned too (judged at its tag
	// and left unpinned, the tag could be moved before the kubelet pulls),
	// and an unsigned one is refused.
	debug := func(image string) (*corev1.Pod, error) {
		cur, err := pods.Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cur.Spec.EphemeralContainers = append(cur.Spec.EphemeralContainers, corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: fmt.Sprintf("debug-%d", len(cur.Spec.EphemeralContainers)), Image: image, TerminationMessagePolicy: corev1.TerminationMessageReadFile, ImagePullPolicy: corev1.PullIfNotPresent}})
		return pods.UpdateEphemeralContainers(ctx, p.Name, cur, metav1.UpdateOptions{})
	}
	if _, err := debug(unsigned); err == nil || !strings.Contains(err.Error(), unsigned) {
		t.Fatalf("unsigned ephemeral container: %v", err)
	}
	dbg, err := debug(signed)
	if err != nil {
		t.Fatalf("signed ephemeral container: %v", err)
	}
	if n := len(dbg.Spec.EphemeralContainers); n != 1 {
		t.Fatalf("%d ephemeral containers, want the signed one only", n)
	}
	if want := signed + "@" + signedD.String(); dbg.Spec.EphemeralContainers[0].Image != want {
		t.Errorf("ephemeral container image %s, want it pinned by Gatekeeper's Assign to %s", dbg.Spec.EphemeralContainers[0].Image, want)
	}
}

// registerGatekeeperMutation registers Gatekeeper's mutating webhook as
// its chart does (with the chart's default mutatingWebhookSubResources
// that matter here: pods/ephemeralcontainers), with failurePolicy Fail.
func registerGatekeeperMutation(t *testing.T, kube *kubeenv.Env, gk *kubeenv.Gatekeeper) {
	t.Helper()
	fail, none := admissionregistrationv1.Fail, admissionregistrationv1.SideEffectClassNone
	timeout := int32(10)
	reinvoke := admissionregistrationv1.IfNeededReinvocationPolicy
	url := gk.URL + "/v1/mutate"
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "gatekeeper-mutating-webhook-configuration"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:         "mutation.gatekeeper.sh",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: gk.CAPEM},
			Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: []string{"*", "pods/ephemeralcontainers"}}}},
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: kubeenv.IgnoreLabel, Operator: metav1.LabelSelectorOpDoesNotExist},
				{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{kubeenv.GatekeeperNamespace}}}},
			FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout, ReinvocationPolicy: &reinvoke, AdmissionReviewVersions: []string{"v1"},
		}},
	}
	if _, err := kube.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(context.Background(), cfg, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kube.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), cfg.Name, metav1.DeleteOptions{})
	})
}
