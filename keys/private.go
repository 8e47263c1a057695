package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"golang.org/x/term"
)

// PasswordEnv names the environment variable that holds the passphrase of an
// encrypted private key, so CI can sign without a terminal.
const PasswordEnv = "IMGSIGN_PASSWORD"

// PEM block types of private keys. The two encrypted ones are cosign's, so a
// key written by imgsign is a cosign key and vice versa.
const (
	SigstorePrivateKeyPEMType = "ENCRYPTED SIGSTORE PRIVATE KEY"
	CosignPrivateKeyPEMType   = "ENCRYPTED COSIGN PRIVATE KEY"
	PKCS8PrivateKeyPEMType    = "PRIVATE KEY"

	pkcs1PEMType    = "RSA PRIVATE KEY"
	sec1PEMType     = "EC PRIVATE KEY"
	ecParamsPEMType = "EC PARAMETERS"
	pbes2PEMType    = "ENCRYPTED PRIVATE KEY"
)

// ErrWrongPassphrase is wrapped by the error ParsePrivatePEM returns when an
// encrypted key does not decrypt with the passphrase given.
var ErrWrongPassphrase = errors.New("wrong passphrase")

// PassFunc returns the passphrase of a private key. confirm is true when the
// passphrase will encrypt a new key, so a prompt should ask twice to catch
// typos that would lock the key away for good.
type PassFunc func(confirm bool) ([]byte, error)

// EncodePrivate returns priv as PKCS#8 encrypted with passphrase the way
// cosign encrypts its keys (scrypt + nacl/secretbox), in an
// "ENCRYPTED SIGSTORE PRIVATE KEY" PEM block that cosign can load too.
func EncodePrivate(priv crypto.Signer, passphrase []byte) ([]byte, error) {
	der, err := marshalPKCS8(priv)
	if err != nil {
		return nil, err
	}
	defer clear(der)
	enc, err := encrypted.Encrypt(der, passphrase)
	if err != nil {
		return nil, fmt.Errorf("encrypting private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: SigstorePrivateKeyPEMType, Bytes: enc}), nil
}

// EncodePrivateUnencrypted returns priv as a plain PKCS#8 "PRIVATE KEY" PEM
// block. The key is readable by anyone who can read the file, which is why
// the CLI only writes it behind an explicit flag.
func EncodePrivateUnencrypted(priv crypto.Signer) ([]byte, error) {
	der, err := marshalPKCS8(priv)
	if err != nil {
		return nil, err
	}
	defer clear(der)
	return pem.EncodeToMemory(&pem.Block{Type: PKCS8PrivateKeyPEMType, Bytes: der}), nil
}

func marshalPKCS8(priv crypto.Signer) ([]byte, error) {
	if priv == nil {
		return nil, errkind.Inputf("encoding private key: no key given")
	}
	// Refusing here too means no code path can write a key that imgsign
	// would then refuse to load.
	if err := checkSigningKey(priv.Public()); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, errkind.Inputf("encoding private key: %w", err)
	}
	return der, nil
}

// ParsePrivatePEM parses a private key in any format imgsign accepts:
// cosign's encrypted "ENCRYPTED SIGSTORE PRIVATE KEY" (and its older
// "ENCRYPTED COSIGN PRIVATE KEY" name), PKCS#8, PKCS#1 and SEC1 (with or
// without openssl's leading "EC PARAMETERS" block). pass is only called for
// encrypted keys, so plain keys work without a terminal or IMGSIGN_PASSWORD.
// Keys imgsign will not sign with are refused.
func ParsePrivatePEM(data []byte, pass PassFunc) (crypto.Signer, error) {
	block := privateBlock(data)
	if block == nil {
		return nil, errkind.Inputf("no private key PEM block found: expected %q (imgsign keys generate), %q, %q or %q",
			SigstorePrivateKeyPEMType, PKCS8PrivateKeyPEMType, pkcs1PEMType, sec1PEMType)
	}
	// openssl's pre-PKCS#8 encryption ("-traditional -aes256") keeps the
	// plain block type and flags it in a header; parsing it as plain DER
	// would only give a confusing ASN.1 error.
	if strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") {
		return nil, errkind.Inputf("%q PEM block is encrypted the legacy OpenSSL way, which imgsign does not read: decrypt it with \"openssl pkey -in KEY -out plain.pem\", then run \"imgsign keys import --in plain.pem --out NAME\"", block.Type)
	}

	var (
		key any
		err error
	)
	switch block.Type {
	case SigstorePrivateKeyPEMType, CosignPrivateKeyPEMType:
		der, derr := decryptKey(block.Bytes, pass)
		if derr != nil {
			return nil, derr
		}
		key, err = x509.ParsePKCS8PrivateKey(der)
		clear(der)
		if err != nil {
			return nil, errkind.Inputf("parsing decrypted private key: %w", err)
		}
	case PKCS8PrivateKeyPEMType:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errkind.Inputf("parsing PKCS#8 private key: %w", err)
		}
	case pkcs1PEMType:
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, errkind.Inputf("parsing PKCS#1 RSA private key: %w", err)
		}
	case sec1PEMType:
		key, err = x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, errkind.Inputf("parsing SEC1 EC private key (supported curves: P-256, P-384, P-521): %w", err)
		}
	case pbes2PEMType:
		return nil, errkind.Inputf("private key is PKCS#8 password-encrypted (%q), which imgsign does not read: decrypt it with \"openssl pkcs8 -topk8 -nocrypt -in KEY -out plain.pem\", then run \"imgsign keys import --in plain.pem --out NAME\"", pbes2PEMType)
	case "PUBLIC KEY", "RSA PUBLIC KEY":
		return nil, errkind.Inputf("PEM block is a public key (%q), expected a private key", block.Type)
	default:
		return nil, errkind.Inputf("PEM block is %q, expected a private key: %q, %q, %q or %q",
			block.Type, SigstorePrivateKeyPEMType, PKCS8PrivateKeyPEMType, pkcs1PEMType, sec1PEMType)
	}

	var signer crypto.Signer
	switch k := key.(type) {
	case *rsa.PrivateKey:
		signer = k
	case *ecdsa.PrivateKey:
		signer = k
	case ed25519.PrivateKey:
		signer = k
	default:
		return nil, errkind.Inputf("unsupported private key type %T: use ed25519, ECDSA or RSA", key)
	}
	if err := checkSigningKey(signer.Public()); err != nil {
		return nil, err
	}
	return signer, nil
}

