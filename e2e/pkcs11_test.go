package e2e

// imgsign with keys on a PKCS#11 token: a real SoftHSM2 token per test,
// created in a temp dir and handed to the imgsign processes through
// SOFTHSM2_CONF. The key never leaves the token; policies trust the public
// key `imgsign keys public --key pkcs11:…` prints.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/verify"
)

const (
	softhsmModule = "/usr/lib/softhsm/libsofthsm2.so"
	// Six digits, so it is unlikely to turn up by chance in output that
	// a test checks it is absent from.
	hsmPIN = "246813"
)

// hsm is one test's SoftHSM2 token directory and the environment that
// makes imgsign (and pkcs11-tool) use it.
type hsm struct {
	conf string
	env  []string // SOFTHSM2_CONF and IMGSIGN_PKCS11_PIN
}

// newHSM creates a SoftHSM2 configuration in a temp dir with one token per
// label, user PIN hsmPIN.
func newHSM(t *testing.T, labels ...string) *hsm {
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
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := &hsm{conf: conf, env: []string{"SOFTHSM2_CONF=" + conf, "IMGSIGN_PKCS11_PIN=" + hsmPIN}}
	for _, l := range labels {
		h.tool(t, "softhsm2-util", "--init-token", "--free", "--label", l, "--pin", hsmPIN, "--so-pin", "5678")
	}
	return h
}

// tool runs a SoftHSM2 or OpenSC command against this test's tokens.
func (h *hsm) tool(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+h.conf)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// hsmRef is the pkcs11: URI of object on token, with extra query attributes.
func hsmRef(token, object string, query ...string) string {
	return "pkcs11:token=" + token + ";object=" + object + "?" + strings.Join(append([]string{"module-path=" + softhsmModule}, query...), "&")
}

// run runs imgsign with this test's token configuration plus env.
func (h *hsm) run(e *env, env []string, args ...string) testenv.Result {
	e.t.Helper()
	return testenv.Run(e.t, e.dir, append(append([]string{}, h.env...), env...), e.bin, args...)
}

