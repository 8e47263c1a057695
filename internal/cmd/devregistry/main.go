// Command devregistry serves an in-memory OCI registry on 127.0.0.1 for the
// demo and benchmarks (`make demo`, `make bench`), and pushes small random
// images into a registry (-push). It is a test fixture, not a registry to run.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imgsign/imgsign/internal/devregistry"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	referrers := flag.Bool("referrers", true, "serve the OCI 1.1 referrers API")
	addrFile := flag.String("addr-file", "", "write the chosen host:port to this file once listening")
	push := flag.String("push", "", "instead of serving, push a small random image to this `REF` (loopback registries only) and print its digest")
	flag.Parse()
	if *push != "" {
		if err := pushRandom(*push); err != nil {
			fmt.Fprintln(os.Stderr, "devregistry:", err)
			os.Exit(3)
		}
		return
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		fmt.Fprintln(os.Stderr, "devregistry: -addr must be a 127.0.0.1 address with a port")
		os.Exit(2)
	}
	s, err := devregistry.Start(*addr, *referrers)
	if err != nil {
		fmt.Fprintln(os.Stderr, "devregistry:", err)
		os.Exit(3)
	}
	if *addrFile != "" {
		if err := os.WriteFile(*addrFile, []byte(s.Addr), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "devregistry:", err)
			os.Exit(3)
		}
	}
	fmt.Println(s.Addr)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	_ = s.Close()
}

func pushRandom(ref string) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(r.Context().RegistryStr())
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-push only writes to loopback registries, not %s", r.Context().RegistryStr())
	}
	img, err := random.Image(2048, 2)
	if err != nil {
		return err
	}
	if err := remote.Write(r, img); err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Println(d)
	return nil
}
