package main

import (
	"context"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/imgsign/imgsign/dct"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/safetext"
	"github.com/imgsign/imgsign/keys"
	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/statement"
)

func dctCommand() *cli.Command {
	return &cli.Command{
		Name:  "dct",
		Usage: "migrate from Docker Content Trust (Notary v1)",
		Subcommands: []*cli.Command{{
			Name:      "import",
			Usage:     "re-sign, with tag binding, every tag → digest Docker Content Trust trusted",
			ArgsUsage: "GUN",
			Description: `GUN is the repository as docker named it for DCT, registry host included
(docker.io/myorg/app). Its Notary v1 TUF metadata is read from --server and/or
the Docker trust dir and verified with Notary's client library, as docker did:
signatures, thresholds, hashes, versions, expiry, the root pinned by the trust
dir's cached root.json or by --root-key-id/--root-cert/--root-ca.

For every tag docker pull trusted (the entry in targets/releases, else in
top-level targets; tags only other delegations such as targets/ci sign are
listed as untrusted and never imported), the registry is checked for the signed digest and where the tag points
now; then the digest is signed with --key (or --keyless: the migrating
workflow's identity), bound to the tag (as 'imgsign sign
repo:tag' does), and an attestation of the DCT evidence is attached
(predicate type ` + statement.DCTEvidence + `).

--dry-run prints the plan and pushes nothing. Tags --key already imported are
found and not signed again, so re-running is safe. Exit 1 when a tag DCT
trusted cannot be carried over (its digest is gone, say) unless --allow-partial,
and when a --tag names a tag DCT did not trust.`,
			Flags: append(signerFlags(),
				&cli.StringFlag{Name: "server", EnvVars: []string{"DOCKER_CONTENT_TRUST_SERVER"}, Usage: "Notary server `URL` (default: https://notary.docker.io for docker.io, else https://<registry host>)"},
				&cli.BoolFlag{Name: "offline", Usage: "read the trust dir only, never a Notary server (e.g. after it shut down)"},
				&cli.StringFlag{Name: "server-ca", Usage: "PEM `FILE` of CAs to trust for the Notary server's TLS, besides the system's"},
				&cli.StringFlag{Name: "trust-dir", Usage: "Docker trust `DIR` to read cached metadata and the pinned root from (default $DOCKER_CONFIG/trust or ~/.docker/trust; never written)"},
				&cli.StringFlag{Name: "repository", Usage: "image `REPO` the tags live in now, if not the GUN (e.g. after moving registries)"},
				&cli.StringSliceFlag{Name: "root-key-id", Usage: "pin the root: its key `ID` (as root.json or `docker trust inspect` lists it, or as `notary key list` does); repeatable"},
				&cli.StringSliceFlag{Name: "root-cert", Usage: "pin the root: its PEM certificate `FILE`; repeatable"},
				&cli.StringFlag{Name: "root-ca", Usage: "pin the root: a PEM CA bundle `FILE` the root certificate must chain to"},
				&cli.BoolFlag{Name: "insecure-trust-on-first-use", Usage: "with no pinned root, trust whatever root the server serves (recorded in each evidence attestation)"},
				&cli.BoolFlag{Name: "allow-expired", Usage: "import from expired TUF metadata (DCT's timestamps expire after 14 days); the expiry is recorded in each evidence attestation"},
				&cli.StringSliceFlag{Name: "tag", Usage: "import only this `TAG`; repeatable"},
				&cli.BoolFlag{Name: "dry-run", Usage: "print the plan (tags, digests, roles, mismatches) and push nothing"},
				&cli.BoolFlag{Name: "allow-partial", Usage: "exit 0 even when some trusted tags cannot be carried over"},
				tsaURLFlag(),
				outputFormatFlag(),
			),
			Action: dctImport,
		}},
	}
}

