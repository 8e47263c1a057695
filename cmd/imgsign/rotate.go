package main

import (
	"crypto"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/textdiff"
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
			tsaFlag,
		},
		Action: keysRotate,
	}
}

func keysRotate(c *cli.Context) error {
	doc, err := policy.OpenDocument(c.String("policy"))
	if err != nil {
		return err
	}
	oldName, newName := c.String("name"), c.String("new-name")
	if !doc.HasKey(oldName) {
		return errkind.Inputf("%s has no key named %q", doc.Path, oldName)
	}
	if doc.HasKey(newName) {
		return errkind.Inputf("%s already has a key named %q: choose another --new-name", doc.Path, newName)
	}
	now := time.Now().UTC().Truncate(time.Second)
	policyDir := filepath.Dir(doc.Path)

	// The successor: an existing key, one generated in a KMS or on a token,
	// or a new key pair next to the policy. A KMS key is named by its URI in
	// the policy, so versions rotated inside the KMS stay trusted; any other
	// key is trusted through its public key file.
	var publicKeyValue, signerRef string
	dry := c.Bool("dry-run")
	pubFile := func(pub crypto.PublicKey) (string, error) {
		p := filepath.Join(policyDir, newName+".pub")
		return p, writePublic(pub, p, dry)
	}
	switch {
	case c.String("kms") != "":
		signerRef, publicKeyValue = c.String("kms"), c.String("kms")
		if !dry {
			t, err := keys.ParseType(c.String("type"))
			if err != nil {
				return err
			}
			if _, err := keys.GenerateKMS(c.Context, signerRef, t); err != nil {
				return err
			}
		}
	case c.String("pkcs11") != "":
		signerRef = c.String("pkcs11")
		t, err := keys.ParseType(c.String("type"))
		if err != nil {
			return err
		}
		var pub crypto.PublicKey
		if !dry {
			if pub, err = keys.GeneratePKCS11(c.Context, signerRef, t, c.App.ErrWriter); err != nil {
				return err
			}
		}
		if publicKeyValue, err = pubFile(pub); err != nil {
			return err
		}
	case c.String("new-key") != "":
		signerRef = c.String("new-key")
		if keys.IsKMSRef(signerRef) {
			publicKeyValue = signerRef
			break
		}
		pub, err := keys.LoadPublic(c.Context, signerRef, keys.PassphraseFromEnvOrPrompt(c.App.ErrWriter))
		if err != nil {
			return err
		}
		publicKeyValue = strings.TrimSuffix(signerRef, ".key") + ".pub"
		if _, err := os.Stat(publicKeyValue); err != nil || keys.IsPKCS11Ref(signerRef) {
			if publicKeyValue, err = pubFile(pub); err != nil {
				return err
			}
		}
	default:
		out := c.String("out")
		if out == "" {
			out = filepath.Join(policyDir, newName)
		}
		out = strings.TrimSuffix(out, ".key")
		signerRef, publicKeyValue = out+".key", out+".pub"
		if !dry {
			t, err := keys.ParseType(c.String("type"))
			if err != nil {
				return err
			}
			priv, err := keys.Generate(t)
			if err != nil {
				return err
			}
			if err := writeKeyPair(c, priv, out, false); err != nil {
				return err
			}
		}
	}
	rel := publicKeyValue
	if !keys.IsKMSRef(publicKeyValue) {
		r, err := filepath.Rel(policyDir, publicKeyValue)
		if err != nil || strings.HasPrefix(r, "..") {
			r, _ = filepath.Abs(publicKeyValue)
		}
		rel = r
	}

	until := now.Add(c.Duration("overlap"))
	if cur, ok := doc.KeyTime(oldName, "validUntil"); ok && cur.Before(until) {
		until = cur // never extend a key's life by rotating it
	}
	if err := doc.AddKeyAfter(oldName, newName, rel, now); err != nil {
		return err
	}
	if err := doc.SetKeyTime(oldName, "validUntil", until); err != nil {
		return err
	}
	rules := doc.AddKeyToRules(oldName, newName)
	if err := writeDocument(c, doc, dry); err != nil {
		return err
	}
	fmt.Fprintf(c.App.ErrWriter, "rotated %s → %s: %s valid until %s; rules updated: %s\n", oldName, newName, oldName, until.Format(time.RFC3339), strings.Join(rules, ", "))
	if p, err := policy.Parse(mustBytes(doc), policyDir); err == nil {
		for _, r := range p.Rules {
			if r.Signatures != nil && r.Signatures.Threshold > 1 && slices.Contains(r.Signatures.Keys, newName) {
				fmt.Fprintf(c.App.ErrWriter, "warning: rule %q needs %d distinct keys: until %s, %s and %s both count, so one signer holding both could meet the threshold alone; end the overlap early with `imgsign keys revoke %s` once images are re-signed\n",
					r.Name, r.Signatures.Threshold, until.Format(time.RFC3339), oldName, newName, oldName)
			}
		}
	}

	if dry || len(c.StringSlice("resign")) == 0 {
		return nil
	}
	s, err := keys.LoadSigner(c.Context, signerRef, keys.PassphraseFromEnvOrPrompt(c.App.ErrWriter))
	if err != nil {
		return err
	}
	client := registryClient(c)
	for _, img := range c.StringSlice("resign") {
		res, err := sign.Image(c.Context, client, img, s, sign.Options{TSAURL: c.String("tsa-url")})
		if err != nil {
			return fmt.Errorf("re-signing %s: %w", img, err)
		}
		printSignResult(c, res)
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
			return writeDocument(c, doc, c.Bool("dry-run"))
		},
	}
}

// writeDocument checks the edited policy still loads, prints the diff and
// writes it atomically (unless dry).
func writeDocument(c *cli.Context, doc *policy.Document, dry bool) error {
	out, err := doc.Bytes()
	if err != nil {
		return err
	}
	if _, err := policy.Parse(out, filepath.Dir(doc.Path)); err != nil {
		if !dry {
			return fmt.Errorf("the edited policy would not load (nothing written): %w", err)
		}
	}
	fmt.Fprint(c.App.Writer, textdiff.Unified(doc.Path, doc.Path, string(doc.Original), string(out)))
	if dry {
		return nil
	}
	fi, err := os.Stat(doc.Path)
	if err != nil {
		return errkind.Inputf("%s: %w", doc.Path, err)
	}
	return writeFile(doc.Path, out, fi.Mode().Perm())
}

func mustBytes(d *policy.Document) []byte {
	b, _ := d.Bytes()
	return b
}

func writePublic(pub crypto.PublicKey, path string, dry bool) error {
	if dry || pub == nil {
		return nil
	}
	b, err := keys.EncodePublic(pub)
	if err != nil {
		return err
	}
	return writeFile(path, b, 0o644)
}
