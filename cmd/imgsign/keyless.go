package main

import (
	"os"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/urfave/cli/v2"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/idtoken"
	"github.com/imgsign/imgsign/internal/trustroot"
	"github.com/imgsign/imgsign/sign"
)

// signerFlags are the flags of a command that signs with a key or keyless.
func signerFlags() []cli.Flag {
	key := signingKeyFlag()
	key.Required = false
	key.Usage += "; or sign --keyless"
	return []cli.Flag{
		key,
		&cli.BoolFlag{Name: "keyless", Usage: "sign with a short-lived Fulcio certificate for the CI's OIDC identity (GitHub Actions with id-token: write, GitLab's SIGSTORE_ID_TOKEN, or --identity-token) instead of a key"},
		&cli.StringFlag{Name: "identity-token", Usage: "with --keyless: the OIDC identity token (audience sigstore) in `FILE`; implies --keyless"},
		&cli.StringFlag{Name: "signing-config", Usage: "with --keyless: the Sigstore signing config `FILE` (v0.2 JSON) naming Fulcio, TSAs and logs; default: Sigstore public good"},
		&cli.StringFlag{Name: "trusted-root", Usage: "with --keyless: check what the services answer against this trusted_root.json `FILE` before pushing; default: the public-good root with the default signing config"},
	}
}

// keyless reports whether the command signs keyless.
func keyless(c *cli.Context) bool { return c.Bool("keyless") || c.IsSet("identity-token") }

// loadAnySigner is the signer of a command that takes signerFlags: --key's,
// or a keyless signer.
func loadAnySigner(c *cli.Context) (sign.Signer, error) {
	switch {
	case keyless(c) && c.IsSet("key"):
		return nil, errkind.Inputf("--key and --keyless both given: sign with one")
	case keyless(c):
		return loadKeyless(c)
	case !c.IsSet("key"):
		return nil, errkind.Inputf("no signer: give --key REF, or --keyless to sign with the CI's OIDC identity")
	}
	for _, f := range []string{"signing-config", "trusted-root"} {
		if c.IsSet(f) {
			return nil, errkind.Inputf("--%s is for --keyless", f)
		}
	}
	return loadSigner(c)
}

// loadKeyless gets the identity token and the services of the signing
// config, and makes the ephemeral key (in memory only).
func loadKeyless(c *cli.Context) (*sign.Keyless, error) {
	tok, err := idtoken.Get(c.Context, idtoken.Options{File: c.String("identity-token"), Getenv: os.Getenv})
	if err != nil {
		return nil, err
	}
	var cfg *root.SigningConfig
	var trusted root.TrustedMaterial
	if f := c.String("signing-config"); f != "" {
		if cfg, err = trustroot.SigningConfigFromFile(f); err != nil {
			return nil, err
		}
	} else {
		if cfg, err = trustroot.PublicGoodSigningConfig(); err != nil {
			return nil, err
		}
		if trusted, err = trustroot.Named(trustroot.PublicGood); err != nil {
			return nil, err
		}
	}
	if f := c.String("trusted-root"); f != "" {
		tr, err := trustroot.FromFile(f)
		if err != nil {
			return nil, err
		}
		trusted = tr
	}
	return sign.NewKeyless(sign.KeylessOptions{Token: tok, Config: cfg, Trusted: trusted, ExtraTSA: c.String("tsa-url")})
}
