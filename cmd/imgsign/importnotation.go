package main

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/urfave/cli/v2"

	"github.com/imgsign/imgsign/internal/boundedfile"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/safetext"
	"github.com/imgsign/imgsign/verify/policy/importnotation"
)

func policyImportNotationCommand() *cli.Command {
	return &cli.Command{
		Name:      "import-notation",
		Usage:     "turn a notation trust policy and trust store into an imgsign policy",
		ArgsUsage: "TRUSTPOLICY.json",
		Description: `Reads notation's trust policy (trustpolicy.json, version "1.0") and the trust
stores its statements name under --trust-store DIR (x509/{ca,signingAuthority,tsa}/NAME/),
and writes the equivalent imgsign policy: each trust store a trustStores entry,
each statement an x509Signers entry and a policies entry of its name (registry
scope "*" becomes "**"). Certificates are inlined as PEM on stdout; with
--out trust.yaml they are copied to trust.certs/TYPE/NAME/ next to it and
named by path. What imgsign cannot express (the skip level, an override that
only logs authenticity, plugin settings, fields notation ignores) is left out,
one line each on stderr; the exit code is still 0.
See docs/notation.md.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "trust-store", Required: true, Usage: "notation's trust store `DIR`, the one holding x509/ (e.g. ~/.config/notation/truststore)"},
			&cli.StringFlag{Name: "out", Usage: "write the policy to `FILE` (atomically), its certificates to a .certs directory next to it (trust.yaml: trust.certs/), instead of stdout"},
			&cli.BoolFlag{Name: "force", Usage: "with --out: replace an existing policy file and certificates directory"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "TRUSTPOLICY.json"); err != nil {
				return err
			}
			file := c.Args().First()
			data, err := boundedfile.Read(file, importnotation.MaxTrustPolicyBytes)
			if err != nil {
				var pe *fs.PathError
				if errors.As(err, &pe) {
					err = pe.Err
				}
				return errkind.Inputf("reading the notation trust policy %s: %w", safetext.Clean(file), err)
			}
			out := c.String("out")
			res, err := importnotation.Import(data, importnotation.Options{
				TrustPolicy: file,
				TrustStore:  c.String("trust-store"),
				Out:         out,
			})
			if err != nil {
				return err
			}
			for _, n := range res.Notes {
				fmt.Fprintf(c.App.ErrWriter, "import-notation: %s\n", safetext.Clean(n))
			}
			if out == "" {
				_, err := c.App.Writer.Write(res.Policy)
				return err
			}
			if err := res.WriteFiles(out, c.Bool("force")); err != nil {
				return err
			}
			safetext.Fprintf(c.App.ErrWriter, "import-notation: wrote %s (%d certificate files in %s)\n", out, len(res.Certs), res.CertsDir)
			return nil
		},
	}
}
