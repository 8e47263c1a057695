//go:build tools

// Package tools pins kube-apiserver and kubectl for the admission tests
// (internal/testing/kubeenv). k8s.io/kubernetes cannot be required on its
// own: go.mod maps each of its staging modules to the matching v0 release.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
