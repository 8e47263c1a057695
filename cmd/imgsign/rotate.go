package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/imgsign/imgsign/keys"
	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/verify/policy"
)

func keysRotateCommand() *cli.Command {
	return &cli.Command{
		Name:  "rotate",
		Usage: "replace a policy key by a successor with an overlap, editing the policy in place",
		Description: `Generates the successor (or takes --new-key), adds it to the policy with
validFrom: now right after the old key, lists it next to the old key in every
rule, and sets the old key's validUntil to now + --overlap. Comments and order
in the policy are kept; the diff is printed. Images signed by the old key keep
verifying until the overlap ends; --resign signs images with the new key now.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "policy", Aliases: []string{"p"}, Required: true, Usage: "trust policy `FILE` to edit"},
			&cli.StringFlag{Name: "name", Required: true, Usage: "policy key `NAME` to rotate"},
			&cli.StringFlag{Name: "new-name", Required: true, Usage: "policy key `NAME` of the successor"},
			&cli.StringFlag{Name: "type", Value: string(keys.TypeECDSAP256), Usage: "successor key `TYPE`: " + typeNames()},
			&cli.StringFlag{Name: "out", Usage: "write the successor to `NAME`.key/.pub (default: next to the policy, named --new-name)"},
			&cli.StringFlag{Name: "new-key", Usage: "use this existing key `REF` (file, KMS or pkcs11: URI) as the successor instead of generating one"},
			&cli.StringFlag{Name: "kms", Usage: "generate the successor in a KMS at `URI`; the policy names the KMS key"},
			&cli.StringFlag{Name: "pkcs11", Usage: "generate the successor on a PKCS#11 token at `URI`; its public key is written next to the policy"},
			&cli.DurationFlag{Name: "overlap", Value: 30 * 24 * time.Hour, Usage: "how long the old key stays valid (`DURATION`)"},
			&cli.StringSliceFlag{Name: "resign", Usage: "sign this `IMAGE` with the successor; repeatable"},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the diff, write nothing"},
			tsaURLFlag(),
		},
		Action: keysRotate,
	}
}

func keysRotate(c *cli.Context) error {
	access := keys.FromEnvOrPrompt(c.App.ErrWriter)
	res, err := policy.Rotate(c.Context, policy.RotateRequest{
		PolicyFile: c.String("policy"),
		OldName:    c.String("name"),
		NewName:    c.String("new-name"),
		KMS:        c.String("kms"),
		PKCS11:     c.String("pkcs11"),
		NewKey:     c.String("new-key"),
		Out:        c.String("out"),
		Type:       c.String("type"),
		Overlap:    c.Duration("overlap"),
		DryRun:     c.Bool("dry-run"),
		Access:     access,
	})
	if res.KeyFiles != nil {
		printKeyFiles(c, res.KeyFiles)
	}
	fmt.Fprint(c.App.Writer, res.Diff)
	if err != nil {
		return err
	}
	oldName, newName, until := c.String("name"), c.String("new-name"), res.Until.Format(time.RFC3339)
	fmt.Fprintf(c.App.ErrWriter, "rotated %s → %s: %s valid until %s; rules updated: %s\n", oldName, newName, oldName, until, strings.Join(res.Rules, ", "))
	for _, r := range res.SharedThreshold {
		fmt.Fprintf(c.App.ErrWriter, "warning: rule %q needs %d distinct keys: until %s, %s and %s both count, so one signer holding both could meet the threshold alone; end the overlap early with `imgsign keys revoke %s` once images are re-signed\n",
			r.Name, r.Signatures.Threshold, until, oldName, newName, oldName)
	}

	if c.Bool("dry-run") || len(c.StringSlice("resign")) == 0 {
		return nil
	}
	s, err := keys.BackendFor(res.SignerRef).LoadSigner(c.Context, res.SignerRef, access)
	if err != nil {
		return err
	}
	client := registryClient(c)
	for _, img := range c.StringSlice("resign") {
		signed, err := sign.Image(c.Context, client, img, s, sign.Options{TSAURL: c.String("tsa-url")})
		if err != nil {
			return fmt.Errorf("re-signing %s: %w", img, err)
		}
		printSignResult(c, signed)
	}
	return nil
}

func keysRevokeCommand() *cli.Command {
	return &cli.Command{
		Name:      "revoke",
		Usage:     "mark a policy key revoked from a time on (default now), editing the policy in place",
		ArgsUsage: "NAME",
		Description: `Signatures whose trusted time (RFC 3161 timestamp, else verification time) is
at or after --at stop counting. Without timestamps that is every signature by
the key from now on, which is what a leaked key needs.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "policy", Aliases: []string{"p"}, Required: true, Usage: "trust policy `FILE` to edit"},
			&cli.TimestampFlag{Name: "at", Layout: time.RFC3339, Usage: "revocation `TIME` (RFC 3339); default now"},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the diff, write nothing"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "NAME"); err != nil {
				return err
			}
			doc, err := policy.OpenDocument(c.String("policy"))
			if err != nil {
				return err
			}
			at := time.Now().UTC().Truncate(time.Second)
			if t := c.Timestamp("at"); t != nil {
				at = *t
			}
			if err := doc.SetKeyTime(c.Args().First(), "revokedAt", at); err != nil {
				return err
			}
			diff, err := doc.Write(c.Bool("dry-run"))
			fmt.Fprint(c.App.Writer, diff)
			return err
		},
	}
}
