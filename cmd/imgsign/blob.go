package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/imgsign/imgsign/attest"
	"github.com/imgsign/imgsign/attest/blob"
	"github.com/imgsign/imgsign/attest/provenance"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/safetext"
	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/statement/vuln"
)

// blobProvenanceFlags are the generic-build flags of `attest provenance`:
// files have no BuildKit metadata and no image index.
func blobProvenanceFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "builder-id", Usage: "provenance builder `ID` (URI); required outside GitHub Actions and GitLab CI"},
		&cli.StringFlag{Name: "source-repo", Usage: "provenance: source repository `URL` of a build outside CI (with --source-commit)"},
		&cli.StringFlag{Name: "source-commit", Usage: "provenance: source git commit `SHA` of a build outside CI"},
		&cli.StringFlag{Name: "source-ref", Usage: "provenance: source git `REF` (refs/tags/v1.2.0) of a build outside CI"},
	}
}

func attestBlobCommand() *cli.Command {
	return &cli.Command{
		Name:      "blob",
		Usage:     "attest files (release binaries, checksum lists): a Sigstore bundle file whose statement names each file by name and sha256",
		ArgsUsage: "FILE...",
		Description: `Signs one in-toto statement whose subjects are the FILEs (base name and sha256)
into a Sigstore bundle v0.3 written to --bundle, in the form
'cosign verify-blob-attestation --bundle B --key K.pub --type TYPE FILE' checks.
Nothing is pushed to a registry.

--type takes a URI or one of cosign's shorthands, as 'attest predicate' does.
With --predicate FILE the predicate is that JSON file. Without it, --type
slsaprovenance1 builds SLSA provenance v1 from the CI environment (GitHub
Actions, GitLab CI) or, elsewhere, from --builder-id and --source-repo,
--source-commit, --source-ref; other types need --predicate.`,
		Flags: append(append(signerFlags(),
			&cli.StringFlag{Name: "type", Required: true, Usage: "predicate `TYPE`: a URI or a shorthand (slsaprovenance1, spdxjson, cyclonedx, vuln, custom, openvex)"},
			&cli.StringFlag{Name: "predicate", Usage: "predicate JSON `FILE` (- for stdin); optional for --type slsaprovenance1"},
			&cli.StringFlag{Name: "bundle", Required: true, Usage: "write the Sigstore bundle to `FILE`"},
			tsaURLFlag(),
			outputFormatFlag(),
		), blobProvenanceFlags()...),
		Action: runAttestBlob,
	}
}

func runAttestBlob(c *cli.Context) error {
	if err := needArgs(c, 1, "FILE"); err != nil {
		return err
	}
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	pt, err := statement.ResolveType(c.String("type"))
	if err != nil {
		return err
	}
	res, err := blob.Attest(c.Context, blob.Request{
		Files:         c.Args().Slice(),
		PredicateType: pt,
		Predicate:     func(context.Context) (any, error) { return blobPredicate(c, pt) },
		Bundle:        c.String("bundle"),
		Signer:        func(context.Context) (sign.Signer, error) { return loadAnySigner(c) },
		TSAURL:        c.String("tsa-url"),
	})
	if err != nil {
		return err
	}
	if format == "json" {
		return writeJSON(c, res)
	}
	safetext.Fprintf(c.App.Writer, "attested %d file(s): %s  key %s  bundle %s\n", len(res.Subjects), pt, res.KeyID, res.Bundle)
	for _, s := range res.Subjects {
		safetext.Fprintf(c.App.Writer, "  %s  sha256:%s\n", s.Name, s.SHA256)
	}
	return nil
}

// blobPredicate reads --predicate, or builds SLSA provenance for the files
// when --type is SLSA provenance v1 and no predicate is given.
func blobPredicate(c *cli.Context, pt string) (any, error) {
	provFlags := false
	for _, f := range []string{"builder-id", "source-repo", "source-commit", "source-ref"} {
		if c.IsSet(f) {
			provFlags = true
		}
	}
	if p := c.String("predicate"); p != "" {
		if provFlags {
			return nil, errkind.Inputf("--builder-id and --source-* describe the provenance imgsign builds: not used with --predicate")
		}
		data, err := readInput(c, p)
		if err != nil {
			return nil, err
		}
		var pred any
		if pt == statement.CosignVuln {
			pred, err = vuln.FromReport(data, time.Now().UTC())
		} else {
			pred, err = attest.ParsePredicate(data)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		return pred, nil
	}
	if pt != statement.SLSAProvenanceV1 {
		return nil, errkind.Inputf("--predicate FILE is required for --type %s (imgsign builds only SLSA provenance v1 itself: --type slsaprovenance1)", pt)
	}
	in := provenance.Inputs{Mode: provenance.ModeMax, Env: os.Getenv, BuilderID: c.String("builder-id"), Version: version,
		Now: func() time.Time { return time.Now().UTC() }}
	if ts, ok := provenance.GitHubTokenSourceFromEnv(os.Getenv); ok {
		in.Tokens = ts
	}
	if r, cm, ref := c.String("source-repo"), c.String("source-commit"), c.String("source-ref"); r != "" || cm != "" || ref != "" {
		in.Source = &provenance.Source{Repository: r, Commit: cm, Ref: ref}
	}
	return provenance.Generate(c.Context, in)
}

// sbomFiles is `imgsign sbom --file F...`: an SPDX document describing
// local files and the Go modules of the executables among them.
func sbomFiles(c *cli.Context, files []string) error {
	if c.NArg() > 0 {
		return errkind.Inputf("sbom: give an IMAGE or --file, not both")
	}
	if f := c.String("format"); f != "spdx" && f != "spdxjson" {
		return errkind.Inputf("sbom --file writes SPDX only, not %q", f)
	}
	if c.IsSet("platform") {
		return errkind.Inputf("sbom: --platform selects a platform of an image index, not of --file")
	}
	created, err := sourceDateEpoch()
	if err != nil {
		return err
	}
	scanned, err := blob.Scan(files)
	if err != nil {
		return err
	}
	for _, s := range scanned {
		if len(s.Packages) == 0 {
			safetext.Fprintf(c.App.ErrWriter, "warning: %s has no Go build info: listed with its checksum only\n", s.Path)
		}
	}
	doc, err := blob.SPDX(scanned, created, version)
	if err != nil {
		return err
	}
	_, err = c.App.Writer.Write(safetext.JSON(doc))
	return err
}

// sourceDateEpoch is the document time: SOURCE_DATE_EPOCH (seconds since
// 1970, https://reproducible-builds.org/specs/source-date-epoch/) when set,
// so a reproducible release gets a reproducible SBOM, otherwise now.
func sourceDateEpoch() (time.Time, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return time.Now().UTC(), nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, errkind.Inputf("SOURCE_DATE_EPOCH must be seconds since 1970, not %q", v)
	}
	return time.Unix(n, 0).UTC(), nil
}