func dctImport(c *cli.Context) error {
	if err := needArgs(c, 1, "GUN"); err != nil {
		return err
	}
	if c.NArg() > 1 {
		return errkind.Inputf("dct import takes one GUN, got %d arguments", c.NArg())
	}
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	dry := c.Bool("dry-run")
	req := dct.Request{
		GUN: c.Args().First(), Repository: c.String("repository"),
		Server: c.String("server"), Offline: c.Bool("offline"), ServerCA: c.String("server-ca"), TrustDir: c.String("trust-dir"),
		Pin:          dct.Pin{KeyIDs: c.StringSlice("root-key-id"), CertFiles: c.StringSlice("root-cert"), CAFile: c.String("root-ca"), TrustOnFirstUse: c.Bool("insecure-trust-on-first-use")},
		AllowExpired: c.Bool("allow-expired"),
		Tags:         c.StringSlice("tag"), DryRun: dry, AllowPartial: c.Bool("allow-partial"),
		Client: repositoryClient(c), TSAURL: c.String("tsa-url"),
		Warn: func(msg string) { safetext.Fprintf(c.App.ErrWriter, "imgsign: WARNING: %s\n", msg) },
	}
	switch {
	case keyless(c):
		// A keyless signer has no key by which a later run could recognise
		// this import: every run signs the tags again.
		req.KeyName = "keyless"
		req.Signer = func(context.Context) (sign.Signer, error) { return loadAnySigner(c) }
	case c.String("key") != "":
		req.KeyName = keys.DescribeRef(c.String("key"))
		req.Signer = func(context.Context) (sign.Signer, error) { return loadAnySigner(c) }
	}
	plan, err := dct.Run(c.Context, req)
	if plan == nil {
		return err
	}
	// The plan is shown even when the import failed or is partial: it says
	// what was done and what was not.
	if format == "json" {
		if err := writeJSON(c, plan); err != nil {
			return err
		}
	} else {
		printPlan(c.App.Writer, plan, dry)
	}
	return err
}

func printPlan(w io.Writer, p *dct.Plan, dry bool) {
	verb := "importing"
	if dry {
		verb = "plan (dry run, nothing pushed)"
	}
	safetext.Fprintf(w, "dct import %s → %s: %s\n", p.GUN, p.Repository, verb)
	safetext.Fprintf(w, "  root pinned by %s: %s\n", p.Pinning, strings.Join(p.RootKeyIDs, ", "))
	for _, x := range p.Expired {
		safetext.Fprintf(w, "  expired: %s metadata expired at %s (accepted by --allow-expired; recorded in each evidence attestation)\n", x.Role, x.Expires.Format("2006-01-02T15:04:05Z"))
	}
	imported, already, skipped := 0, 0, 0
	for _, e := range p.Entries {
		status := "will import"
		switch {
		case e.AlreadyImported:
			status = "already imported with this key"
			already++
		case !e.Import:
			status = "skipped: " + e.Reason
			skipped++
		case !dry && e.Signature != "":
			status = "imported (signature " + e.Signature + ", evidence " + e.Evidence + ")"
			imported++
		case !dry:
			status = "not imported (the import stopped at an error, below)"
		default:
			imported++
		}
		safetext.Fprintf(w, "  %s\t%s\t%s\t%s\n", printable(e.Tag), orNone(e.Digest), e.Role, status)
		for _, warn := range e.Warnings {
			safetext.Fprintf(w, "    warning: %s\n", warn)
		}
	}
	for _, u := range p.Untrusted {
		safetext.Fprintf(w, "  %s\t%s\t%s\tnot trusted by DCT, not imported: %s\n", printable(u.Tag), orNone(u.Digest), printable(u.Role), u.Reason)
	}
	if dry {
		safetext.Fprintf(w, "%d to import, %d already imported, %d cannot be carried over, %d untrusted\n", imported, already, skipped, len(p.Untrusted))
	} else {
		safetext.Fprintf(w, "%d imported, %d already imported, %d skipped, %d untrusted\n", imported, already, skipped, len(p.Untrusted))
	}
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printable quotes names read from TUF metadata when they hold anything
// but printable characters (tabs, newlines, terminal escapes): an
// unverified delegation can claim any target name.
func printable(s string) string { return safetext.Quote(s) }
