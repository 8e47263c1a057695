// Package deploy_test checks the Kubernetes install of imgsign serve: the
// plain manifests (deploy/kubernetes), the Gatekeeper objects
// (deploy/gatekeeper) and the Helm chart (deploy/helm/imgsign). Every file
// parses strictly into its typed object; the install holds together (ports,
// paths, secrets, selectors, the webhook timeout above serve's deadline,
// namespace exclusions, every workload kind); the chart renders exactly the
// plain manifests with its default values. apiserver_test.go applies them to
// a real API server.
package deploy_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/verify/policy"
)

// ---- reading manifests ----

// object is one YAML document of a manifest file.
type object struct {
	source     string // file#index, for messages
	raw        []byte
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
}

func (o object) id() string {
	if o.Namespace != "" {
		return fmt.Sprintf("%s %s %s/%s", o.APIVersion, o.Kind, o.Namespace, o.Name)
	}
	return fmt.Sprintf("%s %s %s", o.APIVersion, o.Kind, o.Name)
}

// splitYAML splits a multi-document YAML stream into its non-empty documents.
func splitYAML(t *testing.T, source string, data []byte) []object {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []object
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("%s: %v", source, err)
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatalf("%s#%d: %v", source, i, err)
		}
		if head.APIVersion == "" && head.Kind == "" && head.Metadata.Name == "" {
			var m map[string]any
			if err := yaml.Unmarshal(doc, &m); err == nil && len(m) == 0 {
				continue // only comments, or the empty document after a trailing ---
			}
		}
		objs = append(objs, object{
			source: fmt.Sprintf("%s#%d", source, i), raw: doc,
			APIVersion: head.APIVersion, Kind: head.Kind,
			Name: head.Metadata.Name, Namespace: head.Metadata.Namespace,
		})
	}
}

func readManifest(t *testing.T, file string) []object {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return splitYAML(t, filepath.ToSlash(file), data)
}

// ---- strict typed decoding ----

// Gatekeeper's kinds, as far as imgsign's objects use them (field names from
// Gatekeeper v3.23.1: frameworks' externaldata/v1beta1 ProviderSpec,
// templates/v1 ConstraintTemplate, mutations/v1 Assign and pkg/mutation/match).
type gkProvider struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		URL      string `json:"url"`
		Timeout  int    `json:"timeout"`
		CABundle string `json:"caBundle"`
	} `json:"spec"`
}

type gkMatch struct {
	Scope string `json:"scope,omitempty"`
	Kinds []struct {
		APIGroups []string `json:"apiGroups"`
		Kinds     []string `json:"kinds"`
	} `json:"kinds,omitempty"`
	Namespaces         []string `json:"namespaces,omitempty"`
	ExcludedNamespaces []string `json:"excludedNamespaces,omitempty"`
}

type gkConstraintTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		CRD struct {
			Spec struct {
				Names struct {
					Kind string `json:"kind"`
				} `json:"names"`
				Validation *struct {
					OpenAPIV3Schema json.RawMessage `json:"openAPIV3Schema"`
				} `json:"validation,omitempty"`
			} `json:"spec"`
		} `json:"crd"`
		Targets []struct {
			Target string `json:"target"`
			Rego   string `json:"rego"`
		} `json:"targets"`
	} `json:"spec"`
}

type gkConstraint struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		EnforcementAction string  `json:"enforcementAction"`
		Match             gkMatch `json:"match"`
		Parameters        *struct {
			Audited bool `json:"audited"`
		} `json:"parameters,omitempty"`
	} `json:"spec"`
}

type gkAssign struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		ApplyTo []struct {
			Groups   []string `json:"groups"`
			Kinds    []string `json:"kinds"`
			Versions []string `json:"versions"`
		} `json:"applyTo"`
		Match      gkMatch `json:"match"`
		Location   string  `json:"location"`
		Parameters struct {
			Assign struct {
				ExternalData *struct {
					Provider      string `json:"provider"`
					DataSource    string `json:"dataSource"`
					FailurePolicy string `json:"failurePolicy"`
					Default       string `json:"default,omitempty"`
				} `json:"externalData"`
			} `json:"assign"`
		} `json:"parameters"`
	} `json:"spec"`
}

type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
}

// newTyped returns a pointer to the Go type of the object's kind.
func newTyped(o object) (any, error) {
	switch o.APIVersion + " " + o.Kind {
	case "v1 Namespace":
		return &corev1.Namespace{}, nil
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}, nil
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "v1 Service":
		return &corev1.Service{}, nil
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, nil
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, nil
	case "admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration":
		return &admissionregistrationv1.ValidatingWebhookConfiguration{}, nil
	case "admissionregistration.k8s.io/v1 MutatingWebhookConfiguration":
		return &admissionregistrationv1.MutatingWebhookConfiguration{}, nil
	case "externaldata.gatekeeper.sh/v1beta1 Provider":
		return &gkProvider{}, nil
	case "templates.gatekeeper.sh/v1 ConstraintTemplate":
		return &gkConstraintTemplate{}, nil
	case "constraints.gatekeeper.sh/v1beta1 ImgsignVerified":
		return &gkConstraint{}, nil
	case "mutations.gatekeeper.sh/v1 Assign":
		return &gkAssign{}, nil
	case "kustomize.config.k8s.io/v1beta1 Kustomization":
		return &kustomization{}, nil
	}
	return nil, fmt.Errorf("unexpected kind %s %s", o.APIVersion, o.Kind)
}

// decodeStrict decodes o into its typed object: unknown and duplicate fields
// are errors, and so is a field that decodes only case-insensitively (JSON's
// leniency): every field written must come back, spelled the same, when the
// typed object is encoded again.
func decodeStrict(o object) (any, error) {
	typed, err := newTyped(o)
	if err != nil {
		return nil, err
	}
	if err := yaml.UnmarshalStrict(o.raw, typed); err != nil {
		return nil, err
	}
	var written any
	if err := yaml.Unmarshal(o.raw, &written); err != nil {
		return nil, err
	}
	js, err := json.Marshal(typed)
	if err != nil {
		return nil, err
	}
	var again any
	if err := json.Unmarshal(js, &again); err != nil {
		return nil, err
	}
	if p := notKept(written, again, ""); p != "" {
		return nil, fmt.Errorf("field %s is not a field of %T (spelling or case)", p, typed)
	}
	return typed, nil
}

