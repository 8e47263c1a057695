package main

import (
	"crypto/x509"
	"os"
	"runtime"
	"strings"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// The release container image is FROM scratch: no /etc/ssl/certs. There,
// and only where the system has no CA certificates, Go falls back to the
// Mozilla roots compiled in, so imgsign serve reaches HTTPS registries.
// Importing x509roots/fallback would parse those roots at every start
// (2-4 ms, a tenth of imgsign's); here they are parsed only when they will
// be used.

// linuxCertFiles and linuxCertDirs are where Go's crypto/x509 looks for the
// system's roots on Linux (root_linux.go), unless SSL_CERT_FILE or
// SSL_CERT_DIR say otherwise.
var (
	linuxCertFiles = []string{
		"/etc/ssl/certs/ca-certificates.crt",
		"/etc/pki/tls/certs/ca-bundle.crt",
		"/etc/ssl/ca-bundle.pem",
		"/etc/pki/tls/cacert.pem",
		"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
		"/etc/ssl/cert.pem",
	}
	linuxCertDirs = []string{"/etc/ssl/certs", "/etc/pki/tls/certs"}
)

// setFallbackRoots hands Go the compiled-in roots when the system has none.
func setFallbackRoots() {
	if needFallbackRoots(runtime.GOOS, os.Getenv, hasEntries) {
		pool := x509.NewCertPool()
		for c := range bundle.Roots() {
			cert, err := x509.ParseCertificate(c.Certificate)
			if err != nil {
				continue // the bundle is fixed at build time and tested
			}
			if c.Constraint == nil {
				pool.AddCert(cert)
			} else {
				pool.AddCertWithConstraint(cert, c.Constraint)
			}
		}
		x509.SetFallbackRoots(pool)
	}
}

// needFallbackRoots says whether Go would find no system roots. It may say
// false where Go then finds none (a file without certificates): TLS then
// fails as it would without the fallback, it does not trust more.
func needFallbackRoots(goos string, getenv func(string) string, exists func(string) bool) bool {
	switch {
	case strings.Contains(getenv("GODEBUG"), "x509usefallbackroots=1"):
		return true // Go's own switch to prefer them
	case goos == "darwin" || goos == "ios" || goos == "windows":
		return false // the platform verifier decides; Go never falls back
	case goos != "linux":
		return true // where the roots live there is not known here
	case getenv("SSL_CERT_FILE") != "" || getenv("SSL_CERT_DIR") != "":
		return false // Go reads what these name, and nothing else
	}
	for _, p := range append(append([]string{}, linuxCertFiles...), linuxCertDirs...) {
		if exists(p) {
			return false
		}
	}
	return true
}

// hasEntries reports whether p is a non-empty file or a directory with
// something in it.
func hasEntries(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	if !fi.IsDir() {
		return fi.Size() > 0
	}
	names, _ := f.Readdirnames(1)
	return len(names) > 0
}
