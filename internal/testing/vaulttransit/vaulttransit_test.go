package vaulttransit_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms/hashivault"
	"github.com/sigstore/sigstore/pkg/signature/options"

	"github.com/imgsign/imgsign/internal/testing/vaulttransit"
)

// start starts a server for the test and points sigstore's provider at it.
func start(t *testing.T, opts ...vaulttransit.Option) *vaulttransit.Server {
	t.Helper()
	s := vaulttransit.Start(opts...)
	t.Cleanup(s.Close)
	s.Setenv(t)
	t.Setenv("VAULT_KEY_PREFIX", "")
	return s
}

// vaultClient is Vault's own API client for s, with token.
func vaultClient(t *testing.T, s *vaulttransit.Server, token string) *vault.Client {
	t.Helper()
	c, err := vault.NewClient(&vault.Config{Address: s.URL})
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(token)
	return c
}

// provider loads sigstore's hashivault SignerVerifier for key name.
func provider(t *testing.T, name string, hash crypto.Hash) *hashivault.SignerVerifier {
	t.Helper()
	sv, err := hashivault.LoadSignerVerifier("hashivault://"+name, hash)
	if err != nil {
		t.Fatalf("LoadSignerVerifier: %v", err)
	}
	return sv
}

func digest(h crypto.Hash, msg []byte) []byte {
	d := h.New()
	d.Write(msg)
	return d.Sum(nil)
}

// checkSignature verifies sig over msg with pub the way the provider asked
// Vault to sign: ECDSA ASN.1 and RSA PKCS#1 v1.5 over the digest, pure
// Ed25519 over the message.
func checkSignature(t *testing.T, pub crypto.PublicKey, h crypto.Hash, msg, sig []byte) bool {
	t.Helper()
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(k, digest(h, msg), sig)
	case ed25519.PublicKey:
		return ed25519.Verify(k, msg, sig)
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, h, digest(h, msg), sig) == nil
	}
	t.Fatalf("unexpected key type %T", pub)
	return false
}

func lastRequest(t *testing.T, s *vaulttransit.Server, prefix string) vaulttransit.Request {
	t.Helper()
	reqs := s.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if strings.HasPrefix(reqs[i].Path, prefix) {
			return reqs[i]
		}
	}
	t.Fatalf("no request to %s among %d", prefix, len(reqs))
	return vaulttransit.Request{}
}

