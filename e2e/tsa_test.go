package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgsign/imgsign/internal/attachment"
	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// tsaPolicy trusts key k (with extra validity lines) and the TSA chain.
func tsaPolicy(e *env, host, chain, keyExtra string, require bool) string {
	return e.write("trust.yaml", `version: 1
keys:
  - name: k
    publicKey: k.pub
`+keyExtra+`timestampAuthorities:
  - name: test-tsa
    certChain: `+chain+`
policies:
  - name: p
    scopes: ["`+host+`/**"]
    signatures:
      keys: [k]
      requireTimestamp: `+map[bool]string{true: "true", false: "false"}[require]+`
`)
}

// bundleOf returns the bundle JSON of the single signature on image d.
func bundleOf(t *testing.T, host, repo string, d v1.Hash) map[string]any {
	t.Helper()
	rp := openRepo(t, host, repo)
	l, err := attachment.Discover(context.Background(), rp, v1.Descriptor{Digest: d}, attachment.Options{})
	if err != nil || len(l.Entries) != 1 {
		t.Fatalf("discover: %v (%d entries)", err, len(l.Entries))
	}
	raw, err := attachment.FetchBundle(context.Background(), rp, d, l.Entries[0])
	if err != nil {
		t.Fatal(err)
	}
	var b map[string]any
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRFC3161Timestamps(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	tsaURL, chain := testenv.TSA(t)
	otherURL, _ := testenv.TSA(t)
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	sign := func(repo, url string) (string, v1.Hash) {
		d := testenv.PushImage(t, host, repo, "v1")
		args := []string{"sign", "--key", "k.key", host + "/" + repo + ":v1"}
		if url != "" {
			args = append(args, "--tsa-url", url)
		}
		e.must(args...)
		return host + "/" + repo + ":v1", d
	}

	img, d := sign("stamped", tsaURL)
	signedAt := time.Now().UTC()
	b := bundleOf(t, host, "stamped", d)
	tss := b["verificationMaterial"].(map[string]any)["timestampVerificationData"].(map[string]any)["rfc3161Timestamps"].([]any)
	if len(tss) != 1 {
		t.Fatalf("bundle has %d RFC 3161 timestamps, want 1", len(tss))
	}

	t.Run("trusted timestamp sets the signature time", func(t *testing.T) {
		rep, r := e.verifyJSON(tsaPolicy(e, host, chain, "", true), img)
		if r.Code != 0 {
			t.Fatalf("exit %d\n%s", r.Code, r.Stdout)
		}
		if ts := rep.Images[0].Requirements[0].Accepted[0].TimeSource; ts != "rfc3161:test-tsa" {
			t.Errorf("time source %q", ts)
		}
	})
	t.Run("timestamp inside the window passes after the key expired", func(t *testing.T) {
		// The key expires an hour after signing; verification happens a day
		// later (verify --at, not a sleep).
		until := signedAt.Add(time.Hour)
		later := signedAt.Add(24 * time.Hour).Format(time.RFC3339)
		extra := "    validFrom: 2020-01-01T00:00:00Z\n    validUntil: " + until.Format(time.RFC3339Nano) + "\n"
		if r := e.run("verify", "--policy", tsaPolicy(e, host, chain, extra, false), "--at", later, img); r.Code != 0 {
			t.Fatalf("exit %d\n%s", r.Code, r.Stdout)
		}
		// Without the timestamp the same key is judged at that time: expired.
		plain, _ := sign("unstamped-expired", "")
		if r := e.run("verify", "--policy", tsaPolicy(e, host, chain, extra, false), "--at", later, plain); r.Code != 1 || !strings.Contains(r.Stdout, "expired") {
			t.Fatalf("untimestamped signature by an expired key: exit %d\n%s", r.Code, r.Stdout)
		}
	})
	t.Run("timestamp after revokedAt fails", func(t *testing.T) {
		extra := "    revokedAt: " + signedAt.Add(-time.Minute).Format(time.RFC3339) + "\n"
		if r := e.run("verify", "--policy", tsaPolicy(e, host, chain, extra, false), img); r.Code != 1 || !strings.Contains(r.Stdout, "revoked") {
			t.Fatalf("exit %d\n%s", r.Code, r.Stdout)
		}
	})
	t.Run("timestamp from an untrusted TSA fails", func(t *testing.T) {
		other, _ := sign("other-tsa", otherURL)
		if r := e.run("verify", "--policy", tsaPolicy(e, host, chain, "", false), other); r.Code != 1 || !strings.Contains(r.Stdout, "timestamp is not trusted") {
			t.Fatalf("exit %d\n%s", r.Code, r.Stdout)
		}
	})
	t.Run("tampered timestamp fails", func(t *testing.T) {
		// Sign d2 with a timestamp, then attach a copy whose timestamp has one
		// byte flipped: the intact signature passes, the copy is rejected.
		d2 := testenv.PushImage(t, host, "tampered-ts", "v1")
		e.must("sign", "--key", "k.key", "--tsa-url", tsaURL, host+"/tampered-ts@"+d2.String())
		tb := bundleOf(t, host, "tampered-ts", d2)
		ts := tb["verificationMaterial"].(map[string]any)["timestampVerificationData"].(map[string]any)["rfc3161Timestamps"].([]any)[0].(map[string]any)
		der, _ := base64.StdEncoding.DecodeString(ts["signedTimestamp"].(string))
		der[len(der)-10] ^= 0xff
		ts["signedTimestamp"] = base64.StdEncoding.EncodeToString(der)
		raw, _ := json.Marshal(tb)
		attachRaw(t, host, "tampered-ts", d2, raw)
		rep, r := e.verifyJSON(tsaPolicy(e, host, chain, "", true), host+"/tampered-ts@"+d2.String())
		if r.Code != 0 || len(rep.Images[0].Requirements[0].Rejected) != 1 || !strings.Contains(rep.Images[0].Requirements[0].Rejected[0].Reason, "timestamp") {
			t.Fatalf("exit %d, rejected %+v", r.Code, rep.Images[0].Requirements[0].Rejected)
		}
	})
	t.Run("requireTimestamp rejects untimestamped signatures", func(t *testing.T) {
		plain, _ := sign("unstamped", "")
		if r := e.run("verify", "--policy", tsaPolicy(e, host, chain, "", true), plain); r.Code != 1 || !strings.Contains(r.Stdout, "requireTimestamp") {
			t.Fatalf("exit %d\n%s", r.Code, r.Stdout)
		}
	})
	t.Run("TSA unreachable on sign is operational", func(t *testing.T) {
		testenv.PushImage(t, host, "deadtsa", "v1")
		r := e.run("sign", "--key", "k.key", "--tsa-url", "http://"+testenv.FreeAddr(t)+"/api/v1/timestamp", host+"/deadtsa:v1")
		if r.Code != 3 || !strings.Contains(r.Stderr, "timestamp") {
			t.Fatalf("exit %d %s", r.Code, r.Stderr)
		}
	})
	t.Run("openssl ts agrees", func(t *testing.T) {
		openssl, err := exec.LookPath("openssl")
		if err != nil {
			testenv.Missing(t, "openssl not installed")
		}
		der, _ := base64.StdEncoding.DecodeString(tss[0].(map[string]any)["signedTimestamp"].(string))
		sig, _ := base64.StdEncoding.DecodeString(b["dsseEnvelope"].(map[string]any)["signatures"].([]any)[0].(map[string]any)["sig"].(string))
		sum := sha256.Sum256(sig)
		dir := t.TempDir()
		tsr := filepath.Join(dir, "ts.der")
		if err := os.WriteFile(tsr, der, 0o644); err != nil {
			t.Fatal(err)
		}
		chainPEM, _ := os.ReadFile(chain)
		certs := strings.SplitAfter(strings.TrimSpace(string(chainPEM)), "-----END CERTIFICATE-----")
		rootPEM := strings.TrimSpace(certs[len(certs)-2]) + "\n"
		rootPath := filepath.Join(dir, "root.pem")
		_ = os.WriteFile(rootPath, []byte(rootPEM), 0o644)
		out, err := exec.Command(openssl, "ts", "-verify", "-digest", hex.EncodeToString(sum[:]), "-in", tsr,
			"-CAfile", rootPath, "-untrusted", chain).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Verification: OK") {
			t.Fatalf("openssl ts -verify: %v\n%s", err, out)
		}
		// And a different digest does not verify: the check can fail.
		wrong := sha256.Sum256([]byte("not the signature"))
		if out, err := exec.Command(openssl, "ts", "-verify", "-digest", hex.EncodeToString(wrong[:]), "-in", tsr,
			"-CAfile", rootPath, "-untrusted", chain).CombinedOutput(); err == nil {
			t.Fatalf("openssl verified a timestamp over the wrong digest:\n%s", out)
		}
	})
}
