package main

import (
	"context"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/urfave/cli/v2"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/ocilayout"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/storage"
)

// asFlag is --as, the repository an oci: layout stands for (docs/cli.md).
func asFlag() cli.Flag {
	return &cli.StringFlag{
		Name:  "as",
		Usage: "judge and sign the oci:DIR layout given as the registry `REPOSITORY` (e.g. ghcr.io/acme/app): its policy rule, and the name statements carry",
	}
}

// imageStore is where every command's images live: oci: references in OCI
// image layouts, everything else in registries through reg.
func imageStore(c *cli.Context, reg *registry.Client) storage.Store {
	as := c.String("as")
	if as == "" {
		return ocilayout.NewStore(reg)
	}
	ref, err := reg.ParseReference(as + ":" + name.DefaultTag)
	if err != nil {
		return failingStore{errkind.Inputf("--as %q: expected a repository such as ghcr.io/acme/app: %w", as, err)}
	}
	if ocilayout.IsReference(as) {
		return failingStore{errkind.Inputf("--as %q: name a registry repository, not a layout", as)}
	}
	return ocilayout.NewStore(reg, ocilayout.WithAs(ref.Context()))
}

// failingStore answers every call with the error that made it.
type failingStore struct{ err error }

func (f failingStore) ParseReference(string) (name.Reference, error) { return nil, f.err }
func (f failingStore) ResolveReference(context.Context, name.Reference, bool) (*storage.Target, error) {
	return nil, f.err
}
func (f failingStore) Resolve(context.Context, string, bool) (*storage.Target, error) {
	return nil, f.err
}
func (f failingStore) OpenRepository(context.Context, name.Repository, bool) (storage.Writer, error) {
	return nil, f.err
}
