package main

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

func TestNeedFallbackRoots(t *testing.T) {
	for _, tc := range []struct {
		name   string
		goos   string
		env    map[string]string
		exists []string
		want   bool
	}{
		{name: "FROM scratch: nothing", goos: "linux", want: true},
		{name: "Debian's bundle", goos: "linux", exists: []string{"/etc/ssl/certs/ca-certificates.crt"}, want: false},
		{name: "Alpine's bundle", goos: "linux", exists: []string{"/etc/ssl/cert.pem"}, want: false},
		{name: "a certificate directory only", goos: "linux", exists: []string{"/etc/pki/tls/certs"}, want: false},
		{name: "an unrelated file only", goos: "linux", exists: []string{"/etc/passwd"}, want: true},
		{name: "SSL_CERT_FILE names the roots", goos: "linux", env: map[string]string{"SSL_CERT_FILE": "/roots.pem"}, want: false},
		{name: "SSL_CERT_DIR names the roots", goos: "linux", env: map[string]string{"SSL_CERT_DIR": "/roots"}, want: false},
		{name: "GODEBUG prefers the fallback", goos: "linux", env: map[string]string{"GODEBUG": "x509usefallbackroots=1"}, exists: []string{"/etc/ssl/cert.pem"}, want: true},
		{name: "macOS verifies with the platform", goos: "darwin", want: false},
		{name: "Windows verifies with the platform", goos: "windows", want: false},
		{name: "another Unix", goos: "freebsd", exists: []string{"/etc/ssl/cert.pem"}, want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string { return tc.env[k] }
			exists := func(p string) bool {
				for _, e := range tc.exists {
					if e == p {
						return true
					}
				}
				return false
			}
			if got := needFallbackRoots(tc.goos, getenv, exists); got != tc.want {
				t.Errorf("needFallbackRoots = %v, want %v", got, tc.want)
			}
		})
	}
}

// An empty file or directory holds no roots: Go would find none there.
func TestHasEntries(t *testing.T) {
	dir := t.TempDir()
	empty, full := filepath.Join(dir, "empty"), filepath.Join(dir, "full")
	for _, p := range []string{empty, full} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(full, "ca.pem"), "x")
	write(filepath.Join(dir, "empty.pem"), "")
	write(filepath.Join(dir, "ca.pem"), "x")
	for p, want := range map[string]bool{
		empty: false, full: true,
		filepath.Join(dir, "empty.pem"): false, filepath.Join(dir, "ca.pem"): true,
		filepath.Join(dir, "missing"): false,
	} {
		if got := hasEntries(p); got != want {
			t.Errorf("hasEntries(%s) = %v, want %v", filepath.Base(p), got, want)
		}
	}
}

// Every compiled-in root parses: setFallbackRoots skips none in practice.
func TestFallbackBundleParses(t *testing.T) {
	n := 0
	for c := range bundle.Roots() {
		if _, err := x509.ParseCertificate(c.Certificate); err != nil {
			t.Errorf("fallback root %d: %v", n, err)
		}
		n++
	}
	if n < 100 {
		t.Errorf("the fallback bundle holds %d roots, want the Mozilla set (over 100)", n)
	}
}