// notKept returns the path of the first value in a that b lacks or differs in.
func notKept(a, b any, at string) string {
	switch a := a.(type) {
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok {
			return at
		}
		keys := make([]string, 0, len(a))
		for k := range a {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			bv, ok := bm[k]
			if !ok {
				if a[k] == nil || isEmpty(a[k]) {
					continue // an empty value omitted again
				}
				return at + "." + k
			}
			if p := notKept(a[k], bv, at+"."+k); p != "" {
				return p
			}
		}
		return ""
	case []any:
		bl, ok := b.([]any)
		if !ok || len(bl) != len(a) {
			return at
		}
		for i := range a {
			if p := notKept(a[i], bl[i], fmt.Sprintf("%s[%d]", at, i)); p != "" {
				return p
			}
		}
		return ""
	default:
		if !reflect.DeepEqual(a, b) {
			return at
		}
		return ""
	}
}

func isEmpty(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		return len(v) == 0
	case []any:
		return len(v) == 0
	case string:
		return v == ""
	case bool:
		return !v
	}
	return false
}

// install is one install's typed objects.
type install struct {
	namespace   *corev1.Namespace
	sa          *corev1.ServiceAccount
	configMaps  []*corev1.ConfigMap
	service     *corev1.Service
	deployment  *appsv1.Deployment
	pdb         *policyv1.PodDisruptionBudget
	validating  *admissionregistrationv1.ValidatingWebhookConfiguration
	mutating    *admissionregistrationv1.MutatingWebhookConfiguration
	providers   []*gkProvider
	templates   []*gkConstraintTemplate
	constraints []*gkConstraint
	assigns     []*gkAssign
}

func decodeAll(t *testing.T, objs []object) *install {
	t.Helper()
	in := &install{}
	one := func(o object, have bool) {
		if have {
			t.Errorf("%s: a second %s", o.source, o.Kind)
		}
	}
	bad := false
	for _, o := range objs {
		typed, err := decodeStrict(o)
		if err != nil {
			t.Errorf("%s (%s): %v", o.source, o.id(), err)
			bad = true
			continue
		}
		switch v := typed.(type) {
		case *corev1.Namespace:
			one(o, in.namespace != nil)
			in.namespace = v
		case *corev1.ServiceAccount:
			one(o, in.sa != nil)
			in.sa = v
		case *corev1.ConfigMap:
			in.configMaps = append(in.configMaps, v)
		case *corev1.Service:
			one(o, in.service != nil)
			in.service = v
		case *appsv1.Deployment:
			one(o, in.deployment != nil)
			in.deployment = v
		case *policyv1.PodDisruptionBudget:
			one(o, in.pdb != nil)
			in.pdb = v
		case *admissionregistrationv1.ValidatingWebhookConfiguration:
			one(o, in.validating != nil)
			in.validating = v
		case *admissionregistrationv1.MutatingWebhookConfiguration:
			one(o, in.mutating != nil)
			in.mutating = v
		case *gkProvider:
			in.providers = append(in.providers, v)
		case *gkConstraintTemplate:
			in.templates = append(in.templates, v)
		case *gkConstraint:
			in.constraints = append(in.constraints, v)
		case *gkAssign:
			in.assigns = append(in.assigns, v)
		case *kustomization:
		default:
			t.Errorf("%s: unexpected %T", o.source, v)
		}
	}
	if bad {
		t.FailNow()
	}
	return in
}

// ---- the files ----

const (
	kubeDir       = "kubernetes"
	gatekeeperDir = "gatekeeper"
	chartDir      = "helm/imgsign"
)

// manifestFiles are every YAML file of the plain manifests and the
// Gatekeeper objects.
func manifestFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, dir := range []string{kubeDir, gatekeeperDir} {
		for _, ext := range []string{"*.yaml", "*.yml"} {
			m, err := filepath.Glob(filepath.Join(dir, ext))
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, m...)
		}
	}
	if len(files) == 0 {
		t.Fatal("no manifests found")
	}
	return files
}

// plainObjects is deploy/kubernetes: namespace.yaml, imgsign.yaml, webhooks.yaml.
func plainObjects(t *testing.T) []object {
	t.Helper()
	var objs []object
	for _, f := range []string{"namespace.yaml", "imgsign.yaml", "webhooks.yaml"} {
		objs = append(objs, readManifest(t, filepath.Join(kubeDir, f))...)
	}
	return objs
}

func gatekeeperObjects(t *testing.T) []object {
	t.Helper()
	var objs []object
	for _, f := range []string{"provider.yaml", "template.yaml", "constraint.yaml", "assign.yaml"} {
		objs = append(objs, readManifest(t, filepath.Join(gatekeeperDir, f))...)
	}
	return objs
}

// Every manifest file parses strictly into typed Kubernetes (or Gatekeeper)
// objects, and the strict decoding does catch a misspelt field.
func TestManifestsParseStrictly(t *testing.T) {
	for _, f := range manifestFiles(t) {
		objs := readManifest(t, f)
		if len(objs) == 0 {
			t.Errorf("%s: no objects", f)
		}
		for _, o := range objs {
			if o.APIVersion == "" || o.Kind == "" || o.Name == "" && o.Kind != "Kustomization" {
				t.Errorf("%s: apiVersion, kind or metadata.name missing", o.source)
				continue
			}
			if _, err := decodeStrict(o); err != nil {
				t.Errorf("%s (%s): %v", o.source, o.id(), err)
			}
		}
	}

	// The check itself: typos of several kinds are refused.
	dep := readManifest(t, filepath.Join(kubeDir, "imgsign.yaml"))
	var deployment object
	for _, o := range dep {
		if o.Kind == "Deployment" {
			deployment = o
		}
	}
	for _, c := range []struct{ from, to string }{
		{"  replicas: 3\n", "  replica: 3\n"},                            // unknown field
		{"  replicas: 3\n", "  Replicas: 3\n"},                           // case
		{"  replicas: 3\n", "  replicas: 3\n  replicas: 3\n"},            // duplicate
		{"readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true"}, // case, nested
		{"            - name: https\n", "            - nmae: https\n"},   // nested in a list
		{"  replicas: 3\n", "  replicas: three\n"},                       // wrong type
	} {
		bad := deployment
		if !bytes.Contains(bad.raw, []byte(c.from)) {
			t.Fatalf("the Deployment lacks %q", c.from)
		}
		bad.raw = bytes.Replace(bad.raw, []byte(c.from), []byte(c.to), 1)
		if _, err := decodeStrict(bad); err == nil {
			t.Errorf("a Deployment with %q instead of %q was accepted", strings.TrimSpace(c.to), strings.TrimSpace(c.from))
		}
	}
}

// kubectl apply -k deploy/kubernetes applies every manifest in the directory.
func TestKustomizationListsEveryManifest(t *testing.T) {
	objs := readManifest(t, filepath.Join(kubeDir, "kustomization.yaml"))
	if len(objs) != 1 {
		t.Fatalf("kustomization.yaml: %d documents", len(objs))
	}
	k, err := decodeStrict(objs[0])
	if err != nil {
		t.Fatal(err)
	}
	got := k.(*kustomization).Resources
	var want []string
	for _, f := range manifestFiles(t) {
		if filepath.Dir(f) == kubeDir && filepath.Base(f) != "kustomization.yaml" {
			want = append(want, filepath.Base(f))
		}
	}
	sorted := slices.Sorted(slices.Values(got))
	if !slices.Equal(sorted, want) || len(got) == 0 || got[0] != "namespace.yaml" {
		t.Errorf("kustomization.yaml resources = %v, want %v with namespace.yaml first", got, want)
	}
}

