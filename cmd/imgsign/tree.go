package main

import (
	"github.com/urfave/cli/v2"

	"github.com/imgsign/imgsign/verify"
)

func treeCommand() *cli.Command {
	return &cli.Command{
		Name:      "tree",
		Usage:     "show everything attached to an image: signatures, attestations, key ids, types",
		ArgsUsage: "IMAGE",
		Description: `Lists referrers from the referrers API or the referrers tag schema, imgsign's
per-referrer tags, and cosign's legacy .sig/.att/.sbom tags. Nothing shown is
verified: use imgsign verify for trust decisions.`,
		Flags: []cli.Flag{outputFormatFlag(), timeoutFlag()},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "IMAGE"); err != nil {
				return err
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			ctx, cancel, err := runDeadline(c)
			if err != nil {
				return err
			}
			defer cancel()
			t, err := verify.ShowTree(ctx, registryClient(c), c.Args().First())
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(c, t)
			}
			t.WriteText(c.App.Writer)
			return nil
		},
	}
}
