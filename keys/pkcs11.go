package keys

// This file holds the parts of PKCS#11 support that need no C: RFC 7512 URI
// parsing and PIN lookup. They build without cgo too, so a malformed URI gets
// the same message from every build and their tests run everywhere. The token
// itself is reached in pkcs11_cgo.go (crypto11 over miekg/pkcs11); the !cgo
// build has a stub in pkcs11_nocgo.go.

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/imgsign/imgsign/internal/boundedfile"
	"github.com/imgsign/imgsign/internal/errkind"
	"golang.org/x/term"
)

// Environment variables of PKCS#11 key references. The module and PIN live
// outside the URI so the same reference works on machines where the vendor
// library sits elsewhere, and so the PIN need not be written anywhere.
const (
	PKCS11ModuleEnv = "IMGSIGN_PKCS11_MODULE"
	PKCS11PINEnv    = "IMGSIGN_PKCS11_PIN"
)

const pkcs11Scheme = "pkcs11:"

// IsPKCS11Ref reports whether ref is a PKCS#11 URI (RFC 7512) rather than a
// key file or KMS reference.
func IsPKCS11Ref(ref string) bool { return strings.HasPrefix(ref, pkcs11Scheme) }

// RFC 7512 §2.3 attributes. Path attributes say which object; query
// attributes say how to reach it. Anything else is refused: a misspelt
// "lable=" silently ignored could select a different key than meant.
var (
	pkcs11PathAttrs = []string{
		"token", "manufacturer", "serial", "model",
		"library-manufacturer", "library-description", "library-version",
		"object", "type", "id",
		"slot-manufacturer", "slot-description", "slot-id",
	}
	pkcs11QueryAttrs = []string{"pin-source", "pin-value", "module-name", "module-path"}
	pkcs11Types      = []string{"public", "private", "cert", "secret-key", "data"}
)

// pkcs11URI is a parsed RFC 7512 URI. Values are percent-decoded.
type pkcs11URI struct {
	path  map[string]string
	query map[string]string

	id     []byte // CKA_ID; nil when the URI has no id attribute
	slotID *uint  // slot-id
	// library-version as major and minor, when given.
	libMajor, libMinor *uint
}

// parsePKCS11URI parses ref. Every error is an Input error that names the
// offending attribute but never quotes a pin-value.
func parsePKCS11URI(ref string) (*pkcs11URI, error) {
	if !IsPKCS11Ref(ref) {
		return nil, errkind.Inputf("not a PKCS#11 URI: it must start with %q", pkcs11Scheme)
	}
	rest := strings.TrimPrefix(ref, pkcs11Scheme)
	// A fragment has no meaning in RFC 7512 and is most likely a stray
	// character; refusing it beats guessing.
	if strings.Contains(rest, "#") {
		return nil, errkind.Inputf("PKCS#11 URI: '#' must be percent-encoded as %%23")
	}
	pathPart, queryPart, hasQuery := strings.Cut(rest, "?")
	u := &pkcs11URI{path: map[string]string{}, query: map[string]string{}}
	if err := u.parseAttrs(pathPart, ";", "path", pkcs11PathAttrs, pkcs11QueryAttrs); err != nil {
		return nil, err
	}
	if hasQuery {
		if err := u.parseAttrs(queryPart, "&", "query", pkcs11QueryAttrs, pkcs11PathAttrs); err != nil {
			return nil, err
		}
	}
	if err := u.parseTyped(); err != nil {
		return nil, err
	}
	return u, nil
}

func (u *pkcs11URI) parseAttrs(s, sep, where string, known, other []string) error {
	if s == "" {
		return nil
	}
	dst := u.path
	if where == "query" {
		dst = u.query
	}
	for _, attr := range strings.Split(s, sep) {
		if attr == "" {
			return errkind.Inputf("PKCS#11 URI: empty %s attribute (a doubled or trailing %q)", where, sep)
		}
		name, raw, ok := strings.Cut(attr, "=")
		if !ok {
			return errkind.Inputf("PKCS#11 URI: %s attribute %q has no value: expected NAME=VALUE", where, safeAttrName(name))
		}
		switch {
		case slices.Contains(known, name):
		case slices.Contains(other, name):
			if where == "path" {
				return errkind.Inputf("PKCS#11 URI: %q is a query attribute: put it after '?' (pkcs11:token=T;object=L?%s=…)", name, name)
			}
			return errkind.Inputf("PKCS#11 URI: %q is a path attribute: put it before '?', separated by ';'", name)
		default:
			return errkind.Inputf("PKCS#11 URI: unknown %s attribute %q: known %s attributes are %s",
				where, safeAttrName(name), where, strings.Join(known, ", "))
		}
		if _, dup := dst[name]; dup {
			return errkind.Inputf("PKCS#11 URI: attribute %q is given twice", name)
		}
		v, err := pctDecode(raw)
		if err != nil {
			if name == "pin-value" {
				// Whatever is wrong with it, the PIN is not repeated.
				return errkind.Inputf("PKCS#11 URI: attribute %q: malformed percent-encoding", name)
			}
			return errkind.Inputf("PKCS#11 URI: attribute %q: %v", name, err)
		}
		dst[name] = v
	}
	return nil
}