// The plain manifests hold together as an install of imgsign serve.
func TestManifestsInvariants(t *testing.T) {
	in := decodeAll(t, plainObjects(t))
	checkInstall(t, in, "imgsign", []string{"kube-system", "imgsign"})
	if in.namespace == nil {
		t.Fatal("namespace.yaml: no Namespace")
	}
	checkNamespace(t, in)
	checkPolicyParses(t, in)
}

// The Gatekeeper objects call the imgsign Service's external-data paths and
// refuse what imgsign does not pass.
func TestGatekeeperInvariants(t *testing.T) {
	plain := decodeAll(t, plainObjects(t))
	gk := decodeAll(t, gatekeeperObjects(t))
	checkProviders(t, plain, gk.providers)
	for _, p := range gk.providers {
		// gen-tls.sh --gatekeeper fills these in with sed.
		if p.Spec.CABundle != "BASE64_CA_BUNDLE" {
			t.Errorf("provider.yaml: Provider %s caBundle %q, want the placeholder gen-tls.sh replaces", p.Name, p.Spec.CABundle)
		}
		if !strings.HasPrefix(p.Spec.URL, "https://imgsign.imgsign.svc:") {
			t.Errorf("provider.yaml: Provider %s url %s does not start as gen-tls.sh expects", p.Name, p.Spec.URL)
		}
	}

	excluded := []string{"kube-system", plain.deployment.Namespace}
	if len(gk.templates) != 1 {
		t.Fatalf("want one ConstraintTemplate, got %d", len(gk.templates))
	}
	ct := gk.templates[0]
	kind := ct.Spec.CRD.Spec.Names.Kind
	if ct.Name != strings.ToLower(kind) || ct.Name != "imgsignverified" {
		t.Errorf("ConstraintTemplate %s: name must be imgsignverified, the lower-cased kind %s", ct.Name, kind)
	}
	if len(ct.Spec.Targets) != 1 || ct.Spec.Targets[0].Target != "admission.k8s.gatekeeper.sh" {
		t.Fatalf("ConstraintTemplate: want one admission.k8s.gatekeeper.sh target, got %+v", ct.Spec.Targets)
	}
	rego := ct.Spec.Targets[0].Rego
	for _, want := range []string{
		"package " + ct.Name + "\n",
		`external_data({"provider": "imgsign", "keys": images})`,
		`"containers"`, `"initContainers"`, `"ephemeralContainers"`,
		"response.system_error", "response.errors[_]", "response.responses[_]",
		`value.verdict == "pass"`, `value.enforced == false`, "input.parameters.audited == true",
	} {
		if !strings.Contains(rego, want) {
			t.Errorf("ConstraintTemplate rego lacks %q", want)
		}
	}
	// One constraint denies what imgsign does not admit, one warns about
	// audit-mode failures.
	actions := map[bool]string{}
	for _, c := range gk.constraints {
		audited := c.Spec.Parameters != nil && c.Spec.Parameters.Audited
		if c.Kind != kind {
			t.Errorf("constraint %s: kind %s, want %s", c.Name, c.Kind, kind)
		}
		if _, dup := actions[audited]; dup {
			t.Errorf("constraint %s: a second one with audited=%v", c.Name, audited)
		}
		actions[audited] = c.Spec.EnforcementAction
		checkGKMatch(t, "constraint "+c.Name, c.Spec.Match, excluded)
	}
	if actions[false] != "deny" || actions[true] != "warn" {
		t.Errorf("constraints: enforcementAction %q without audited, %q with; want deny and warn", actions[false], actions[true])
	}

	mutateProvider := ""
	for _, p := range gk.providers {
		if strings.HasSuffix(p.Spec.URL, "/externaldata/mutate") {
			mutateProvider = p.Name
		}
	}
	var locations []string
	for _, a := range gk.assigns {
		ed := a.Spec.Parameters.Assign.ExternalData
		if ed == nil {
			t.Errorf("Assign %s: no externalData", a.Name)
			continue
		}
		// Gatekeeper assigns only a string value: the mutate provider's.
		if ed.Provider != mutateProvider || ed.DataSource != "ValueAtLocation" || ed.FailurePolicy != "Fail" {
			t.Errorf("Assign %s: externalData %+v, want provider %s, ValueAtLocation, Fail", a.Name, *ed, mutateProvider)
		}
		if len(a.Spec.ApplyTo) != 1 || !slices.Equal(a.Spec.ApplyTo[0].Kinds, []string{"Pod"}) ||
			!slices.Equal(a.Spec.ApplyTo[0].Groups, []string{""}) || !slices.Equal(a.Spec.ApplyTo[0].Versions, []string{"v1"}) {
			t.Errorf("Assign %s: applyTo %+v, want core v1 Pod", a.Name, a.Spec.ApplyTo)
		}
		if a.Spec.Match.Scope != "Namespaced" {
			t.Errorf("Assign %s: match.scope %q, want Namespaced", a.Name, a.Spec.Match.Scope)
		}
		checkGKMatch(t, "Assign "+a.Name, a.Spec.Match, excluded)
		locations = append(locations, a.Spec.Location)
	}
	sort.Strings(locations)
	if want := []string{"spec.containers[name:*].image", "spec.ephemeralContainers[name:*].image", "spec.initContainers[name:*].image"}; !slices.Equal(locations, want) {
		t.Errorf("Assign locations %v, want %v", locations, want)
	}
}

func checkGKMatch(t *testing.T, what string, m gkMatch, excluded []string) {
	t.Helper()
	if len(m.Kinds) != 1 || !slices.Equal(m.Kinds[0].Kinds, []string{"Pod"}) || !slices.Equal(m.Kinds[0].APIGroups, []string{""}) {
		t.Errorf("%s: match.kinds %+v, want core Pods", what, m.Kinds)
	}
	for _, ns := range excluded {
		if !slices.Contains(m.ExcludedNamespaces, ns) {
			t.Errorf("%s: excludedNamespaces %v lacks %s", what, m.ExcludedNamespaces, ns)
		}
	}
}

