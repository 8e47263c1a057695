//go:build cgo

package keys

// Real-token tests: every test makes its own SoftHSM2 token directory and
// points SOFTHSM2_CONF at it. The variable is process-wide, so these tests
// do not run in parallel, and each closes its PKCS#11 contexts when it ends
// so the next one initialises SoftHSM2 afresh with its own configuration.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/testing/testenv"
)

const (
	softhsmModule = "/usr/lib/softhsm/libsofthsm2.so"
	hsmPIN        = "1234"
	hsmSOPIN      = "5678"
)

// softHSM is one test's token directory.
type softHSM struct {
	dir string
}

// newSoftHSM creates a SoftHSM2 configuration with tokens labelled labels
// (user PIN 1234) and makes it this process's, with the PIN and module
// variables cleared so each test says what it uses.
func newSoftHSM(t *testing.T, labels ...string) *softHSM {
	t.Helper()
	if _, err := os.Stat(softhsmModule); err != nil {
		testenv.Missing(t, "SoftHSM2 is not installed (%s): apt-get install softhsm2 opensc", softhsmModule)
	}
	for _, tool := range []string{"softhsm2-util", "pkcs11-tool"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "%s is not installed: apt-get install softhsm2 opensc", tool)
		}
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	cfg := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens)
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	for _, v := range []string{PKCS11PINEnv, PKCS11ModuleEnv} {
		t.Setenv(v, "") // restores the old value when the test ends
		os.Unsetenv(v)
	}
	// Registered after Setenv, so it runs before the environment is
	// restored: the next test's SoftHSM2 must start from its own config.
	t.Cleanup(func() {
		if err := ClosePKCS11(); err != nil {
			t.Errorf("ClosePKCS11: %v", err)
		}
	})
	h := &softHSM{dir: dir}
	for _, l := range labels {
		h.run(t, "softhsm2-util", "--init-token", "--free", "--label", l, "--pin", hsmPIN, "--so-pin", hsmSOPIN)
	}
	return h
}

func (h *softHSM) run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = h.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// tool runs pkcs11-tool logged in to token.
func (h *softHSM) tool(t *testing.T, token string, args ...string) string {
	t.Helper()
	return h.run(t, "pkcs11-tool", append([]string{"--module", softhsmModule, "--token-label", token, "--login", "--pin", hsmPIN}, args...)...)
}

// keypairgen makes a key pair with pkcs11-tool, as an HSM admin would.
func (h *softHSM) keypairgen(t *testing.T, token, keyType, hexID, label string) {
	t.Helper()
	h.tool(t, token, "--keypairgen", "--key-type", keyType, "--id", hexID, "--label", label)
}

// toolPublic reads a public key object with pkcs11-tool, independently of
// crypto11 and imgsign: RSA keys as DER (--read-object), EC and Edwards keys
// from the EC_POINT and EC_PARAMS attributes --list-objects prints, since
// pkcs11-tool 0.23 cannot export P-384 keys ("cannot create EVP_PKEY").
func (h *softHSM) toolPublic(t *testing.T, token, hexID string) crypto.PublicKey {
	t.Helper()
	// --list-objects lists every public key whatever --id says.
	var obj string
	for _, o := range strings.Split(h.tool(t, token, "--list-objects", "--type", "pubkey"), "Public Key Object;")[1:] {
		if strings.Contains(o, "\n  ID:         "+hexID+"\n") {
			obj = o
		}
	}
	if obj == "" {
		t.Fatalf("pkcs11-tool lists no public key with id %s", hexID)
	}
	if strings.HasPrefix(obj, " EC ") || strings.HasPrefix(obj, " EC_EDWARDS ") {
		var point, params []byte
		for _, line := range strings.Split(obj, "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			switch f[0] {
			case "EC_POINT:":
				point, _ = hex.DecodeString(f[1])
			case "EC_PARAMS:":
				params, _ = hex.DecodeString(f[1])
			}
		}
		var raw []byte // CKA_EC_POINT is a DER OCTET STRING around the point
		if _, err := asn1.Unmarshal(point, &raw); err != nil {
			t.Fatalf("EC_POINT from pkcs11-tool: %v\n%s", err, obj)
		}
		if strings.HasPrefix(obj, " EC_EDWARDS ") {
			// EC_PARAMS: the curve's OID or its name (pkcs11-tool's
			// own keys say "edwards25519").
			var name string
			_, err := asn1.Unmarshal(params, &name)
			isOID := bytes.Equal(params, []byte{0x06, 0x03, 0x2b, 0x65, 0x70}) // 1.3.101.112
			if !isOID && (err != nil || name != "edwards25519") {
				t.Fatalf("EC_PARAMS from pkcs11-tool is not Ed25519's: %x\n%s", params, obj)
			}
			if len(raw) != ed25519.PublicKeySize {
				t.Fatalf("EC_POINT from pkcs11-tool holds %d bytes", len(raw))
			}
			return ed25519.PublicKey(raw)
		}
		var oid asn1.ObjectIdentifier
		if _, err := asn1.Unmarshal(params, &oid); err != nil {
			t.Fatalf("EC_PARAMS from pkcs11-tool: %v\n%s", err, obj)
		}
		curves := map[string]elliptic.Curve{"1.2.840.10045.3.1.7": elliptic.P256(), "1.3.132.0.34": elliptic.P384()}
		pub, err := ecdsa.ParseUncompressedPublicKey(knownCurve(t, curves[oid.String()]), raw)
		if err != nil {
			t.Fatalf("EC point from pkcs11-tool: %v", err)
		}
		return pub
	}
	out := filepath.Join(h.dir, "pub-"+hexID+".der")
	h.tool(t, token, "--read-object", "--type", "pubkey", "--id", hexID, "--output-file", out)
	der, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Fatalf("parsing pkcs11-tool's public key: %v", err)
	}
	return pub
}

