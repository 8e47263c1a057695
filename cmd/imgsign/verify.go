package main

import (
	"context"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/keys"
	"github.com/imgsign/imgsign/verify"
)

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "verify images against a trust policy; the exit code gates the deploy",
		ArgsUsage: "IMAGE...",
		Description: `Each IMAGE is resolved to its digest once; deploy by the printed reference
(repo@sha256:…) so what runs is what was verified. The most specific policy
scope matching the repository decides; an image no scope matches is rejected.

Without a policy file: 'imgsign verify --key release.pub IMAGE...' is the policy
that trusts that one key for exactly each image's repository and requires one
signature by it. 'imgsign verify --policy - IMAGE' reads the policy from stdin;
relative publicKey and certChain paths in it resolve against the working
directory.

--output json prints a document with a published JSON Schema
(schema/verify-result.v1.json) and a stable machine code for every failure;
docs/verify-output.md explains each field and code.

--offline (or IMGSIGN_OFFLINE=1) connects to nothing but the registries of the
images given: a policy with KMS keys or x509 signers enforcing revocation
(OCSP, CRL), a proxy in the way or a registry that sends clients to another
host (token service, blob storage) is bad input (exit 2), refused before any
connection; docs/offline.md lists what verify reads and from where.

Exit codes: 0 all images trusted (or only audit-mode failures), 1 an image is not
trusted, 2 bad input (policy, image name, a network need under --offline), 3
registry trouble: unreachable, no answer within --timeout, or more referrers
than imgsign reads (see docs/storage.md, Limits).`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "policy", Aliases: []string{"p"}, Usage: "trust policy `FILE` (YAML); - reads it from stdin, and relative key paths in it then resolve against the working directory"},
			&cli.StringFlag{Name: "key", Usage: "one-off check without a policy file: trust this public `KEY` (file, inline PEM or KMS URI) for exactly each image's repository; instead of --policy"},
			&cli.TimestampFlag{Name: "at", Layout: time.RFC3339, Usage: "judge untimestamped signatures and maxAge as of `TIME` (RFC 3339) instead of now: audits, and rehearsing a key's expiry"},
			&cli.StringSliceFlag{Name: "bundle", Usage: "also check the Sigstore bundles in `FILE` (one JSON bundle, or JSON lines as `gh attestation download` writes them), as if attached to each image; repeatable"},
			outputFormatFlag(),
			&cli.BoolFlag{Name: "show-predicates", Usage: "with --output json, include each accepted attestation's verified predicate, so a deploy step reads the provenance it just verified"},
			offlineFlag("but to the registries of the images given"),
			timeoutFlag(),
		},
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
			p, err := verifyPolicy(c)
			if err != nil {
				return err
			}
			warnSigstoreCaches(c, p)
			client := registryClient(c)
			if c.Bool("offline") {
				if err := verify.Offline(p); err != nil {
					return err
				}
				client = offlineClient(c)
			}
			// KMS-backed policy keys are fetched once, before any image.
			if p.KMSKeys() {
				if err := p.ResolveKMS(ctx, keys.LoadKMSPublicKeys); err != nil {
					return err
				}
			}
			var opts []verify.Option
			if c.Bool("offline") {
				opts = append(opts, verify.WithOffline())
			}
			if at := c.Timestamp("at"); at != nil {
				t := *at
				opts = append(opts, verify.WithClock(func() time.Time { return t }))
			}
			if c.Bool("show-predicates") {
				if format != "json" {
					return errkind.Inputf("--show-predicates needs --output json: text output does not print predicates")
				}
				opts = append(opts, verify.WithPredicates())
			}
			for _, f := range c.StringSlice("bundle") {
				data, err := readInput(c, f)
				if err != nil {
					return err
				}
				bs, err := verify.SplitBundles(f, data)
				if err != nil {
					return err
				}
				opts = append(opts, verify.WithBundles(bs))
			}
			v := verify.New(client, p, opts...)
			rep, code := v.VerifyAll(ctx, c.Args().Slice())
			if format == "json" {
				if err := writeJSON(c, rep); err != nil {
					return err
				}
			} else {
				rep.WriteText(c.App.Writer)
			}
			if code != 0 {
				return exitError{code: code}
			}
			return nil
		},
	}
}

// timeoutFlag is --timeout, the deadline of a whole run that talks to
// registries: a registry that accepts connections and never answers must not
// hold a deploy gate forever.
func timeoutFlag() *cli.DurationFlag {
	return &cli.DurationFlag{Name: "timeout", Value: registry.DefaultTimeout, Usage: "give up after `DURATION` for the whole run (exit 3), e.g. 30s or 5m"}
}

// runDeadline is the command's context with its --timeout deadline.
func runDeadline(c *cli.Context) (context.Context, context.CancelFunc, error) {
	d := c.Duration("timeout")
	if d <= 0 {
		return nil, nil, errkind.Inputf("--timeout must be a positive duration such as 30s or 5m, not %s", d)
	}
	ctx, cancel := registry.WithTimeout(c.Context, d)
	return ctx, cancel, nil
}