// checkProviders: one provider per external-data path, on the Service.
func checkProviders(t *testing.T, in *install, providers []*gkProvider) {
	t.Helper()
	base := fmt.Sprintf("https://%s.%s.svc:%d", in.service.Name, in.service.Namespace, in.service.Spec.Ports[0].Port)
	want := map[string]string{base + "/externaldata": in.service.Name, base + "/externaldata/mutate": in.service.Name + "-mutate"}
	if len(providers) != len(want) {
		t.Errorf("%d Providers, want %d", len(providers), len(want))
	}
	timeout := int(*in.validating.Webhooks[0].TimeoutSeconds)
	for _, p := range providers {
		name, ok := want[p.Spec.URL]
		if !ok || p.Name != name {
			t.Errorf("Provider %s: url %s; want one of %v", p.Name, p.Spec.URL, want)
		}
		delete(want, p.Spec.URL)
		if p.Spec.Timeout <= 0 || p.Spec.Timeout >= timeout {
			t.Errorf("Provider %s: timeout %d, want 1..%d", p.Name, p.Spec.Timeout, timeout-1)
		}
	}
}

// ---- the install's invariants ----

// serveArgs parses the container's args: "serve" then --flag=value.
func serveArgs(t *testing.T, c corev1.Container) map[string][]string {
	t.Helper()
	if len(c.Command) != 0 {
		t.Errorf("container %s sets command %v: the image's entrypoint is imgsign", c.Name, c.Command)
	}
	if len(c.Args) == 0 || c.Args[0] != "serve" {
		t.Fatalf("container %s: args %v do not start with serve", c.Name, c.Args)
	}
	flags := map[string][]string{}
	for _, a := range c.Args[1:] {
		name, value, ok := strings.Cut(a, "=")
		if !ok || !strings.HasPrefix(name, "--") {
			t.Errorf("container %s: argument %q is not --flag=value", c.Name, a)
			continue
		}
		flags[strings.TrimPrefix(name, "--")] = append(flags[strings.TrimPrefix(name, "--")], value)
	}
	return flags
}

func oneFlag(t *testing.T, flags map[string][]string, name string) string {
	t.Helper()
	v := flags[name]
	if len(v) != 1 {
		t.Fatalf("serve flag --%s given %d times, want once", name, len(v))
	}
	return v[0]
}

// mountOf returns the volume mounted at the directory holding file, with
// its mount.
func mountOf(t *testing.T, pod corev1.PodSpec, c corev1.Container, file string) (corev1.Volume, corev1.VolumeMount) {
	t.Helper()
	dir := path.Dir(file)
	for _, m := range c.VolumeMounts {
		if m.MountPath == dir {
			for _, v := range pod.Volumes {
				if v.Name == m.Name {
					return v, m
				}
			}
			t.Fatalf("volume mount %s names no volume", m.Name)
		}
	}
	t.Fatalf("nothing is mounted at %s (for %s)", dir, file)
	return corev1.Volume{}, corev1.VolumeMount{}
}

