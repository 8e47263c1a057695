package keys

// The KeyFiles backend: keys in PEM files, read with ParsePrivatePEM and
// ParsePublicPEM and written as cosign-compatible encrypted key pairs.

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/imgsign/imgsign/internal/atomicfile"
	"github.com/imgsign/imgsign/internal/boundedfile"
	"github.com/imgsign/imgsign/internal/errkind"
)

type fileBackend struct{}

func (fileBackend) LoadSigner(ctx context.Context, ref string, a Access) (*Signer, error) {
	data, err := readKeyFile(ref)
	if err != nil {
		return nil, err
	}
	priv, err := ParsePrivatePEM(data, a.Passphrase)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", DescribeRef(ref), err)
	}
	s, err := FromPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", DescribeRef(ref), err)
	}
	return s, nil
}

// LoadPublic reads a public key file, or a private key file's public half
// (asking for a passphrase only if it is encrypted), so `keys public` and
// policies work with either.
func (fileBackend) LoadPublic(ctx context.Context, ref string, a Access) (crypto.PublicKey, error) {
	data, err := readKeyFile(ref)
	if err != nil {
		return nil, err
	}
	var pub crypto.PublicKey
	if b := privateBlock(data); b != nil && (b.Type == "PUBLIC KEY" || b.Type == "RSA PUBLIC KEY") {
		pub, err = ParsePublicPEM(data)
	} else {
		var priv crypto.Signer
		priv, err = ParsePrivatePEM(data, a.Passphrase)
		if err == nil {
			pub = priv.Public()
		}
	}
	if err == nil {
		_, err = algorithmFor(pub)
	}
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", DescribeRef(ref), err)
	}
	return pub, nil
}

// Generate creates a private key and writes it with WriteKeyPair.
func (fileBackend) Generate(ctx context.Context, ref string, o GenerateOptions, a Access) (*NewKey, error) {
	priv, err := Generate(o.Type)
	if err != nil {
		return nil, err
	}
	return WriteKeyPair(priv, ref, o.WriteOptions, a)
}

// WriteOptions are how WriteKeyPair writes key files.
type WriteOptions struct {
	// Unencrypted writes the private key as plain PKCS#8 instead of
	// encrypting it with a passphrase; only for throwaway keys.
	Unencrypted bool
	// Overwrite replaces existing files.
	Overwrite bool
}

// WriteKeyPair writes priv to NAME.key (mode 0600, encrypted with
// a.Passphrase(true) unless o.Unencrypted) and its public key to NAME.pub;
// name may end in .key. Existing files are refused unless o.Overwrite, since
// someone may still need that key, and each file is written atomically.
func WriteKeyPair(priv crypto.Signer, name string, o WriteOptions, a Access) (*NewKey, error) {
	name = strings.TrimSuffix(name, ".key")
	keyPath, pubPath := name+".key", name+".pub"
	if !o.Overwrite {
		for _, p := range []string{keyPath, pubPath} {
			if _, err := os.Stat(p); err == nil {
				return nil, errkind.Inputf("%s already exists: choose another --out or pass --force", p)
			}
		}
	}
	var keyPEM []byte
	var err error
	if o.Unencrypted {
		keyPEM, err = EncodePrivateUnencrypted(priv)
	} else {
		if a.Passphrase == nil {
			return nil, errkind.Inputf("a new key file is encrypted with a passphrase: set %s", PasswordEnv)
		}
		var pass []byte
		pass, err = a.Passphrase(true)
		if err != nil {
			return nil, err
		}
		keyPEM, err = EncodePrivate(priv, pass)
		clear(pass)
	}
	if err != nil {
		return nil, err
	}
	pubPEM, err := EncodePublic(priv.Public())
	if err != nil {
		return nil, err
	}
	id, err := ID(priv.Public())
	if err != nil {
		return nil, err
	}
	if dir := filepath.Dir(keyPath); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, errkind.Inputf("creating %s: %w", dir, err)
		}
	}
	if err := atomicfile.Write(keyPath, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(pubPath, pubPEM, 0o644); err != nil {
		return nil, err
	}
	return &NewKey{Ref: keyPath, Public: priv.Public(), ID: id, PublicFile: pubPath, Name: keyPath}, nil
}

// WritePublicFile writes pub to path as a PEM public key file (mode 0644),
// replacing any file there.
func WritePublicFile(pub crypto.PublicKey, path string) error {
	b, err := EncodePublic(pub)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o644)
}

// checkFileRef refuses key references that are not file paths. KMS and
// pkcs11: references were dispatched before this; anything else with "://"
// is treated as a URI, since it is almost certainly not a path someone meant.
func checkFileRef(ref string) error {
	if ref == "" {
		return errkind.Inputf("no key reference given: pass a key file path")
	}
	if i := strings.Index(ref, "://"); i > 0 {
		scheme := ref[:i+3]
		if len(scheme) > 40 {
			scheme = scheme[:40] + "…"
		}
		return errkind.Inputf("unknown key reference scheme %q: use a key file path, awskms://, gcpkms://, azurekms://, hashivault:// or pkcs11:", scheme)
	}
	return nil
}

func readKeyFile(ref string) ([]byte, error) {
	if err := checkFileRef(ref); err != nil {
		return nil, err
	}
	data, err := boundedfile.Read(ref, 1<<20)
	if err != nil {
		// The PathError would repeat the path; keep only its reason.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		if errors.Is(err, fs.ErrNotExist) && LooksLikeKeyMaterial(ref) {
			// The key itself, pasted where its path belongs: say so
			// without repeating it.
			what := RedactedValue(ref)
			if kind := DescribeKeyMaterial(ref); kind != "" {
				what = kind + ", " + what
			}
			return nil, errkind.Inputf("the key reference is not a file name but %s: give the path of a PEM key file, a KMS URI or a pkcs11: URI, never the key itself", what)
		}
		return nil, errkind.Inputf("reading key file %s: %w", DescribeRef(ref), err)
	}
	return data, nil
}
