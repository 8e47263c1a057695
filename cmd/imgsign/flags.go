package main

import "github.com/urfave/cli/v2"

// The flags several commands share, declared once each. Every call returns
// a new flag: urfave/cli records on a flag whether it was set (from the
// environment, say), so one value shared by several commands would carry
// that from one command's run to another's.

// signingKeyUsage says what a signing key reference may be.
const signingKeyUsage = "signing key `REF`: a PEM private key file, a KMS URI (awskms://, gcpkms://, azurekms://, hashivault://) or a pkcs11: URI"

// signingKeyFlag is --key of a command that signs.
func signingKeyFlag() *cli.StringFlag {
	return &cli.StringFlag{Name: "key", Required: true, Usage: signingKeyUsage}
}

// optionalSigningKeyFlag is --key of a command that can also run without
// signing; unless says when the key is not needed.
func optionalSigningKeyFlag(unless string) *cli.StringFlag {
	f := signingKeyFlag()
	f.Required = false
	f.Usage += "; not needed " + unless
	return f
}

// tsaURLFlag is --tsa-url of a command that signs.
func tsaURLFlag() *cli.StringFlag {
	return &cli.StringFlag{Name: "tsa-url", EnvVars: []string{"IMGSIGN_TSA_URL"},
		Usage: "RFC 3161 timestamp authority `URL` (e.g. https://tsa.example.com/api/v1/timestamp): the bundle gets a trusted time"}
}

// outputFormatFlag is --output of a command that prints a report; read it
// with outputFormat.
func outputFormatFlag() *cli.StringFlag {
	return &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "output `FORMAT`: text or json"}
}
