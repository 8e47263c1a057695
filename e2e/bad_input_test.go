package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/keys"
	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/statement"
)

// signedBundle makes a valid signature bundle for subject in host/repo with
// the key file, without pushing it.
func signedBundle(t *testing.T, keyPath, host, repo string, subject v1.Hash) []byte {
	t.Helper()
	s, err := keys.KeyFiles.LoadSigner(context.Background(), keyPath, keys.Access{Passphrase: func(bool) ([]byte, error) { return []byte(passphrase), nil }})
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.NewRepository(host + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	st, err := statement.About(r, subject, statement.Signature, map[string]any{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sign.Bundle(context.Background(), st, s, "")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// attachRaw pushes arbitrary bundle bytes as a signature referrer of subject.
func attachRaw(t *testing.T, host, repo string, subject v1.Hash, bundle []byte) {
	t.Helper()
	rp := openRepo(t, host, repo)
	desc := v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: subject}
	if _, err := sign.Push(context.Background(), rp, desc, statement.Signature, bundle, sign.Options{}); err != nil {
		t.Fatal(err)
	}
}

// tamperPayload flips the statement inside a bundle's DSSE envelope,
// leaving the signature as it was.
func tamperPayload(t *testing.T, bundle []byte) []byte {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	env := b["dsseEnvelope"].(map[string]any)
	payload := env["payload"].(string)
	// Replace the base64 payload with one of the same length but other bytes.
	env["payload"] = strings.Replace(payload, payload[10:14], "AAAA", 1)
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBadInputs(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	type tc struct {
		name string
		// setup prepares files and registry content and returns the args.
		setup    func(t *testing.T, e *env) []string
		wantCode int
		wantMsg  string
	}
	// Each case gets its own repository so signatures never mix.
	signedImage := func(t *testing.T, e *env, repo string) string {
		e.key("k", "ecdsa-p256")
		testenv.PushImage(t, host, repo, "v1")
		e.must("sign", "--key", "k.key", host+"/"+repo+":v1")
		return host + "/" + repo + ":v1"
	}
	cases := []tc{
		{"wrong key", func(t *testing.T, e *env) []string {
			img := signedImage(t, e, "wrongkey")
			e.key("other", "ecdsa-p256")
			return []string{"verify", "--policy", e.policy(host, []string{"other"}, 1, nil), img}
		}, 1, "which the policy does not list"},
		{"tampered DSSE payload", func(t *testing.T, e *env) []string {
			e.key("k", "ecdsa-p256")
			d := testenv.PushImage(t, host, "tampered", "v1")
			attachRaw(t, host, "tampered", d, tamperPayload(t, signedBundle(t, filepath.Join(e.dir, "k.key"), host, "tampered", d)))
			return []string{"verify", "--policy", e.policy(host, []string{"k"}, 1, nil), host + "/tampered:v1"}
		}, 1, "signature does not verify"},
		{"signature replayed onto another image", func(t *testing.T, e *env) []string {
			e.key("k", "ecdsa-p256")
			signed := testenv.PushImage(t, host, "replay", "signed")
			other := testenv.PushImage(t, host, "replay", "other")
			attachRaw(t, host, "replay", other, signedBundle(t, filepath.Join(e.dir, "k.key"), host, "replay", signed))
			return []string{"verify", "--policy", e.policy(host, []string{"k"}, 1, nil), host + "/replay:other"}
		}, 1, "about another image"},
		{"statement names another digest", func(t *testing.T, e *env) []string {
			e.key("k", "ecdsa-p256")
			d := testenv.PushImage(t, host, "otherdigest", "v1")
			bogus := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
			attachRaw(t, host, "otherdigest", d, signedBundle(t, filepath.Join(e.dir, "k.key"), host, "otherdigest", bogus))
			return []string{"verify", "--policy", e.policy(host, []string{"k"}, 1, nil), host + "/otherdigest:v1"}
		}, 1, "about another image"},
		{"truncated bundle", func(t *testing.T, e *env) []string {
			e.key("k", "ecdsa-p256")
			d := testenv.PushImage(t, host, "truncated", "v1")
			b := signedBundle(t, filepath.Join(e.dir, "k.key"), host, "truncated", d)
			attachRaw(t, host, "truncated", d, b[:len(b)/2])
			return []string{"verify", "--policy", e.policy(host, []string{"k"}, 1, nil), host + "/truncated:v1"}
		}, 1, "not a valid Sigstore bundle"},
		{"non-JSON bundle", func(t *testing.T, e *env) []string {
			e.key("k", "ecdsa-p256")
			d := testenv.PushImage(t, host, "notjson", "v1")
			attachRaw(t, host, "notjson", d, []byte("this is not a bundle"))
			return []string{"verify", "--policy", e.policy(host, []string{"k"}, 1, nil), host + "/notjson:v1"}
		}, 1, "not a valid Sigstore bundle"},
		{"unknown policy field", func(t *testing.T, e *env) []string {
			p := e.write("trust.yaml", "version: 1\nkeys: []\npolicies:\n  - name: x\n    scopes: [\"example.com/**\"]\n    signaturez: {}\n")
			return []string{"verify", "--policy", p, host + "/any:v1"}
		}, 2, `trust.yaml:6`},
		{"policy check lists every problem", func(t *testing.T, e *env) []string {
			p := e.write("trust.yaml", "version: 1\nkeys: []\npolicies:\n  - name: x\n    scopes: [\"example.com/**\"]\n    signaturez: {}\n")
			return []string{"policy", "check", p}
		}, 2, `unknown field "signaturez"`},
		{"no matching scope", func(t *testing.T, e *env) []string {
			img := signedImage(t, e, "noscope")
			p := e.write("trust.yaml", "version: 1\nkeys:\n  - name: k\n    publicKey: k.pub\npolicies:\n  - name: elsewhere\n    scopes: [\"registry.example.com/**\"]\n    signatures:\n      keys: [k]\n")
			return []string{"verify", "--policy", p, img}
		}, 1, "scope"},
		{"threshold not met", func(t *testing.T, e *env) []string {
			img := signedImage(t, e, "threshold")
			e.key("k2", "ed25519")
			return []string{"verify", "--policy", e.policy(host, []string{"k", "k2"}, 2, nil), img}
		}, 1, "only 1 of 2"},
		{"revoked key", func(t *testing.T, e *env) []string {
			img := signedImage(t, e, "revoked")
			return []string{"verify", "--policy", e.policy(host, []string{"k"}, 1, map[string]string{"k": "    revokedAt: 2026-01-01T00:00:00Z\n"}), img}
		}, 1, "revoked"},
		{"key past validUntil", func(t *testing.T, e *env) []string {
			img := signedImage(t, e, "expired")
			return []string{"verify", "--policy", e.policy(host, []string{"k"}, 1, map[string]string{"k": "    validFrom: 2020-01-01T00:00:00Z\n    validUntil: 2021-01-01T00:00:00Z\n"}), img}
		}, 1, "expired"},
		{"wrong passphrase", func(t *testing.T, e *env) []string {
			e.key("k", "ecdsa-p256")
			testenv.PushImage(t, host, "wrongpass", "v1")
			return []string{"sign", "--key", "k.key", host + "/wrongpass:v1"}
		}, 2, "wrong passphrase"},
		{"RSA-1024 key", func(t *testing.T, e *env) []string {
			k, err := rsa.GenerateKey(rand.Reader, 1024)
			if err != nil {
				t.Fatal(err)
			}
			e.write("weak.pem", string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})))
			testenv.PushImage(t, host, "weak", "v1")
			return []string{"sign", "--key", "weak.pem", host + "/weak:v1"}
		}, 2, "1024 bits"},
		{"image not found", func(t *testing.T, e *env) []string {
			e.key("k", "ecdsa-p256")
			return []string{"sign", "--key", "k.key", host + "/nothere:v1"}
		}, 2, "not found"},
		{"image not found on verify", func(t *testing.T, e *env) []string {
			e.key("k", "ecdsa-p256")
			return []string{"verify", "--policy", e.policy(host, []string{"k"}, 1, nil), host + "/nothere:v1"}
		}, 2, "not found"},
		{"registry unreachable", func(t *testing.T, e *env) []string {
			e.key("k", "ecdsa-p256")
			dead := testenv.FreeAddr(t)
			return []string{"verify", "--policy", e.policy(dead, []string{"k"}, 1, nil), dead + "/app:v1"}
		}, 3, "registry"},
		{"nothing attached", func(t *testing.T, e *env) []string {
			e.key("k", "ecdsa-p256")
			testenv.PushImage(t, host, "unsigned", "v1")
			return []string{"verify", "--policy", e.policy(host, []string{"k"}, 1, nil), host + "/unsigned:v1"}
		}, 1, "no signature found"},
		{"malformed image reference", func(t *testing.T, e *env) []string {
			e.key("k", "ecdsa-p256")
			return []string{"sign", "--key", "k.key", "UPPER CASE/not valid"}
		}, 2, "parsing image reference"},
		{"missing key file", func(t *testing.T, e *env) []string {
			return []string{"sign", "--key", "nope.key", host + "/x:v1"}
		}, 2, "nope.key"},
		{"unknown flag", func(t *testing.T, e *env) []string {
			return []string{"sign", "--kee", "k.key", host + "/x:v1"}
		}, 2, "flag provided but not defined"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			args := c.setup(t, e)
			var r testenv.Result
			if c.name == "wrong passphrase" {
				r = testenv.Run(t, e.dir, []string{"IMGSIGN_PASSWORD=not-the-passphrase"}, e.bin, args...)
				if strings.Contains(r.Stdout+r.Stderr, "not-the-passphrase") {
					t.Errorf("output repeats the passphrase")
				}
			} else {
				r = e.run(args...)
			}
			out := r.Stdout + r.Stderr
			if r.Code != c.wantCode || !strings.Contains(out, c.wantMsg) {
				t.Fatalf("exit %d (want %d), output should contain %q:\nstdout:\n%s\nstderr:\n%s", r.Code, c.wantCode, c.wantMsg, r.Stdout, r.Stderr)
			}
			if strings.Contains(out, "PRIVATE KEY") || strings.Contains(out, passphrase) {
				t.Errorf("output leaks key material or the passphrase:\n%s", out)
			}
			if lines := strings.Count(strings.TrimSpace(r.Stderr), "\n"); r.Code >= 2 && c.name != "policy check lists every problem" && lines > 0 {
				t.Errorf("error should be one line on stderr, got %d:\n%s", lines+1, r.Stderr)
			}
		})
	}
}

// A registry that serves a bundle whose bytes do not match its digest is
// caught, whichever path (listing annotation or manifest) led to the blob.
func TestBlobDigestMismatch(t *testing.T) {
	upstream := testenv.Registry(t, true).Addr
	e := newEnv(t)
	img := func() string {
		e.key("k", "ecdsa-p256")
		testenv.PushImage(t, upstream, "hostile", "v1")
		e.must("sign", "--key", "k.key", upstream+"/hostile:v1")
		return "hostile:v1"
	}()
	target, _ := url.Parse("http://" + upstream)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		// Flip one byte of every bundle blob (the image's own blobs are not read by verify).
		if !strings.Contains(resp.Request.URL.Path, "/blobs/") || resp.Request.Method != http.MethodGet {
			return nil
		}
		return editBody(resp, func(b []byte) []byte {
			if len(b) > 10 {
				b[len(b)/2] ^= 0x01
			}
			return b
		})
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	r := e.run("verify", "--policy", e.policy(host, []string{"k"}, 1, nil), host+"/"+img)
	if r.Code != 1 || !strings.Contains(r.Stdout, "digest mismatch") {
		t.Fatalf("exit %d, want 1 with a digest mismatch:\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}
