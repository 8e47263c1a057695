package e2e

// Attacks on imgsign serve's admission webhooks that only a real API
// server shows (security review): namespace exclusions claimed by label,
// updates of admitted objects, the pointer of a CronJob's pod template, a
// signed tag beside an unsigned digest in a workload.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/imgsign/imgsign/internal/testing/kubeenv"
	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// registerReviewWebhooks registers serve's webhooks with deploy/'s
// namespace exclusion (kubernetes.io/metadata.name NotIn kube-system,
// imgsign), narrowed to this test's namespaces by e2eLabel so no other
// test's objects reach this server.
func registerReviewWebhooks(t *testing.T, kube *kubeenv.Env, s *served, value string) {
	t.Helper()
	fail, none := admissionregistrationv1.Fail, admissionregistrationv1.SideEffectClassNone
	equivalent, timeout := admissionregistrationv1.Equivalent, int32(10)
	reinvoke := admissionregistrationv1.IfNeededReinvocationPolicy
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{e2eLabel: value},
		MatchExpressions: []metav1.LabelSelectorRequirement{{Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kube-system", "imgsign"}}}}
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
	vw := kube.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	if _, err := vw.Create(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{Name: "validate.imgsign.dev", ClientConfig: cfg("/admission/validate"), Rules: rules,
			FailurePolicy: &fail, SideEffects: &none, MatchPolicy: &equivalent, TimeoutSeconds: &timeout, NamespaceSelector: selector, AdmissionReviewVersions: []string{"v1"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = vw.Delete(context.Background(), name, metav1.DeleteOptions{}) })
	mw := kube.Client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	if _, err := mw.Create(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "mutate.imgsign.dev", ClientConfig: cfg("/admission/mutate"), Rules: rules,
			FailurePolicy: &fail, SideEffects: &none, MatchPolicy: &equivalent, TimeoutSeconds: &timeout, NamespaceSelector: selector,
			AdmissionReviewVersions: []string{"v1"}, ReinvocationPolicy: &reinvoke}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mw.Delete(context.Background(), name, metav1.DeleteOptions{}) })
}

func TestAttacksServeReview(t *testing.T) {
	kube := kubeenv.Start(t)
	host := testenv.Registry(t, true).Addr
	e := newEnv(t)
	e.key("release", "ecdsa-p256")
	policy := e.write("trust.yaml", fmt.Sprintf(`version: 1
keys:
  - name: release
    publicKey: release.pub
policies:
  - name: apps
    scopes: ["%s/**"]
    signatures:
      keys: [release]
`, host))
	s := startServe(t, e, policy, "--resolve-ttl", "0")
	registerReviewWebhooks(t, kube, s, "serve-review")
	c := kube.Client
	ctx := context.Background()

	signedD := testenv.PushImage(t, host, "app/web", "1.0")
	signed := host + "/app/web:1.0"
	e.must("sign", "--key", "release.key", signed)
	unsignedD := testenv.PushImage(t, host, "app/unsigned", "1.0")
	unsigned := host + "/app/unsigned:1.0"
	pinned := signed + "@" + signedD.String()

	// A namespace whose creator labels it kubernetes.io/metadata.name:
	// kube-system to fall under the exclusion: the API server sets that
	// label to the namespace's own name, so the webhooks still judge it.
	spoof := fmt.Sprintf("review-spoof-%d", time.Now().UnixNano()%1_000_000)
	nsObj, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: spoof,
		Labels: map[string]string{e2eLabel: "serve-review", corev1.LabelMetadataName: "kube-system"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CoreV1().Namespaces().Delete(context.Background(), spoof, metav1.DeleteOptions{}) })
	if got := nsObj.Labels[corev1.LabelMetadataName]; got != spoof {
		t.Fatalf("namespace %s is labelled %s=%q", spoof, corev1.LabelMetadataName, got)
	}
	waitActive(t, c, spoof, unsigned)
	ns := spoof
	pods := c.CoreV1().Pods(ns)

	denied := func(t *testing.T, err error, image string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), `admission webhook "validate.imgsign.dev" denied the request`) || !strings.Contains(err.Error(), image) {
			t.Fatalf("got %v, want a denial naming %s", err, image)
		}
	}

	t.Run("namespace claiming kube-system by label is still judged", func(t *testing.T) {
		_, err := pods.Create(ctx, podOf("spoofed", unsigned), metav1.CreateOptions{})
		denied(t, err, unsigned)
	})

	t.Run("Pod update replacing an admitted image with an unsigned one", func(t *testing.T) {
		p, err := pods.Create(ctx, podOf("updated", signed), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.Containers[0].Image != pinned {
			t.Fatalf("image %s, want %s", p.Spec.Containers[0].Image, pinned)
		}
		p.Spec.Containers[0].Image = unsigned
		_, err = pods.Update(ctx, p, metav1.UpdateOptions{})
		denied(t, err, unsigned)
		// The same by the digest alone, the tag of the signed image kept.
		p.Spec.Containers[0].Image = signed + "@" + unsignedD.String()
		_, err = pods.Update(ctx, p, metav1.UpdateOptions{})
		denied(t, err, unsignedD.String())
	})

	t.Run("Deployment update adding an unsigned init container", func(t *testing.T) {
		d, err := c.AppsV1().Deployments(ns).Create(ctx, deploymentOf("grows", signed), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d.Spec.Template.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: unsigned}}
		_, err = c.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
		denied(t, err, "initContainer setup "+unsigned)
	})

	t.Run("CronJob pinned at its job template, unsigned init container denied", func(t *testing.T) {
		cron := func(name string, init ...string) *batchv1.CronJob {
			spec := corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "app", Image: signed}}}
			for i, img := range init {
				spec.InitContainers = append(spec.InitContainers, corev1.Container{Name: fmt.Sprintf("init%d", i), Image: img})
			}
			return &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: batchv1.CronJobSpec{Schedule: "0 0 * * *",
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: spec}}}}}
		}
		cj, err := c.BatchV1().CronJobs(ns).Create(ctx, cron("nightly", signed), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		spec := cj.Spec.JobTemplate.Spec.Template.Spec
		if spec.Containers[0].Image != pinned || spec.InitContainers[0].Image != pinned {
			t.Errorf("CronJob images %s, %s, want both %s", spec.Containers[0].Image, spec.InitContainers[0].Image, pinned)
		}
		_, err = c.BatchV1().CronJobs(ns).Create(ctx, cron("nightly-evil", signed, unsigned), metav1.CreateOptions{})
		denied(t, err, "initContainer init1 "+unsigned)
	})

	t.Run("StatefulSet naming a signed tag beside an unsigned digest", func(t *testing.T) {
		mixed := signed + "@" + unsignedD.String()
		labels := map[string]string{"app": "mixed"}
		ss := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "mixed"}, Spec: appsv1.StatefulSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: mixed}}}},
		}}
		_, err := c.AppsV1().StatefulSets(ns).Create(ctx, ss, metav1.CreateOptions{})
		denied(t, err, mixed)
	})

	t.Run("ephemeral container by tag is pinned to the verified digest", func(t *testing.T) {
		// kubectl debug adds through pods/ephemeralcontainers: a tag left
		// unpinned there would be pulled by the node after it moved.
		p, err := pods.Create(ctx, podOf("debugged", signed), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: signed}})
		p, err = pods.UpdateEphemeralContainers(ctx, "debugged", p, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Spec.EphemeralContainers[0].Image; got != pinned {
			t.Errorf("ephemeral container image %s, want %s", got, pinned)
		}
	})

	t.Run("server-side dry run is judged like the real create", func(t *testing.T) {
		_, err := c.AppsV1().DaemonSets(ns).Create(ctx, &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "dry"}, Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "dry"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "dry"}}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: unsigned}}}},
		}}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		denied(t, err, unsigned)
	})
}
