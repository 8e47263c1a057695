package main

import (
	"crypto/x509"

	"github.com/urfave/cli/v2"

	"github.com/imgsign/imgsign/internal/boundedfile"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/sign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// signNotation is sign --format notation.
func signNotation(c *cli.Context) error {
	if _, err := outputFormat(c); err != nil {
		return err
	}
	ann, err := parseAnnotations(c.StringSlice("annotation"))
	if err != nil {
		return err
	}
	opts := sign.NotationOptions{Annotations: ann, Recursive: c.Bool("recursive"), NoTagBinding: c.Bool("no-tag-binding"),
		TSAURL: c.String("tsa-url"), Expiry: c.Duration("expiry")}
	switch e := c.String("signature-format"); e {
	case "jws":
	case "cose":
		opts.COSE = true
	default:
		return errkind.Inputf("--signature-format %q: use jws or cose", e)
	}
	if keyless(c) {
		return errkind.Inputf("--format notation signs with --key and its certificate chain --cert; --keyless signs Sigstore bundles")
	}
	if !c.IsSet("key") {
		return errkind.Inputf("--format notation needs --key REF (the key --cert certifies)")
	}
	if !c.IsSet("cert") {
		return errkind.Inputf("--format notation needs --cert CHAIN.pem: the signing certificate chain, leaf first (a Notary Project signature carries it)")
	}
	if opts.Chain, err = readCertChain(c.String("cert"), "--cert"); err != nil {
		return err
	}
	if f := c.String("tsa-root-cert"); f != "" {
		if opts.TSAURL == "" {
			return errkind.Inputf("--tsa-root-cert needs --tsa-url")
		}
		if opts.TSARoots, err = readCertChain(f, "--tsa-root-cert"); err != nil {
			return err
		}
	}
	s, err := loadSigner(c)
	if err != nil {
		return err
	}
	client := registryClient(c)
	return signImages(c, func(img string) (*sign.Result, error) { return sign.NotationImage(c.Context, client, img, s, opts) })
}

// readCertChain reads PEM certificates from file, in order.
func readCertChain(file, flag string) ([]*x509.Certificate, error) {
	b, err := boundedfile.Read(file, 1<<20)
	if err != nil {
		return nil, errkind.Inputf("%s %s: %w", flag, file, err)
	}
	certs, err := cryptoutils.UnmarshalCertificatesFromPEM(b)
	if err != nil || len(certs) == 0 {
		return nil, errkind.Inputf("%s %s: no PEM certificate in it (give the chain, leaf first)", flag, file)
	}
	return certs, nil
}
