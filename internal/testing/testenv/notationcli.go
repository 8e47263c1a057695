package testenv

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// NotationKey is the name of the signing key Notation generates: notation
// names the key, its certificate and the CA trust store holding that
// certificate after it.
const NotationKey = "imgsign.test"

// NotationCLI is the notation CLI v1.3.2 (Notary Project signatures, built
// from tools/notation) with a config dir of its own, holding a test signing
// key made when the test starts and a trust policy that trusts it.
//
// Things about notation v1.3 that tests (and imgsign's own Notary Project
// support) run into:
//
//   - Its config dir is os.UserConfigDir()/notation ($XDG_CONFIG_HOME or
//     ~/.config) unless NOTATION_CONFIG names it; the cache and plugin dirs
//     likewise come from NOTATION_CACHE and NOTATION_LIBEXEC. Exec sets all
//     three (and HOME, XDG_CONFIG_HOME) to temp dirs.
//   - --oci-layout (sign, verify, list on an OCI image layout) is
//     experimental: hidden and refused unless NOTATION_EXPERIMENTAL=1, which
//     Exec sets; it prints a warning on stderr each time. `verify
//     --oci-layout` also requires --scope, a "fully qualified repository"
//     such as local/NAME that the trust policy's registryScopes must cover.
//   - A plain-HTTP registry, loopback included, needs --insecure-registry on
//     every command that talks to it: notation tries HTTPS otherwise.
//   - `notation sign` stores the signature with the referrers tag schema
//     (a sha256-<digest> tag) by default, even on a registry with the
//     referrers API. With --force-referrers-tag=false it uses the API, but
//     oras-go still writes the tag index when the manifest push is answered
//     without an OCI-Subject header, as testenv.Registry answers. Into a
//     layout it adds the signature manifest to index.json, untagged, with
//     its subject.
//   - `notation list` has no JSON output (`inspect -o json` has, but no
//     --oci-layout).
//   - Signing or verifying by tag works but warns: notation resolves the tag
//     and signs the digest.
//   - The trust policy is NOTATION_CONFIG/trustpolicy.json ("version":
//     "1.0"); `cert generate-test` puts the certificate in the trust store
//     ca:NAME, valid for one day.
type NotationCLI struct {
	// Config is NOTATION_CONFIG: signingkeys.json, localkeys/,
	// truststore/x509/ca/NotationKey/, trustpolicy.json.
	Config string
	// Home is the working directory and HOME of every run.
	Home string
	// KeyFile and CertFile are the test signing key (RSA-2048, PKCS#8 PEM)
	// and its self-signed certificate (PEM), which the trust store holds.
	KeyFile, CertFile string

	bin string
}

// Notation returns the notation CLI with a fresh config dir, the test key
// NotationKey as the default signing key and a trust policy that accepts
// its signatures (strict) in every registry scope, OCI layouts included. A
// missing notation binary skips t locally and fails it in CI.
func Notation(t testing.TB) *NotationCLI {
	t.Helper()
	bin := Tool(t, "notation")
	home := t.TempDir()
	n := &NotationCLI{
		bin:      bin,
		Home:     home,
		Config:   filepath.Join(home, "notation-config"),
		KeyFile:  filepath.Join(home, "notation-config", "localkeys", NotationKey+".key"),
		CertFile: filepath.Join(home, "notation-config", "localkeys", NotationKey+".crt"),
	}
	n.Run(t, "cert", "generate-test", "--default", NotationKey)
	for _, f := range []string{n.KeyFile, n.CertFile} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("notation cert generate-test did not write %s: %v", f, err)
		}
	}
	n.TrustPolicy(t, `{
  "version": "1.0",
  "trustPolicies": [{
    "name": "imgsign-test",
    "registryScopes": ["*"],
    "signatureVerification": {"level": "strict"},
    "trustStores": ["ca:`+NotationKey+`"],
    "trustedIdentities": ["*"]
  }]
}`)
	return n
}

// TrustPolicy replaces notation's trust policy (trustpolicy.json) with
// policy.
func (n *NotationCLI) TrustPolicy(t testing.TB, policy string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(n.Config, "trustpolicy.json"), []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Exec runs notation with args and returns what happened, whatever the exit
// code: for runs expected to fail.
func (n *NotationCLI) Exec(t testing.TB, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, n.bin, args...)
	cmd.Dir = n.Home
	cmd.Env = []string{
		"HOME=" + n.Home,
		"PATH=" + os.Getenv("PATH"),
		"XDG_CONFIG_HOME=" + filepath.Join(n.Home, ".config"),
		"NOTATION_CONFIG=" + n.Config,
		"NOTATION_CACHE=" + filepath.Join(n.Home, "notation-cache"),
		"NOTATION_LIBEXEC=" + filepath.Join(n.Home, "notation-libexec"),
		"NOTATION_EXPERIMENTAL=1",
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running notation %s: %v", strings.Join(args, " "), err)
	}
	if strings.Contains(res.Stderr, "panic:") || strings.Contains(res.Stderr, "goroutine ") {
		t.Fatalf("notation %s panicked:\n%s", strings.Join(args, " "), res.Stderr)
	}
	return res
}

// Run runs notation with args and returns its stdout, failing t with the
// command's output unless it exits 0.
func (n *NotationCLI) Run(t testing.TB, args ...string) string {
	t.Helper()
	r := n.Exec(t, args...)
	if r.Code != 0 {
		t.Fatalf("notation %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}
