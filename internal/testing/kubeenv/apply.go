package kubeenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
)

// fieldManager names kubeenv's server-side applies.
const fieldManager = "kubeenv"

// ApplyYAML server-side applies every object in the multi-document YAML
// (or JSON) doc, in order, and deletes them in reverse order when t ends.
// A namespaced object without a namespace goes to "default". A kind the
// API server does not serve yet — a custom resource right after its CRD,
// a Gatekeeper constraint right after its template — is retried for up to
// a minute. A CustomResourceDefinition is waited for until Established.
// It returns the objects as the API server stored them.
func ApplyYAML(t testing.TB, env *Env, doc string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := decodeYAML(doc)
	if err != nil {
		t.Fatal(err)
	}
	var applied []*unstructured.Unstructured
	t.Cleanup(func() {
		for i := len(applied) - 1; i >= 0; i-- {
			if err := deleteObject(env, applied[i]); err != nil {
				t.Errorf("deleting %s: %v", describe(applied[i]), err)
			}
		}
	})
	for _, obj := range objs {
		out, err := apply(env, obj)
		if err != nil {
			t.Fatalf("applying %s: %v", describe(obj), err)
		}
		applied = append(applied, out)
	}
	return applied
}

// applyKeep is ApplyYAML for objects that outlive the test (Gatekeeper's
// CRDs): nothing is deleted.
func applyKeep(env *Env, doc string) error {
	objs, err := decodeYAML(doc)
	if err != nil {
		return err
	}
	for _, obj := range objs {
		if _, err := apply(env, obj); err != nil {
			return fmt.Errorf("applying %s: %v", describe(obj), err)
		}
	}
	return nil
}

func decodeYAML(doc string) ([]*unstructured.Unstructured, error) {
	dec := yaml.NewYAMLOrJSONDecoder(strings.NewReader(doc), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("decoding YAML: %v", err)
		}
		if len(m) == 0 {
			continue
		}
		obj := &unstructured.Unstructured{Object: m}
		if obj.GetKind() == "" || obj.GetAPIVersion() == "" || obj.GetName() == "" {
			return nil, fmt.Errorf("YAML document without apiVersion, kind or metadata.name: %v", m)
		}
		objs = append(objs, obj)
	}
}

func describe(obj *unstructured.Unstructured) string {
	if ns := obj.GetNamespace(); ns != "" {
		return fmt.Sprintf("%s %s/%s", obj.GetKind(), ns, obj.GetName())
	}
	return obj.GetKind() + " " + obj.GetName()
}

// resource maps obj's kind to a dynamic client, retrying up to wait
// while the kind is unknown (discovery refreshed each time).
func resource(env *Env, obj *unstructured.Unstructured, wait time.Duration) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	var mapping *meta.RESTMapping
	deadline := time.Now().Add(wait)
	for {
		var err error
		mapping, err = env.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err == nil {
			break
		}
		if !meta.IsNoMatchError(err) || time.Now().After(deadline) {
			return nil, err
		}
		env.Mapper.Reset()
		time.Sleep(200 * time.Millisecond)
	}
	if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
		return env.Dynamic.Resource(mapping.Resource), nil
	}
	if obj.GetNamespace() == "" {
		obj.SetNamespace("default")
	}
	return env.Dynamic.Resource(mapping.Resource).Namespace(obj.GetNamespace()), nil
}

func apply(env *Env, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	ri, err := resource(env, obj, time.Minute)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	out, err := ri.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
	if err != nil {
		return nil, err
	}
	if out.GroupVersionKind() == crdGVK {
		if err := waitEstablished(ri, out.GetName()); err != nil {
			return nil, err
		}
	}
	return out, nil
}

var crdGVK = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}

func waitEstablished(ri dynamic.ResourceInterface, name string) error {
	return poll(time.Minute, func() error {
		crd, err := ri.Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
		for _, c := range conds {
			if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
				return nil
			}
		}
		return fmt.Errorf("CRD %s not Established: %v", name, conds)
	})
}

func deleteObject(env *Env, obj *unstructured.Unstructured) error {
	ri, err := resource(env, obj, 0)
	if meta.IsNoMatchError(err) {
		return nil // its CRD went first
	}
	if err != nil {
		return err
	}
	err = ri.Delete(context.Background(), obj.GetName(), metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
		return nil
	}
	return err
}

// poll calls check every 100 ms until it succeeds or timeout passes, then
// returns its last error.
func poll(timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %w", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
