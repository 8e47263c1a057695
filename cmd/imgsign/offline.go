package main

import (
	"github.com/urfave/cli/v2"

	"github.com/imgsign/imgsign/internal/ocilayout"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/storage"
)

// offlineFlag is --offline of verify and verify-blob (docs/offline.md).
func offlineFlag(what string) *cli.BoolFlag {
	return &cli.BoolFlag{Name: "offline", EnvVars: []string{"IMGSIGN_OFFLINE"},
		Usage: "make no network connection " + what + ": anything else the run would need (a KMS key, a proxy, a registry's token service) is an error (exit 2) before any attempt"}
}

// offlineClient is the registry client of verify --offline: it reaches only
// the registries of the images given (none for an oci: layout, even one
// standing --as a registry repository). An image that does not parse adds
// no host; verify reports it.
func offlineClient(c *cli.Context) storage.Store {
	var hosts []string
	parser := registryClient(c)
	for _, img := range c.Args().Slice() {
		if ocilayout.IsReference(img) {
			continue // a layout is read from disk: with --as its name is a registry's, never to be reached
		}
		if ref, err := parser.ParseReference(img); err == nil {
			hosts = append(hosts, ref.Context().RegistryStr())
		}
	}
	return imageStore(c, newRegistryClient(c, registry.WithNotice(func(msg string) { notice(c, msg) }), registry.WithOnlyHosts(hosts...)))
}
