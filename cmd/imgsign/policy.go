package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/imgsign/imgsign/internal/safetext"
	"github.com/imgsign/imgsign/verify/policy"
)

func policyCommand() *cli.Command {
	return &cli.Command{
		Name:  "policy",
		Usage: "work with trust policy files",
		Subcommands: []*cli.Command{{
			Name:      "check",
			Usage:     "lint trust policies: every problem with its line, exit 2 if any",
			ArgsUsage: "FILE...",
			Action: func(c *cli.Context) error {
				if err := needArgs(c, 1, "FILE"); err != nil {
					return err
				}
				// Every file given is checked: an extra one is never ignored.
				code := 0
				for _, file := range c.Args().Slice() {
					if n := checkPolicy(c, file); n > code {
						code = n
					}
				}
				if code != 0 {
					return exitError{code: code}
				}
				return nil
			},
		}, policyImportNotationCommand()},
	}
}

// checkPolicy lints one policy file, printing its problems or "ok", and
// returns the exit code it deserves.
func checkPolicy(c *cli.Context, file string) int {
	p, err := policy.Load(file)
	if err != nil {
		var ps policy.Problems
		if errors.As(err, &ps) {
			for _, pr := range ps {
				fmt.Fprintln(c.App.ErrWriter, safetext.Clean(pr.String()))
			}
			return 2
		}
		return report(err, c.App.ErrWriter)
	}
	for _, w := range p.MaxAgeWarnings() {
		// The policy's own strings (a type URI) may hold bidi overrides
		// that reorder what a reviewer reads.
		fmt.Fprintln(c.App.ErrWriter, safetext.Clean(w.String()))
	}
	mirrors := ""
	switch n := len(p.Mirrors); n {
	case 0:
	case 1:
		mirrors = ", 1 mirror"
	default:
		mirrors = fmt.Sprintf(", %d mirrors", n)
	}
	x509 := ""
	if n := len(p.X509Signers); n > 0 {
		x509 = fmt.Sprintf(", %d x509 signers", n)
	}
	safetext.Fprintf(c.App.Writer, "%s: ok (%d keys, %d identities%s, %d rules%s)\n", file, len(p.Keys), len(p.Identities), x509, len(p.Rules), mirrors)
	return 0
}
