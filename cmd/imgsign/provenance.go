package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/urfave/cli/v2"

	"github.com/imgsign/imgsign/attest"
	"github.com/imgsign/imgsign/attest/provenance"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/internal/safetext"
	"github.com/imgsign/imgsign/sign"
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
			t, err := sign.Resolve(c.Context, registryClient(c), c.Args().First(), false)
			if err != nil {
				return err
			}
			subjects, err := provenanceSubjects(c, t)
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
			return runAttest(c, attest.SLSAProvenanceV1, func(t *sign.Target) ([]attest.Subject, error) {
				return provenanceSubjects(c, t)
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

// provenanceSubjects builds one predicate per subject: the image, and for an
// index each platform manifest, which gets BuildKit's provenance for that
// platform when --from-image finds it.
func provenanceSubjects(c *cli.Context, t *sign.Target) ([]attest.Subject, error) {
	mode, err := provenance.ParseMode(c.String("mode"))
	if err != nil {
		return nil, err
	}
	base := provenance.Inputs{Mode: mode, Env: os.Getenv, BuilderID: c.String("builder-id"), Version: version,
		Platform: c.String("platform"), Now: func() time.Time { return time.Now().UTC() }}
	if ts, ok := provenance.GitHubTokenSourceFromEnv(os.Getenv); ok {
		base.Tokens = ts
	}
	if r, cm, ref := c.String("source-repo"), c.String("source-commit"), c.String("source-ref"); r != "" || cm != "" || ref != "" {
		base.Source = &provenance.Source{Repository: r, Commit: cm, Ref: ref}
	}
	if f := c.String("buildkit-metadata"); f != "" {
		if c.Bool("from-image") {
			return nil, errkind.Inputf("use --buildkit-metadata or --from-image, not both")
		}
		b, err := readInput(c, f)
		if err != nil {
			return nil, err
		}
		base.BuildKitMetadata = b
	}
	children, err := t.Repo.RunnableChildren(c.Context, t.Descriptor)
	if err != nil {
		return nil, err
	}
	platforms := registry.Descriptors(children)
	var atts []provenance.Attestation
	if c.Bool("from-image") {
		if len(platforms) == 0 {
			return nil, errkind.Inputf("--from-image reads BuildKit's attestations from an image index, but %s is a single image", t.Descriptor.Digest)
		}
		idx, err := remote.Index(t.Repo.Name.Digest(t.Descriptor.Digest.String()), registryClient(c).RemoteOptions(c.Context)...)
		if err != nil {
			return nil, errkind.Operationalf("reading image index %s: %w", t.Descriptor.Digest, err)
		}
		if atts, err = provenance.FromIndex(c.Context, idx); err != nil {
			return nil, err
		}
	}
	gen := func(d string, in provenance.Inputs) (any, error) {
		p, err := provenance.Generate(c.Context, in)
		if err != nil {
			return nil, fmt.Errorf("provenance for %s: %w", d, err)
		}
		return p, nil
	}
	in := base
	if base.BuildKitMetadata != nil {
		in.ImageDigest = t.Descriptor.Digest.String()
	}
	if len(platforms) > 0 && c.Bool("from-image") {
		// The index itself gets BuildKit's provenance of its first platform:
		// one build produced them all.
		in.InIndex = provenance.ProvenanceFor(atts, platforms[0].Digest)
	}
	p, err := gen(t.Descriptor.Digest.String(), in)
	if err != nil {
		return nil, err
	}
	subjects := []attest.Subject{{Descriptor: t.Descriptor, Predicate: p}}
	for _, pd := range platforms {
		in := base
		in.BuildKitMetadata = nil
		if a := provenance.ProvenanceFor(atts, pd.Digest); a != nil {
			in.InIndex = a
		}
		p, err := gen(pd.Digest.String(), in)
		if err != nil {
			return nil, err
		}
		subjects = append(subjects, attest.Subject{Descriptor: pd, Predicate: p})
	}
	return subjects, nil
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
			client := registryClient(c)
			t, err := sign.Resolve(c.Context, client, c.Args().First(), true)
			if err != nil {
				return err
			}
			idx, err := remote.Index(t.Repo.Name.Digest(t.Descriptor.Digest.String()), client.RemoteOptions(c.Context)...)
			if err != nil {
				return errkind.Inputf("%s is not an image index with BuildKit attestations: %w", t.Descriptor.Digest, err)
			}
			atts, err := provenance.FromIndex(c.Context, idx)
			if err != nil {
				return err
			}
			if len(atts) == 0 {
				return errkind.Inputf("%s carries no BuildKit attestations (build with --provenance=mode=max --sbom=true)", t.Descriptor.Digest)
			}
			res := &sign.Result{Image: t.Repo.Name.Digest(t.Descriptor.Digest.String()).String(), Digest: t.Descriptor.Digest.String()}
			opts := sign.Options{TSAURL: c.String("tsa-url")}
			children, err := t.Repo.RunnableChildren(c.Context, t.Descriptor)
			if err != nil {
				return err
			}
			platforms := registry.Descriptors(children)
			// Every statement is checked before any is signed: the build
			// wrote them, and a half-signed set is worse than none.
			subjects := make([]v1.Descriptor, len(atts))
			var refused []string
			for i, a := range atts {
				err := a.Signable()
				if err == nil {
					subjects[i], err = platformDescriptor(platforms, t, a.Subject.String())
				}
				if err != nil {
					refused = append(refused, fmt.Sprintf("statement %q in attestation manifest %s (layer %s): %v", a.PredicateType, a.Manifest, a.Layer, err))
				}
			}
			if len(refused) > 0 {
				return errkind.Inputf("refusing to sign BuildKit's attestations of %s, nothing was signed: %s (check what the build wrote; imgsign attest provenance --from-image and attest sbom attest the image without signing the build's statements)", t.Descriptor.Digest, strings.Join(refused, "; "))
			}
			// The key (and its passphrase prompt) comes last, once there is
			// something to sign.
			s, err := loadSigner(c)
			if err != nil {
				return err
			}
			for i, a := range atts {
				at, err := sign.Attach(c.Context, t.Repo, subjects[i], a.PredicateType, a.Statement, s, opts)
				if err != nil {
					return err
				}
				res.Attached = append(res.Attached, at)
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

// platformDescriptor finds the descriptor of a platform manifest of t.
func platformDescriptor(ps []v1.Descriptor, t *sign.Target, digest string) (v1.Descriptor, error) {
	for _, p := range ps {
		if p.Digest.String() == digest {
			return p, nil
		}
	}
	return v1.Descriptor{}, errkind.Untrustedf("BuildKit attestation names %s, which is not a platform of %s", digest, t.Descriptor.Digest)
}
