// Command imgsign-tsa serves sigstore's timestamp-authority REST API
// (RFC 3161) from its Go packages on 127.0.0.1 with an in-memory signer.
// Unlike the timestamp-server binary it opens no metrics listener on all
// interfaces, so tests can run a real TSA on loopback only.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/sigstore/timestamp-authority/pkg/server"
	"github.com/spf13/viper"
)

func main() {
	addrFile := flag.String("addr-file", "", "write the chosen host:port here once listening")
	flag.Parse()
	viper.Set("timestamp-signer", "memory")
	viper.Set("timestamp-signer-hash", "sha256")
	// The whole chain in each token, as public TSAs send it: a Notary
	// Project verifier builds the TSA's chain from the token's
	// certificates up to a root in its tsa trust store.
	viper.Set("include-chain-in-response", true)
	api := server.NewRestAPIServer("127.0.0.1", 0, []string{"http"}, false, 10*time.Second, 10*time.Second)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "imgsign-tsa:", err)
		os.Exit(3)
	}
	if *addrFile != "" {
		if err := os.WriteFile(*addrFile, []byte(ln.Addr().String()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "imgsign-tsa:", err)
			os.Exit(3)
		}
	}
	fmt.Println(ln.Addr().String())
	srv := &http.Server{Handler: api.GetHandler(), ReadHeaderTimeout: 10 * time.Second}
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "imgsign-tsa:", err)
		os.Exit(3)
	}
}
