package policy

import (
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/safetext"
	"github.com/imgsign/imgsign/keys"
)

// Sentinels wrapped by TrustedKey.CheckAt; test with errors.Is.
var (
	ErrKeyRevoked     = errors.New("key revoked")
	ErrKeyExpired     = errors.New("key expired")
	ErrKeyNotYetValid = errors.New("key not yet valid")
)

// TrustedKey is one trusted signer: a public key (a policy key resolved to
// its public key) or a certificate identity. Thresholds count distinct
// TrustedKeys, whichever they are.
type TrustedKey struct {
	Name string
	// ID is, for a key, keys.ID(Public): base64(sha256(PKIX DER)), the
	// bundle's verificationMaterial.publicKey.hint; for an identity,
	// IdentityIDPrefix+Name.
	ID string
	// Public is the public key; nil for an identity.
	Public crypto.PublicKey
	// ValidFrom, ValidUntil and RevokedAt are nil when not set in the policy.
	ValidFrom, ValidUntil, RevokedAt *time.Time
	// Identity is the certificate identity this signer is; nil for a key.
	Identity *Identity
	// X509 is the Notary Project signer this signer is; nil otherwise.
	X509 *X509Signer
}

// CheckAt reports whether the key may be trusted for a signature whose
// trusted time is t (the RFC 3161 timestamp, or now). The window is
// [validFrom, validUntil) and a revoked key is untrusted at and after
// revokedAt. Errors wrap ErrKeyRevoked, ErrKeyExpired or ErrKeyNotYetValid
// (checked in that order) and are marked errkind.Untrusted.
func (k *TrustedKey) CheckAt(t time.Time) error {
	fail := func(sentinel error, format string, args ...any) error {
		return errkind.Mark(errkind.Untrusted, &reasonError{msg: fmt.Sprintf(format, args...), err: sentinel})
	}
	what := "key"
	if k.Identity != nil {
		what = "identity"
	}
	if k.X509 != nil {
		what = "x509 signer"
	}
	switch {
	case k.RevokedAt != nil && !t.Before(*k.RevokedAt):
		return fail(ErrKeyRevoked, "%s %s was revoked at %s", what, k.Name, fmtTime(*k.RevokedAt))
	case k.ValidUntil != nil && !t.Before(*k.ValidUntil):
		return fail(ErrKeyExpired, "%s %s expired at %s", what, k.Name, fmtTime(*k.ValidUntil))
	case k.ValidFrom != nil && t.Before(*k.ValidFrom):
		return fail(ErrKeyNotYetValid, "%s %s is not valid before %s", what, k.Name, fmtTime(*k.ValidFrom))
	}
	return nil
}

// unreadableKeyFile explains a publicKey naming no readable file. A value
// that looks like key material pasted in place of a path (a base64 private
// key, say) is described, never repeated: policies are shared, and their
// problems end up in CI logs.
func unreadableKeyFile(ref, file string, err error) string {
	if errors.Is(err, fs.ErrNotExist) && keys.LooksLikeKeyMaterial(ref) {
		what := keys.RedactedValue(ref)
		switch kind := keys.DescribeKeyMaterial(ref); {
		case strings.Contains(kind, "PRIVATE"):
			return fmt.Sprintf("publicKey holds %s (%s): keep private keys out of the policy, and give the path of the public key file (imgsign keys public --key …)", kind, what)
		case kind != "":
			return fmt.Sprintf("publicKey holds %s (%s): inline it as PEM (-----BEGIN PUBLIC KEY-----) or give the path of its file", kind, what)
		}
		return fmt.Sprintf("publicKey is not a file, inline PEM or a KMS reference but an %s: give the path of a public key file", what)
	}
	return fmt.Sprintf("cannot read public key file %s: %v", safetext.Clean(file), err)
}