// sigstore's real provider creates, reads, signs with and verifies every key
// type through the server, with real signatures.
func TestProviderRoundTrip(t *testing.T) {
	msg := []byte(`{"payloadType":"application/vnd.in-toto+json"}`)
	for _, tc := range []struct {
		typ      string
		hash     crypto.Hash
		signPath string
		// remoteVerify: the provider's VerifySignature (Vault's verify
		// endpoint) accepts the signature. It does not send
		// signature_algorithm, so Vault checks RSA signatures as PSS, its
		// default, and rejects the PKCS#1 v1.5 ones the provider asked for.
		remoteVerify bool
	}{
		{vaulttransit.TypeECDSAP256, crypto.SHA256, "transit/sign/k/sha2-256", true},
		{vaulttransit.TypeECDSAP384, crypto.SHA384, "transit/sign/k/sha2-384", true},
		{vaulttransit.TypeECDSAP521, crypto.SHA512, "transit/sign/k/sha2-512", true},
		{vaulttransit.TypeEd25519, crypto.Hash(0), "transit/sign/k", true},
		{vaulttransit.TypeRSA2048, crypto.SHA256, "transit/sign/k/sha2-256", false},
		{vaulttransit.TypeRSA3072, crypto.SHA256, "transit/sign/k/sha2-256", false},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			s := start(t)
			sv := provider(t, "k", tc.hash)
			pub, err := sv.CreateKey(context.Background(), tc.typ)
			if err != nil {
				t.Fatalf("CreateKey: %v", err)
			}
			want := s.PublicKeys("k")[1]
			if eq, ok := pub.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(want) {
				t.Fatalf("CreateKey returned %T, not the server's version 1 key", pub)
			}
			if got, err := sv.PublicKey(); err != nil || !got.(interface{ Equal(crypto.PublicKey) bool }).Equal(want) {
				t.Fatalf("PublicKey: %v", err)
			}

			sig, err := sv.SignMessage(bytes.NewReader(msg))
			if err != nil {
				t.Fatalf("SignMessage: %v", err)
			}
			if !checkSignature(t, want, tc.hash, msg, sig) {
				t.Fatalf("signature does not verify with the key's public key")
			}
			req := lastRequest(t, s, "transit/sign/")
			if req.Path != tc.signPath {
				t.Errorf("sign path = %s, want %s", req.Path, tc.signPath)
			}
			if got := req.Body["signature_algorithm"]; got != "pkcs1v15" {
				t.Errorf("signature_algorithm = %v, want pkcs1v15", got)
			}
			if got, want := req.Body["prehashed"], tc.hash != 0; got != want {
				t.Errorf("prehashed = %v, want %v", got, want)
			}

			err = sv.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg))
			if tc.remoteVerify && err != nil {
				t.Errorf("VerifySignature: %v", err)
			}
			if !tc.remoteVerify && err == nil {
				t.Errorf("VerifySignature accepted an RSA PKCS#1 v1.5 signature checked as PSS")
			}
			if err := sv.VerifySignature(bytes.NewReader(sig), bytes.NewReader(append(msg, '!'))); err == nil {
				t.Errorf("VerifySignature accepts the signature over a different message")
			}
		})
	}
}

