package keys

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/errkind"
)

func TestBackendFor(t *testing.T) {
	tests := []struct {
		ref  string
		want Backend
	}{
		{"awskms://localhost:4566/alias/release", KMS},
		{"gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k", KMS},
		{"azurekms://vault.example.com/release", KMS},
		{"hashivault://release", KMS},
		{"pkcs11:token=t;object=k", PKCS11},
		{"release.key", KeyFiles},
		{"/abs/release.pub", KeyFiles},
		// Not a backend's URI: the key file backend refuses it when it
		// reads ref, naming the schemes there are.
		{"s3://bucket/release.key", KeyFiles},
		{"", KeyFiles},
	}
	for _, tt := range tests {
		if got := BackendFor(tt.ref); got != tt.want {
			t.Errorf("BackendFor(%q) = %T, want %T", tt.ref, got, tt.want)
		}
	}
	_, err := BackendFor("s3://bucket/k").LoadSigner(t.Context(), "s3://bucket/k", Access{})
	wantKind(t, err, errkind.Input)
	if !strings.Contains(err.Error(), "unknown key reference scheme") {
		t.Errorf("error %q does not name the unknown scheme", err)
	}
}

// KeyFiles.Generate writes an encrypted key pair that KeyFiles loads back,
// and refuses to replace one unless asked.
func TestKeyFilesGenerate(t *testing.T) {
	ctx := context.Background()
	name := filepath.Join(t.TempDir(), "sub", "release")
	a := Access{Passphrase: func(bool) ([]byte, error) { return []byte("backend test"), nil }}
	k, err := KeyFiles.Generate(ctx, name+".key", GenerateOptions{Type: TypeEd25519}, a)
	if err != nil {
		t.Fatal(err)
	}
	if k.Ref != name+".key" || k.PublicFile != name+".pub" || k.Name != k.Ref {
		t.Errorf("NewKey %+v, want %s.key and %s.pub", k, name, name)
	}
	if fi, err := os.Stat(k.Ref); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("private key file mode %v, want 0600", fi.Mode().Perm())
	}
	data, err := os.ReadFile(k.Ref)
	if err != nil || !bytes.Contains(data, []byte(SigstorePrivateKeyPEMType)) {
		t.Errorf("private key file is not an encrypted key (%v)", err)
	}
	s, err := KeyFiles.LoadSigner(ctx, k.Ref, a)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := KeyFiles.LoadPublic(ctx, k.PublicFile, Access{})
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := ID(pub); s.ID() != k.ID || id != k.ID {
		t.Errorf("signer %s and public key file %s, want key id %s", s.ID(), id, k.ID)
	}

	_, err = KeyFiles.Generate(ctx, name, GenerateOptions{Type: TypeEd25519}, a)
	wantKind(t, err, errkind.Input)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("generating over an existing key: %v, want already exists", err)
	}
	k2, err := KeyFiles.Generate(ctx, name, GenerateOptions{Type: TypeEd25519, WriteOptions: WriteOptions{Overwrite: true, Unencrypted: true}}, Access{})
	if err != nil {
		t.Fatalf("overwriting with an unencrypted key: %v", err)
	}
	if k2.ID == k.ID {
		t.Error("the overwritten key is the old one")
	}
	if _, err := KeyFiles.LoadSigner(ctx, k2.Ref, Access{}); err != nil {
		t.Errorf("unencrypted key needs no passphrase: %v", err)
	}
}

// Without a Passphrase, a new key file cannot be encrypted: say what to set.
func TestWriteKeyPairNeedsPassphrase(t *testing.T) {
	priv, err := Generate(TypeECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "k")
	_, err = WriteKeyPair(priv, name, WriteOptions{}, Access{})
	wantKind(t, err, errkind.Input)
	if err == nil || !strings.Contains(err.Error(), PasswordEnv) {
		t.Errorf("error %v does not name %s", err, PasswordEnv)
	}
	if _, serr := os.Stat(name + ".key"); serr == nil {
		t.Error("a key file was written")
	}
}

// With nowhere to write a prompt, nobody is asked: the error says where the
// secret may come from instead.
func TestNoPrompter(t *testing.T) {
	for _, k := range []string{PasswordEnv, CosignPasswordEnv} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	_, err := PassphraseFromEnvOrPrompt(nil)(false)
	wantKind(t, err, errkind.Input)
	if err == nil || !strings.Contains(err.Error(), "nowhere to prompt") || !strings.Contains(err.Error(), PasswordEnv) {
		t.Errorf("passphrase without a prompter: %v", err)
	}
	t.Setenv(PasswordEnv, "")
	if pw, err := PassphraseFromEnvOrPrompt(nil)(true); err != nil || len(pw) != 0 {
		t.Errorf("empty %s without a prompter: %q, %v", PasswordEnv, pw, err)
	}

	u, err := parsePKCS11URI("pkcs11:object=k")
	if err != nil {
		t.Fatal(err)
	}
	p, reads := pinTerminal(nil, true, "1234", nil)
	p.stderr = nil // pinTerminal's nil *bytes.Buffer is not a nil io.Writer
	_, err = u.pin("tok", p)
	wantKind(t, err, errkind.Input)
	if err == nil || !strings.Contains(err.Error(), PKCS11PINEnv) || !strings.Contains(err.Error(), `token "tok"`) {
		t.Errorf("PIN without a prompter: %v", err)
	}
	if *reads != 0 {
		t.Errorf("read the terminal %d times without a prompter", *reads)
	}
	u, err = parsePKCS11URI("pkcs11:object=k?pin-value=4321")
	if err != nil {
		t.Fatal(err)
	}
	if pin, err := u.pin("tok", p); err != nil || pin != "4321" {
		t.Errorf("pin-value without a prompter: %q, %v", pin, err)
	}
}
