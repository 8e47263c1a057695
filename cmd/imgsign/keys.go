package main

import (
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/imgsign/imgsign/internal/boundedfile"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/safetext"
	"github.com/imgsign/imgsign/keys"
)

func keysCommand() *cli.Command {
	keyFlag := &cli.StringFlag{Name: "key", Required: true, Usage: "key `REF`: a PEM file (private or public key), a KMS URI or a pkcs11: URI"}
	return &cli.Command{
		Name:  "keys",
		Usage: "generate, import and inspect signing keys",
		Subcommands: []*cli.Command{
			keysRotateCommand(),
			keysRevokeCommand(),
			{
				Name:  "generate",
				Usage: "generate a key pair: NAME.key (encrypted, mode 0600) and NAME.pub",
				Description: `The private key is encrypted with a passphrase (IMGSIGN_PASSWORD, or a prompt)
in the format cosign writes (ENCRYPTED SIGSTORE PRIVATE KEY), so cosign can use it too.`,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "type", Value: string(keys.TypeECDSAP256), Usage: "key `TYPE`: " + typeNames()},
					&cli.StringFlag{Name: "out", Usage: "write `NAME`.key and NAME.pub (file keys)"},
					&cli.StringFlag{Name: "kms", Usage: "create the key in a KMS instead: `URI` (awskms://, gcpkms://, azurekms://, hashivault://)"},
					&cli.StringFlag{Name: "pkcs11", Usage: "create the key on a PKCS#11 token instead: RFC 7512 `URI` (pkcs11:token=T;object=L?module-path=…)"},
					&cli.BoolFlag{Name: "unencrypted", Usage: "write the private key unencrypted (PKCS#8); only for throwaway keys"},
					&cli.BoolFlag{Name: "force", Usage: "overwrite existing files"},
				},
				Action: keysGenerate,
			},
			{
				Name:  "import",
				Usage: "import a PEM private key (PKCS#8, PKCS#1, SEC1 or cosign's) as an encrypted imgsign key",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "in", Required: true, Usage: "PEM private key `FILE` to import"},
					&cli.StringFlag{Name: "out", Required: true, Usage: "write `NAME`.key and NAME.pub"},
					&cli.BoolFlag{Name: "force", Usage: "overwrite existing files"},
				},
				Action: keysImport,
			},
			{
				Name:  "public",
				Usage: "print the PEM public key of a key reference",
				Flags: []cli.Flag{keyFlag},
				Action: func(c *cli.Context) error {
					pub, err := loadPublic(c, c.String("key"))
					if err != nil {
						return err
					}
					pem, err := keys.EncodePublic(pub)
					if err != nil {
						return err
					}
					_, err = c.App.Writer.Write(pem)
					return err
				},
			},
			{
				Name:  "id",
				Usage: "print the key id: base64(sha256(PKIX DER)), the Sigstore bundle key hint",
				Flags: []cli.Flag{keyFlag},
				Action: func(c *cli.Context) error {
					pub, err := loadPublic(c, c.String("key"))
					if err != nil {
						return err
					}
					id, err := keys.ID(pub)
					if err != nil {
						return err
					}
					fmt.Fprintln(c.App.Writer, id)
					return nil
				},
			},
		},
	}
}

func typeNames() string {
	var s []string
	for _, t := range keys.Types() {
		s = append(s, string(t))
	}
	return strings.Join(s, ", ")
}

func keysGenerate(c *cli.Context) error {
	t, err := keys.ParseType(c.String("type"))
	if err != nil {
		return err
	}
	// Each flag names where the key is made.
	backend, ref := keys.KeyFiles, c.String("out")
	switch {
	case c.String("kms") != "":
		if c.String("out") != "" {
			return errkind.Inputf("--kms keeps the private key in the KMS: drop --out (imgsign keys public --key %s writes the public key)", keys.DescribeRef(c.String("kms")))
		}
		backend, ref = keys.KMS, c.String("kms")
	case c.String("pkcs11") != "":
		if c.String("out") != "" || c.String("kms") != "" {
			return errkind.Inputf("--pkcs11 keeps the private key on the token: drop --out and --kms")
		}
		backend, ref = keys.PKCS11, c.String("pkcs11")
	case ref == "":
		return errkind.Inputf("keys generate: give --out NAME for a key file, or --kms URI, or --pkcs11 URI")
	}
	k, err := backend.Generate(c.Context, ref, keys.GenerateOptions{
		Type:         t,
		WriteOptions: keys.WriteOptions{Unencrypted: c.Bool("unencrypted"), Overwrite: c.Bool("force")},
	}, keys.FromEnvOrPrompt(c.App.ErrWriter))
	if err != nil {
		return err
	}
	if k.PublicFile != "" {
		printKeyFiles(c, k)
		return nil
	}
	// A key that lives elsewhere (KMS, HSM): its public key is printed.
	pemBytes, err := keys.EncodePublic(k.Public)
	if err != nil {
		return err
	}
	safetext.Fprintf(c.App.Writer, "created: %s\nkey id:  %s\n%s", k.Name, k.ID, pemBytes)
	return nil
}

func keysImport(c *cli.Context) error {
	data, err := boundedfile.Read(c.String("in"), 1<<20)
	if err != nil {
		// The path error would repeat --in as given, which may be the key
		// itself pasted in place of its file name.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return errkind.Inputf("reading %s: %w", keys.DescribeRef(c.String("in")), err)
	}
	access := keys.FromEnvOrPrompt(c.App.ErrWriter)
	priv, err := keys.ParsePrivatePEM(data, access.Passphrase)
	if err != nil {
		return fmt.Errorf("importing %s: %w", keys.DescribeRef(c.String("in")), err)
	}
	k, err := keys.WriteKeyPair(priv, c.String("out"), keys.WriteOptions{Overwrite: c.Bool("force")}, access)
	if err != nil {
		return err
	}
	printKeyFiles(c, k)
	return nil
}

// loadPublic loads the public key of a key reference of any backend.
func loadPublic(c *cli.Context, ref string) (crypto.PublicKey, error) {
	return keys.BackendFor(ref).LoadPublic(c.Context, ref, keys.FromEnvOrPrompt(c.App.ErrWriter))
}

// printKeyFiles prints where a new key pair was written.
func printKeyFiles(c *cli.Context, k *keys.NewKey) {
	safetext.Fprintf(c.App.Writer, "private key: %s\npublic key:  %s\nkey id:      %s\n", k.Ref, k.PublicFile, k.ID)
}
