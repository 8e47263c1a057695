package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/imgsign/imgsign/verify/policy"
)

func policyCommand() *cli.Command {
	return &cli.Command{
		Name:  "policy",
		Usage: "work with trust policy files",
		Subcommands: []*cli.Command{{
			Name:      "check",
			Usage:     "lint a trust policy: every problem with its line, exit 2 if any",
			ArgsUsage: "FILE",
			Action: func(c *cli.Context) error {
				if err := needArgs(c, 1, "FILE"); err != nil {
					return err
				}
				file := c.Args().First()
				p, err := policy.Load(file)
				if err != nil {
					var ps policy.Problems
					if errors.As(err, &ps) {
						for _, pr := range ps {
							fmt.Fprintln(c.App.ErrWriter, pr.String())
						}
						return exitError{code: 2}
					}
					return err
				}
				for _, w := range p.MaxAgeWarnings() {
					fmt.Fprintln(c.App.ErrWriter, w.String())
				}
				fmt.Fprintf(c.App.Writer, "%s: ok (%d keys, %d rules)\n", file, len(p.Keys), len(p.Rules))
				return nil
			},
		}},
	}
}
