package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/keys"
)

// refuseKeyMaterial refuses a private key pasted where an image, a file or
// a flag's value belongs, before any command runs: it would come back in an
// error ("cannot read trust policy MIGHAgEA…", "parsing image reference
// …"). --key is the one place a key reference goes, and keys.DescribeRef
// already hides key material given there.
func refuseKeyMaterial(c *cli.Context) error {
	check := func(where, v string) error {
		if what := privateKeyMaterial(v); what != "" {
			return errkind.Inputf("%s: %s is %s, %s; give a key only as --key FILE, a KMS URI or a pkcs11: URI (see imgsign %s --help)",
				commandName(c), where, what, keys.RedactedValue(v), commandName(c))
		}
		return nil
	}
	for i, a := range c.Args().Slice() {
		if err := check(fmt.Sprintf("argument %d", i+1), a); err != nil {
			return err
		}
	}
	for _, f := range c.Command.Flags {
		name := f.Names()[0]
		if name == "key" {
			continue
		}
		var values []string
		switch f.(type) {
		case *cli.StringFlag:
			values = []string{c.String(name)}
		case *cli.StringSliceFlag:
			values = c.StringSlice(name)
		}
		for _, v := range values {
			if err := check("--"+name, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// privateKeyMaterial says what v is if it is a private key ("a PEM
// PRIVATE key", "a base64 PRIVATE key"), else "". Public keys and anything
// that does not decode as a key are left to the command.
func privateKeyMaterial(v string) string {
	if !keys.LooksLikeKeyMaterial(v) {
		return ""
	}
	if what := keys.DescribeKeyMaterial(v); strings.Contains(what, "PRIVATE") {
		return what
	}
	return ""
}