// checkInstall checks one install's objects (the plain manifests or a Helm
// rendering) with everything in namespace ns and the webhooks never judging
// the namespaces excluded.
func checkInstall(t *testing.T, in *install, ns string, excluded []string) {
	if in.deployment == nil || in.service == nil || in.pdb == nil || in.sa == nil || in.validating == nil || in.mutating == nil || len(in.configMaps) != 1 {
		t.Fatalf("want a Deployment, Service, PodDisruptionBudget, ServiceAccount, ConfigMap and both webhook configurations; got %+v", in)
	}
	d := in.deployment
	for _, m := range []metav1.ObjectMeta{d.ObjectMeta, in.service.ObjectMeta, in.pdb.ObjectMeta, in.sa.ObjectMeta, in.configMaps[0].ObjectMeta} {
		if m.Namespace != ns {
			t.Errorf("%s is in namespace %q, want %q", m.Name, m.Namespace, ns)
		}
	}

	// The Deployment.
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("Deployment replicas %v, want 3", val(d.Spec.Replicas))
	}
	podLabels := d.Spec.Template.Labels
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || !sel.Matches(labelSet(podLabels)) {
		t.Errorf("Deployment selector %v does not match its pod labels %v", d.Spec.Selector, podLabels)
	}
	if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("Deployment rolling update must keep every replica (maxUnavailable 0): %+v", d.Spec.Strategy)
	}
	pod := d.Spec.Template.Spec
	aff := pod.Affinity
	if aff == nil || aff.PodAntiAffinity == nil || len(aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		t.Errorf("Deployment: no preferred pod anti-affinity")
	} else {
		term := aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm
		s, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
		if term.TopologyKey != "kubernetes.io/hostname" || err != nil || !s.Matches(labelSet(podLabels)) {
			t.Errorf("Deployment anti-affinity %+v: want its own pods spread over kubernetes.io/hostname", term)
		}
	}
	if pod.ServiceAccountName != in.sa.Name {
		t.Errorf("pods run as service account %q, want %q", pod.ServiceAccountName, in.sa.Name)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken ||
		in.sa.AutomountServiceAccountToken == nil || *in.sa.AutomountServiceAccountToken {
		t.Errorf("the service-account token must not be mounted (serve never calls the API)")
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v: want non-root, a non-zero uid, seccomp RuntimeDefault", psc)
	}
	if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 {
		t.Fatalf("want one container, got %d (+%d init)", len(pod.Containers), len(pod.InitContainers))
	}
	c := pod.Containers[0]
	if !strings.HasPrefix(c.Image, "ghcr.io/imgsign/imgsign:") && !strings.HasPrefix(c.Image, "ghcr.io/imgsign/imgsign@sha256:") {
		t.Errorf("image %s, want ghcr.io/imgsign/imgsign", c.Image)
	}
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 ||
		sc.Privileged != nil && *sc.Privileged {
		t.Errorf("container securityContext %+v: want no privilege escalation, read-only root, all capabilities dropped", sc)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("container resources %+v: want cpu and memory requests and a memory limit", c.Resources)
	}
	for _, m := range c.VolumeMounts {
		if m.SubPath != "" || m.SubPathExpr != "" {
			t.Errorf("volume %s is mounted with subPath: the kubelet never updates it, so serve cannot reload it", m.Name)
		}
		if !m.ReadOnly && m.MountPath != "/tmp" {
			t.Errorf("volume %s at %s is mounted read-write", m.Name, m.MountPath)
		}
	}

	flags := serveArgs(t, c)
	for name := range flags {
		if !slices.Contains([]string{"policy", "listen", "tls-cert", "tls-key", "deadline", "verdict-ttl", "negative-ttl", "resolve-ttl", "reload-interval", "insecure-registry"}, name) {
			t.Errorf("serve has no flag --%s", name)
		}
	}

	// --listen: the container port, which the Service targets.
	listen := oneFlag(t, flags, "listen")
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil || host != "0.0.0.0" {
		t.Errorf("--listen=%s: want 0.0.0.0:PORT in a pod", listen)
	}
	listenPort, _ := strconv.Atoi(portStr)
	var containerPort *corev1.ContainerPort
	for i, p := range c.Ports {
		if int(p.ContainerPort) == listenPort {
			containerPort = &c.Ports[i]
		}
	}
	if containerPort == nil || len(c.Ports) != 1 {
		t.Fatalf("container ports %+v: want exactly the --listen port %d", c.Ports, listenPort)
	}
	resolve := func(p intstr.IntOrString) int {
		if p.Type == intstr.String {
			if p.StrVal != containerPort.Name {
				return -1
			}
			return int(containerPort.ContainerPort)
		}
		return p.IntValue()
	}
	svc := in.service
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 443 || resolve(svc.Spec.Ports[0].TargetPort) != listenPort {
		t.Errorf("Service ports %+v: want 443 → the container's %d", svc.Spec.Ports, listenPort)
	}
	if len(svc.Spec.Selector) == 0 || !labelsSubset(svc.Spec.Selector, podLabels) {
		t.Errorf("Service selector %v does not select the pods (%v)", svc.Spec.Selector, podLabels)
	}
	for _, probe := range []struct {
		p    *corev1.Probe
		path string
	}{{c.ReadinessProbe, "/readyz"}, {c.LivenessProbe, "/healthz"}} {
		if probe.p == nil || probe.p.HTTPGet == nil || probe.p.HTTPGet.Path != probe.path ||
			probe.p.HTTPGet.Scheme != corev1.URISchemeHTTPS || resolve(probe.p.HTTPGet.Port) != listenPort {
			t.Errorf("probe for %s: %+v, want HTTPS GET on port %d", probe.path, probe.p, listenPort)
		}
	}

	// TLS: --tls-cert and --tls-key are the keys of a kubernetes.io/tls Secret
	// mounted whole.
	cert, key := oneFlag(t, flags, "tls-cert"), oneFlag(t, flags, "tls-key")
	certVol, _ := mountOf(t, pod, c, cert)
	keyVol, _ := mountOf(t, pod, c, key)
	if certVol.Secret == nil || keyVol.Name != certVol.Name || path.Base(cert) != corev1.TLSCertKey || path.Base(key) != corev1.TLSPrivateKeyKey ||
		len(certVol.Secret.Items) != 0 || certVol.Secret.Optional != nil && *certVol.Secret.Optional {
		t.Errorf("--tls-cert=%s --tls-key=%s: want tls.crt and tls.key of one required Secret volume, got %+v", cert, key, certVol)
	} else if want := in.service.Name + "-tls"; certVol.Secret.SecretName != want {
		t.Errorf("TLS Secret %s, want %s (what gen-tls.sh creates)", certVol.Secret.SecretName, want)
	}

	// The policy: a ConfigMap key, whose keys are files of the keys Secret.
	policyFile := oneFlag(t, flags, "policy")
	pv, _ := mountOf(t, pod, c, policyFile)
	cm := in.configMaps[0]
	if pv.ConfigMap == nil || pv.ConfigMap.Name != cm.Name || len(pv.ConfigMap.Items) != 0 {
		t.Errorf("--policy=%s: want the whole ConfigMap %s mounted, got %+v", policyFile, cm.Name, pv)
	} else if _, ok := cm.Data[path.Base(policyFile)]; !ok {
		t.Errorf("ConfigMap %s has no key %s", cm.Name, path.Base(policyFile))
	}
	for _, ref := range policyKeyFiles(t, cm.Data[path.Base(policyFile)]) {
		kv, _ := mountOf(t, pod, c, ref)
		if kv.Secret == nil || kv.Secret.SecretName != in.service.Name+"-keys" {
			t.Errorf("policy key %s: not in the %s-keys Secret volume (%+v)", ref, in.service.Name, kv)
		}
	}

	// Registry credentials: DOCKER_CONFIG/config.json is a dockerconfigjson Secret's key.
	var dockerConfig string
	for _, e := range c.Env {
		if e.Name == "DOCKER_CONFIG" {
			dockerConfig = e.Value
		}
	}
	if dockerConfig == "" {
		t.Errorf("no DOCKER_CONFIG in the container's env")
	} else {
		dv, _ := mountOf(t, pod, c, dockerConfig+"/config.json")
		if dv.Secret == nil || len(dv.Secret.Items) != 1 || dv.Secret.Items[0].Key != corev1.DockerConfigJsonKey || dv.Secret.Items[0].Path != "config.json" {
			t.Errorf("DOCKER_CONFIG=%s: want a dockerconfigjson Secret mounted with %s → config.json, got %+v", dockerConfig, corev1.DockerConfigJsonKey, dv)
		}
	}

	// The deadline is under every webhook's timeout.
	deadline, err := time.ParseDuration(oneFlag(t, flags, "deadline"))
	if err != nil {
		t.Errorf("--deadline: %v", err)
	}
	for _, f := range []string{"verdict-ttl", "negative-ttl", "resolve-ttl"} {
		if _, err := time.ParseDuration(oneFlag(t, flags, f)); err != nil {
			t.Errorf("--%s: %v", f, err)
		}
	}

	// The PodDisruptionBudget keeps two of three.
	pdbSel, err := metav1.LabelSelectorAsSelector(in.pdb.Spec.Selector)
	if err != nil || !pdbSel.Matches(labelSet(podLabels)) {
		t.Errorf("PodDisruptionBudget selector %v does not match the pods (%v)", in.pdb.Spec.Selector, podLabels)
	}
	switch pdb := in.pdb.Spec; {
	case pdb.MaxUnavailable != nil && pdb.MinAvailable == nil && pdb.MaxUnavailable.IntValue() == 1:
	case pdb.MinAvailable != nil && pdb.MaxUnavailable == nil && pdb.MinAvailable.IntValue() == 2:
	default:
		t.Errorf("PodDisruptionBudget %+v: want maxUnavailable 1 or minAvailable 2", pdb)
	}

	// The webhooks.
	if len(in.validating.Webhooks) != 1 || len(in.mutating.Webhooks) != 1 {
		t.Fatalf("want one validating and one mutating webhook, got %d and %d", len(in.validating.Webhooks), len(in.mutating.Webhooks))
	}
	vw, mw := in.validating.Webhooks[0], in.mutating.Webhooks[0]
	if in.validating.Name != svc.Name || in.mutating.Name != svc.Name {
		t.Errorf("webhook configurations %s and %s: want both named %s (gen-tls.sh patches that name)", in.validating.Name, in.mutating.Name, svc.Name)
	}
	if vw.Name != "validate.imgsign.dev" || mw.Name != "mutate.imgsign.dev" {
		t.Errorf("webhook names %s, %s: want validate.imgsign.dev, mutate.imgsign.dev", vw.Name, mw.Name)
	}
	if mw.ReinvocationPolicy == nil || *mw.ReinvocationPolicy != admissionregistrationv1.IfNeededReinvocationPolicy {
		t.Errorf("mutating webhook reinvocationPolicy %v, want IfNeeded", val(mw.ReinvocationPolicy))
	}
	type common struct {
		name     string
		cc       admissionregistrationv1.WebhookClientConfig
		fp       *admissionregistrationv1.FailurePolicyType
		se       *admissionregistrationv1.SideEffectClass
		versions []string
		timeout  *int32
		mp       *admissionregistrationv1.MatchPolicyType
		nsSel    *metav1.LabelSelector
		objSel   *metav1.LabelSelector
		rules    []admissionregistrationv1.RuleWithOperations
		path     string
	}
	for _, w := range []common{
		{vw.Name, vw.ClientConfig, vw.FailurePolicy, vw.SideEffects, vw.AdmissionReviewVersions, vw.TimeoutSeconds, vw.MatchPolicy, vw.NamespaceSelector, vw.ObjectSelector, vw.Rules, "/admission/validate"},
		{mw.Name, mw.ClientConfig, mw.FailurePolicy, mw.SideEffects, mw.AdmissionReviewVersions, mw.TimeoutSeconds, mw.MatchPolicy, mw.NamespaceSelector, mw.ObjectSelector, mw.Rules, "/admission/mutate"},
	} {
		s := w.cc.Service
		if w.cc.URL != nil || s == nil || s.Name != svc.Name || s.Namespace != svc.Namespace || s.Path == nil || *s.Path != w.path ||
			s.Port == nil || *s.Port != svc.Spec.Ports[0].Port {
			t.Errorf("%s: clientConfig %+v, want Service %s/%s port %d path %s", w.name, w.cc, svc.Namespace, svc.Name, svc.Spec.Ports[0].Port, w.path)
		}
		if w.fp == nil || *w.fp != admissionregistrationv1.Fail {
			t.Errorf("%s: failurePolicy %v, want Fail", w.name, val(w.fp))
		}
		if w.se == nil || *w.se != admissionregistrationv1.SideEffectClassNone {
			t.Errorf("%s: sideEffects %v, want None", w.name, val(w.se))
		}
		if !slices.Equal(w.versions, []string{"v1"}) {
			t.Errorf("%s: admissionReviewVersions %v, want [v1]", w.name, w.versions)
		}
		if w.timeout == nil || *w.timeout != 10 {
			t.Errorf("%s: timeoutSeconds %v, want 10", w.name, val(w.timeout))
		} else if deadline >= time.Duration(*w.timeout)*time.Second {
			t.Errorf("%s: serve's --deadline %v is not under timeoutSeconds %d: the API server would give up first", w.name, deadline, *w.timeout)
		}
		if w.mp == nil || *w.mp != admissionregistrationv1.Equivalent {
			t.Errorf("%s: matchPolicy %v, want Equivalent", w.name, val(w.mp))
		}
		if w.objSel != nil && (len(w.objSel.MatchLabels) > 0 || len(w.objSel.MatchExpressions) > 0) {
			t.Errorf("%s: an objectSelector lets anyone who labels a Pod skip verification", w.name)
		}
		checkNamespaceSelector(t, w.name, w.nsSel, excluded)
		checkRules(t, w.name, w.rules)
	}
}

