package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/safetext"
	"github.com/imgsign/imgsign/sign"
)

func signCommand() *cli.Command {
	return &cli.Command{
		Name:      "sign",
		Usage:     "sign images and push each signature as an OCI referrer",
		ArgsUsage: "IMAGE...",
		Description: `IMAGE is a tag or name@sha256:…; a tag is resolved to its manifest digest once and
the digest is what gets signed. The signature is an in-toto statement
(predicateType https://sigstore.dev/cosign/sign/v1) in a DSSE envelope inside a
Sigstore bundle v0.3, pushed as an OCI 1.1 referrer; cosign verify --key accepts it.

Signing a tag records it in the signature: the statement's subject carries the
annotation dev.imgsign.tag=<tag>, which a policy with signatures.bindTag checks
(a tag moved to another digest then fails). With --recursive only the index's
signature names the tag. --no-tag-binding leaves it out; signing by digest
records none.

--format notation writes a Notary Project signature instead, as notation sign
does (notation verify accepts it): a JWS envelope (COSE with --signature-format
cose) over the image's descriptor, signed with --key and the certificate chain
--cert (PEM, leaf first; an RSA or ECDSA key, whose leaf is a code-signing
certificate). --tsa-url adds an RFC 3161 countersignature, checked against
--tsa-root-cert. A tag binding goes into the signed descriptor's annotations.`,
		Flags: append(signerFlags(),
			&cli.StringSliceFlag{Name: "annotation", Aliases: []string{"a"}, Usage: "`KEY=VALUE` annotation on the signed statement; repeatable"},
			&cli.BoolFlag{Name: "no-tag-binding", Usage: "do not record the tag IMAGE was given by in the signature (annotation dev.imgsign.tag)"},
			&cli.BoolFlag{Name: "recursive", Aliases: []string{"r"}, Usage: "for a multi-platform index, also sign each platform manifest"},
			tsaURLFlag(),
			&cli.StringFlag{Name: "format", Value: "sigstore", Usage: "signature `FORMAT`: sigstore (a Sigstore bundle, as cosign writes) or notation (a Notary Project signature)"},
			&cli.StringFlag{Name: "cert", Usage: "with --format notation: the signing certificate chain, PEM `FILE`, leaf first"},
			&cli.StringFlag{Name: "signature-format", Value: "jws", Usage: "with --format notation: envelope `TYPE`, jws or cose"},
			&cli.StringFlag{Name: "tsa-root-cert", Usage: "with --format notation and --tsa-url: the TSA's root certificate, PEM `FILE`"},
			&cli.DurationFlag{Name: "expiry", Usage: "with --format notation: the signature expires after `DURATION` (e.g. 8760h)"},
			outputFormatFlag(),
		),
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "IMAGE"); err != nil {
				return err
			}
			switch f := c.String("format"); f {
			case "sigstore":
				for _, n := range []string{"cert", "tsa-root-cert", "expiry"} {
					if c.IsSet(n) {
						return errkind.Inputf("--%s is for --format notation", n)
					}
				}
				if c.IsSet("signature-format") {
					return errkind.Inputf("--signature-format is for --format notation")
				}
			case "notation":
				return signNotation(c)
			default:
				return errkind.Inputf("--format %q: use sigstore or notation", f)
			}
			ann, err := parseAnnotations(c.StringSlice("annotation"))
			if err != nil {
				return err
			}
			s, err := loadAnySigner(c)
			if err != nil {
				return err
			}
			client := registryClient(c)
			opts := sign.Options{Annotations: ann, Recursive: c.Bool("recursive"), TSAURL: c.String("tsa-url"), NoTagBinding: c.Bool("no-tag-binding")}
			return signImages(c, func(img string) (*sign.Result, error) { return sign.Image(c.Context, client, img, s, opts) })
		},
	}
}

// signImages signs each image argument with signOne, in order, and prints
// the results as --output asks.
func signImages(c *cli.Context, signOne func(image string) (*sign.Result, error)) error {
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	var results []*sign.Result
	for _, img := range c.Args().Slice() {
		res, err := signOne(img)
		if err != nil {
			return fmt.Errorf("signing %s: %w", img, err)
		}
		results = append(results, res)
		if format == "text" {
			printSignResult(c, res)
		}
	}
	if format == "json" {
		return writeJSON(c, results)
	}
	return nil
}

func printSignResult(c *cli.Context, res *sign.Result) {
	w := c.App.Writer
	safetext.Fprintf(w, "signed %s\n", res.Image)
	if res.Tag != "" {
		safetext.Fprintf(w, "  bound to tag %s\n", res.Tag)
	}
	for _, a := range res.Attached {
		if a.Identity != "" {
			safetext.Fprintf(w, "  subject %s  signature %s  keyless, certificate for %s\n", a.Subject, a.Referrer, a.Identity)
		} else {
			safetext.Fprintf(w, "  subject %s  signature %s  key %s\n", a.Subject, a.Referrer, a.KeyID)
		}
		for _, e := range a.LogEntries {
			safetext.Fprintf(w, "    transparency log entry %s\n", e)
		}
	}
}

func parseAnnotations(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, errkind.Inputf("annotation %q is not KEY=VALUE", kv)
		}
		m[k] = v
	}
	return m, nil
}

// writeJSON prints v as indented JSON. encoding/json escapes C0 controls;
// safetext.JSON escapes the rest a terminal would act on (DEL, C1, bidi
// overrides), since reports carry strings from the registry.
func writeJSON(c *cli.Context, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := c.App.Writer.Write(safetext.JSON(b.Bytes()))
	return err
}
