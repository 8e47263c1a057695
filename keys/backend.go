package keys

import (
	"context"
	"crypto"
	"io"
)

// Backend is where private keys live: PEM key files, a cloud KMS, or a
// PKCS#11 token. Each has one implementation (KeyFiles, KMS, PKCS11), and
// BackendFor picks the one a key reference names, so callers load and
// create keys without knowing which kind they hold.
type Backend interface {
	// LoadSigner returns a Signer for the private key ref names.
	LoadSigner(ctx context.Context, ref string, a Access) (*Signer, error)
	// LoadPublic returns the public key of the key ref names. A key file
	// may hold the public key itself.
	LoadPublic(ctx context.Context, ref string, a Access) (crypto.PublicKey, error)
	// Generate creates a key at ref and returns it. An existing key there
	// is an error, not replaced (key files: unless o.Overwrite).
	Generate(ctx context.Context, ref string, o GenerateOptions, a Access) (*NewKey, error)
}

// The backends. Commands that create a key say which one with a flag
// (--kms, --pkcs11, --out); everything else uses BackendFor.
var (
	// KeyFiles keeps keys in PEM files: ref is the file's path (for
	// Generate, NAME or NAME.key; NAME.key and NAME.pub are written).
	KeyFiles Backend = fileBackend{}
	// KMS keeps keys in a cloud KMS or Vault: ref is an awskms://,
	// gcpkms://, azurekms:// or hashivault:// URI.
	KMS Backend = kmsBackend{}
	// PKCS11 keeps keys on a PKCS#11 token: ref is an RFC 7512 pkcs11: URI.
	PKCS11 Backend = pkcs11Backend{}
)

// BackendFor returns the backend of a key reference: KMS for a KMS URI,
// PKCS11 for a pkcs11: URI, and KeyFiles for anything else (which refuses
// other URIs when it reads ref).
func BackendFor(ref string) Backend {
	switch {
	case IsKMSRef(ref):
		return KMS
	case IsPKCS11Ref(ref):
		return PKCS11
	}
	return KeyFiles
}

// Access is how a backend may ask whoever runs imgsign for the secret that
// opens a key. The zero value asks nobody: secrets must come from the
// environment or the reference.
type Access struct {
	// Passphrase returns the passphrase of an encrypted key file, or of a
	// new one (confirm set). nil: an encrypted key file is an input error
	// naming IMGSIGN_PASSWORD, and a new key file cannot be encrypted.
	Passphrase PassFunc
	// Prompts receives a PKCS#11 PIN prompt (when stdin is a terminal) and
	// the warning that a pkcs11: URI holds the PIN. The CLI passes its
	// stderr. nil: nobody is prompted, so the PIN must come from the URI
	// or IMGSIGN_PKCS11_PIN, and no warning is written.
	Prompts io.Writer
}

// FromEnvOrPrompt is the Access the CLI uses: passphrases and PINs from
// the environment (or the URI), else a no-echo prompt written to stderr
// when stdin is a terminal (PassphraseFromEnvOrPrompt).
func FromEnvOrPrompt(stderr io.Writer) Access {
	return Access{Passphrase: PassphraseFromEnvOrPrompt(stderr), Prompts: stderr}
}

// GenerateOptions says what key Backend.Generate creates.
type GenerateOptions struct {
	Type Type
	// WriteOptions apply to key files only: a KMS or PKCS#11 key never
	// leaves the KMS or token, and an existing one is never replaced.
	WriteOptions
}

// NewKey is a key just generated, or written to key files by WriteKeyPair.
type NewKey struct {
	// Ref is the reference to sign with: the KMS or pkcs11: URI, or the
	// private key file (NAME.key).
	Ref    string
	Public crypto.PublicKey
	ID     string
	// PublicFile is the public key file written next to a new key file;
	// empty for KMS and PKCS#11 keys, whose public key stays with them.
	PublicFile string
	// Name says which key this is in output, without secrets: the KMS
	// URI as DescribeRef shows it, "the PKCS#11 key" (its URI may name a
	// PIN file and module), or the private key file.
	Name string
}

func newKey(ref, name string, pub crypto.PublicKey) (*NewKey, error) {
	id, err := ID(pub)
	if err != nil {
		return nil, err
	}
	return &NewKey{Ref: ref, Public: pub, ID: id, Name: name}, nil
}

type kmsBackend struct{}

func (kmsBackend) LoadSigner(ctx context.Context, ref string, _ Access) (*Signer, error) {
	return LoadKMSSigner(ctx, ref)
}

func (kmsBackend) LoadPublic(ctx context.Context, ref string, _ Access) (crypto.PublicKey, error) {
	return LoadKMSPublic(ctx, ref)
}

func (kmsBackend) Generate(ctx context.Context, ref string, o GenerateOptions, _ Access) (*NewKey, error) {
	pub, err := GenerateKMS(ctx, ref, o.Type)
	if err != nil {
		return nil, err
	}
	return newKey(ref, DescribeRef(ref), pub)
}

type pkcs11Backend struct{}

// LoadSigner is not wrapped with the ref: a pin-value= in it must never be
// printed.
func (pkcs11Backend) LoadSigner(ctx context.Context, ref string, a Access) (*Signer, error) {
	return LoadPKCS11Signer(ctx, ref, a.Prompts)
}

func (pkcs11Backend) LoadPublic(ctx context.Context, ref string, a Access) (crypto.PublicKey, error) {
	return LoadPKCS11Public(ctx, ref, a.Prompts)
}

func (pkcs11Backend) Generate(ctx context.Context, ref string, o GenerateOptions, a Access) (*NewKey, error) {
	pub, err := GeneratePKCS11(ctx, ref, o.Type, a.Prompts)
	if err != nil {
		return nil, err
	}
	return newKey(ref, "the PKCS#11 key", pub)
}
