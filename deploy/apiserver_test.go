package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/imgsign/imgsign/internal/testing/kubeenv"
	"github.com/imgsign/imgsign/internal/testing/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	kubeenv.Stop()
	os.Exit(code)
}

// The API server accepts every object of deploy/kubernetes and
// deploy/gatekeeper (server-side dry run, strict field validation, with
// Gatekeeper's CRDs installed), and a Pod made from the Deployment's
// template is admitted in the imgsign namespace under its Pod Security
// level (restricted). The ImgsignVerified constraint is left out: its kind
// exists only once Gatekeeper has compiled the template.
func TestManifestsDryRunOnAPIServer(t *testing.T) {
	env := kubeenv.Start(t)
	ctx := context.Background()

	// The namespace for real (dry-run objects need it to exist).
	nsObjs := readManifest(t, filepath.Join(kubeDir, "namespace.yaml"))
	kubeenv.ApplyYAML(t, env, string(nsObjs[0].raw))

	dryRun := func(o object) {
		t.Helper()
		var u unstructured.Unstructured
		if err := yaml.Unmarshal(o.raw, &u.Object); err != nil {
			t.Fatalf("%s: %v", o.source, err)
		}
		ri, err := dynamicFor(env, &u)
		if err != nil {
			t.Errorf("%s (%s): %v", o.source, o.id(), err)
			return
		}
		_, err = ri.Create(ctx, &u, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"})
		if err != nil {
			t.Errorf("%s (%s): the API server refuses it: %v", o.source, o.id(), err)
		}
	}
	for _, f := range []string{"imgsign.yaml", "webhooks.yaml"} {
		for _, o := range readManifest(t, filepath.Join(kubeDir, f)) {
			dryRun(o)
		}
	}

	// A Pod as the Deployment would make it, judged by Pod Security admission.
	in := decodeAll(t, plainObjects(t))
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "imgsign-dry-run", Namespace: in.deployment.Namespace, Labels: in.deployment.Spec.Template.Labels},
		Spec:       in.deployment.Spec.Template.Spec,
	}
	if _, err := env.Client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"}); err != nil {
		t.Errorf("a Pod from the Deployment's template is refused in namespace %s: %v", pod.Namespace, err)
	}

	// Gatekeeper's CRDs, then its objects.
	crdDir := filepath.Join(testenv.ToolsBin(), "gatekeeper-crds")
	var crds []string
	for _, f := range []string{"provider-customresourcedefinition.yaml", "constrainttemplate-customresourcedefinition.yaml", "assign-customresourcedefinition.yaml"} {
		b, err := os.ReadFile(filepath.Join(crdDir, f))
		if err != nil {
			testenv.Missing(t, "Gatekeeper's CRDs: %v (run `make tools`)", err)
		}
		crds = append(crds, string(b))
	}
	kubeenv.ApplyYAML(t, env, strings.Join(crds, "\n---\n"))
	for _, o := range gatekeeperObjects(t) {
		if o.Kind == "ImgsignVerified" {
			continue
		}
		dryRun(o)
	}
}

// dynamicFor maps u's kind to a resource client, waiting up to a minute for
// a kind whose CRD was just created.
func dynamicFor(env *kubeenv.Env, u *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := u.GroupVersionKind()
	deadline := time.Now().Add(time.Minute)
	for {
		mapping, err := env.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err == nil {
			if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
				return env.Dynamic.Resource(mapping.Resource).Namespace(u.GetNamespace()), nil
			}
			return env.Dynamic.Resource(mapping.Resource), nil
		}
		if !meta.IsNoMatchError(err) || time.Now().After(deadline) {
			return nil, err
		}
		env.Mapper.Reset()
		time.Sleep(200 * time.Millisecond)
	}
}
