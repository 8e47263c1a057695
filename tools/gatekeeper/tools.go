//go:build tools

// Package tools pins OPA Gatekeeper, which the admission tests run out of
// cluster against the test API server (internal/testing/kubeenv) to check
// imgsign as a Gatekeeper external-data provider. tools/build.sh also
// copies its CRDs from this module next to the binary.
package tools

import _ "github.com/open-policy-agent/gatekeeper/v3"
