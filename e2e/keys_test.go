package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// Keys made by openssl in every PEM flavour import, and the imported key
// signs images that verify under its public key and id.
func TestKeysImportPublicID(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		testenv.Missing(t, "openssl not installed")
	}
	host := testenv.Registry(t, true).Addr
	cases := []struct {
		name string
		gen  [][]string
	}{
		{"pkcs1-rsa", [][]string{{"genrsa", "-traditional", "-out", "in.pem", "3072"}}},
		{"sec1-ec-with-params", [][]string{{"ecparam", "-genkey", "-name", "prime256v1", "-out", "in.pem"}}},
		{"pkcs8-ed25519", [][]string{{"genpkey", "-algorithm", "ed25519", "-out", "in.pem"}}},
		{"pkcs8-p384", [][]string{{"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", "in.pem"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			for _, args := range c.gen {
				cmd := exec.Command(openssl, args...)
				cmd.Dir = e.dir
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("openssl %v: %v\n%s", args, err, out)
				}
			}
			e.must("keys", "import", "--in", "in.pem", "--out", "imported")
			key, err := os.ReadFile(filepath.Join(e.dir, "imported.key"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(key), "ENCRYPTED SIGSTORE PRIVATE KEY") {
				t.Errorf("imported key is not stored encrypted:\n%s", key)
			}
			if fi, _ := os.Stat(filepath.Join(e.dir, "imported.key")); fi.Mode().Perm() != 0o600 {
				t.Errorf("imported.key mode %v, want 0600", fi.Mode().Perm())
			}
			pub := e.must("keys", "public", "--key", "imported.key").Stdout
			pubFile, _ := os.ReadFile(filepath.Join(e.dir, "imported.pub"))
			if pub != string(pubFile) {
				t.Errorf("keys public differs from imported.pub:\n%s\n%s", pub, pubFile)
			}
			id := strings.TrimSpace(e.must("keys", "id", "--key", "imported.pub").Stdout)
			if id2 := strings.TrimSpace(e.must("keys", "id", "--key", "in.pem").Stdout); id != id2 {
				t.Errorf("key id of the public key %q differs from the original private key's %q", id, id2)
			}
			testenv.PushImage(t, host, "imported/"+c.name, "v1")
			out := e.must("sign", "--key", "imported.key", host+"/imported/"+c.name+":v1").Stdout
			if !strings.Contains(out, id) {
				t.Errorf("sign output does not show key id %s:\n%s", id, out)
			}
			// The original unencrypted PEM signs too, no passphrase needed.
			r := testenv.Run(t, e.dir, nil, e.bin, "sign", "--key", "in.pem", host+"/imported/"+c.name+":v1")
			if r.Code != 0 {
				t.Fatalf("sign with the unencrypted original: exit %d: %s", r.Code, r.Stderr)
			}
			e.must("verify", "--policy", e.policy(host, []string{"imported"}, 1, nil), host+"/imported/"+c.name+":v1")
		})
	}
}

// generate refuses to overwrite keys, and --unencrypted needs no passphrase.
func TestKeysGenerateSafety(t *testing.T) {
	e := newEnv(t)
	e.key("k", "ed25519")
	r := e.run("keys", "generate", "--type", "ed25519", "--out", "k")
	if r.Code != 2 || !strings.Contains(r.Stderr, "already exists") {
		t.Fatalf("overwrite: exit %d %s", r.Code, r.Stderr)
	}
	r = testenv.Run(t, e.dir, nil, e.bin, "keys", "generate", "--type", "ecdsa-p384", "--unencrypted", "--out", "plain")
	if r.Code != 0 {
		t.Fatalf("unencrypted generate: exit %d %s", r.Code, r.Stderr)
	}
	b, _ := os.ReadFile(filepath.Join(e.dir, "plain.key"))
	if !strings.Contains(string(b), "BEGIN PRIVATE KEY") {
		t.Errorf("--unencrypted did not write PKCS#8:\n%s", b)
	}
	r = testenv.Run(t, e.dir, nil, e.bin, "keys", "generate", "--type", "ecdsa-p256", "--out", "needpass")
	if r.Code != 2 || !strings.Contains(r.Stderr, "IMGSIGN_PASSWORD") {
		t.Errorf("encrypted generate without a passphrase or terminal: exit %d %s", r.Code, r.Stderr)
	}
}
