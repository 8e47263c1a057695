package main

import (
	"time"

	"github.com/urfave/cli/v2"

	"github.com/imgsign/imgsign/keys"
	"github.com/imgsign/imgsign/verify"
	"github.com/imgsign/imgsign/verify/policy"
)

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "verify images against a trust policy; the exit code gates the deploy",
		ArgsUsage: "IMAGE...",
		Description: `Each IMAGE is resolved to its digest once; deploy by the printed reference
(repo@sha256:…) so what runs is what was verified. The most specific policy
scope matching the repository decides; an image no scope matches is rejected.

Exit codes: 0 all images trusted (or only audit-mode failures), 1 an image is not
trusted, 2 bad input (policy, image name), 3 registry trouble.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "policy", Aliases: []string{"p"}, Required: true, Usage: "trust policy `FILE` (YAML)"},
			&cli.TimestampFlag{Name: "at", Layout: time.RFC3339, Usage: "judge untimestamped signatures and maxAge as of `TIME` (RFC 3339) instead of now: audits, and rehearsing a key's expiry"},
			outputFlag,
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "IMAGE"); err != nil {
				return err
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			p, err := policy.Load(c.String("policy"))
			if err != nil {
				return err
			}
			// KMS-backed policy keys are fetched once, before any image.
			if p.KMSKeys() {
				if err := p.ResolveKMS(c.Context, keys.LoadKMSPublicKeys); err != nil {
					return err
				}
			}
			var opts []verify.Option
			if at := c.Timestamp("at"); at != nil {
				t := *at
				opts = append(opts, verify.WithClock(func() time.Time { return t }))
			}
			v := verify.New(registryClient(c), p, opts...)
			rep, code := v.VerifyAll(c.Context, c.Args().Slice())
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