// Rotation: version 1 signs, rotate, version 2 signs; signatures carry their
// version; versions can be pinned and retired.
func TestRotation(t *testing.T) {
	s := start(t)
	msg := []byte("release 1.2.3")
	if err := s.CreateKey("rel", vaulttransit.TypeECDSAP256); err != nil {
		t.Fatal(err)
	}
	signWith := func(t *testing.T, opts ...signature.SignOption) ([]byte, string) {
		t.Helper()
		var used string
		sig, err := provider(t, "rel", crypto.SHA256).SignMessage(bytes.NewReader(msg), append(opts, options.ReturnKeyVersionUsed(&used))...)
		if err != nil {
			t.Fatalf("SignMessage: %v", err)
		}
		return sig, used
	}

	sig1, v := signWith(t)
	if v != "vault:v1:" {
		t.Fatalf("first signature made with %q, want vault:v1:", v)
	}
	c := vaultClient(t, s, s.Token)
	if _, err := c.Logical().Write("transit/keys/rel/rotate", nil); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	sec, err := c.Logical().Read("transit/keys/rel")
	if err != nil || sec == nil {
		t.Fatalf("read: %v", err)
	}
	if sec.Data["latest_version"] != json.Number("2") {
		t.Fatalf("latest_version = %v, want 2", sec.Data["latest_version"])
	}
	if n := len(sec.Data["keys"].(map[string]any)); n != 2 {
		t.Fatalf("keys lists %d versions, want 2", n)
	}
	pubs := s.PublicKeys("rel")

	// A fresh provider reads the latest version and signs with it.
	sv := provider(t, "rel", crypto.SHA256)
	if got, _ := sv.PublicKey(); !got.(*ecdsa.PublicKey).Equal(pubs[2]) {
		t.Fatal("PublicKey after rotation is not version 2")
	}
	sig2, v := signWith(t)
	if v != "vault:v2:" {
		t.Fatalf("signature after rotation made with %q, want vault:v2:", v)
	}
	for _, c := range []struct {
		name string
		sig  []byte
		pub  crypto.PublicKey
		want bool
	}{
		{"v1 sig, v1 key", sig1, pubs[1], true},
		{"v2 sig, v2 key", sig2, pubs[2], true},
		{"v1 sig, v2 key", sig1, pubs[2], false},
		{"v2 sig, v1 key", sig2, pubs[1], false},
	} {
		if got := checkSignature(t, c.pub, crypto.SHA256, msg, c.sig); got != c.want {
			t.Errorf("%s: verifies = %v, want %v", c.name, got, c.want)
		}
	}

	// Pinning version 1 still signs with it.
	sigPinned, v := signWith(t, options.WithKeyVersion("1"))
	if v != "vault:v1:" || !checkSignature(t, pubs[1], crypto.SHA256, msg, sigPinned) {
		t.Errorf("pinned signature made with %q", v)
	}

	// The provider's VerifySignature (what cosign uses) checks against
	// vault:v1: unless VAULT_KEY_PREFIX or a key version says otherwise.
	verify := func(sig []byte, opts ...signature.VerifyOption) error {
		return sv.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg), opts...)
	}
	if err := verify(sig1); err != nil {
		t.Errorf("default prefix, v1 signature: %v", err)
	}
	if err := verify(sig2); err == nil {
		t.Errorf("default prefix (vault:v1:) accepted the v2 signature")
	}
	if err := verify(sig2, options.WithKeyVersion("2")); err != nil {
		t.Errorf("key version 2, v2 signature: %v", err)
	}
	t.Setenv("VAULT_KEY_PREFIX", "vault:v2:")
	if err := verify(sig2); err != nil {
		t.Errorf("VAULT_KEY_PREFIX=vault:v2:, v2 signature: %v", err)
	}
	t.Setenv("VAULT_KEY_PREFIX", "")

	// min_decryption_version retires v1 for verification; the key read
	// still lists it, with the minimum.
	if _, err := c.Logical().Write("transit/keys/rel/config", map[string]any{"min_decryption_version": 2}); err != nil {
		t.Fatalf("config: %v", err)
	}
	err = verify(sig1)
	var re *vault.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest || !strings.Contains(err.Error(), "too old") {
		t.Errorf("verifying a retired version: %v, want a 400 'too old'", err)
	}
	sec, _ = c.Logical().Read("transit/keys/rel")
	if sec.Data["min_decryption_version"] != json.Number("2") || len(sec.Data["keys"].(map[string]any)) != 2 {
		t.Errorf("after config: min_decryption_version %v, %d versions", sec.Data["min_decryption_version"], len(sec.Data["keys"].(map[string]any)))
	}
	// min_encryption_version stops signing with old versions.
	if _, err := c.Logical().Write("transit/keys/rel/config", map[string]any{"min_encryption_version": 2}); err != nil {
		t.Fatalf("config: %v", err)
	}
	if _, err := provider(t, "rel", crypto.SHA256).SignMessage(bytes.NewReader(msg), options.WithKeyVersion("1")); err == nil {
		t.Errorf("signed with version 1 below min_encryption_version")
	}
}

