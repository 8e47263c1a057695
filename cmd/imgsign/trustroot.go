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
	"github.com/imgsign/imgsign/verify/policy"
)

func trustRootCommand() *cli.Command {
	return &cli.Command{
		Name:  "trust-root",
		Usage: "refresh or show the named Sigstore trust roots (public-good, github) keyless signatures are verified against",
		Subcommands: []*cli.Command{{
			Name:      "update",
			ArgsUsage: "[INSTANCE]",
			Usage:     "fetch a named instance's trusted_root.json through its TUF repository and cache it (public-good, or github)",
			Description: `INSTANCE is public-good (the default) or github.

Fetches the trusted_root.json target of Sigstore's TUF repository
(` + trustroot.DefaultMirror + `, or a copy of it at --mirror) with
sigstore-go's TUF client, verified from the public-good TUF root built into
imgsign, and caches it in $` + trustroot.EnvCacheDir + `/tuf (default: imgsign/tuf in
your cache directory) with the signed TUF metadata that vouches for it. From
then on 'sigstore: public-good' in trust policies, and verify-blob without
--trusted-root, use the cached copy instead of the snapshot built into
imgsign, for as long as that metadata has not expired (Sigstore's timestamp
is valid for a week: update daily, or in the job that verifies). Every
process checks the cached copy again,
offline, against that metadata and the TUF root built in; a copy that does
not verify (written by anything but an update from Sigstore's repository,
damaged, or out of date) is not used: the embedded snapshot is, and
'imgsign trust-root show' says why. Verification itself never goes online.

'update github' does the same for GitHub's Sigstore instance (which signs
attestations of private repositories): its trusted_root.json from
` + trustroot.GitHubMirror + ` (or --mirror), verified from GitHub's TUF root
built into imgsign (the GitHub CLI's), cached beside the public-good one.
GitHub's trusted root is not built in: 'sigstore: github' in a policy
fails until an update has cached a copy that still verifies.

--tuf-root FILE verifies a private Sigstore's TUF repository (--mirror)
under its own TUF root.json instead (give no INSTANCE). Its trusted root
never becomes 'public-good' or 'github': it needs --out FILE, is written
there, and is used where you name that file: verify-blob --trusted-root
FILE, or 'file: FILE' as a trust root in a policy. --out without --tuf-root
writes the instance's root to the file instead of the cache.

Nothing is written unless the repository verifies: a failed update leaves
the previous copy in use.

Exit codes: 0 updated, 1 the repository does not verify (bad signature,
expired metadata, tampered target), 2 bad input, 3 the mirror is unreachable.`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "mirror", Usage: "the TUF repository's `URL` (default: " + trustroot.DefaultMirror + ", or " + trustroot.GitHubMirror + " for github)"},
				&cli.StringFlag{Name: "tuf-root", Usage: "a private Sigstore's TUF root.json `FILE` to verify the repository under (needs --out, and no INSTANCE; default: the instance's TUF root, built in)"},
				&cli.StringFlag{Name: "out", Usage: "write the verified trusted_root.json to `FILE` instead of caching it as the named root"},
				outputFormatFlag(),
			},
			Action: func(c *cli.Context) error {
				format, err := outputFormat(c)
				if err != nil {
					return err
				}
				res, err := trustroot.Update(c.Context, trustroot.UpdateRequest{
					Instance:    c.Args().First(),
					MirrorURL:   c.String("mirror"),
					TUFRootFile: c.String("tuf-root"),
					OutFile:     c.String("out"),
					UserAgent:   "imgsign/" + version,
				})
				if err != nil {
					return err
				}
				if format == "json" {
					return writeJSON(c, res)
				}
				what := "unchanged"
				if res.Changed {
					what = "changed"
				}
				if res.Source == trustroot.SourceFile {
					safetext.Fprintf(c.App.Writer, "wrote the trusted root of %s (TUF root: %s) to %s: %s\n", res.Mirror, res.TUFRoot, res.Path, what)
					safetext.Fprintf(c.App.Writer, "sha256 %s\n", res.SHA256)
					safetext.Fprintf(c.App.Writer, "%s; newest valid from %s\n", countAuthorities(res.Authorities), stamp(res.NewestValidFrom))
					safetext.Fprintf(c.App.Writer, "use it with verify-blob --trusted-root %s, or 'file: %s' as a trust root in a policy; the named trust roots (%s) are unchanged\n", res.Path, res.Path, strings.Join(trustroot.Names(), ", "))
					return nil
				}
				safetext.Fprintf(c.App.Writer, "updated %s trust root from %s (TUF root: %s): %s\n", res.Name, res.Mirror, res.TUFRoot, what)
				safetext.Fprintf(c.App.Writer, "cached in %s, sha256 %s\n", res.Path, res.SHA256)
				safetext.Fprintf(c.App.Writer, "used until its TUF metadata expires at %s: update again before then\n", stamp(res.TUFExpires))
				safetext.Fprintf(c.App.Writer, "%s; newest valid from %s\n", countAuthorities(res.Authorities), stamp(res.NewestValidFrom))
				return nil
			},
		}, {
			Name:      "show",
			ArgsUsage: "[INSTANCE]",
			Usage:     "say which trust root of a named instance (public-good, or github) is in use (cached, embedded or none) and what it trusts",
			Description: `INSTANCE is public-good (the default) or github.

Prints where the instance's trust root comes from (the copy 'imgsign
trust-root update' cached, or the snapshot built into imgsign; for github,
which has none built in, the cached copy or none at all) and its
certificate authorities, transparency logs, CT logs and timestamp
authorities: names and validity, never keys. A cached copy is used only if
it verifies, offline, against its TUF metadata under the instance's TUF
root built into imgsign, and that metadata has not expired; one that does
not (damaged, out of date, or not from the instance's repository) is not
used, and a warning says why.`,
			Flags: []cli.Flag{outputFormatFlag()},
			Action: func(c *cli.Context) error {
				format, err := outputFormat(c)
				if err != nil {
					return err
				}
				name := c.Args().First()
				if name == "" {
					name = trustroot.PublicGood
				}
				info, err := trustroot.Describe(name)
				if err != nil {
					return err
				}
				warnCacheProblem(c, info)
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
		safetext.Fprintf(w, "verified offline under the %s TUF root; used until its TUF metadata expires at %s\n", info.Name, stamp(info.TUFExpires))
	case trustroot.SourceNone:
		how := "no cached copy"
		if info.CacheProblem != "" {
			how = "the cached copy is not used: see the warning"
		}
		safetext.Fprintf(w, "%s: none (%s; imgsign does not embed it): '%s' fetches one; until then 'sigstore: %s' fails\n", info.Name, how, updateCommand(info.Name), info.Name)
		return
	default:
		how := "no cached copy: '" + updateCommand(info.Name) + "' fetches one"
		if info.CacheProblem != "" {
			how = "the cached copy is not used: see the warning"
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

// warnCacheProblem says, once per run, why a cached Sigstore trust root was
// passed over for the snapshot built into imgsign (or, for one with no
// snapshot, for nothing: Named fails, saying so).
func warnCacheProblem(c *cli.Context, info *trustroot.Info) {
	if info.CacheProblem == "" {
		return
	}
	update := "'" + updateCommand(info.Name) + "'"
	if info.Source == trustroot.SourceNone {
		notice(c, "warning: the cached "+info.Name+" trust root is not used, and imgsign embeds none: "+info.CacheProblem+"; "+update+" replaces it")
		return
	}
	notice(c, "warning: the cached trust root is not used, the embedded snapshot is: "+info.CacheProblem+"; "+update+" replaces it")
}

// warnSigstoreCaches is warnCacheProblem for every embedded Sigstore root
// the policy names: a verify judged under the older snapshot says so.
func warnSigstoreCaches(c *cli.Context, p *policy.Policy) {
	for _, r := range p.TrustRoots {
		if r.Sigstore == "" {
			continue
		}
		if info, err := trustroot.Describe(r.Sigstore); err == nil {
			warnCacheProblem(c, info)
		}
	}
}

// updateCommand is the command that refreshes the named trust root:
// public-good's is the default.
func updateCommand(name string) string {
	if name == trustroot.PublicGood {
		return "imgsign trust-root update"
	}
	return "imgsign trust-root update " + name
}
