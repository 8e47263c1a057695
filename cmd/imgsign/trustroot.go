package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/imgsign/imgsign/internal/safetext"
	"github.com/imgsign/imgsign/internal/trustroot"
)

func trustRootCommand() *cli.Command {
	return &cli.Command{
		Name:  "trust-root",
		Usage: "refresh or show the Sigstore public-good trust root keyless signatures are verified against",
		Subcommands: []*cli.Command{{
			Name:  "update",
			Usage: "fetch the public-good trusted_root.json through Sigstore's TUF repository and cache it",
			Description: `Fetches the trusted_root.json target of Sigstore's TUF repository
(` + trustroot.DefaultMirror + `, or --mirror) with sigstore-go's TUF
client, verified from the public-good TUF root imgsign embeds (or --tuf-root,
for a private Sigstore's repository), and caches it in $` + trustroot.EnvCacheDir + `/tuf
(default: imgsign/tuf in your cache directory). From then on
'sigstore: public-good' in trust policies, and verify-blob without
--trusted-root, use the cached copy instead of the snapshot built into
imgsign. Verification itself never goes online.

Nothing is cached unless the repository verifies: a failed update leaves the
previous copy in use.

Exit codes: 0 updated, 1 the repository does not verify (bad signature,
expired metadata, tampered target), 2 bad input, 3 the mirror is unreachable.`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "mirror", Usage: "the TUF repository's `URL` (default: " + trustroot.DefaultMirror + ")"},
				&cli.StringFlag{Name: "tuf-root", Usage: "a TUF root.json `FILE` to verify the repository under (a private Sigstore's; default: the public-good TUF root, embedded)"},
				outputFormatFlag(),
			},
			Action: func(c *cli.Context) error {
				format, err := outputFormat(c)
				if err != nil {
					return err
				}
				res, err := trustroot.Update(c.Context, trustroot.UpdateRequest{
					MirrorURL:   c.String("mirror"),
					TUFRootFile: c.String("tuf-root"),
					UserAgent:   "imgsign/" + version,
				})
				if err != nil {
					return err
				}
				if res.TUFRoot != trustroot.TUFRootPublicGood {
					notice(c, fmt.Sprintf("note: 'sigstore: public-good' and verify-blob's default root now mean the trust root of %s, verified under the TUF root given (%s); 'imgsign trust-root update' without --mirror and --tuf-root goes back to Sigstore's", res.Mirror, res.TUFRoot))
				}
				if format == "json" {
					return writeJSON(c, res)
				}
				what := "unchanged"
				if res.Changed {
					what = "changed"
				}
				safetext.Fprintf(c.App.Writer, "updated %s trust root from %s (TUF root: %s): %s\n", res.Name, res.Mirror, res.TUFRoot, what)
				safetext.Fprintf(c.App.Writer, "cached in %s, sha256 %s\n", res.Path, res.SHA256)
				safetext.Fprintf(c.App.Writer, "%s; newest valid from %s\n", countAuthorities(res.Authorities), stamp(res.NewestValidFrom))
				return nil
			},
		}, {
			Name:  "show",
			Usage: "say which public-good trust root is in use (cached or embedded) and what it trusts",
			Description: `Prints where the public-good trust root comes from (the copy
'imgsign trust-root update' cached, or the snapshot built into imgsign) and
its certificate authorities, transparency logs, CT logs and timestamp
authorities: names and validity, never keys. A cached copy that is damaged is
not used, and said so.`,
			Flags: []cli.Flag{outputFormatFlag()},
			Action: func(c *cli.Context) error {
				format, err := outputFormat(c)
				if err != nil {
					return err
				}
				info, err := trustroot.Describe(trustroot.PublicGood)
				if err != nil {
					return err
				}
				if info.CacheProblem != "" {
					notice(c, "warning: the cached trust root is not used, the embedded snapshot is: "+info.CacheProblem+"; 'imgsign trust-root update' replaces it")
				}
				if format == "json" {
					return writeJSON(c, info)
				}
				printTrustRoot(c.App.Writer, info)
				return nil
			},
		}},
	}
}

func printTrustRoot(w io.Writer, info *trustroot.Info) {
	switch info.Source {
	case trustroot.SourceCached:
		safetext.Fprintf(w, "%s: cached, updated %s from %s (TUF root: %s)\n", info.Name, info.Updated.UTC().Format(time.RFC3339), info.Mirror, info.TUFRoot)
		safetext.Fprintf(w, "file: %s\n", info.Path)
	default:
		how := "no cached copy: 'imgsign trust-root update' fetches one"
		if info.CacheProblem != "" {
			how = "the cached copy is damaged"
		}
		safetext.Fprintf(w, "%s: embedded snapshot (%s)\n", info.Name, how)
	}
	safetext.Fprintf(w, "sha256: %s\n", info.SHA256)
	safetext.Fprintf(w, "%s; newest valid from %s\n", countAuthorities(info.Authorities), stamp(info.NewestValidFrom))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, a := range info.Authorities {
		valid := "from " + stamp(a.ValidFrom)
		if !a.ValidUntil.IsZero() {
			valid += " until " + stamp(a.ValidUntil)
		}
		name := a.Name
		switch {
		case name == "":
			name = a.Subject
		case a.Subject != "":
			name += " (" + a.Subject + ")"
		}
		safetext.Fprintf(tw, "  %s\t%s\t%s\n", a.Kind, name, valid)
	}
	tw.Flush()
}

// countAuthorities is "1 certificate authority, 2 transparency logs, …".
func countAuthorities(as []trustroot.Authority) string {
	n := map[string]int{}
	for _, a := range as {
		n[a.Kind]++
	}
	var parts []string
	for _, k := range []string{trustroot.KindFulcio, trustroot.KindRekor, trustroot.KindCTLog, trustroot.KindTSA} {
		s := fmt.Sprintf("%d %s", n[k], k)
		if n[k] != 1 {
			if strings.HasSuffix(s, "authority") {
				s = strings.TrimSuffix(s, "y") + "ies"
			} else {
				s += "s"
			}
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "(not given)"
	}
	return t.UTC().Format(time.RFC3339)
}