// closedAddr returns an http:// address on loopback where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// Failures come back as Vault reports them, through the real provider.
func TestProviderErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		// setup runs after the server started with key "k" and the
		// environment pointing at it; it returns the reference to load.
		setup func(t *testing.T, s *vaulttransit.Server) string
		// check inspects the error PublicKey (or LoadSignerVerifier) returns.
		check func(t *testing.T, err error)
	}{
		{
			name: "wrong token",
			setup: func(t *testing.T, s *vaulttransit.Server) string {
				t.Setenv("VAULT_TOKEN", "hvs.not-the-token")
				return "hashivault://k"
			},
			check: wantStatus(http.StatusForbidden, "permission denied"),
		},
		{
			name: "policy denies the key path",
			setup: func(t *testing.T, s *vaulttransit.Server) string {
				s.Deny("transit/keys/k")
				return "hashivault://k"
			},
			check: wantStatus(http.StatusForbidden, "permission denied"),
		},
		{
			name: "missing key",
			setup: func(t *testing.T, s *vaulttransit.Server) string {
				return "hashivault://absent"
			},
			check: wantMessage("could not read data from transit key path"),
		},
		{
			name: "other mount",
			setup: func(t *testing.T, s *vaulttransit.Server) string {
				t.Setenv("TRANSIT_SECRET_ENGINE_PATH", "elsewhere")
				return "hashivault://k"
			},
			check: wantMessage("could not read data from transit key path"),
		},
		{
			name: "unreachable address",
			setup: func(t *testing.T, s *vaulttransit.Server) string {
				t.Setenv("VAULT_ADDR", closedAddr(t))
				return "hashivault://k"
			},
			check: func(t *testing.T, err error) {
				var oe *net.OpError
				if !errors.As(err, &oe) {
					t.Errorf("error %v: want a *net.OpError in the chain", err)
				}
			},
		},
		{
			name: "malformed reference",
			setup: func(t *testing.T, s *vaulttransit.Server) string {
				return "hashivault://team/k"
			},
			check: wantMessage("hashivault://<key>"),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t)
			if err := s.CreateKey("k", vaulttransit.TypeECDSAP256); err != nil {
				t.Fatal(err)
			}
			ref := tc.setup(t, s)
			sv, err := hashivault.LoadSignerVerifier(ref, crypto.SHA256)
			if err == nil {
				_, err = sv.PublicKey()
			}
			if err == nil {
				t.Fatal("got no error")
			}
			tc.check(t, err)
		})
	}
}

func wantStatus(code int, msg string) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var re *vault.ResponseError
		if !errors.As(err, &re) || re.StatusCode != code || !strings.Contains(err.Error(), msg) {
			t.Errorf("error %v: want a %d %q Vault response error", err, code, msg)
		}
	}
}

func wantMessage(msg string) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		if !strings.Contains(err.Error(), msg) {
			t.Errorf("error %v: want it to mention %q", err, msg)
		}
	}
}

