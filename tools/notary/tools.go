//go:build tools

// Package tools pins Notary v1 (the server and CLI behind Docker Content
// Trust) for the `dct import` end-to-end tests. Its own module keeps
// Notary's old dependency graph out of the product's and tools/ go.mod.
package tools

import (
	_ "github.com/theupdateframework/notary/cmd/notary"
	_ "github.com/theupdateframework/notary/cmd/notary-server"
)
