package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/imgsign/imgsign/attest"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/safetext"
	"github.com/imgsign/imgsign/keys"
	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/statement/vuln"
	"github.com/imgsign/imgsign/storage"
)

func attestCommand() *cli.Command {
	return &cli.Command{
		Name:  "attest",
		Usage: "sign statements about images (provenance, SBOMs, vulnerability reports, any predicate) and push them as referrers",
		Subcommands: []*cli.Command{
			attestProvenanceCommand(),
			attestSBOMCommand(),
			attestPredicateCommand(),
			attestBuildKitCommand(),
			attestBlobCommand(),
		},
	}
}

// attestFlags are shared by every attest subcommand.
func attestFlags(extra ...cli.Flag) []cli.Flag {
	return append(append(signerFlags(),
		&cli.StringSliceFlag{Name: "annotation", Aliases: []string{"a"}, Usage: "`KEY=VALUE` annotation on the statement's subject; repeatable"},
		tsaURLFlag(),
		outputFormatFlag(),
	), extra...)
}

func attestPredicateCommand() *cli.Command {
	return &cli.Command{
		Name:      "predicate",
		Usage:     "attest any predicate: a JSON file under a predicate type URI (or cosign's shorthands)",
		ArgsUsage: "IMAGE",
		Description: `--type takes an absolute URI or one of cosign's shorthands: slsaprovenance1, spdx,
spdxjson, cyclonedx, vuln, custom, openvex. With --type vuln the file is a Trivy
(trivy image -f json) or Grype (grype -o json) report, converted to cosign's
vulnerability predicate (https://cosign.sigstore.dev/attestation/vuln/v1).
--predicate - reads standard input.`,
		Flags: attestFlags(
			&cli.StringFlag{Name: "type", Required: true, Usage: "predicate `TYPE`: a URI or a shorthand"},
			&cli.StringFlag{Name: "predicate", Required: true, Usage: "predicate JSON `FILE` (- for stdin)"},
			&cli.BoolFlag{Name: "recursive", Aliases: []string{"r"}, Usage: "for an index, also attest each platform manifest with the same predicate"},
		),
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "IMAGE"); err != nil {
				return err
			}
			pt, err := statement.ResolveType(c.String("type"))
			if err != nil {
				return err
			}
			data, err := readInput(c, c.String("predicate"))
			if err != nil {
				return err
			}
			var pred any
			if pt == statement.CosignVuln {
				pred, err = vuln.FromReport(data, time.Now().UTC())
			} else {
				pred, err = attest.ParsePredicate(data)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", c.String("predicate"), err)
			}
			return runAttest(c, pt, func(t *storage.Target) ([]attest.Subject, error) {
				subjects := []attest.Subject{{Descriptor: t.Descriptor, Predicate: pred}}
				if c.Bool("recursive") {
					children, err := t.Platforms(c.Context)
					if err != nil {
						return nil, err
					}
					for _, d := range storage.Descriptors(children) {
						subjects = append(subjects, attest.Subject{Descriptor: d, Predicate: pred})
					}
				}
				return subjects, nil
			})
		},
	}
}

// runAttest attests the image: attest.Run with the command's flags, the
// subjects from build, and the key loaded last; it prints what was attached.
func runAttest(c *cli.Context, predicateType string, build func(*storage.Target) ([]attest.Subject, error)) error {
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	ann, err := parseAnnotations(c.StringSlice("annotation"))
	if err != nil {
		return err
	}
	res, err := attest.Run(c.Context, attest.Request{
		Client: registryClient(c), Image: c.Args().First(), PredicateType: predicateType,
		Subjects: func(_ context.Context, t *storage.Target) ([]attest.Subject, error) { return build(t) },
		Signer:   func(context.Context) (sign.Signer, error) { return loadAnySigner(c) },
		Options:  sign.Options{Annotations: ann, TSAURL: c.String("tsa-url")},
	})
	if err != nil {
		return err
	}
	if format == "json" {
		return writeJSON(c, res)
	}
	safetext.Fprintf(c.App.Writer, "attested %s\n", res.Image)
	for _, a := range res.Attached {
		safetext.Fprintf(c.App.Writer, "  subject %s  %s  attestation %s  key %s\n", a.Subject, a.PredicateType, a.Referrer, a.KeyID)
	}
	return nil
}

// readInput reads a file argument, "-" meaning standard input, bounded so a
// wrong path (a device, a huge file) cannot exhaust memory.
func readInput(c *cli.Context, path string) ([]byte, error) {
	const limit = 64 << 20
	var r io.Reader
	if path == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, errkind.Inputf("reading %s: %w", path, err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, errkind.Inputf("reading %s: %w", path, err)
	}
	if len(b) > limit {
		return nil, errkind.Inputf("%s is over %d MiB", path, limit>>20)
	}
	return b, nil
}

// loadSigner loads the --key signer of a command.
func loadSigner(c *cli.Context) (*keys.Signer, error) {
	ref := c.String("key")
	return keys.BackendFor(ref).LoadSigner(c.Context, ref, keys.FromEnvOrPrompt(c.App.ErrWriter))
}