func knownCurve(t *testing.T, c elliptic.Curve) elliptic.Curve {
	t.Helper()
	if c == nil {
		t.Fatal("pkcs11-tool shows a curve other than P-256 or P-384")
	}
	return c
}

// hsmURI is a pkcs11: URI for token with path attributes attrs and the module.
func hsmURI(token string, attrs ...string) string {
	return "pkcs11:token=" + pctEncode([]byte(token)) + ";" + strings.Join(attrs, ";") + "?module-path=" + softhsmModule
}

// pinFile writes pin to a file and returns it.
func (h *softHSM) pinFile(t *testing.T, pin string) string {
	t.Helper()
	p := filepath.Join(h.dir, "pin-"+pin)
	if err := os.WriteFile(p, []byte(pin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func hsmErrHas(t *testing.T, err error, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
}

func samePKCS11Public(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

// Keys imgsign generates on the token sign, and what they sign verifies
// with keys.Verifier and the standard library for the algorithm Sigstore
// and cosign expect (signAndVerify).
func TestPKCS11GenerateSignVerify(t *testing.T) {
	if testing.Short() {
		t.Skip("generates RSA-3072/4096 keys on a SoftHSM2 token and reads them back with pkcs11-tool: needs SoftHSM2 and OpenSC; run make test")
	}
	h := newSoftHSM(t, "gen")
	t.Setenv(PKCS11PINEnv, hsmPIN)
	ctx := context.Background()
	for i, typ := range []Type{TypeEd25519, TypeECDSAP256, TypeECDSAP384, TypeRSA3072, TypeRSA4096} {
		t.Run(string(typ), func(t *testing.T) {
			id := fmt.Sprintf("%02x", 0x10+i)
			ref := hsmURI("gen", "object="+string(typ), "id=%"+id)
			var stderr bytes.Buffer
			pub, err := GeneratePKCS11(ctx, ref, typ, &stderr)
			if err != nil {
				t.Fatalf("GeneratePKCS11: %v", err)
			}
			switch k := pub.(type) {
			case ed25519.PublicKey:
				if typ != TypeEd25519 || len(k) != ed25519.PublicKeySize {
					t.Errorf("%d-byte Ed25519 key for %s", len(k), typ)
				}
			case *ecdsa.PublicKey:
				want := map[Type]elliptic.Curve{TypeECDSAP256: elliptic.P256(), TypeECDSAP384: elliptic.P384()}[typ]
				if k.Curve != want {
					t.Errorf("curve %s, want %s", k.Curve.Params().Name, want.Params().Name)
				}
			case *rsa.PublicKey:
				want := map[Type]int{TypeRSA3072: 3072, TypeRSA4096: 4096}[typ]
				if k.N.BitLen() != want || k.E != 65537 {
					t.Errorf("RSA key %d bits, e=%d; want %d bits, e=65537", k.N.BitLen(), k.E, want)
				}
			default:
				t.Fatalf("public key %T", pub)
			}
			if !samePKCS11Public(pub, h.toolPublic(t, "gen", id)) {
				t.Errorf("pkcs11-tool reads a different public key from the token")
			}
			got, err := LoadPKCS11Public(ctx, hsmURI("gen", "object="+string(typ)), &stderr)
			if err != nil {
				t.Fatalf("LoadPKCS11Public: %v", err)
			}
			if !samePKCS11Public(pub, got) {
				t.Errorf("LoadPKCS11Public returns another key than GeneratePKCS11 made")
			}
			s, err := LoadPKCS11Signer(ctx, ref, &stderr)
			if err != nil {
				t.Fatalf("LoadPKCS11Signer: %v", err)
			}
			if want, _ := ID(pub); s.ID() != want {
				t.Errorf("signer id %s, want %s", s.ID(), want)
			}
			signAndVerify(t, s)
			if stderr.Len() != 0 {
				t.Errorf("unexpected stderr output: %q", stderr.String())
			}
		})
	}
	// The private key may only sign and never leaves the token.
	out := h.tool(t, "gen", "--list-objects", "--type", "privkey")
	for _, want := range []string{"sensitive", "never extractable", "sign"} {
		if !strings.Contains(out, want) {
			t.Errorf("pkcs11-tool --list-objects does not show %q for the generated keys:\n%s", want, out)
		}
	}
	for _, bad := range []string{"decrypt", "unwrap", "derive"} {
		if strings.Contains(out, bad) {
			t.Errorf("a generated signing key may %s:\n%s", bad, out)
		}
	}
}

// Keys made by another tool (pkcs11-tool, as an HSM admin would) are found
// by label, id or both, and sign correctly: RSA 2048 too, which imgsign
// does not generate but accepts.
func TestPKCS11KeysFromPkcs11Tool(t *testing.T) {
	if testing.Short() {
		t.Skip("generates six key pairs with pkcs11-tool on a SoftHSM2 token: needs SoftHSM2 and OpenSC; run make test")
	}
	h := newSoftHSM(t, "admin")
	pinSrc := h.pinFile(t, hsmPIN)
	ctx := context.Background()
	cases := []struct{ keyType, id, label string }{
		{"EC:prime256v1", "01", "p256"},
		{"EC:secp384r1", "02", "p384"},
		{"rsa:2048", "03", "rsa2048"},
		{"rsa:3072", "04", "rsa3072"},
		{"rsa:4096", "05", "rsa4096"},
		{"EC:edwards25519", "06", "ed25519"},
	}
	for _, c := range cases {
		t.Run(c.keyType, func(t *testing.T) {
			h.keypairgen(t, "admin", c.keyType, c.id, c.label)
			want := h.toolPublic(t, "admin", c.id)
			for _, sel := range [][]string{{"object=" + c.label}, {"id=%" + c.id}, {"object=" + c.label, "id=%" + c.id}} {
				ref := "pkcs11:token=admin;" + strings.Join(sel, ";") + "?module-path=" + softhsmModule + "&pin-source=" + pinSrc
				pub, err := LoadPKCS11Public(ctx, ref, nil)
				if err != nil {
					t.Fatalf("LoadPKCS11Public(%s): %v", sel, err)
				}
				if !samePKCS11Public(pub, want) {
					t.Errorf("%s: public key differs from pkcs11-tool's", sel)
				}
				s, err := LoadPKCS11Signer(ctx, ref, nil)
				if err != nil {
					t.Fatalf("LoadPKCS11Signer(%s): %v", sel, err)
				}
				signAndVerify(t, s)
			}
		})
	}
}

// A signer is safe for concurrent use, as sign --recursive and attest use it.
func TestPKCS11ConcurrentSigning(t *testing.T) {
	for _, typ := range []Type{TypeECDSAP256, TypeEd25519} {
		t.Run(string(typ), func(t *testing.T) { testPKCS11ConcurrentSigning(t, typ) })
	}
}

func testPKCS11ConcurrentSigning(t *testing.T, typ Type) {
	newSoftHSM(t, "conc")
	t.Setenv(PKCS11PINEnv, hsmPIN)
	ref := hsmURI("conc", "object=k")
	if _, err := GeneratePKCS11(context.Background(), ref, typ, nil); err != nil {
		t.Fatal(err)
	}
	s, err := LoadPKCS11Signer(context.Background(), ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A second load of the same token shares the logged-in context.
	s2, err := LoadPKCS11Signer(context.Background(), ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			signer := s
			if i%2 == 1 {
				signer = s2
			}
			data := []byte(fmt.Sprintf("payload %d", i))
			sig, _, err := signer.SignData(context.Background(), data)
			if err != nil {
				t.Errorf("SignData: %v", err)
				return
			}
			v, _ := Verifier(signer.Public())
			if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(data)); err != nil {
				t.Errorf("signature %d does not verify: %v", i, err)
			}
		}()
	}
	wg.Wait()
}

// crypto11 has no Ed25519 keys, so imgsign finds them itself once crypto11
// gives up on one; which keys match and when a URI is ambiguous must not
// depend on the key type.
func TestPKCS11Ed25519Lookup(t *testing.T) {
	h := newSoftHSM(t, "ed")
	t.Setenv(PKCS11PINEnv, hsmPIN)
	ctx := context.Background()
	h.keypairgen(t, "ed", "EC:edwards25519", "0e", "edkey")
	want := h.toolPublic(t, "ed", "0e")
	for _, sel := range []string{"object=edkey", "id=%0e", "object=edkey;id=%0e", "object=edkey;id=%0e;type=private"} {
		pub, err := LoadPKCS11Public(ctx, hsmURI("ed", sel), nil)
		if err != nil {
			t.Fatalf("LoadPKCS11Public(%s): %v", sel, err)
		}
		if !samePKCS11Public(pub, want) {
			t.Errorf("%s: public key differs from pkcs11-tool's", sel)
		}
	}

	// An Ed25519 and an EC key with one label are as ambiguous as two EC
	// keys; the id picks either.
	h.keypairgen(t, "ed", "EC:edwards25519", "21", "dup")
	h.keypairgen(t, "ed", "EC:prime256v1", "22", "dup")
	for _, load := range []func() error{
		func() error { _, err := LoadPKCS11Signer(ctx, hsmURI("ed", "object=dup"), nil); return err },
		func() error { _, err := LoadPKCS11Public(ctx, hsmURI("ed", "object=dup"), nil); return err },
	} {
		err := load()
		wantKind(t, err, errkind.Input)
		hsmErrHas(t, err, "2 key pairs", `token "ed"`, "add id=")
	}
	for id, want := range map[string]string{"21": "ed25519.PublicKey", "22": "*ecdsa.PublicKey"} {
		s, err := LoadPKCS11Signer(ctx, hsmURI("ed", "object=dup", "id=%"+id), nil)
		if err != nil {
			t.Fatalf("id=%%%s: %v", id, err)
		}
		if got := fmt.Sprintf("%T", s.Public()); got != want {
			t.Errorf("id=%%%s: %s, want %s", id, got, want)
		}
		signAndVerify(t, s)
	}
	// Nothing with the label: the usual message, not an Ed25519 one.
	_, err := LoadPKCS11Signer(ctx, hsmURI("ed", "object=dup", "id=%23"), nil)
	wantKind(t, err, errkind.Input)
	hsmErrHas(t, err, "has no key pair")

	// An Ed25519 key's label and id are taken for new keys of any type.
	for _, c := range []struct {
		attrs string
		typ   Type
		want  string
	}{
		{"object=edkey", TypeECDSAP256, `already has a key with object "edkey"`},
		{"object=edkey", TypeEd25519, `already has a key with object "edkey"`},
		{"object=fresh;id=%0e", TypeEd25519, "already has a key with id %0e"},
	} {
		_, err = GeneratePKCS11(ctx, hsmURI("ed", c.attrs), c.typ, nil)
		wantKind(t, err, errkind.Input)
		hsmErrHas(t, err, c.want)
	}
}

// SoftHSM2 2.6.1 takes CKA_EC_PARAMS of an Ed25519 key as the curve's OID
// and as its name; imgsign offers the OID first and reads keys with either.
func TestPKCS11Ed25519ECParams(t *testing.T) {
	h := newSoftHSM(t, "params")
	t.Setenv(PKCS11PINEnv, hsmPIN)
	ctx := context.Background()
	all := ed25519ECParams
	t.Cleanup(func() { ed25519ECParams = all })

	out := func(id string) string {
		for _, o := range strings.Split(h.tool(t, "params", "--list-objects", "--type", "pubkey"), "Public Key Object;")[1:] {
			if strings.Contains(o, "\n  ID:         "+id+"\n") {
				return o
			}
		}
		t.Fatalf("no public key with id %s", id)
		return ""
	}
	// The default: the OID, which SoftHSM2 2.6.1 accepts.
	if _, err := GeneratePKCS11(ctx, hsmURI("params", "object=default", "id=%01"), TypeEd25519, nil); err != nil {
		t.Fatal(err)
	}
	if o := out("01"); !strings.Contains(o, "EC_PARAMS:  06032b6570") {
		t.Errorf("CKA_EC_PARAMS of a generated key is not the OID 1.3.101.112:\n%s", o)
	}
	for i, params := range all {
		id := fmt.Sprintf("%02x", 0x10+i)
		ed25519ECParams = [][]byte{params}
		ref := hsmURI("params", "object=p"+id, "id=%"+id)
		pub, err := GeneratePKCS11(ctx, ref, TypeEd25519, nil)
		if err != nil {
			t.Fatalf("EC_PARAMS %x: %v", params, err)
		}
		if o := out(id); !strings.Contains(o, "EC_PARAMS:  "+hex.EncodeToString(params)) {
			t.Errorf("EC_PARAMS %x not on the token:\n%s", params, o)
		}
		if !samePKCS11Public(pub, h.toolPublic(t, "params", id)) {
			t.Errorf("EC_PARAMS %x: pkcs11-tool reads another key", params)
		}
		s, err := LoadPKCS11Signer(ctx, ref, nil)
		if err != nil {
			t.Fatal(err)
		}
		signAndVerify(t, s)
	}

	// Ed448 is an Edwards key too; it is refused when made and when used.
	ed25519ECParams = [][]byte{{0x06, 0x03, 0x2b, 0x65, 0x71}} // 1.3.101.113
	_, err := GeneratePKCS11(ctx, hsmURI("params", "object=ed448", "id=%48"), TypeEd25519, nil)
	wantKind(t, err, errkind.Input)
	hsmErrHas(t, err, "Ed448")
	ed25519ECParams = all
	if o := out("48"); !strings.Contains(o, "EC_PARAMS:  06032b6571") {
		t.Fatalf("SoftHSM2 made no Ed448 key:\n%s", o)
	}
	for _, load := range []func() error{
		func() error { _, err := LoadPKCS11Signer(ctx, hsmURI("params", "object=ed448"), nil); return err },
		func() error { _, err := LoadPKCS11Public(ctx, hsmURI("params", "id=%48"), nil); return err },
	} {
		err := load()
		wantKind(t, err, errkind.Input)
		hsmErrHas(t, err, "Ed448", `token "params"`, "use an Ed25519 key")
	}
}

// CKA_EC_PARAMS and CKA_EC_POINT of Ed25519 keys as tokens store them.
func TestPKCS11Ed25519Attributes(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := asn1.Marshal([]byte(pub))
	if err != nil {
		t.Fatal(err)
	}
	for name, point := range map[string][]byte{"OCTET STRING": wrapped, "raw": pub} {
		got, err := parseEd25519Point(point)
		if err != nil || !got.Equal(pub) {
			t.Errorf("%s point: %x, %v", name, got, err)
		}
	}
	for name, point := range map[string][]byte{
		"short":         pub[:31],
		"Ed448 size":    make([]byte, 57),
		"short wrapped": wrapped[:33],
		"trailing data": append(bytes.Clone(wrapped), 0),
		"BIT STRING":    append([]byte{0x03, 0x21, 0x00}, pub...),
	} {
		_, err := parseEd25519Point(point)
		wantKind(t, err, errkind.Input)
		if err == nil {
			t.Errorf("%s point accepted", name)
		}
	}

	name, _ := asn1.MarshalWithParams("edwards25519", "printable")
	utf8Name, _ := asn1.MarshalWithParams("edwards25519", "utf8")
	for _, ok := range [][]byte{nil, {0x06, 0x03, 0x2b, 0x65, 0x70}, name, utf8Name} {
		if err := checkEd25519Params(ok); err != nil {
			t.Errorf("EC_PARAMS %x: %v", ok, err)
		}
	}
	ed448Name, _ := asn1.MarshalWithParams("edwards448", "printable")
	p256, _ := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7})
	for bad, want := range map[string]string{
		string([]byte{0x06, 0x03, 0x2b, 0x65, 0x71}): "Ed448",
		string(ed448Name):          "Ed448",
		string(p256):               "1.2.840.10045.3.1.7",
		"\x13\x05curve":            `"curve"`,
		"\x04\x02ab":               "neither a curve OID nor a curve name",
		"\x06\x03\x2b\x65\x70\x00": "neither",
	} {
		err := checkEd25519Params([]byte(bad))
		wantKind(t, err, errkind.Input)
		if err != nil {
			hsmErrHas(t, err, want)
		}
	}
}

// An Ed25519 private key paired by id with another key's public key object
// yields an error, not a signature that fails verification downstream.
func TestPKCS11Ed25519MismatchedKeyObjects(t *testing.T) {
	h := newSoftHSM(t, "mixed")
	t.Setenv(PKCS11PINEnv, hsmPIN)
	h.keypairgen(t, "mixed", "EC:edwards25519", "0a", "a")
	h.keypairgen(t, "mixed", "EC:edwards25519", "0b", "b")
	h.tool(t, "mixed", "--delete-object", "--type", "pubkey", "--id", "0a")
	h.tool(t, "mixed", "--type", "pubkey", "--id", "0b", "--set-id", "0a")

	s, err := LoadPKCS11Signer(context.Background(), hsmURI("mixed", "object=a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.SignData(context.Background(), []byte("data"))
	wantKind(t, err, errkind.Input)
	hsmErrHas(t, err, "does not verify with the key's public key object")
	// b's private key has no public half left: no key pair, as for crypto11.
	_, err = LoadPKCS11Signer(context.Background(), hsmURI("mixed", "object=b"), nil)
	wantKind(t, err, errkind.Input)
	hsmErrHas(t, err, "has no key pair")
}

// The token key signs pure Ed25519 only: not a digest (Ed25519ph) and not
// with a context (Ed25519ctx), which Sigstore verifiers would reject.
func TestPKCS11Ed25519SignOptions(t *testing.T) {
	newSoftHSM(t, "opts")
	t.Setenv(PKCS11PINEnv, hsmPIN)
	ctx := context.Background()
	ref := hsmURI("opts", "object=k")
	if _, err := GeneratePKCS11(ctx, ref, TypeEd25519, nil); err != nil {
		t.Fatal(err)
	}
	u, err := parsePKCS11URI(ref)
	if err != nil {
		t.Fatal(err)
	}
	c, err := pk11Acquire(ctx, u, defaultPINPrompt(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer pk11Release(c)
	key, err := c.findKey(u)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("message")
	for _, opts := range []crypto.SignerOpts{crypto.SHA512, &ed25519.Options{Hash: crypto.SHA512}, &ed25519.Options{Context: "ctx"}} {
		if _, err := key.Sign(nil, msg, opts); err == nil {
			t.Errorf("signed with options %#v", opts)
		}
	}
	for _, opts := range []crypto.SignerOpts{crypto.Hash(0), &ed25519.Options{}} {
		sig, err := key.Sign(nil, msg, opts)
		if err != nil {
			t.Fatalf("options %#v: %v", opts, err)
		}
		if !ed25519.Verify(key.Public().(ed25519.PublicKey), msg, sig) {
			t.Errorf("options %#v: not a pure Ed25519 signature", opts)
		}
	}
}

func TestPKCS11WrongPIN(t *testing.T) {
	h := newSoftHSM(t, "pins")
	h.keypairgen(t, "pins", "EC:prime256v1", "01", "k")
	ctx := context.Background()
	ref := hsmURI("pins", "object=k")

	wrong := []struct {
		name string
		ref  string
		env  string
	}{
		{"environment", ref, "9999"},
		{"pin-source", ref + "&pin-source=" + h.pinFile(t, "0000"), hsmPIN},
		{"too short", ref, "1"},
	}
	for _, w := range wrong {
		t.Run(w.name, func(t *testing.T) {
			t.Setenv(PKCS11PINEnv, w.env)
			_, err := LoadPKCS11Signer(ctx, w.ref, nil)
			wantKind(t, err, errkind.Input)
			hsmErrHas(t, err, `PKCS#11 login to token "pins" failed`)
			if w.name != "too short" {
				hsmErrHas(t, err, "wrong PIN (CKR_PIN_INCORRECT)")
			}
			wantNoSecret(t, err, "9999", "0000")
			_, err = LoadPKCS11Public(ctx, w.ref, nil)
			wantKind(t, err, errkind.Input)
		})
	}

	// A failed login leaves the module usable.
	t.Setenv(PKCS11PINEnv, hsmPIN)
	s, err := LoadPKCS11Signer(ctx, ref, nil)
	if err != nil {
		t.Fatalf("right PIN after wrong ones: %v", err)
	}
	signAndVerify(t, s)

	// The token is now logged in for the whole process, which PKCS#11
	// would accept any PIN for; imgsign still refuses a wrong one.
	t.Setenv(PKCS11PINEnv, "9999")
	_, err = LoadPKCS11Public(ctx, ref, nil)
	wantKind(t, err, errkind.Input)
	hsmErrHas(t, err, "wrong PIN")
	// And the signer loaded with the right PIN keeps working.
	signAndVerify(t, s)
}

func TestPKCS11PINSources(t *testing.T) {
	h := newSoftHSM(t, "src")
	h.keypairgen(t, "src", "EC:prime256v1", "01", "k")
	ctx := context.Background()
	ref := hsmURI("src", "object=k")

	t.Run("pin-source file URI", func(t *testing.T) {
		var stderr bytes.Buffer
		if _, err := LoadPKCS11Public(ctx, ref+"&pin-source=file://"+h.pinFile(t, hsmPIN), &stderr); err != nil {
			t.Fatal(err)
		}
		if stderr.Len() != 0 {
			t.Errorf("stderr: %q", stderr.String())
		}
	})
	t.Run("pin-value warns", func(t *testing.T) {
		var stderr bytes.Buffer
		s, err := LoadPKCS11Signer(ctx, ref+"&pin-value="+hsmPIN, &stderr)
		if err != nil {
			t.Fatal(err)
		}
		signAndVerify(t, s)
		msg := stderr.String()
		if !strings.HasPrefix(msg, "warning: ") || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "exposes it") {
			t.Errorf("pin-value warning: %q, want one line saying it exposes the PIN", msg)
		}
		if strings.Contains(msg, hsmPIN) {
			t.Errorf("warning echoes the PIN: %q", msg)
		}
	})
	t.Run("nothing and no terminal", func(t *testing.T) {
		if err := ClosePKCS11(); err != nil { // forget the login above
			t.Fatal(err)
		}
		_, err := LoadPKCS11Signer(ctx, ref, nil)
		wantKind(t, err, errkind.Input)
		hsmErrHas(t, err, PKCS11PINEnv, `token "src"`)
	})
}

func TestPKCS11MissingObject(t *testing.T) {
	h := newSoftHSM(t, "objs")
	h.keypairgen(t, "objs", "EC:prime256v1", "01", "present")
	t.Setenv(PKCS11PINEnv, hsmPIN)
	ctx := context.Background()
	for _, sel := range []struct{ attrs, want string }{
		{"object=absent", `object "absent"`},
		{"id=%02", "id %02"},
		{"object=present;id=%02", `object "present", id %02`},
	} {
		_, err := LoadPKCS11Signer(ctx, hsmURI("objs", sel.attrs), nil)
		wantKind(t, err, errkind.Input)
		hsmErrHas(t, err, `token "objs"`, sel.want, "has no key pair")
		_, err = LoadPKCS11Public(ctx, hsmURI("objs", sel.attrs), nil)
		wantKind(t, err, errkind.Input)
	}
	// A URI naming no key at all is refused before the token is touched.
	_, err := LoadPKCS11Signer(ctx, "pkcs11:token=objs?module-path="+softhsmModule, nil)
	wantKind(t, err, errkind.Input)
	hsmErrHas(t, err, "names no key")

	// Two keys with one label are ambiguous.
	h.keypairgen(t, "objs", "EC:prime256v1", "03", "twice")
	h.keypairgen(t, "objs", "EC:prime256v1", "04", "twice")
	_, err = LoadPKCS11Signer(ctx, hsmURI("objs", "object=twice"), nil)
	wantKind(t, err, errkind.Input)
	hsmErrHas(t, err, "2 key pairs", "add id=")
	if _, err := LoadPKCS11Signer(ctx, hsmURI("objs", "object=twice", "id=%04"), nil); err != nil {
		t.Errorf("label and id together pick one: %v", err)
	}

	// generate refuses a taken label or id.
	for _, attrs := range []string{"object=present", "object=fresh;id=%01"} {
		_, err = GeneratePKCS11(ctx, hsmURI("objs", attrs), TypeECDSAP256, nil)
		wantKind(t, err, errkind.Input)
		hsmErrHas(t, err, `token "objs" already has a key`)
	}
	_, err = GeneratePKCS11(ctx, hsmURI("objs", "id=%09"), TypeECDSAP256, nil)
	wantKind(t, err, errkind.Input)
	hsmErrHas(t, err, "needs object=LABEL")
}

func TestPKCS11MissingModule(t *testing.T) {
	h := newSoftHSM(t, "mod")
	t.Setenv(PKCS11PINEnv, hsmPIN)
	ctx := context.Background()
	missing := filepath.Join(h.dir, "no", "libvendor.so")

	_, err := LoadPKCS11Signer(ctx, "pkcs11:token=mod;object=k?module-path="+missing, nil)
	wantKind(t, err, errkind.Input)
	hsmErrHas(t, err, missing, "does not exist", "apt-get install softhsm2", "module-path=")

	// From the environment, too.
	t.Setenv(PKCS11ModuleEnv, missing)
	_, err = LoadPKCS11Public(ctx, "pkcs11:token=mod;object=k", nil)
	wantKind(t, err, errkind.Input)
	hsmErrHas(t, err, missing, "does not exist")

	_, err = GeneratePKCS11(ctx, "pkcs11:token=mod;object=k", TypeECDSAP256, nil)
	wantKind(t, err, errkind.Input)

	// A file that is not a PKCS#11 module.
	notModule := filepath.Join(h.dir, "softhsm2.conf")
	_, err = LoadPKCS11Signer(ctx, "pkcs11:token=mod;object=k?module-path="+notModule, nil)
	wantKind(t, err, errkind.Input)
	hsmErrHas(t, err, notModule, "is not a PKCS#11 module")

	// No module named anywhere.
	os.Unsetenv(PKCS11ModuleEnv)
	_, err = LoadPKCS11Signer(ctx, "pkcs11:token=mod;object=k", nil)
	wantKind(t, err, errkind.Input)
	hsmErrHas(t, err, "no PKCS#11 module given", PKCS11ModuleEnv)

	// The module from the environment, through a symlink, works.
	link := filepath.Join(h.dir, "libsofthsm2.so")
	if err := os.Symlink(softhsmModule, link); err != nil {
		t.Fatal(err)
	}
	t.Setenv(PKCS11ModuleEnv, link)
	if _, err := GeneratePKCS11(ctx, "pkcs11:token=mod;object=k", TypeECDSAP256, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPKCS11Public(ctx, "pkcs11:token=mod;object=k?module-path="+softhsmModule, nil); err != nil {
		t.Errorf("the same module by another path: %v", err)
	}
}

func TestPKCS11TokenSelection(t *testing.T) {
	h := newSoftHSM(t, "alpha", "beta")
	t.Setenv(PKCS11PINEnv, hsmPIN)
	ctx := context.Background()

	_, err := LoadPKCS11Signer(ctx, hsmURI("gamma", "object=k"), nil)
	wantKind(t, err, errkind.Input)
	hsmErrHas(t, err, `no PKCS#11 token matches token "gamma"`, `"alpha"`, `"beta"`)

	// Without a token attribute, two tokens are ambiguous.
	_, err = LoadPKCS11Signer(ctx, "pkcs11:object=k?module-path="+softhsmModule, nil)
	wantKind(t, err, errkind.Input)
	hsmErrHas(t, err, "2 PKCS#11 tokens match any token", "serial=")

	// slot-id and serial select a token as well as its label does.
	h.keypairgen(t, "beta", "EC:prime256v1", "01", "k")
	var slot, serial string
	for _, block := range strings.Split(h.run(t, "softhsm2-util", "--show-slots"), "\nSlot ")[1:] {
		fields := map[string]string{}
		for _, line := range strings.Split(block, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
		if fields["Label"] == "beta" {
			slot, _, _ = strings.Cut(block, "\n")
			serial = fields["Serial number"]
		}
	}
	if slot == "" || serial == "" {
		t.Fatalf("could not find beta's slot and serial in softhsm2-util --show-slots")
	}
	for _, sel := range []string{"slot-id=" + slot, "serial=" + serial} {
		ref := "pkcs11:" + sel + ";object=k?module-path=" + softhsmModule
		if _, err := LoadPKCS11Public(ctx, ref, nil); err != nil {
			t.Errorf("%s: %v", sel, err)
		}
	}
	// A library-* attribute for another vendor's module is refused.
	_, err = LoadPKCS11Public(ctx, "pkcs11:token=beta;object=k;library-manufacturer=Acme?module-path="+softhsmModule, nil)
	wantKind(t, err, errkind.Input)
	hsmErrHas(t, err, "library-* attributes")
	if _, err := LoadPKCS11Public(ctx, "pkcs11:token=beta;object=k;library-manufacturer=SoftHSM?module-path="+softhsmModule, nil); err != nil {
		t.Errorf("library-manufacturer=SoftHSM: %v", err)
	}
}

// A token whose public key object does not belong to the private key with
// the same id and label (objects imported by hand) yields an error, not a
// signature that fails verification downstream.
func TestPKCS11MismatchedKeyObjects(t *testing.T) {
	h := newSoftHSM(t, "mix")
	t.Setenv(PKCS11PINEnv, hsmPIN)
	ctx := context.Background()
	a, err := Generate(TypeECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(TypeECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(a)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(b.Public())
	if err != nil {
		t.Fatal(err)
	}
	privFile := filepath.Join(h.dir, "a.der")
	pubFile := filepath.Join(h.dir, "b.der")
	if err := os.WriteFile(privFile, privDER, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pubFile, pubDER, 0o600); err != nil {
		t.Fatal(err)
	}
	h.tool(t, "mix", "--write-object", privFile, "--type", "privkey", "--id", "07", "--label", "mixed", "--usage-sign")
	h.tool(t, "mix", "--write-object", pubFile, "--type", "pubkey", "--id", "07", "--label", "mixed")

	s, err := LoadPKCS11Signer(ctx, hsmURI("mix", "object=mixed"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.SignData(ctx, []byte("data"))
	wantKind(t, err, errkind.Input)
	hsmErrHas(t, err, "does not verify with the key's public key object")
}

// After ClosePKCS11 a signer fails cleanly rather than crashing, and does
// not come back to life when the token is opened again (its session and
// object handles would then name whatever the new initialisation gives
// those numbers to).
func TestPKCS11SignerAfterClose(t *testing.T) {
	for _, typ := range []Type{TypeECDSAP256, TypeEd25519} {
		t.Run(string(typ), func(t *testing.T) {
			newSoftHSM(t, "closed")
			t.Setenv(PKCS11PINEnv, hsmPIN)
			ref := hsmURI("closed", "object=k")
			if _, err := GeneratePKCS11(context.Background(), ref, typ, nil); err != nil {
				t.Fatal(err)
			}
			s, err := LoadPKCS11Signer(context.Background(), ref, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := ClosePKCS11(); err != nil {
				t.Fatal(err)
			}
			_, _, err = s.SignData(context.Background(), []byte("x"))
			wantKind(t, err, errkind.Operational)

			s2, err := LoadPKCS11Signer(context.Background(), ref, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = s.SignData(context.Background(), []byte("x"))
			wantKind(t, err, errkind.Operational)
			signAndVerify(t, s2)
		})
	}
}

// The signer honours a cancelled context before touching the token.
func TestPKCS11CancelledContext(t *testing.T) {
	newSoftHSM(t, "cx")
	t.Setenv(PKCS11PINEnv, hsmPIN)
	ref := hsmURI("cx", "object=k")
	if _, err := GeneratePKCS11(context.Background(), ref, TypeECDSAP384, nil); err != nil {
		t.Fatal(err)
	}
	s, err := LoadPKCS11Signer(context.Background(), ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.SignData(ctx, []byte("x")); err == nil {
		t.Fatal("signed with a cancelled context")
	}
	if _, err := LoadPKCS11Signer(ctx, ref, nil); err == nil {
		t.Fatal("loaded with a cancelled context")
	}
}
