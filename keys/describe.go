package keys

import (
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode"

	"github.com/imgsign/imgsign/internal/safetext"
)

// Key references end up in error messages, and people paste the key itself
// where a reference belongs (a base64 private key as --key or as a policy's
// publicKey). Nothing in imgsign prints a key reference except through
// DescribeRef: key material, passphrases, PINs and KMS credentials are
// never printed, whatever field they arrive in.

// DescribeRef returns ref as it may be printed:
//   - a KMS URI: scheme, endpoint and key name only (no user:password@, no
//     ?query such as a token, no #fragment);
//   - a pkcs11: URI: pin-value replaced by "(not shown)";
//   - a value that looks like key material rather than a path (PEM, a long
//     base64 or hex string): "inline value of N characters (not shown)";
//   - anything else, a file path: as it is, escaped for the terminal.
func DescribeRef(ref string) string {
	switch {
	case IsKMSRef(ref):
		return describeKMSRef(ref)
	case IsPKCS11Ref(ref):
		return safetext.Clean(pinValue.ReplaceAllString(ref, "${1}(not shown)"))
	case LooksLikeKeyMaterial(ref):
		return RedactedValue(ref)
	}
	return safetext.Clean(ref)
}

// RedactedValue describes a value without showing any of it.
func RedactedValue(v string) string {
	return fmt.Sprintf("inline value of %s characters (not shown)", thousands(len(v)))
}

var pinValue = regexp.MustCompile(`((?:^|[?&;])pin-value=)[^&;#]*`)

func describeKMSRef(ref string) string {
	u, err := url.Parse(ref)
	if err != nil {
		scheme, _, _ := strings.Cut(ref, "://")
		return safetext.Clean(scheme) + "://… (malformed, not shown)"
	}
	s := u.Scheme + "://" + u.Host + u.Path
	if u.Opaque != "" {
		s = u.Scheme + ":" + u.Opaque
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(ref, "?") {
		s += " (credentials or parameters not shown)"
	}
	return safetext.Clean(s)
}

// hasKMSExtras reports whether a KMS reference carries more than scheme,
// endpoint and key name: credentials, a query or a fragment, or characters
// a key name never has. Such a reference is refused (and never printed as
// written): the providers take credentials from their own configuration.
func hasKMSExtras(ref string) bool {
	if strings.IndexFunc(ref, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }) >= 0 {
		return true
	}
	u, err := url.Parse(ref)
	return err != nil || u.User != nil || strings.ContainsAny(ref, "?#")
}

// LooksLikeKeyMaterial reports whether s, given where a key reference or a
// path belongs, is more likely a key (or other secret) than a file name:
// PEM text, anything multi-line or very long, words without a path
// separator (a passphrase), or a base64 or hex string of key length. A name with a '.' never is base64, hex or PEM body.
func LooksLikeKeyMaterial(s string) bool {
	switch {
	case strings.Contains(s, "-----"), strings.Contains(s, "PRIVATE KEY"), strings.ContainsAny(s, "\r\n"):
		return true
	case strings.ContainsAny(s, " \t") && !strings.ContainsAny(s, "/\\"):
		// Words, not a path: most likely a passphrase in the wrong place.
		return true
	case len(s) > 256:
		return true
	case len(s) < 20 || strings.Contains(s, "."):
		return false
	}
	var upper, lower, digit, other bool
	hex := true
	for _, r := range s {
		switch {
		case r >= 'A' && r <= 'Z':
			upper = true
			hex = false
		case r >= 'a' && r <= 'z':
			lower = true
			hex = hex && r <= 'f'
		case r >= '0' && r <= '9':
			digit = true
		case r == '+' || r == '/' || r == '=' || r == '_' || r == '-':
			hex = false
		default:
			other = true
		}
	}
	if other {
		return false
	}
	return (hex && len(s) >= 32) || (upper && lower && digit)
}

// DescribeKeyMaterial says what a pasted value is, without showing it:
// "a base64 PRIVATE key", "a base64 public key", or "" when it is neither.
func DescribeKeyMaterial(s string) string {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "PRIVATE KEY") {
		return "a PEM PRIVATE key"
	}
	der, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if der, err = base64.RawStdEncoding.DecodeString(s); err != nil {
			return ""
		}
	}
	if _, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return "a base64 PRIVATE key"
	}
	if _, err := x509.ParseECPrivateKey(der); err == nil {
		return "a base64 PRIVATE key"
	}
	if _, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return "a base64 PRIVATE key"
	}
	if _, err := x509.ParsePKIXPublicKey(der); err == nil {
		return "a base64 public key without PEM armor"
	}
	return ""
}

// thousands writes n with commas: 1,204.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
