package admission

import (
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Image is one container image named by an admitted object.
type Image struct {
	// Ref is the image reference as written in the object.
	Ref string
	// Path is the JSON pointer of the image field: where a patch pins it.
	Path string
	// Container says which container names it: "container app",
	// "initContainer setup" or "ephemeralContainer debug".
	Container string
}

// podSpecAt says where each supported kind keeps its pod template: the JSON
// pointer of the PodSpec and how to decode the object to reach it. A
// workload is judged when it is applied, not when its controller later
// fails to create Pods.
var podSpecAt = map[metav1.GroupVersionKind]struct {
	pointer string
	spec    func([]byte) (*podSpec, error)
}{
	{Group: "", Version: "v1", Kind: "Pod"}:                   {"/spec", specOf(func(o *inSpec[podSpec]) *podSpec { return &o.Spec })},
	{Group: "", Version: "v1", Kind: "ReplicationController"}: {"/spec/template/spec", specOf(templateSpec)},
	{Group: "", Version: "v1", Kind: "PodTemplate"}:           {"/template/spec", specOf(func(o *inTemplate) *podSpec { return &o.Template.Spec })},
	{Group: "apps", Version: "v1", Kind: "Deployment"}:        {"/spec/template/spec", specOf(templateSpec)},
	{Group: "apps", Version: "v1", Kind: "ReplicaSet"}:        {"/spec/template/spec", specOf(templateSpec)},
	{Group: "apps", Version: "v1", Kind: "StatefulSet"}:       {"/spec/template/spec", specOf(templateSpec)},
	{Group: "apps", Version: "v1", Kind: "DaemonSet"}:         {"/spec/template/spec", specOf(templateSpec)},
	{Group: "batch", Version: "v1", Kind: "Job"}:              {"/spec/template/spec", specOf(templateSpec)},
	{Group: "batch", Version: "v1", Kind: "CronJob"}: {"/spec/jobTemplate/spec/template/spec", specOf(func(o *inSpec[struct {
		JobTemplate inSpec[inTemplate] `json:"jobTemplate"`
	}]) *podSpec {
		return &o.Spec.JobTemplate.Spec.Template.Spec
	})},
}

// podSpec is the part of a PodSpec (k8s.io/api/core/v1) that names images:
// only it is decoded, a third of the time of the whole object. The API
// server has validated the rest; a field read here of the wrong type is
// still an error.
type podSpec struct {
	Containers          []container `json:"containers"`
	InitContainers      []container `json:"initContainers"`
	EphemeralContainers []container `json:"ephemeralContainers"`
}

type container struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

type inSpec[T any] struct {
	Spec T `json:"spec"`
}

type inTemplate struct {
	Template inSpec[podSpec] `json:"template"`
}

func templateSpec(o *inSpec[inTemplate]) *podSpec { return &o.Spec.Template.Spec }

func specOf[T any](spec func(*T) *podSpec) func([]byte) (*podSpec, error) {
	return func(raw []byte) (*podSpec, error) {
		o := new(T)
		if err := json.Unmarshal(raw, o); err != nil {
			return nil, err
		}
		return spec(o), nil
	}
}

// Supported reports whether Images reads objects of kind.
func Supported(kind metav1.GroupVersionKind) bool {
	_, ok := podSpecAt[kind]
	return ok
}

// Images returns every image an object of kind runs: its containers', init
// containers' and ephemeral containers', in that order. A kind it does not
// know is an error, never an empty list: an object whose images were not
// found must not pass as one that has none.
func Images(kind metav1.GroupVersionKind, raw []byte) ([]Image, error) {
	at, ok := podSpecAt[kind]
	if !ok {
		return nil, fmt.Errorf("imgsign does not read images of %s (supported: Pods, Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs, CronJobs, ReplicationControllers, PodTemplates); remove it from the webhook's rules", kindName(kind))
	}
	spec, err := at.spec(raw)
	if err != nil {
		return nil, fmt.Errorf("decoding the %s: %w", kindName(kind), err)
	}
	var out []Image
	for i, c := range spec.Containers {
		out = append(out, Image{Ref: c.Image, Path: fmt.Sprintf("%s/containers/%d/image", at.pointer, i), Container: "container " + c.Name})
	}
	for i, c := range spec.InitContainers {
		out = append(out, Image{Ref: c.Image, Path: fmt.Sprintf("%s/initContainers/%d/image", at.pointer, i), Container: "initContainer " + c.Name})
	}
	for i, c := range spec.EphemeralContainers {
		out = append(out, Image{Ref: c.Image, Path: fmt.Sprintf("%s/ephemeralContainers/%d/image", at.pointer, i), Container: "ephemeralContainer " + c.Name})
	}
	return out, nil
}

func kindName(k metav1.GroupVersionKind) string {
	if k.Group == "" {
		return k.Version + " " + k.Kind
	}
	return k.Group + "/" + k.Version + " " + k.Kind
}
