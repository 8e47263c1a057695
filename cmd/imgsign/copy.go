package main

import (
	"context"

	"github.com/urfave/cli/v2"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/transfer"
)

func copyCommand() *cli.Command {
	return &cli.Command{
		Name:      "copy",
		Usage:     "copy an image between registries and OCI layouts with every signature, attestation and SBOM attached to it",
		ArgsUsage: "SRC DST",
		Description: `SRC is an image (tag or name@sha256:…, or an OCI image layout oci:DIR[:TAG]);
DST a repository or layout, with or without :tag (without one, SRC's tag; a
SRC given by digest is copied without one). An
index comes with every platform manifest, BuildKit's attestation manifests
included; every blob travels once, streamed; and every referrer comes too,
recursively: signatures, attestations, SBOMs, referrers of referrers, and
cosign's legacy .sig/.att/.sbom tags. Digests do not change, so every
signature still verifies at DST (a signature bound to a tag names the source
repository: a policy with bindTag must list DST as a mirror).

DST's referrers API is used where it has one, the referrers tag schema
otherwise. Blobs go first, then manifests, then referrers and legacy tags,
and DST's tag last: a copy cut short never shows a tag without its
signatures. Re-running copies only what is missing, so an interrupted copy
resumes. A cosign legacy tag DST already has with other signatures gets the
source's added, not replaced.

--only signatures,attestations,sboms,other picks what is attached to the
image (signatures: imgsign/cosign signature bundles, cosign .sig tags and
Notary Project signatures; attestations: every other signed in-toto
statement, SBOM attestations included, and cosign .att tags; sboms: unsigned
SBOM documents, cosign .sbom tags; other: any other referrer); what is
attached to a picked item comes with it.

--platform os/arch[/variant] copies one platform manifest of an index, and
what is attached to it: signatures of the index itself are not copied.

--all-tags copies every tag of the repository SRC to the repository DST.

Exit codes: 0 copied (or nothing was missing), 2 bad input (no such image or
platform, SRC and DST the same), 3 registry trouble (unreachable, refused,
interrupted, content not matching its digest, limits).`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all-tags", Usage: "copy every tag of the repository SRC to the repository DST"},
			&cli.StringFlag{Name: "platform", Usage: "copy only this `OS/ARCH[/VARIANT]` manifest of an index (e.g. linux/arm64)"},
			&cli.StringSliceFlag{Name: "only", Usage: "copy only attachments of these `KINDS`: signatures, attestations, sboms, other (comma-separated or repeated)"},
			&cli.BoolFlag{Name: "dry-run", Usage: "print what would be copied and what DST already has; write nothing"},
			&cli.IntFlag{Name: "jobs", Aliases: []string{"j"}, Value: transfer.DefaultJobs, Usage: "`N` transfers at once"},
			&cli.DurationFlag{Name: "timeout", Usage: "give up after `DURATION` for the whole copy (exit 3); default: none, but a transfer that stalls for 2m fails"},
			outputFormatFlag(),
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 2, "SRC and DST"); err != nil {
				return err
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			only, err := transfer.ParseKinds(c.StringSlice("only"))
			if err != nil {
				return err
			}
			ctx := c.Context
			if d := c.Duration("timeout"); d < 0 {
				return errkind.Inputf("--timeout must be a positive duration such as 30m, not %s", d)
			} else if d > 0 {
				var cancel context.CancelFunc
				ctx, cancel = registry.WithTimeout(ctx, d)
				defer cancel()
			}
			update, end := transfer.ProgressBar(c.App.ErrWriter)
			res, err := transfer.Copy(ctx, registryClient(c), transfer.Request{
				Source: c.Args().Get(0), Destination: c.Args().Get(1),
				AllTags: c.Bool("all-tags"), Platform: c.String("platform"), Only: only,
				DryRun: c.Bool("dry-run"), Jobs: c.Int("jobs"), Progress: update,
			})
			end()
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(c, res)
			}
			res.WriteText(c.App.Writer)
			return nil
		},
	}
}
