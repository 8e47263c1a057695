package main

import (
	"os"
	"regexp"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/urfave/cli/v2"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/safetext"
	"github.com/imgsign/imgsign/internal/trustroot"
	"github.com/imgsign/imgsign/keys"
	"github.com/imgsign/imgsign/verify"
	"github.com/imgsign/imgsign/verify/policy"
)

// artifactDigest is FILE_OR_DIGEST written as a digest.
var artifactDigest = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$`)
})

func verifyBlobCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify-blob",
		Usage:     "verify a Sigstore bundle about a file (or a digest) against a key or a certificate identity",
		ArgsUsage: "FILE_OR_DIGEST",
		Description: `FILE_OR_DIGEST is the artifact's path, or its digest as sha256:<64 hex>
(sha512:<128 hex> too). The bundle may be v0.1, v0.2 or v0.3, a message
signature or a DSSE statement about the artifact. The --bundle file may
also hold JSON lines, one bundle per line, as gh attestation download
writes them: it verifies when at least one of them does, for the signer
and the artifact asked, and the output names that one (FILE:LINE).

With --key the bundle must be signed by that public key. With
--certificate-identity and --certificate-oidc-issuer (or their -regexp forms,
always matched whole) it must be signed with a certificate for that identity,
chained to the trust root's CA at a verified time: --trusted-root FILE, or
the Sigstore public-good root imgsign embeds, offline. A root with a
transparency log requires the bundle's log entry.

verify-blob reads the bundle, the artifact and the trust root from files (or
the root embedded in imgsign) and makes no network connection, except to
fetch a --key that is a KMS URI; --offline (or IMGSIGN_OFFLINE=1) makes that
an error instead.

Exit codes: 0 verified, 1 the bundle does not verify, 2 bad input.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "bundle", Required: true, Usage: "the Sigstore bundle `FILE`"},
			&cli.StringFlag{Name: "key", Usage: "trust this public `KEY` (PEM file or KMS URI)"},
			&cli.StringFlag{Name: "certificate-identity", Usage: "the certificate's subject (SAN): a workflow `URI` or an email"},
			&cli.StringFlag{Name: "certificate-identity-regexp", Usage: "the certificate's subject, as a regular expression `RE` matched whole"},
			&cli.StringFlag{Name: "certificate-oidc-issuer", Usage: "the OIDC issuer `URL` the certificate names"},
			&cli.StringFlag{Name: "certificate-oidc-issuer-regexp", Usage: "the OIDC issuer, as a regular expression `RE` matched whole"},
			&cli.StringFlag{Name: "trusted-root", Usage: "a trusted_root.json `FILE`, or JSON lines of them as gh attestation trusted-root prints (default: Sigstore public good, embedded)"},
			offlineFlag("at all"),
			outputFormatFlag(),
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "FILE_OR_DIGEST"); err != nil {
				return err
			}
			if c.NArg() > 1 {
				return errkind.Inputf("verify-blob takes one FILE_OR_DIGEST, got %d", c.NArg())
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			raw, err := readInput(c, c.String("bundle"))
			if err != nil {
				return err
			}
			req := verify.BlobRequest{Bundle: raw}
			if arg := c.Args().First(); artifactDigest().MatchString(arg) {
				if req.Digest, err = v1.NewHash(arg); err != nil {
					return errkind.Inputf("artifact digest %q: %w", arg, err)
				}
			} else {
				f, err := os.Open(arg)
				if err != nil {
					return errkind.Inputf("artifact: %w (give a file, or sha256:<64 hex>)", err)
				}
				defer f.Close()
				req.Artifact = f
			}
			if err := blobTrust(c, &req); err != nil {
				return err
			}
			res, err := verify.BlobFile(c.String("bundle"), req)
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(c, res)
			}
			safetext.Fprintf(c.App.Writer, "verified: %s signed by %s", res.Bundle, res.Signer)
			if res.Identity != nil {
				safetext.Fprintf(c.App.Writer, " (certificate for %s, issuer %s)", res.Identity.Subject, res.Identity.Issuer)
			}
			if res.SignedAt != "" {
				safetext.Fprintf(c.App.Writer, ", at %s (%s)", res.SignedAt, res.TimeSource)
			}
			safetext.Fprintf(c.App.Writer, "\n")
			return nil
		},
	}
}

// blobTrust fills what the bundle is checked against: --key, or a
// certificate identity under a trust root.
func blobTrust(c *cli.Context, req *verify.BlobRequest) error {
	identityGiven := c.String("certificate-identity") != "" || c.String("certificate-identity-regexp") != "" ||
		c.String("certificate-oidc-issuer") != "" || c.String("certificate-oidc-issuer-regexp") != ""
	if k := c.String("key"); k != "" {
		if identityGiven || c.IsSet("trusted-root") {
			return errkind.Inputf("--key is not used with --certificate-identity, --certificate-oidc-issuer or --trusted-root: give one or the other")
		}
		if c.Bool("offline") && keys.IsKMSRef(k) {
			return verify.OfflineKey(k)
		}
		pub, err := keys.BackendFor(k).LoadPublic(c.Context, k, keys.FromEnvOrPrompt(c.App.ErrWriter))
		if err != nil {
			return err
		}
		req.Key = pub
		return nil
	}
	if !identityGiven {
		return errkind.Inputf("give --key, or --certificate-identity and --certificate-oidc-issuer")
	}
	tr := &policy.TrustRoot{Name: trustroot.PublicGood, Sigstore: trustroot.PublicGood}
	var err error
	if f := c.String("trusted-root"); f != "" {
		tr = &policy.TrustRoot{Name: "trusted-root", File: f}
		// JSON lines of roots (gh attestation trusted-root) are each
		// verified against on its own (policy.TrustRoot.Parts).
		tr.Root, tr.Lines, err = trustroot.FileRoots(f)
	} else {
		tr.Root, err = trustroot.Named(trustroot.PublicGood)
		if info, derr := trustroot.Describe(trustroot.PublicGood); derr == nil {
			warnCacheProblem(c, info)
		}
	}
	if err != nil {
		return err
	}
	tr.RequireTransparencyLog = len(tr.Root.RekorLogs()) > 0
	id := &policy.Identity{Name: "certificate-identity", TrustRoots: []string{tr.Name},
		Issuer: c.String("certificate-oidc-issuer"), IssuerRegExp: c.String("certificate-oidc-issuer-regexp"),
		Subject: c.String("certificate-identity"), SubjectRegExp: c.String("certificate-identity-regexp")}
	for _, pair := range [][2]string{{"certificate-identity", "certificate-identity-regexp"}, {"certificate-oidc-issuer", "certificate-oidc-issuer-regexp"}} {
		exact, re := c.String(pair[0]), c.String(pair[1])
		if (exact == "") == (re == "") {
			return errkind.Inputf("give exactly one of --%s and --%s", pair[0], pair[1])
		}
		if re != "" {
			if _, err := regexp.Compile(re); err != nil {
				return errkind.Inputf("--%s: %w", pair[1], err)
			}
		}
	}
	req.Identity, req.Root = id, tr
	return nil
}