// privateBlock returns the first PEM block that is not openssl's
// "EC PARAMETERS" block, which `openssl ecparam -genkey` writes before the key.
func privateBlock(data []byte) *pem.Block {
	rest := data
	for {
		block, r := pem.Decode(rest)
		if block == nil || block.Type != ecParamsPEMType {
			return block
		}
		rest = r
	}
}

// encryptedKey mirrors the JSON envelope encrypted.Encrypt writes. Checking
// its shape before decrypting means a damaged file is reported as such, not
// as a wrong passphrase, and nobody is prompted for a key that cannot load.
type encryptedKey struct {
	KDF struct {
		Name   string `json:"name"`
		Params struct {
			N int `json:"N"`
			R int `json:"r"`
			P int `json:"p"`
		} `json:"params"`
		Salt []byte `json:"salt"`
	} `json:"kdf"`
	Cipher struct {
		Name  string `json:"name"`
		Nonce []byte `json:"nonce"`
	} `json:"cipher"`
	Ciphertext []byte `json:"ciphertext"`
}

// secretboxOverhead is nacl/secretbox's authenticator size: a shorter
// ciphertext cannot hold even an empty plaintext.
const secretboxOverhead = 16

func checkEnvelope(data []byte) error {
	var env encryptedKey
	// The decoder's message would quote bytes of the file, so it is dropped.
	if err := json.Unmarshal(data, &env); err != nil {
		return errors.New("the encrypted key is not a valid scrypt/secretbox envelope")
	}
	if env.KDF.Name != "scrypt" {
		return fmt.Errorf("unsupported key derivation %q, expected \"scrypt\"", env.KDF.Name)
	}
	// The same three parameter sets go-securesystemslib accepts (2^15, 2^16,
	// 2^17 with r=8, p=1); anything else would be an scrypt cost chosen by
	// whoever wrote the file.
	if p := env.KDF.Params; (p.N != 1<<15 && p.N != 1<<16 && p.N != 1<<17) || p.R != 8 || p.P != 1 {
		return errors.New("unsupported scrypt parameters")
	}
	if env.Cipher.Name != "nacl/secretbox" {
		return fmt.Errorf("unsupported cipher %q, expected \"nacl/secretbox\"", env.Cipher.Name)
	}
	if len(env.Cipher.Nonce) != 24 {
		return errors.New("bad secretbox nonce length")
	}
	if len(env.Ciphertext) < secretboxOverhead {
		return errors.New("truncated ciphertext")
	}
	return nil
}

