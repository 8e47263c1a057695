package kubeenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// Names as Gatekeeper's Helm chart installs them.
const (
	GatekeeperNamespace = "gatekeeper-system"
	// GatekeeperWebhook is the ValidatingWebhookConfiguration StartGatekeeper registers.
	GatekeeperWebhook = "gatekeeper-validating-webhook-configuration"
	// IgnoreLabel on a namespace keeps Gatekeeper's validation away from it.
	IgnoreLabel       = "admission.gatekeeper.sh/ignore"
	gatekeeperService = "gatekeeper-webhook-service"
)

// Gatekeeper is OPA Gatekeeper (tools/build.sh pins the version) running
// out of cluster against an Env: the controller manager's webhook,
// generate and status operations with external data on, audit off, its
// webhook certificate made by the test (--disable-cert-rotation).
type Gatekeeper struct {
	// URL is the webhook server, https://127.0.0.1:PORT; the API server
	// calls URL/v1/admit (validation) and URL/v1/admitlabel (namespaces).
	URL string
	// CAPEM is the CA that signed Gatekeeper's certificate: the webhook
	// configuration's caBundle, and what an external-data provider that
	// verifies client certificates must trust.
	CAPEM []byte
	// ClientCertPEM is the certificate Gatekeeper presents to external-data
	// providers when they ask for one (mutual TLS): its webhook serving
	// certificate from CertDir/tls.crt, signed by CAPEM, for the DNS name
	// gatekeeper-webhook-service.gatekeeper-system.svc and 127.0.0.1, with
	// both server and client extended key usage (as Gatekeeper's
	// cert-controller makes it when external data is on).
	ClientCertPEM []byte
	// CertDir holds tls.crt, tls.key and ca.crt.
	CertDir string
	// PodName is the placeholder Pod in gatekeeper-system Gatekeeper
	// believes it runs in (POD_NAME): the id of its entries in the byPod
	// status of templates, constraints and providers.
	PodName string
	// Log is Gatekeeper's log file (printed when the test fails).
	Log string

	env  *Env
	proc *proc
}

