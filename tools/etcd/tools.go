//go:build tools

// Package tools pins etcd, the store behind the kube-apiserver the
// admission tests start (internal/testing/kubeenv). Its own module keeps
// etcd's dependency graph out of the product's go.mod.
package tools

import _ "go.etcd.io/etcd/server/v3"