func decryptKey(data []byte, pass PassFunc) ([]byte, error) {
	if err := checkEnvelope(data); err != nil {
		return nil, errkind.Inputf("decrypting private key: malformed encrypted key: %w", err)
	}
	if pass == nil {
		return nil, errkind.Inputf("private key is encrypted: set %s to its passphrase", PasswordEnv)
	}
	pw, err := pass(false)
	if err != nil {
		if _, ok := errkind.Of(err); !ok {
			err = errkind.Mark(errkind.Input, err)
		}
		return nil, fmt.Errorf("reading passphrase: %w", err)
	}
	der, err := encrypted.Decrypt(data, pw)
	if err != nil && len(pw) == 0 {
		return nil, errkind.Mark(errkind.Input, fmt.Errorf("decrypting private key: %w: %s", ErrWrongPassphrase, emptyPassphraseHint(os.LookupEnv)))
	}
	if err != nil {
		// The envelope is well formed, so the secretbox authenticator is
		// what failed: the passphrase, or a file edited after writing.
		return nil, errkind.Mark(errkind.Input, fmt.Errorf("decrypting private key: %w: set %s to the passphrase the key was created with", ErrWrongPassphrase, PasswordEnv))
	}
	return der, nil
}

// CosignPasswordEnv is cosign's passphrase variable, read when PasswordEnv
// is not set: people migrating from cosign keep their CI secrets.
const CosignPasswordEnv = "COSIGN_PASSWORD"

// passwordFromEnv is the passphrase the environment gives and the variable
// it came from: IMGSIGN_PASSWORD, else COSIGN_PASSWORD.
func passwordFromEnv(lookupEnv func(string) (string, bool)) (pw, from string, ok bool) {
	for _, name := range []string{PasswordEnv, CosignPasswordEnv} {
		if v, ok := lookupEnv(name); ok {
			return v, name, true
		}
	}
	return "", "", false
}

// emptyPassphraseHint says why an encrypted key did not open with the
// empty passphrase. A variable set but empty is what a CI secret that does
// not exist (or is not passed to this job) expands to, so that is named
// first: it is far likelier than a key really encrypted with "".
func emptyPassphraseHint(lookupEnv func(string) (string, bool)) string {
	if _, from, ok := passwordFromEnv(lookupEnv); ok {
		return fmt.Sprintf("%s is set but empty (a missing CI secret?): set it to the passphrase the key was created with", from)
	}
	return fmt.Sprintf("the passphrase given is empty: type the passphrase the key was created with, or set %s", PasswordEnv)
}

// PassphraseFromEnvOrPrompt returns the PassFunc the CLI uses: IMGSIGN_PASSWORD
// when it is set, else COSIGN_PASSWORD when that is set, else a no-echo
// prompt when stdin is a terminal, else an input error asking for
// IMGSIGN_PASSWORD. A variable set but empty is the empty passphrase, as with
// cosign (keys generated that way open); an encrypted key that does not open
// with it names the empty variable. Prompts and warnings go to stderr, which
// the caller supplies (the CLI passes its own stderr, so they never mix with
// a key or JSON written to stdout); with a nil stderr nobody is asked, and a
// passphrase must come from the environment.
func PassphraseFromEnvOrPrompt(stderr io.Writer) PassFunc {
	return passphraseFunc(
		os.LookupEnv,
		func() bool { return term.IsTerminal(int(os.Stdin.Fd())) },
		func() ([]byte, error) { return term.ReadPassword(int(os.Stdin.Fd())) },
		stderr,
	)
}

// passphraseFunc is PassphraseFromEnvOrPrompt with its environment and
// terminal injected, so the prompt logic is testable without a tty.
func passphraseFunc(lookupEnv func(string) (string, bool), isTerminal func() bool, readPassword func() ([]byte, error), stderr io.Writer) PassFunc {
	read := func(prompt string) ([]byte, error) {
		fmt.Fprint(stderr, prompt)
		pw, err := readPassword()
		// The user's Enter was not echoed either; end the prompt line.
		fmt.Fprintln(stderr)
		if err != nil {
			return nil, errkind.Inputf("reading passphrase from the terminal: %w", err)
		}
		return pw, nil
	}
	return func(confirm bool) ([]byte, error) {
		if pw, from, ok := passwordFromEnv(lookupEnv); ok {
			if pw == "" && confirm && stderr != nil {
				// Allowed, as cosign allows it, but never silently: in CI
				// it is usually a secret that is not there.
				fmt.Fprintf(stderr, "warning: %s is set but empty: the new key is encrypted with the empty passphrase\n", from)
			}
			return []byte(pw), nil
		}
		if stderr == nil {
			return nil, errkind.Inputf("a passphrase is needed and there is nowhere to prompt for it: set %s", PasswordEnv)
		}
		if !isTerminal() {
			return nil, errkind.Inputf("a passphrase is needed and stdin is not a terminal: set %s", PasswordEnv)
		}
		if !confirm {
			return read("Enter passphrase for private key: ")
		}
		pw, err := read("Enter passphrase for new private key: ")
		if err != nil {
			return nil, err
		}
		again, err := read("Enter passphrase again: ")
		if err != nil {
			clear(pw)
			return nil, err
		}
		defer clear(again)
		if !bytes.Equal(pw, again) {
			clear(pw)
			return nil, errkind.Inputf("the two passphrases differ: try again")
		}
		return pw, nil
	}
}