// checkNamespaceSelector: exactly "kubernetes.io/metadata.name NotIn
// [excluded…]" — the label the API server sets on every namespace, which
// nobody can change: no other label can opt a namespace out.
func checkNamespaceSelector(t *testing.T, what string, sel *metav1.LabelSelector, excluded []string) {
	t.Helper()
	if sel == nil || len(sel.MatchLabels) != 0 || len(sel.MatchExpressions) != 1 {
		t.Errorf("%s: namespaceSelector %+v, want one expression", what, sel)
		return
	}
	e := sel.MatchExpressions[0]
	got := slices.Clone(e.Values)
	sort.Strings(got)
	want := slices.Clone(excluded)
	sort.Strings(want)
	if e.Key != corev1.LabelMetadataName || e.Operator != metav1.LabelSelectorOpNotIn || !slices.Equal(got, want) {
		t.Errorf("%s: namespaceSelector %+v, want %s NotIn %v", what, e, corev1.LabelMetadataName, want)
	}
}

// checkRules: CREATE and UPDATE of Pods (and their ephemeral containers)
// and of every workload with a Pod template, exactly.
func checkRules(t *testing.T, what string, rules []admissionregistrationv1.RuleWithOperations) {
	t.Helper()
	want := []string{
		"/v1/pods", "/v1/pods/ephemeralcontainers",
		"apps/v1/deployments", "apps/v1/replicasets", "apps/v1/statefulsets", "apps/v1/daemonsets",
		"batch/v1/jobs", "batch/v1/cronjobs",
	}
	var got []string
	for _, r := range rules {
		ops := slices.Clone(r.Operations)
		slices.Sort(ops)
		if !slices.Equal(ops, []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}) {
			t.Errorf("%s: rule %+v: operations %v, want CREATE and UPDATE", what, r.Rule, r.Operations)
		}
		if r.Scope == nil || *r.Scope != admissionregistrationv1.NamespacedScope {
			t.Errorf("%s: rule %+v: scope %v, want Namespaced", what, r.Rule, val(r.Scope))
		}
		for _, g := range r.APIGroups {
			for _, v := range r.APIVersions {
				for _, res := range r.Resources {
					got = append(got, g+"/"+v+"/"+res)
				}
			}
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s: rules cover %v, want %v", what, got, want)
	}
}

func checkNamespace(t *testing.T, in *install) {
	t.Helper()
	ns := in.namespace
	if ns.Name != in.deployment.Namespace || ns.Labels[corev1.LabelMetadataName] != ns.Name {
		t.Errorf("Namespace %s (labels %v): want %s labelled %s=%s", ns.Name, ns.Labels, in.deployment.Namespace, corev1.LabelMetadataName, in.deployment.Namespace)
	}
	if ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("Namespace %s: want pod-security.kubernetes.io/enforce=restricted", ns.Name)
	}
}

// policyKeyFiles returns the key files the policy names.
func policyKeyFiles(t *testing.T, doc string) []string {
	t.Helper()
	var p struct {
		Keys []struct {
			PublicKey string `json:"publicKey"`
		} `json:"keys"`
	}
	if err := yaml.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatalf("the ConfigMap's policy: %v", err)
	}
	var files []string
	for _, k := range p.Keys {
		if !strings.Contains(k.PublicKey, "://") && !strings.Contains(k.PublicKey, "BEGIN") {
			if !path.IsAbs(k.PublicKey) {
				t.Errorf("policy key %s: a relative path resolves against the ConfigMap's mount, where no key is; use /etc/imgsign/keys/…", k.PublicKey)
			}
			files = append(files, k.PublicKey)
		}
	}
	return files
}