func (h *hsm) must(e *env, args ...string) testenv.Result {
	e.t.Helper()
	r := h.run(e, nil, args...)
	if r.Code != 0 {
		e.t.Fatalf("imgsign %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r
}

// exportPublic writes NAME.pub from `keys public --key ref` for policies
// and cosign, and returns the key id `keys id` gives for the token key,
// checked against the id of the exported file.
func (h *hsm) exportPublic(e *env, ref, name string) string {
	e.t.Helper()
	pem := h.must(e, "keys", "public", "--key", ref).Stdout
	if !strings.HasPrefix(pem, "-----BEGIN PUBLIC KEY-----") {
		e.t.Fatalf("keys public printed no PEM public key:\n%s", pem)
	}
	e.write(name+".pub", pem)
	id := strings.TrimSpace(h.must(e, "keys", "id", "--key", ref).Stdout)
	if fileID := strings.TrimSpace(e.must("keys", "id", "--key", name+".pub").Stdout); fileID != id {
		e.t.Fatalf("key id of the token key %q differs from that of its exported public key %q", id, fileID)
	}
	return id
}

// Keys generated on the token with `keys generate --pkcs11` sign images that
// verify under the exported public key, with imgsign and with cosign. Ed25519
// keys sign pure Ed25519 (CKM_EDDSA over the payload), as cosign expects.
func TestPKCS11GenerateSignVerify(t *testing.T) {
	h := newHSM(t, "release")
	host := testenv.Registry(t, true).Addr
	for _, c := range []struct{ typ, name string }{
		{"ed25519", "ed25519"},
		{"ecdsa-p256", "p256"},
		{"ecdsa-p384", "p384"},
		{"rsa-3072", "rsa3072"},
	} {
		t.Run(c.typ, func(t *testing.T) {
			e := newEnv(t)
			ref := hsmRef("release", c.name)
			gen := h.must(e, "keys", "generate", "--pkcs11", ref, "--type", c.typ)
			id := h.exportPublic(e, ref, c.name)
			if !strings.Contains(gen.Stdout, id) {
				t.Errorf("keys generate --pkcs11 does not print the new key's id %s:\n%s", id, gen.Stdout)
			}
			if strings.Contains(gen.Stdout+gen.Stderr, hsmPIN) {
				t.Errorf("keys generate printed the PIN")
			}

			repo := "hsm/" + c.name
			d := testenv.PushImage(t, host, repo, "v1")
			out := h.must(e, "sign", "--key", ref, host+"/"+repo+":v1").Stdout
			if !strings.Contains(out, d.String()) || !strings.Contains(out, id) {
				t.Errorf("sign output does not name the digest %s and key id %s:\n%s", d, id, out)
			}
			rep, res := e.verifyJSON(e.policy(host, []string{c.name}, 1, nil), host+"/"+repo+":v1")
			if res.Code != 0 {
				t.Fatalf("verify: exit %d\n%s\n%s", res.Code, res.Stdout, res.Stderr)
			}
			img := rep.Images[0]
			if img.Verdict != verify.VerdictPass || img.Requirements[0].Accepted[0].KeyName != c.name {
				t.Errorf("verify result %+v", img)
			}

			t.Run("cosign verifies", func(t *testing.T) {
				cosign := testenv.Tool(t, "cosign")
				args := []string{"verify", "--key", c.name + ".pub", "--insecure-ignore-tlog", "--allow-insecure-registry"}
				if c.typ == "ecdsa-p384" {
					args = append(args, "--signature-digest-algorithm", "sha384")
				}
				r := testenv.Run(t, e.dir, nil, cosign, append(args, host+"/"+repo+":v1")...)
				if r.Code != 0 || !strings.Contains(r.Stderr, "verified against the specified public key") {
					t.Fatalf("cosign verify: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
				}
			})
		})
	}
}

// Keys an HSM admin made with pkcs11-tool, selected by id, with the PIN in
// a pin-source file and no IMGSIGN_PKCS11_PIN.
func TestPKCS11KeyFromPkcs11Tool(t *testing.T) {
	h := newHSM(t, "admin")
	h.env = []string{"SOFTHSM2_CONF=" + h.conf} // the PIN comes from the file only
	host := testenv.Registry(t, true).Addr
	for _, c := range []struct{ keyType, id, name string }{
		{"rsa:2048", "a1", "ops"},
		{"EC:edwards25519", "a2", "edops"},
	} {
		t.Run(c.keyType, func(t *testing.T) {
			h.tool(t, "pkcs11-tool", "--module", softhsmModule, "--token-label", "admin", "--login", "--pin", hsmPIN,
				"--keypairgen", "--key-type", c.keyType, "--id", c.id, "--label", c.name)
			e := newEnv(t)
			pinFile := e.write("pin", hsmPIN+"\n")
			ref := "pkcs11:token=admin;id=%" + c.id + "?module-path=" + softhsmModule + "&pin-source=" + pinFile
			h.exportPublic(e, ref, c.name)
			testenv.PushImage(t, host, c.name, "v1")
			h.must(e, "sign", "--key", ref, host+"/"+c.name+":v1")
			e.must("verify", "--policy", e.policy(host, []string{c.name}, 1, nil), host+"/"+c.name+":v1")
		})
	}
}

// Mistakes exit 2 with a message naming what to fix, and never print the PIN.
func TestPKCS11CLIErrors(t *testing.T) {
	h := newHSM(t, "errs")
	host := testenv.Registry(t, true).Addr
	e := newEnv(t)
	ref := hsmRef("errs", "k")
	h.must(e, "keys", "generate", "--pkcs11", ref, "--type", "ecdsa-p256")
	testenv.PushImage(t, host, "errs", "v1")
	img := host + "/errs:v1"

	cases := []struct {
		name string
		env  []string
		args []string
		want []string
	}{
		{"wrong PIN", []string{"IMGSIGN_PKCS11_PIN=999999"}, []string{"sign", "--key", ref, img},
			[]string{`token "errs"`, "wrong PIN (CKR_PIN_INCORRECT)"}},
		{"wrong PIN for keys public", []string{"IMGSIGN_PKCS11_PIN=999999"}, []string{"keys", "public", "--key", ref},
			[]string{"CKR_PIN_INCORRECT"}},
		{"missing object", nil, []string{"sign", "--key", hsmRef("errs", "absent"), img},
			[]string{`token "errs"`, `object "absent"`}},
		{"missing token", nil, []string{"sign", "--key", hsmRef("nope", "k"), img},
			[]string{`token "nope"`, `"errs"`}},
		{"missing module", nil, []string{"sign", "--key", "pkcs11:token=errs;object=k?module-path=/opt/none/libvendor.so", img},
			[]string{"/opt/none/libvendor.so", "apt-get install softhsm2"}},
		{"unknown attribute", nil, []string{"sign", "--key", "pkcs11:token=errs;label=k?module-path=" + softhsmModule, img},
			[]string{`unknown path attribute "label"`}},
		{"key exists", nil, []string{"keys", "generate", "--pkcs11", ref, "--type", "ecdsa-p256"},
			[]string{`already has a key with object "k"`}},
		{"key exists, ed25519", nil, []string{"keys", "generate", "--pkcs11", ref, "--type", "ed25519"},
			[]string{`already has a key with object "k"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.run(e, c.env, c.args...)
			if r.Code != 2 {
				t.Fatalf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(r.Stderr, w) {
					t.Errorf("stderr does not contain %q:\n%s", w, r.Stderr)
				}
			}
			if strings.Contains(r.Stdout+r.Stderr, hsmPIN) || strings.Contains(r.Stdout+r.Stderr, "999999") {
				t.Errorf("output contains a PIN:\n%s%s", r.Stdout, r.Stderr)
			}
		})
	}

	t.Run("no PIN and no terminal", func(t *testing.T) {
		r := testenv.Run(t, e.dir, []string{"SOFTHSM2_CONF=" + h.conf}, e.bin, "sign", "--key", ref, img)
		if r.Code != 2 || !strings.Contains(r.Stderr, "IMGSIGN_PKCS11_PIN") {
			t.Fatalf("exit %d, want 2 naming IMGSIGN_PKCS11_PIN:\n%s", r.Code, r.Stderr)
		}
	})

	t.Run("pin-value works with a warning", func(t *testing.T) {
		r := testenv.Run(t, e.dir, []string{"SOFTHSM2_CONF=" + h.conf}, e.bin, "sign", "--key", ref+"&pin-value="+hsmPIN, img)
		if r.Code != 0 {
			t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
		}
		warn := fmt.Sprintf("%q", r.Stderr)
		if !strings.Contains(r.Stderr, "warning:") || !strings.Contains(r.Stderr, "pin-value") {
			t.Errorf("no pin-value warning on stderr: %s", warn)
		}
		if strings.Contains(r.Stdout+r.Stderr, hsmPIN) {
			t.Errorf("output contains the PIN: %s", warn)
		}
	})
}
