package main

import (
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
					pub, err := keys.LoadPublic(c.Context, c.String("key"), keys.PassphraseFromEnvOrPrompt(c.App.ErrWriter))
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
					pub, err := keys.LoadPublic(c.Context, c.String("key"), keys.PassphraseFromEnvOrPrompt(c.App.ErrWriter))
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
	if uri := c.String("kms"); uri != "" {
		if c.String("out") != "" {
			return errkind.Inputf("--kms keeps the private key in the KMS: drop --out (imgsign keys public --key %s writes the public key)", keys.DescribeRef(uri))
		}
		pub, err := keys.GenerateKMS(c.Context, uri, t)
		if err != nil {
			return err
		}
		return printPublic(c, pub, keys.DescribeRef(uri))
	}
	if uri := c.String("pkcs11"); uri != "" {
		if c.String("out") != "" || c.String("kms") != "" {
			return errkind.Inputf("--pkcs11 keeps the private key on the token: drop --out and --kms")
		}
		pub, err := keys.GeneratePKCS11(c.Context, uri, t, c.App.ErrWriter)
		if err != nil {
			return err
		}
		return printPublic(c, pub, "the PKCS#11 key")
	}
	if c.String("out") == "" {
		return errkind.Inputf("keys generate: give --out NAME for a key file, or --kms URI, or --pkcs11 URI")
	}
	priv, err := keys.Generate(t)
	if err != nil {
		return err
	}
	return writeKeyPair(c, priv, c.String("out"), c.Bool("unencrypted"))
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
	priv, err := keys.ParsePrivatePEM(data, keys.PassphraseFromEnvOrPrompt(c.App.ErrWriter))
	if err != nil {
		return fmt.Errorf("importing %s: %w", keys.DescribeRef(c.String("in")), err)
	}
	return writeKeyPair(c, priv, c.String("out"), false)
}

// printPublic prints the PEM public key and key id of a key that lives
// elsewhere (KMS, HSM).
func printPublic(c *cli.Context, pub crypto.PublicKey, ref string) error {
	pemBytes, err := keys.EncodePublic(pub)
	if err != nil {
		return err
	}
	id, err := keys.ID(pub)
	if err != nil {
		return err
	}
	safetext.Fprintf(c.App.Writer, "created: %s\nkey id:  %s\n%s", ref, id, pemBytes)
	return nil
}

// writeKeyPair writes out.key (mode 0600, encrypted unless asked otherwise)
// and out.pub, refusing to overwrite a key someone may still need.
func writeKeyPair(c *cli.Context, priv crypto.Signer, out string, unencrypted bool) error {
	out = strings.TrimSuffix(out, ".key")
	keyPath, pubPath := out+".key", out+".pub"
	if !c.Bool("force") {
		for _, p := range []string{keyPath, pubPath} {
			if _, err := os.Stat(p); err == nil {
				return errkind.Inputf("%s already exists: choose another --out or pass --force", p)
			}
		}
	}
	var keyPEM []byte
	var err error
	if unencrypted {
		keyPEM, err = keys.EncodePrivateUnencrypted(priv)
	} else {
		var pass []byte
		pass, err = keys.PassphraseFromEnvOrPrompt(c.App.ErrWriter)(true)
		if err != nil {
			return err
		}
		keyPEM, err = keys.EncodePrivate(priv, pass)
		clear(pass)
	}
	if err != nil {
		return err
	}
	pubPEM, err := keys.EncodePublic(priv.Public())
	if err != nil {
		return err
	}
	id, err := keys.ID(priv.Public())
	if err != nil {
		return err
	}
	if dir := filepath.Dir(keyPath); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return errkind.Inputf("creating %s: %w", dir, err)
		}
	}
	if err := writeFile(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	if err := writeFile(pubPath, pubPEM, 0o644); err != nil {
		return err
	}
	safetext.Fprintf(c.App.Writer, "private key: %s\npublic key:  %s\nkey id:      %s\n", keyPath, pubPath, id)
	return nil
}

// writeFile writes atomically, so an interrupted run never leaves half a key.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".imgsign-*")
	if err != nil {
		return errkind.Inputf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return errkind.Inputf("writing %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return errkind.Inputf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return errkind.Inputf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return errkind.Inputf("writing %s: %w", path, err)
	}
	return nil
}