// The raw API behaves as Vault's does for requests the provider does not
// make on the happy path.
func TestAPI(t *testing.T) {
	s := start(t, vaulttransit.WithMount("signing"), vaulttransit.WithToken("hvs.fixed"))
	if s.Token != "hvs.fixed" || s.Mount != "signing" || !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
		t.Fatalf("server %s token %s mount %s", s.URL, s.Token, s.Mount)
	}
	c := vaultClient(t, s, s.Token)
	for _, tc := range []struct {
		name   string
		method string // "read" or "write"
		path   string
		body   map[string]any
		status int // 0: success
		msg    string
	}{
		{"create", "write", "signing/keys/a", map[string]any{"type": "ed25519"}, 0, ""},
		{"create again warns", "write", "signing/keys/a", map[string]any{"type": "rsa-2048"}, 0, ""},
		{"create without a signing type", "write", "signing/keys/b", nil, 400, "aes256-gcm96"},
		{"unknown type", "write", "signing/keys/b", map[string]any{"type": "dsa"}, 400, "unknown key type"},
		{"bad name", "write", "signing/keys/-x-", map[string]any{"type": "ed25519"}, 400, "invalid key name"},
		{"sign missing key", "write", "signing/sign/nope/sha2-256", map[string]any{"input": "aGk="}, 400, "key not found"},
		{"bad hash", "write", "signing/sign/a/md5", map[string]any{"input": "aGk="}, 400, "invalid hash algorithm"},
		{"bad base64", "write", "signing/sign/a", map[string]any{"input": "%%%"}, 400, "base64"},
		{"version too high", "write", "signing/sign/a", map[string]any{"input": "aGk=", "key_version": 7}, 400, "higher than the latest"},
		{"verify without signature", "write", "signing/verify/a", map[string]any{"input": "aGk="}, 400, "neither a 'signature'"},
		{"verify unprefixed", "write", "signing/verify/a", map[string]any{"input": "aGk=", "signature": "abc"}, 400, "no prefix"},
		{"verify unknown version", "write", "signing/verify/a", map[string]any{"input": "aGk=", "signature": "vault:v9:abc="}, 400, "invalid signature version"},
		{"rotate missing key", "write", "signing/keys/nope/rotate", nil, 400, "key not found"},
		{"min decryption above latest", "write", "signing/keys/a/config", map[string]any{"min_decryption_version": 3}, 400, "latest version is 1"},
		{"unsupported route", "write", "signing/encrypt/a", nil, 405, "unsupported operation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			var sec *vault.Secret
			if tc.method == "read" {
				sec, err = c.Logical().Read(tc.path)
			} else {
				sec, err = c.Logical().Write(tc.path, tc.body)
			}
			if tc.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if sec == nil || sec.Data["type"] != "ed25519" {
					t.Fatalf("response %+v", sec)
				}
				return
			}
			var re *vault.ResponseError
			if !errors.As(err, &re) || re.StatusCode != tc.status || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v: want %d %q", err, tc.status, tc.msg)
			}
		})
	}
	if sec, err := c.Logical().Write("signing/keys/a", map[string]any{"type": "ed25519"}); err != nil || len(sec.Warnings) != 1 || !strings.Contains(sec.Warnings[0], "already existed") {
		t.Errorf("re-create: %v, %+v", err, sec)
	}

	// A read of a missing key, or under a path where nothing is mounted, is
	// a 404 with no data, which the client returns as no secret and no
	// error, exactly as with Vault.
	for _, p := range []string{"signing/keys/absent", "transit/keys/a"} {
		if sec, err := c.Logical().Read(p); sec != nil || err != nil {
			t.Errorf("read %s: %+v, %v", p, sec, err)
		}
	}

	// Every request needs the token.
	for _, tok := range []string{"", "hvs.other"} {
		_, err := vaultClient(t, s, tok).Logical().Read("signing/keys/a")
		var re *vault.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
			t.Errorf("token %q: %v, want 403", tok, err)
		}
	}

	// Ed25519 prehashed with SHA-512 is Ed25519ph; other hashes are refused.
	d512 := base64.StdEncoding.EncodeToString(digest(crypto.SHA512, []byte("hi")))
	if _, err := c.Logical().Write("signing/sign/a/sha2-512", map[string]any{"input": d512, "prehashed": true}); err != nil {
		t.Errorf("ed25519ph: %v", err)
	}
	if _, err := c.Logical().Write("signing/sign/a/sha2-256", map[string]any{"input": "aGk=", "prehashed": true}); err == nil {
		t.Errorf("prehashed ed25519 with sha2-256 accepted")
	}

	// ECDSA JWS marshaling round-trips; RSA PSS (Vault's default) too.
	for _, k := range []struct{ name, typ string }{{"e", vaulttransit.TypeECDSAP256}, {"r", vaulttransit.TypeRSA2048}} {
		if err := s.CreateKey(k.name, k.typ); err != nil {
			t.Fatal(err)
		}
		body := map[string]any{"input": "aGVsbG8="}
		if k.typ == vaulttransit.TypeECDSAP256 {
			body["marshaling_algorithm"] = "jws"
		}
		sec, err := c.Logical().Write("signing/sign/"+k.name, body)
		if err != nil {
			t.Fatalf("%s sign: %v", k.typ, err)
		}
		body["signature"] = sec.Data["signature"]
		sec, err = c.Logical().Write("signing/verify/"+k.name, body)
		if err != nil || sec.Data["valid"] != true {
			t.Errorf("%s verify: %v %+v", k.typ, err, sec)
		}
		body["input"] = "aGVsbG8h"
		if sec, err = c.Logical().Write("signing/verify/"+k.name, body); err != nil || sec.Data["valid"] != false {
			t.Errorf("%s verify of other input: %v %+v", k.typ, err, sec)
		}
	}
}
