//go:build tools

// Package tools pins Helm, which the tests use to lint and render imgsign's
// chart. Its own module keeps Helm's dependency graph (k8s.io at v0.36)
// out of the product's go.mod.
package tools

import _ "helm.sh/helm/v4/cmd/helm"
