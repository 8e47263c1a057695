// Command devregistry serves an in-memory OCI registry on 127.0.0.1 for the
// demo and benchmarks (`make demo`, `make bench`). It is not for production.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/imgsign/imgsign/internal/devregistry"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	referrers := flag.Bool("referrers", true, "serve the OCI 1.1 referrers API")
	addrFile := flag.String("addr-file", "", "write the chosen host:port to this file once listening")
	flag.Parse()
	host, _, _ := cutPort(*addr)
	if host != "127.0.0.1" && host != "localhost" {
		fmt.Fprintln(os.Stderr, "devregistry: listen on 127.0.0.1 only")
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

func cutPort(addr string) (string, string, bool) {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[:i], addr[i+1:], true
		}
	}
	return addr, "", false
}