// StartGatekeeper installs Gatekeeper's CRDs and namespace into env,
// starts Gatekeeper and registers its validating webhook configuration as
// the chart does (all resources, CREATE and UPDATE, namespaces labelled
// IgnoreLabel and gatekeeper-system excluded, plus the check on who may
// carry that label) but with failurePolicy Fail and a 10 s timeout. It
// returns once the API server sends admission requests to it. When t ends
// the configuration is deleted and Gatekeeper stopped; templates and
// constraints applied with Apply are deleted before. extraArgs are added
// to Gatekeeper's command line (a later flag wins), e.g.
// "--external-data-provider-response-cache-ttl=0".
//
// Only one Gatekeeper runs at a time per Env (the configuration's name is
// fixed). While it runs, creating a namespace labelled IgnoreLabel is
// denied, as in a cluster with Gatekeeper installed: make such namespaces
// before StartGatekeeper.
func StartGatekeeper(t testing.TB, env *Env, extraArgs ...string) *Gatekeeper {
	t.Helper()
	bin := testenv.Tool(t, "gatekeeper")
	crds := testenv.Tool(t, "gatekeeper-crds")
	if err := installGatekeeper(env, crds); err != nil {
		t.Fatalf("installing Gatekeeper's CRDs and namespace: %v", err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	g := &Gatekeeper{env: env, CertDir: filepath.Join(dir, "certs"), Log: filepath.Join(dir, "gatekeeper.log")}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kubeenv: last lines of Gatekeeper's log (%s):\n%s", g.Log, tail(g.Log, 80))
		}
	})

	// Gatekeeper reads its own Pod (POD_NAME) to own its status objects.
	pod, err := env.Client.CoreV1().Pods(GatekeeperNamespace).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "gatekeeper-controller-manager-",
			Labels:       map[string]string{"control-plane": "controller-manager", "gatekeeper.sh/operation": "webhook"},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "manager", Image: "openpolicyagent/gatekeeper:placeholder"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating Gatekeeper's placeholder pod: %v", err)
	}
	g.PodName = pod.Name
	t.Cleanup(func() {
		err := env.Client.CoreV1().Pods(GatekeeperNamespace).Delete(context.Background(), pod.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting Gatekeeper's placeholder pod: %v", err)
		}
	})

	dnsName := gatekeeperService + "." + GatekeeperNamespace + ".svc"
	c, err := issue("gatekeeper-ca", dnsName, []string{dnsName})
	if err != nil {
		t.Fatal(err)
	}
	g.CAPEM, g.ClientCertPEM = c.caPEM, c.certPEM
	if err := os.MkdirAll(g.CertDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"tls.crt": c.certPEM, "tls.key": c.keyPEM, "ca.crt": c.caPEM} {
		if err := os.WriteFile(filepath.Join(g.CertDir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	ports, err := freePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	g.URL = fmt.Sprintf("https://127.0.0.1:%d", ports[0])
	healthURL := fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[1])
	args := []string{
		"--kubeconfig=" + env.Kubeconfig,
		"--operation=webhook", "--operation=generate", "--operation=status",
		"--enable-external-data=true",
		"--disable-cert-rotation", "--cert-dir=" + g.CertDir,
		"--host=127.0.0.1", fmt.Sprintf("--port=%d", ports[0]),
		fmt.Sprintf("--health-addr=127.0.0.1:%d", ports[1]),
		"--metrics-addr=0",
		// The default metrics backend, Prometheus, listens on :8888 on every
		// interface; OpenTelemetry pushing once a day to a closed loopback
		// port opens nothing.
		"--metrics-backend=opentelemetry", "--otlp-endpoint=127.0.0.1:1", "--otlp-metric-interval=24h",
		"--exempt-namespace=" + GatekeeperNamespace,
		"--validating-webhook-configuration-name=" + GatekeeperWebhook,
		"--log-denies", "--shutdown-delay=0",
	}
	args = append(args, extraArgs...)
	g.proc, err = startProc(dir, "gatekeeper", bin, []string{
		"POD_NAME=" + pod.Name, "POD_NAMESPACE=" + GatekeeperNamespace, "NAMESPACE=" + GatekeeperNamespace,
		"CONTAINER_NAME=manager", "KUBECONFIG=" + env.Kubeconfig, "HOME=" + dir,
	}, args...)
	if err != nil {
		t.Fatal(err)
	}
	g.proc.logShown = true // by the cleanup above
	t.Cleanup(g.proc.stop)
	// Ready: certificates served, templates and constraints already in the
	// cluster ingested.
	if err := waitUntil(g.proc, 2*time.Minute, func() error {
		resp, err := http.Get(healthURL)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", healthURL, resp.Status)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	if err := g.register(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		err := env.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(context.Background(), GatekeeperWebhook, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting %s: %v", GatekeeperWebhook, err)
		}
	})
	// The API server picks the configuration up asynchronously: wait until
	// Gatekeeper denies a namespace that is not exempt but carries the
	// ignore label (dry run: nothing is stored).
	if err := waitUntil(g.proc, time.Minute, func() error {
		_, err := env.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "kubeenv-probe-", Labels: map[string]string{IgnoreLabel: "probe"}},
		}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil && strings.Contains(err.Error(), "check-ignore-label.gatekeeper.sh") {
			return nil
		}
		return fmt.Errorf("the API server does not call Gatekeeper yet (dry-run namespace create: %v)", err)
	}); err != nil {
		t.Fatal(err)
	}
	return g
}

// installGatekeeper applies the CRDs in dir (every time: a test may have
// deleted them; unchanged ones take a round trip each) and creates
// gatekeeper-system, labelled as the chart labels it.
func installGatekeeper(env *Env, dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err == nil && len(files) == 0 {
		err = fmt.Errorf("no CRDs in %s", dir)
	}
	if err != nil {
		return err
	}
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if err := applyKeep(env, string(b)); err != nil {
			return fmt.Errorf("%s: %v", filepath.Base(f), err)
		}
	}
	_, err = env.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: GatekeeperNamespace, Labels: map[string]string{
			IgnoreLabel:                      "no-self-managing",
			"admission.gatekeeper.sh/system": "yes",
		}},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// register creates the validating webhook configuration the chart makes,