// safeAttrName bounds what of an unrecognised attribute name is echoed, in
// case the "name" is really a mistyped PIN or a whole URI.
func safeAttrName(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}

func (u *pkcs11URI) parseTyped() error {
	if v, ok := u.path["id"]; ok {
		if v == "" {
			return errkind.Inputf("PKCS#11 URI: id is empty: give the object's CKA_ID percent-encoded, e.g. id=%%01")
		}
		u.id = []byte(v)
	}
	if v, ok := u.path["slot-id"]; ok {
		n, err := strconv.ParseUint(v, 10, 0)
		if err != nil {
			return errkind.Inputf("PKCS#11 URI: slot-id %q is not a decimal number", v)
		}
		slot := uint(n)
		u.slotID = &slot
	}
	if v, ok := u.path["library-version"]; ok {
		maj, min, hasMin := strings.Cut(v, ".")
		a, err1 := strconv.ParseUint(maj, 10, 8)
		var b uint64
		var err2 error
		if hasMin {
			b, err2 = strconv.ParseUint(min, 10, 8)
		}
		if err1 != nil || err2 != nil {
			return errkind.Inputf("PKCS#11 URI: library-version %q is not MAJOR or MAJOR.MINOR", v)
		}
		ma := uint(a)
		u.libMajor = &ma
		if hasMin {
			mi := uint(b)
			u.libMinor = &mi
		}
	}
	if v, ok := u.path["type"]; ok && !slices.Contains(pkcs11Types, v) {
		return errkind.Inputf("PKCS#11 URI: type %q is not one of %s", v, strings.Join(pkcs11Types, ", "))
	}
	if v, ok := u.query["module-path"]; ok && v == "" {
		return errkind.Inputf("PKCS#11 URI: module-path is empty")
	}
	if _, ok := u.query["module-name"]; ok {
		return errkind.Inputf("PKCS#11 URI: module-name is not supported: give the library's file with module-path=/path/to/module.so (or set %s)", PKCS11ModuleEnv)
	}
	_, src := u.query["pin-source"]
	_, val := u.query["pin-value"]
	if src && val {
		return errkind.Inputf("PKCS#11 URI: pin-source and pin-value are both given: keep pin-source")
	}
	return nil
}

// pctDecode undoes RFC 3986 percent-encoding. Unlike url.QueryUnescape it
// leaves '+' alone (RFC 7512 has no form encoding), and its errors quote no
// input, so a PIN is never echoed.
func pctDecode(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) || unhex(s[i+1]) < 0 || unhex(s[i+2]) < 0 {
			return "", fmt.Errorf("malformed percent-encoding at byte %d: '%%' must be followed by two hex digits", i)
		}
		b.WriteByte(byte(unhex(s[i+1])<<4 | unhex(s[i+2])))
		i += 2
	}
	return b.String(), nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// pctEncode percent-encodes every byte outside RFC 3986's unreserved set,
// the way an id is shown back to the user (id=%01%a2).
func pctEncode(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			s.WriteByte(c)
		} else {
			fmt.Fprintf(&s, "%%%02x", c)
		}
	}
	return s.String()
}

func (u *pkcs11URI) attr(name string) (string, bool) {
	v, ok := u.path[name]
	return v, ok
}

// object returns the label and id that select the key; nil means "not
// given", as crypto11 expects.
func (u *pkcs11URI) object() (label, id []byte) {
	if v, ok := u.path["object"]; ok {
		label = []byte(v)
	}
	return label, u.id
}

// needObject refuses a URI that names no key: matching "any key on the
// token" would sign with whichever one the token lists first.
func (u *pkcs11URI) needObject() error {
	if _, ok := u.path["object"]; !ok && u.id == nil {
		return errkind.Inputf("PKCS#11 URI names no key: add object=LABEL or id=%%01 (the key's CKA_LABEL or CKA_ID)")
	}
	return nil
}

// describeObject names the key for messages: object "L", id %01.
func (u *pkcs11URI) describeObject() string {
	var parts []string
	if v, ok := u.path["object"]; ok {
		parts = append(parts, fmt.Sprintf("object %q", v))
	}
	if u.id != nil {
		parts = append(parts, "id "+pctEncode(u.id))
	}
	if len(parts) == 0 {
		return "any object"
	}
	return strings.Join(parts, ", ")
}

// describeToken names the token selection for messages.
func (u *pkcs11URI) describeToken() string {
	var parts []string
	for _, name := range []string{"token", "serial", "manufacturer", "model", "slot-description", "slot-manufacturer"} {
		if v, ok := u.path[name]; ok {
			parts = append(parts, fmt.Sprintf("%s %q", name, v))
		}
	}
	if u.slotID != nil {
		parts = append(parts, fmt.Sprintf("slot-id %d", *u.slotID))
	}
	if len(parts) == 0 {
		return "any token"
	}
	return strings.Join(parts, ", ")
}

