// Command devsigstore runs a throwaway Sigstore on 127.0.0.1 for `make demo`:
// an OIDC issuer standing in for GitHub Actions' (internal/testing/oidctest),
// sigstore's Fulcio with an ephemeral CA (tools/fulcio) trusting it, and
// sigstore's timestamp authority (tools/tsa). It writes into -dir what a
// keyless signer and a verifier need, the way a CI job has them:
//
//	token                 an ID token for acme/app's release workflow (audience sigstore)
//	issuer                the issuer's URL (the certificate's OIDC issuer)
//	signing_config.json   Fulcio and the TSA (v0.2)
//	trusted_root.json     Fulcio's CA and the TSA's chain
//	ready                 written last
//
// and serves until it gets SIGINT or SIGTERM, or -for passes. Nothing here
// is trusted outside the demo: every key is generated at start and dies
// with the process. Test support: product code never imports it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/imgsign/imgsign/internal/testing/fulcioenv"
	"github.com/imgsign/imgsign/internal/testing/oidctest"
	"github.com/imgsign/imgsign/internal/testing/testenv"
)

func main() {
	fulcio := flag.String("fulcio", "", "the imgsign-fulcio `BIN` (tools/build.sh fulcio)")
	tsa := flag.String("tsa", "", "the imgsign-tsa `BIN` (tools/build.sh tsa)")
	dir := flag.String("dir", "", "write the token, signing config and trusted root into `DIR`")
	life := flag.Duration("for", 30*time.Minute, "stop after this long even if not signalled")
	// Like GitHub's (5 to 10 minutes): long enough for the demo's steps.
	tokenLife := flag.Duration("token-life", 10*time.Minute, "the ID token's lifetime")
	flag.Parse()
	if *fulcio == "" || *tsa == "" || *dir == "" {
		fmt.Fprintln(os.Stderr, "devsigstore: -fulcio, -tsa and -dir are required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *life)
	defer cancel()
	if err := run(ctx, *fulcio, *tsa, *dir, *tokenLife); err != nil {
		fmt.Fprintln(os.Stderr, "devsigstore:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, fulcioBin, tsaBin, dir string, tokenLife time.Duration) error {
	issuer, err := oidctest.New()
	if err != nil {
		return err
	}
	defer issuer.Close()
	tsaDir, fulcioDir := filepath.Join(dir, "tsa"), filepath.Join(dir, "fulcio")
	for _, d := range []string{tsaDir, fulcioDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	tsa, err := testenv.LaunchTSA(tsaBin, tsaDir)
	if err != nil {
		return err
	}
	defer tsa.Stop()
	f, err := fulcioenv.Launch(fulcioBin, fulcioDir, fulcioenv.WithIssuer(issuer), fulcioenv.WithTSA(tsa.URL, tsa.ChainPath))
	if err != nil {
		return err
	}
	defer f.Stop()
	token, err := issuer.Mint(oidctest.WithLifetime(tokenLife))
	if err != nil {
		return err
	}
	for _, file := range []struct{ name, from, data string }{
		{name: "token", data: token},
		{name: "issuer", data: issuer.URL()},
		{name: "signing_config.json", from: f.SigningConfigPath},
		{name: "trusted_root.json", from: f.TrustedRootPath},
		{name: "ready", data: "ready\n"},
	} {
		data := []byte(file.data)
		if file.from != "" {
			if data, err = os.ReadFile(file.from); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(dir, file.name), data, 0o600); err != nil {
			return err
		}
	}
	<-ctx.Done()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		fmt.Fprintln(os.Stderr, "devsigstore: stopping after -for")
	}
	return nil
}