// with loopback URLs.
func (g *Gatekeeper) register() error {
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	exact := admissionregistrationv1.Exact
	timeout := int32(10)
	all := admissionregistrationv1.AllScopes
	notGatekeeper := metav1.LabelSelectorRequirement{
		Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{GatekeeperNamespace},
	}
	createUpdate := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
	url := func(path string) *string { s := g.URL + path; return &s }
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: GatekeeperWebhook, Labels: map[string]string{"gatekeeper.sh/system": "yes"}},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    "validation.gatekeeper.sh",
			AdmissionReviewVersions: []string{"v1", "v1beta1"},
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: url("/v1/admit"), CABundle: g.CAPEM},
			FailurePolicy:           &fail,
			MatchPolicy:             &exact,
			SideEffects:             &none,
			TimeoutSeconds:          &timeout,
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: IgnoreLabel, Operator: metav1.LabelSelectorOpDoesNotExist},
				notGatekeeper,
			}},
			ObjectSelector: &metav1.LabelSelector{},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: createUpdate,
				Rule: admissionregistrationv1.Rule{
					APIGroups:   []string{"*"},
					APIVersions: []string{"*"},
					// The chart's list: every resource and the subresources
					// worth checking, never status.
					Resources: []string{"*", "pods/ephemeralcontainers", "pods/exec", "pods/log", "pods/eviction",
						"pods/portforward", "pods/proxy", "pods/attach", "pods/binding", "pods/resize",
						"deployments/scale", "replicasets/scale", "statefulsets/scale", "replicationcontrollers/scale",
						"services/proxy", "nodes/proxy", "services/status"},
					Scope: &all,
				},
			}},
		}, {
			Name:                    "check-ignore-label.gatekeeper.sh",
			AdmissionReviewVersions: []string{"v1", "v1beta1"},
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: url("/v1/admitlabel"), CABundle: g.CAPEM},
			FailurePolicy:           &fail,
			MatchPolicy:             &exact,
			SideEffects:             &none,
			TimeoutSeconds:          &timeout,
			NamespaceSelector:       &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{notGatekeeper}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: createUpdate,
				Rule: admissionregistrationv1.Rule{
					APIGroups: []string{""}, APIVersions: []string{"*"}, Resources: []string{"namespaces"}, Scope: &all,
				},
			}},
		}},
	}
	_, err := g.env.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(context.Background(), cfg, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("registering %s: %v", GatekeeperWebhook, err)
	}
	return nil
}

// Apply is ApplyYAML (objects deleted when t ends) that also waits until
// Gatekeeper has taken each object in: a ConstraintTemplate compiled and
// its constraint kind created, a constraint enforced by the webhook, a
// Provider active. An error Gatekeeper reports in the object's status
// (a Rego compile error, a bad caBundle) fails t at once.
func (g *Gatekeeper) Apply(t testing.TB, doc string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := decodeYAML(doc)
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for _, obj := range objs {
		y, err := obj.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		applied := ApplyYAML(t, g.env, string(y))[0]
		if err := g.waitIngested(applied); err != nil {
			t.Fatalf("Gatekeeper did not take in %s: %v", describe(applied), err)
		}
		out = append(out, applied)
	}
	return out
}

func (g *Gatekeeper) waitIngested(obj *unstructured.Unstructured) error {
	var want func(st map[string]any) bool
	switch gvk := obj.GroupVersionKind(); {
	case gvk.Group == "templates.gatekeeper.sh" && gvk.Kind == "ConstraintTemplate":
		want = func(map[string]any) bool { return true }
	case gvk.Group == "constraints.gatekeeper.sh":
		want = func(st map[string]any) bool { return st["enforced"] == true }
	case gvk.Group == "externaldata.gatekeeper.sh" && gvk.Kind == "Provider":
		want = func(st map[string]any) bool { return st["active"] == true }
	default:
		return nil
	}
	ri, err := resource(g.env, obj, 0)
	if err != nil {
		return err
	}
	return waitUntil(g.proc, time.Minute, func() error {
		cur, err := ri.Get(context.Background(), obj.GetName(), metav1.GetOptions{})
		if err != nil {
			return err
		}
		byPod, _, _ := unstructured.NestedSlice(cur.Object, "status", "byPod")
		for _, e := range byPod {
			st, ok := e.(map[string]any)
			if !ok || st["id"] != g.PodName {
				continue
			}
			if errs, ok := st["errors"].([]any); ok && len(errs) > 0 {
				return permanent{fmt.Errorf("Gatekeeper reports errors: %v", errs)}
			}
			gen, _ := st["observedGeneration"].(int64)
			if gen < cur.GetGeneration() || !want(st) {
				return fmt.Errorf("status of pod %s: %v", g.PodName, st)
			}
			if created, _, _ := unstructured.NestedBool(cur.Object, "status", "created"); obj.GetKind() == "ConstraintTemplate" && !created {
				return fmt.Errorf("status.created is not true: %v", cur.Object["status"])
			}
			return nil
		}
		return fmt.Errorf("no status from pod %s yet: %v", g.PodName, cur.Object["status"])
	})
}

// permanent marks an error waiting will not fix.
type permanent struct{ error }