// modulePath returns the PKCS#11 library to load: module-path, else the
// environment variable.
func (u *pkcs11URI) modulePath(lookupEnv func(string) (string, bool)) (string, error) {
	if p, ok := u.query["module-path"]; ok {
		return p, nil
	}
	if p, ok := lookupEnv(PKCS11ModuleEnv); ok && p != "" {
		return p, nil
	}
	return "", errkind.Inputf("no PKCS#11 module given: add ?module-path=/path/to/module.so to the URI (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so) or set %s", PKCS11ModuleEnv)
}

// hasPIN reports whether a PIN is available without asking anyone.
func (u *pkcs11URI) hasPIN(lookupEnv func(string) (string, bool)) bool {
	_, src := u.query["pin-source"]
	_, val := u.query["pin-value"]
	_, env := lookupEnv(PKCS11PINEnv)
	return src || val || env
}

// pinPrompt is where a PIN comes from when the URI and environment have
// none; injected so tests need no terminal.
type pinPrompt struct {
	lookupEnv    func(string) (string, bool)
	isTerminal   func() bool
	readPassword func() ([]byte, error)
	// stderr receives the prompt and the pin-value warning; nil means
	// nobody can be asked (a library caller without a terminal of its own).
	stderr io.Writer
}

// defaultPINPrompt prompts on the process's terminal, writing to stderr,
// which the caller supplies (the CLI passes its own stderr); nil disables
// prompting and the pin-value warning.
func defaultPINPrompt(stderr io.Writer) pinPrompt {
	return pinPrompt{
		lookupEnv:    os.LookupEnv,
		isTerminal:   func() bool { return term.IsTerminal(int(os.Stdin.Fd())) },
		readPassword: func() ([]byte, error) { return term.ReadPassword(int(os.Stdin.Fd())) },
		stderr:       stderr,
	}
}

// pin returns the user PIN of token, in order: pin-value (with a warning:
// it is in shell history and process listings), pin-source, the
// environment, a no-echo prompt on a terminal (when p has somewhere to
// write it). The PIN is never written anywhere, errors included.
func (u *pkcs11URI) pin(token string, p pinPrompt) (string, error) {
	if v, ok := u.query["pin-value"]; ok {
		if p.stderr == nil {
			return v, nil
		}
		fmt.Fprintf(p.stderr, "warning: the PKCS#11 URI contains the PIN (pin-value), which exposes it in shell history, process listings and logs: use pin-source=FILE or %s instead\n", PKCS11PINEnv)
		return v, nil
	}
	if src, ok := u.query["pin-source"]; ok {
		return readPINSource(src)
	}
	if v, ok := p.lookupEnv(PKCS11PINEnv); ok {
		return v, nil
	}
	if p.stderr == nil {
		return "", errkind.Inputf("PKCS#11 token %q needs its user PIN and there is nowhere to prompt for it: set %s, or add pin-source=FILE to the URI", token, PKCS11PINEnv)
	}
	if !p.isTerminal() {
		return "", errkind.Inputf("PKCS#11 token %q needs its user PIN and stdin is not a terminal: set %s, or add pin-source=FILE to the URI", token, PKCS11PINEnv)
	}
	fmt.Fprintf(p.stderr, "Enter PIN for PKCS#11 token %q: ", token)
	pin, err := p.readPassword()
	// The user's Enter was not echoed either; end the prompt line.
	fmt.Fprintln(p.stderr)
	if err != nil {
		return "", errkind.Inputf("reading the PIN from the terminal: %w", err)
	}
	defer clear(pin)
	return string(pin), nil
}

// readPINSource reads a pin-source: a file path or a file: URI. One trailing
// newline is dropped, since `echo 1234 > pin` is how such files are made.
func readPINSource(src string) (string, error) {
	path := src
	if strings.HasPrefix(src, "file:") {
		fu, err := url.Parse(src)
		if err != nil || (fu.Host != "" && fu.Host != "localhost") {
			return "", errkind.Inputf("pin-source %q: only local file: URIs (file:///path) are supported", src)
		}
		path = fu.Path
		if path == "" {
			path = fu.Opaque // file:relative/path
		}
	} else if strings.Contains(src, "://") || strings.HasPrefix(src, "|") {
		// p11-kit allows "|command"; running programs named in a key
		// reference is not something a signing tool should do.
		return "", errkind.Inputf("pin-source %q: only a file path or file: URI is supported", src)
	}
	if path == "" {
		return "", errkind.Inputf("pin-source is empty: give the path of a file holding the PIN")
	}
	data, err := boundedfile.Read(path, 64<<10)
	if err != nil {
		return "", errkind.Inputf("reading PIN file %s (pin-source): %w", path, unwrapPathErr(err))
	}
	defer clear(data)
	data = bytes.TrimSuffix(data, []byte("\n"))
	data = bytes.TrimSuffix(data, []byte("\r"))
	return string(data), nil
}

// unwrapPathErr drops the *fs.PathError wrapper, whose message repeats the
// path the caller already names.
func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
