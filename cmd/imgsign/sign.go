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
records none.`,
		Flags: []cli.Flag{
			signingKeyFlag(),
			&cli.StringSliceFlag{Name: "annotation", Aliases: []string{"a"}, Usage: "`KEY=VALUE` annotation on the signed statement; repeatable"},
			&cli.BoolFlag{Name: "no-tag-binding", Usage: "do not record the tag IMAGE was given by in the signature (annotation dev.imgsign.tag)"},
			&cli.BoolFlag{Name: "recursive", Aliases: []string{"r"}, Usage: "for a multi-platform index, also sign each platform manifest"},
			tsaURLFlag(),
			outputFormatFlag(),
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "IMAGE"); err != nil {
				return err
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			ann, err := parseAnnotations(c.StringSlice("annotation"))
			if err != nil {
				return err
			}
			s, err := loadSigner(c)
			if err != nil {
				return err
			}
			client := registryClient(c)
			var results []*sign.Result
			for _, img := range c.Args().Slice() {
				res, err := sign.Image(c.Context, client, img, s, sign.Options{Annotations: ann, Recursive: c.Bool("recursive"), TSAURL: c.String("tsa-url"), NoTagBinding: c.Bool("no-tag-binding")})
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
		},
	}
}

func printSignResult(c *cli.Context, res *sign.Result) {
	w := c.App.Writer
	safetext.Fprintf(w, "signed %s\n", res.Image)
	if res.Tag != "" {
		safetext.Fprintf(w, "  bound to tag %s\n", res.Tag)
	}
	for _, a := range res.Attached {
		safetext.Fprintf(w, "  subject %s  signature %s  key %s\n", a.Subject, a.Referrer, a.KeyID)
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