// checkPolicyParses: the ConfigMap's policy is a valid imgsign policy, with
// the keys Secret's mount replaced by a directory holding an example key.
func checkPolicyParses(t *testing.T, in *install) {
	t.Helper()
	c := in.deployment.Spec.Template.Spec.Containers[0]
	policyFile := oneFlag(t, serveArgs(t, c), "policy")
	doc := in.configMaps[0].Data[path.Base(policyFile)]
	pub, err := os.ReadFile("../examples/policies/release.pub")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range policyKeyFiles(t, doc) {
		if err := os.WriteFile(filepath.Join(dir, path.Base(f)), pub, 0o644); err != nil {
			t.Fatal(err)
		}
		doc = strings.ReplaceAll(doc, f, filepath.Join(dir, path.Base(f)))
	}
	if _, err := policy.Parse([]byte(doc), dir); err != nil {
		t.Errorf("the ConfigMap's policy: %v", err)
	}
}

// val shows what a pointer field holds.
func val[T any](p *T) any {
	if p == nil {
		return "unset"
	}
	return *p
}

func labelSet(m map[string]string) labels.Set { return labels.Set(m) }

func labelsSubset(sub, of map[string]string) bool {
	for k, v := range sub {
		if of[k] != v {
			return false
		}
	}
	return true
}

// ---- Helm ----

// helmTemplate renders the chart.
func helmTemplate(t *testing.T, release, namespace string, set ...string) []object {
	t.Helper()
	helm := testenv.Tool(t, "helm")
	args := []string{"template", release, chartDir, "--namespace", namespace}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := helmCmd(t, helm, args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return splitYAML(t, "helm template "+strings.Join(set, " "), out)
}

func helmCmd(t *testing.T, helm string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(helm, args...)
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return append(stdout.Bytes(), stderr.Bytes()...), err
	}
	return stdout.Bytes(), nil
}

// sameObjects compares two lists of objects by identity and content (key
// order and YAML style aside).
func sameObjects(t *testing.T, what string, got, want []object) {
	t.Helper()
	index := func(objs []object) map[string]any {
		m := map[string]any{}
		for _, o := range objs {
			var v any
			if err := yaml.Unmarshal(o.raw, &v); err != nil {
				t.Fatalf("%s: %v", o.source, err)
			}
			if _, dup := m[o.id()]; dup {
				t.Errorf("%s: %s twice", what, o.id())
			}
			m[o.id()] = v
		}
		return m
	}
	g, w := index(got), index(want)
	for id, wv := range w {
		gv, ok := g[id]
		if !ok {
			t.Errorf("%s: lacks %s", what, id)
			continue
		}
		if !reflect.DeepEqual(gv, wv) {
			gj, _ := json.MarshalIndent(gv, "", "  ")
			wj, _ := json.MarshalIndent(wv, "", "  ")
			t.Errorf("%s: %s differs:\n%s", what, id, lineDiff(string(wj), string(gj)))
		}
	}
	for id := range g {
		if _, ok := w[id]; !ok {
			t.Errorf("%s: has %s, which the plain manifests do not", what, id)
		}
	}
}

// lineDiff shows the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for _, l := range wl {
		if !slices.Contains(gl, l) {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	for _, l := range gl {
		if !slices.Contains(wl, l) {
			fmt.Fprintf(&b, "+ %s\n", l)
		}
	}
	if b.Len() == 0 {
		return "(same lines, another order)\n--- want\n" + want + "\n--- got\n" + got
	}
	return b.String()
}

// The chart with its default values renders exactly deploy/kubernetes
// (imgsign.yaml, webhooks.yaml); namespace.create adds namespace.yaml,
// webhook.create=false leaves webhooks.yaml out, gatekeeper.enabled adds
// deploy/gatekeeper/provider.yaml.
func TestHelmChartRendersManifests(t *testing.T) {
	helm := testenv.Tool(t, "helm")
	if out, err := helmCmd(t, helm, "lint", "--strict", chartDir, "--namespace", "imgsign"); err != nil {
		t.Errorf("helm lint --strict: %v\n%s", err, out)
	}

	plainNS := readManifest(t, filepath.Join(kubeDir, "namespace.yaml"))
	server := readManifest(t, filepath.Join(kubeDir, "imgsign.yaml"))
	plain := append(slices.Clone(server), readManifest(t, filepath.Join(kubeDir, "webhooks.yaml"))...)
	sameObjects(t, "helm template (defaults)", helmTemplate(t, "imgsign", "imgsign"), plain)
	sameObjects(t, "helm template --set namespace.create=true", helmTemplate(t, "imgsign", "imgsign", "namespace.create=true"), append(slices.Clone(plainNS), plain...))
	sameObjects(t, "helm template --set webhook.create=false", helmTemplate(t, "imgsign", "imgsign", "webhook.create=false"), server)

	// Gatekeeper: the Providers of provider.yaml; the caBundle goes to the webhooks too.
	rendered := helmTemplate(t, "imgsign", "imgsign", "gatekeeper.enabled=true", "tls.caBundle=BASE64_CA_BUNDLE")
	var providers, rest []object
	for _, o := range rendered {
		if o.Kind == "Provider" {
			providers = append(providers, o)
		} else {
			rest = append(rest, o)
		}
	}
	sameObjects(t, "helm template --set gatekeeper.enabled=true (Providers)", providers, readManifest(t, filepath.Join(gatekeeperDir, "provider.yaml")))
	if len(rest) != len(plain) {
		t.Errorf("gatekeeper.enabled=true renders %d other objects, want %d", len(rest), len(plain))
	}
	if out, err := helmCmd(t, helm, "template", "imgsign", chartDir, "--set", "gatekeeper.enabled=true"); err == nil || !strings.Contains(string(out), "gatekeeper.enabled needs tls.caBundle") {
		t.Errorf("gatekeeper.enabled without tls.caBundle rendered (Gatekeeper refuses a Provider without a CA): %v\n%s", err, out)
	}
}

