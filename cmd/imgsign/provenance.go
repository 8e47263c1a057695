package main

import (
	"context"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/imgsign/imgsign/attest"
	"github.com/imgsign/imgsign/attest/provenance"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/safetext"
	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/storage"
)

func provenanceFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "mode", Value: "max", Usage: "`MODE`: max (build args, steps, sources) or min, as BuildKit defines them"},
		&cli.StringFlag{Name: "buildkit-metadata", Usage: "the `FILE` docker buildx build --metadata-file wrote (its buildx.build.provenance is merged in)"},
		&cli.BoolFlag{Name: "from-image", Usage: "merge the provenance BuildKit stored inside the image index"},
		&cli.StringFlag{Name: "builder-id", Usage: "builder `ID` (URI); required outside GitHub Actions and GitLab CI"},
		&cli.StringFlag{Name: "platform", Usage: "the `OS/ARCH` whose provenance to take from a multi-platform metadata file"},
		&cli.StringFlag{Name: "source-repo", Usage: "source repository `URL` of a build outside CI (with --source-commit)"},
		&cli.StringFlag{Name: "source-commit", Usage: "source git commit `SHA` of a build outside CI"},
		&cli.StringFlag{Name: "source-ref", Usage: "source git `REF` (refs/heads/main) of a build outside CI"},
	}
}

func provenanceCommand() *cli.Command {
	return &cli.Command{
		Name:      "provenance",
		Usage:     "print the SLSA provenance v1 predicate imgsign would attest for an image (nothing is signed)",
		ArgsUsage: "IMAGE",
		Description: `Facts come from the CI environment (GitHub Actions, GitLab CI, or --builder-id
elsewhere) and BuildKit (--buildkit-metadata or --from-image). See
attest/provenance/README.md for what --mode max and min include.`,
		Flags: provenanceFlags(),
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "IMAGE"); err != nil {
				return err
			}
			if err := provenanceInputsOutsideCI(c); err != nil {
				return err
			}
			t, err := registryClient(c).Resolve(c.Context, c.Args().First(), false)
			if err != nil {
				return err
			}
			req, err := provenanceRequest(c)
			if err != nil {
				return err
			}
			subjects, err := provenance.Subjects(c.Context, t, req)
			if err != nil {
				return err
			}
			return writeJSON(c, subjects[0].Predicate)
		},
	}
}

func attestProvenanceCommand() *cli.Command {
	return &cli.Command{
		Name:      "provenance",
		Usage:     "attest SLSA provenance v1 (mode=max by default) for an image and each of its platforms",
		ArgsUsage: "IMAGE",
		Flags:     attestFlags(provenanceFlags()...),
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "IMAGE"); err != nil {
				return err
			}
			if err := provenanceInputsOutsideCI(c); err != nil {
				return err
			}
			return runAttest(c, statement.SLSAProvenanceV1, func(t *storage.Target) ([]attest.Subject, error) {
				// The flags are read once the image is resolved, as
				// they always were: a registry error comes first.
				req, err := provenanceRequest(c)
				if err != nil {
					return nil, err
				}
				return provenance.Subjects(c.Context, t, req)
			})
		},
	}
}

// provenanceInputsOutsideCI checks, before any registry is asked, that a
// run outside GitHub Actions and GitLab CI was given what the CI would have
// said, and otherwise lists in one message every flag that says it: one
// retry, not one per missing flag.
func provenanceInputsOutsideCI(c *cli.Context) error {
	if os.Getenv("GITHUB_ACTIONS") == "true" || os.Getenv("GITLAB_CI") == "true" {
		return nil // the generator checks the CI's own variables
	}
	var missing []string
	if c.String("builder-id") == "" {
		missing = append(missing, "--builder-id")
	}
	if c.String("source-repo") == "" && c.String("buildkit-metadata") == "" && !c.Bool("from-image") {
		missing = append(missing, "--source-repo (or --buildkit-metadata/--from-image)")
	}
	if len(missing) == 0 {
		return nil
	}
	return errkind.Inputf("%s outside GitHub Actions and GitLab CI needs what the CI would say: "+
		"--builder-id URI (the system that built the image, e.g. https://jenkins.example.com/job/app), "+
		"and the source: --source-repo URL --source-commit SHA --source-ref REF, "+
		"and/or BuildKit's provenance: --buildkit-metadata FILE (docker buildx build --metadata-file) or --from-image; "+
		"missing %s (see imgsign %s --help)", commandName(c), strings.Join(missing, ", "), commandName(c))
}

// provenanceRequest reads the provenance flags: the facts every subject
// shares, and whether BuildKit's provenance comes from the image.
func provenanceRequest(c *cli.Context) (provenance.ImageRequest, error) {
	mode, err := provenance.ParseMode(c.String("mode"))
	if err != nil {
		return provenance.ImageRequest{}, err
	}
	in := provenance.Inputs{Mode: mode, Env: os.Getenv, BuilderID: c.String("builder-id"), Version: version,
		Platform: c.String("platform"), Now: func() time.Time { return time.Now().UTC() }}
	if ts, ok := provenance.GitHubTokenSourceFromEnv(os.Getenv); ok {
		in.Tokens = ts
	}
	if r, cm, ref := c.String("source-repo"), c.String("source-commit"), c.String("source-ref"); r != "" || cm != "" || ref != "" {
		in.Source = &provenance.Source{Repository: r, Commit: cm, Ref: ref}
	}
	if f := c.String("buildkit-metadata"); f != "" {
		if c.Bool("from-image") {
			return provenance.ImageRequest{}, errkind.Inputf("use --buildkit-metadata or --from-image, not both")
		}
		b, err := readInput(c, f)
		if err != nil {
			return provenance.ImageRequest{}, err
		}
		in.BuildKitMetadata = b
	}
	return provenance.ImageRequest{Inputs: in, FromImage: c.Bool("from-image")}, nil
}

func attestBuildKitCommand() *cli.Command {
	return &cli.Command{
		Name:      "buildkit",
		Usage:     "sign the provenance and SBOM attestations BuildKit stored inside an image index, unchanged, and push them as referrers",
		ArgsUsage: "IMAGE",
		Description: `BuildKit (docker buildx build --provenance/--sbom) stores unsigned in-toto
statements in the image index. This signs each one as it is, by the key, and
attaches it to the platform manifest it describes, so policies can require it.
Whoever runs the build writes these statements, so each must be as BuildKit
writes it: about exactly its platform manifest (one subject, its sha256
digest), of a type BuildKit emits (SLSA provenance v0.2/v1, SPDX, CycloneDX),
and provenance of BuildKit's build type without the CI's source fields. If any
statement is not, nothing is signed (exit 2).`,
		Flags: attestFlags(),
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "IMAGE"); err != nil {
				return err
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			t, err := registryClient(c).Resolve(c.Context, c.Args().First(), true)
			if err != nil {
				return err
			}
			res, err := provenance.SignBuildKit(c.Context, t, provenance.BuildKitRequest{
				Signer:  func(context.Context) (sign.Signer, error) { return loadAnySigner(c) },
				Options: sign.Options{TSAURL: c.String("tsa-url")},
			})
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(c, res)
			}
			safetext.Fprintf(c.App.Writer, "signed BuildKit's attestations of %s\n", res.Image)
			for _, a := range res.Attached {
				safetext.Fprintf(c.App.Writer, "  subject %s  %s  attestation %s  key %s\n", a.Subject, a.PredicateType, a.Referrer, a.KeyID)
			}
			return nil
		},
	}
}