// The chart's values change what they name, and the install still holds
// together: another release name and namespace, a caBundle, a pinned image,
// extra flags, cert-manager's annotation.
func TestHelmChartValues(t *testing.T) {
	ca := base64.StdEncoding.EncodeToString([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	objs := helmTemplate(t, "prod", "security",
		"tls.caBundle="+ca,
		"image.digest=sha256:"+strings.Repeat("ab", 32),
		"serve.insecureRegistries={registry.local:5000}",
		"serve.reloadInterval=5s",
		"replicas=3",
		"webhook.excludeNamespaces={kube-system,monitoring}",
		`webhook.annotations.cert-manager\.io/inject-ca-from=security/prod-imgsign`,
		"gatekeeper.enabled=true",
	)
	var main []object
	var providers []object
	for _, o := range objs {
		if o.Kind == "Provider" {
			providers = append(providers, o)
		} else {
			main = append(main, o)
		}
	}
	in := decodeAll(t, main)
	if in.deployment == nil {
		t.Fatal("no Deployment")
	}
	if in.deployment.Name != "prod-imgsign" {
		t.Errorf("Deployment name %s, want prod-imgsign", in.deployment.Name)
	}
	// The release namespace is always excluded, added to the list.
	checkInstall(t, in, "security", []string{"kube-system", "monitoring", "security"})
	c := in.deployment.Spec.Template.Spec.Containers[0]
	if c.Image != "ghcr.io/imgsign/imgsign@sha256:"+strings.Repeat("ab", 32) {
		t.Errorf("image %s, want the digest", c.Image)
	}
	flags := serveArgs(t, c)
	if !slices.Equal(flags["insecure-registry"], []string{"registry.local:5000"}) || !slices.Equal(flags["reload-interval"], []string{"5s"}) {
		t.Errorf("serve flags %v lack --insecure-registry or --reload-interval", flags)
	}
	for _, cfg := range []metav1.ObjectMeta{in.validating.ObjectMeta, in.mutating.ObjectMeta} {
		if cfg.Annotations["cert-manager.io/inject-ca-from"] != "security/prod-imgsign" {
			t.Errorf("%s: annotations %v", cfg.Name, cfg.Annotations)
		}
	}
	for _, cc := range []admissionregistrationv1.WebhookClientConfig{in.validating.Webhooks[0].ClientConfig, in.mutating.Webhooks[0].ClientConfig} {
		if base64.StdEncoding.EncodeToString(cc.CABundle) != ca {
			t.Errorf("webhook caBundle %q, want tls.caBundle", cc.CABundle)
		}
	}
	gk := decodeAll(t, providers)
	checkProviders(t, in, gk.providers)
}

// ---- gen-tls.sh ----

// gen-tls.sh --no-apply makes a CA and a serving certificate a TLS 1.3
// client verifies for the Service's names; a second run renews the
// certificate under the same CA (so the caBundle stays), and prints it.
func TestGenTLS(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		testenv.Missing(t, "openssl not found (Debian: apt-get install openssl)")
	}
	script, err := filepath.Abs(filepath.Join(kubeDir, "gen-tls.sh"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(script, args...)
		cmd.Dir = dir
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("gen-tls.sh %v: %v\n%s", args, err, stderr.String())
		}
		return strings.TrimSpace(stdout.String())
	}
	out := filepath.Join(dir, "tls")
	bundle1 := run("--no-apply", "-o", out, "-n", "security", "-s", "prod-imgsign")
	ca1, _ := os.ReadFile(filepath.Join(out, "ca.crt"))
	leaf1, _ := os.ReadFile(filepath.Join(out, "tls.crt"))
	bundle2 := run("--no-apply", "-o", out, "-n", "security", "-s", "prod-imgsign")
	ca2, _ := os.ReadFile(filepath.Join(out, "ca.crt"))
	leaf2, _ := os.ReadFile(filepath.Join(out, "tls.crt"))
	if bundle1 != bundle2 || !bytes.Equal(ca1, ca2) {
		t.Errorf("a second run changed the CA")
	}
	if bytes.Equal(leaf1, leaf2) {
		t.Errorf("a second run did not renew the certificate")
	}
	if dec, err := base64.StdEncoding.DecodeString(bundle2); err != nil || !bytes.Equal(dec, ca2) {
		t.Errorf("printed caBundle is not base64 of ca.crt: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(out, "ca.key")); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("ca.key is readable by others: %v %v", fi.Mode(), err)
	}
	if _, err := os.Stat(filepath.Join(out, "tls.csr")); err == nil {
		t.Errorf("gen-tls.sh left tls.csr behind")
	}

	pair, err := tls.LoadX509KeyPair(filepath.Join(out, "tls.crt"), filepath.Join(out, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(ca2)
	caCert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	for _, name := range []string{"prod-imgsign.security.svc", "prod-imgsign.security.svc.cluster.local", "prod-imgsign.security"} {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, ServerName: name, MinVersion: tls.VersionTLS13})
		if err != nil {
			t.Errorf("TLS 1.3 to %s: %v", name, err)
			continue
		}
		c.Close()
	}
	if c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "imgsign.imgsign.svc"}); err == nil {
		c.Close()
		t.Errorf("the certificate is valid for another service's name")
	}

	// --webhooks and --gatekeeper (without kubectl: the files it would apply).
	def := filepath.Join(dir, "default")
	webhooks, err := filepath.Abs(filepath.Join(kubeDir, "webhooks.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	bundle := run("--no-apply", "-o", def, "--webhooks", webhooks, "--gatekeeper")
	caPEM, _ := os.ReadFile(filepath.Join(def, "ca.crt"))
	filled := decodeAll(t, readManifest(t, filepath.Join(def, "webhooks.yaml")))
	if filled.validating == nil || filled.mutating == nil {
		t.Fatal("gen-tls.sh --webhooks: the webhook configurations are missing")
	}
	for _, cc := range []admissionregistrationv1.WebhookClientConfig{filled.validating.Webhooks[0].ClientConfig, filled.mutating.Webhooks[0].ClientConfig} {
		if !bytes.Equal(cc.CABundle, caPEM) {
			t.Errorf("gen-tls.sh --webhooks: caBundle %.40q…, want ca.crt", cc.CABundle)
		}
	}
	// Only the caBundle differs from webhooks.yaml.
	orig := decodeAll(t, readManifest(t, webhooks))
	filled.validating.Webhooks[0].ClientConfig.CABundle, filled.mutating.Webhooks[0].ClientConfig.CABundle = nil, nil
	if !reflect.DeepEqual(orig.validating, filled.validating) || !reflect.DeepEqual(orig.mutating, filled.mutating) {
		t.Errorf("gen-tls.sh --webhooks changed more than the caBundle")
	}
	gk := decodeAll(t, readManifest(t, filepath.Join(def, "provider.yaml")))
	if len(gk.providers) != 2 {
		t.Fatalf("gen-tls.sh --gatekeeper: %d Providers", len(gk.providers))
	}
	for _, p := range gk.providers {
		if p.Spec.CABundle != bundle {
			t.Errorf("gen-tls.sh --gatekeeper: Provider %s caBundle is not the CA's", p.Name)
		}
	}
	// --webhooks names the default Service; other names are refused.
	cmd := exec.Command(script, "--no-apply", "-o", def, "--webhooks", webhooks, "-n", "security")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "Helm chart") {
		t.Errorf("gen-tls.sh --webhooks -n security: %v\n%s", err, out)
	}
}
