package keys

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/errkind"
)

func TestIsPKCS11Ref(t *testing.T) {
	for ref, want := range map[string]bool{
		"pkcs11:token=t;object=k": true,
		"pkcs11:":                 true,
		"cosign.key":              false,
		"awskms://alias/k":        false,
		"./pkcs11:token=t":        false,
		"PKCS11:token=t":          false,
	} {
		if got := IsPKCS11Ref(ref); got != want {
			t.Errorf("IsPKCS11Ref(%q) = %v, want %v", ref, got, want)
		}
	}
}

func TestParsePKCS11URI(t *testing.T) {
	u, err := parsePKCS11URI("pkcs11:token=My%20Token;object=sign%3bkey;id=%01%A2z;slot-id=42;type=private;serial=0123;library-version=2.6" +
		"?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:///run/pin%20file")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"token": "My Token", "object": "sign;key", "type": "private", "serial": "0123"} {
		if got, _ := u.attr(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if !bytes.Equal(u.id, []byte{0x01, 0xa2, 'z'}) {
		t.Errorf("id = %x, want 01a27a", u.id)
	}
	if u.slotID == nil || *u.slotID != 42 {
		t.Errorf("slot-id = %v, want 42", u.slotID)
	}
	if u.libMajor == nil || *u.libMajor != 2 || u.libMinor == nil || *u.libMinor != 6 {
		t.Errorf("library-version = %v.%v, want 2.6", u.libMajor, u.libMinor)
	}
	if got := u.query["module-path"]; got != "/usr/lib/softhsm/libsofthsm2.so" {
		t.Errorf("module-path = %q", got)
	}
	if got := u.query["pin-source"]; got != "file:///run/pin file" {
		t.Errorf("pin-source = %q", got)
	}
	label, id := u.object()
	if string(label) != "sign;key" || !bytes.Equal(id, u.id) {
		t.Errorf("object() = %q, %x", label, id)
	}
	if got, want := u.describeObject(), `object "sign;key", id %01%a2z`; got != want {
		t.Errorf("describeObject = %s, want %s", got, want)
	}
	if got, want := u.describeToken(), `token "My Token", serial "0123", slot-id 42`; got != want {
		t.Errorf("describeToken = %s, want %s", got, want)
	}

	// '+' is a plain character in RFC 7512, not a space.
	u, err = parsePKCS11URI("pkcs11:object=a+b")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := u.attr("object"); got != "a+b" {
		t.Errorf("object = %q, want a+b", got)
	}
	// An empty path is a valid URI (RFC 7512), though not one naming a key.
	u, err = parsePKCS11URI("pkcs11:")
	if err != nil {
		t.Fatal(err)
	}
	wantKind(t, u.needObject(), errkind.Input)
	if u.describeObject() != "any object" || u.describeToken() != "any token" {
		t.Errorf("empty URI describes as %q / %q", u.describeObject(), u.describeToken())
	}
}

func TestParsePKCS11URIErrors(t *testing.T) {
	tests := []struct {
		uri  string
		want string // in the message
	}{
		{"file.key", "must start with"},
		{"pkcs11:token=t;lable=k", `unknown path attribute "lable"`},
		{"pkcs11:token=t?pin=1234", `unknown query attribute "pin"`},
		{"pkcs11:token=t;x-vendor=1", `unknown path attribute "x-vendor"`},
		{"pkcs11:token=t;module-path=/m.so", `"module-path" is a query attribute`},
		{"pkcs11:token=t?object=k", `"object" is a path attribute`},
		{"pkcs11:token=t;token=u", `"token" is given twice`},
		{"pkcs11:token=t;;object=k", "empty path attribute"},
		{"pkcs11:token=t;object", `"object" has no value`},
		{"pkcs11:object=%zz", `"object": malformed percent-encoding`},
		{"pkcs11:object=%4", `"object": malformed percent-encoding`},
		{"pkcs11:id=", "id is empty"},
		{"pkcs11:slot-id=one", `slot-id "one" is not a decimal number`},
		{"pkcs11:slot-id=-1", "not a decimal number"},
		{"pkcs11:library-version=2.x", "not MAJOR or MAJOR.MINOR"},
		{"pkcs11:type=secret", `type "secret" is not one of`},
		{"pkcs11:object=k?module-path=", "module-path is empty"},
		{"pkcs11:object=k?module-name=softhsm2", "module-name is not supported"},
		{"pkcs11:object=k?pin-source=f&pin-value=1", "pin-source and pin-value are both given"},
		{"pkcs11:object=k#frag", "'#' must be percent-encoded"},
		{"pkcs11:object=k?module-path=/a&&pin-source=f", "empty query attribute"},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			_, err := parsePKCS11URI(tt.uri)
			wantKind(t, err, errkind.Input)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// A malformed pin-value is refused without quoting it.
func TestParsePKCS11URIHidesPINValue(t *testing.T) {
	for _, uri := range []string{
		"pkcs11:object=k?pin-value=12%z4secret",
		"pkcs11:object=k?pin-value=12secret&pin-value=12secret",
		"pkcs11:object=k?pin-value=12secret&pin-source=/f",
		"pkcs11:object=k;pin-value=12secret",
	} {
		_, err := parsePKCS11URI(uri)
		wantKind(t, err, errkind.Input)
		wantNoSecret(t, err, "12secret", "secret")
	}
}

func TestPCTEncodeRoundTrip(t *testing.T) {
	for _, b := range [][]byte{{0}, {0x01, 0xa2, 0xff}, []byte("plain-label_1.~"), []byte("a b;c?d&e%f")} {
		got, err := pctDecode(pctEncode(b))
		if err != nil || got != string(b) {
			t.Errorf("pctDecode(pctEncode(%x)) = %x, %v", b, got, err)
		}
	}
}

func TestPKCS11ModulePath(t *testing.T) {
	u, _ := parsePKCS11URI("pkcs11:object=k?module-path=/from/uri.so")
	env := func(string) (string, bool) { return "/from/env.so", true }
	if p, err := u.modulePath(env); err != nil || p != "/from/uri.so" {
		t.Errorf("module-path in the URI: got %q, %v; the URI wins over the environment", p, err)
	}
	u, _ = parsePKCS11URI("pkcs11:object=k")
	if p, err := u.modulePath(env); err != nil || p != "/from/env.so" {
		t.Errorf("module from %s: got %q, %v", PKCS11ModuleEnv, p, err)
	}
	_, err := u.modulePath(noEnv)
	wantKind(t, err, errkind.Input)
	for _, want := range []string{"module-path=", PKCS11ModuleEnv, "/usr/lib/softhsm/libsofthsm2.so"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("no-module error %q does not mention %s", err, want)
		}
	}
}

// pinTerminal is a pinPrompt with a fake environment and terminal.
func pinTerminal(env map[string]string, tty bool, typed string, stderr *bytes.Buffer) (pinPrompt, *int) {
	reads := new(int)
	return pinPrompt{
		lookupEnv: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		},
		isTerminal: func() bool { return tty },
		readPassword: func() ([]byte, error) {
			*reads++
			if typed == "" {
				return nil, errors.New("EOF")
			}
			return []byte(typed), nil
		},
		stderr: stderr,
	}, reads
}

func TestPKCS11PIN(t *testing.T) {
	dir := t.TempDir()
	pinFile := filepath.Join(dir, "pin file")
	if err := os.WriteFile(pinFile, []byte("4321\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	crlf := filepath.Join(dir, "crlf")
	if err := os.WriteFile(crlf, []byte("8765\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	envPIN := map[string]string{PKCS11PINEnv: "1111"}
	tests := []struct {
		name     string
		uri      string
		env      map[string]string
		tty      bool
		typed    string
		want     string
		wantWarn bool
		prompted bool
	}{
		{name: "pin-source path beats the environment", uri: "pkcs11:object=k?pin-source=" + pctEncode([]byte(pinFile)), env: envPIN, want: "4321"},
		{name: "pin-source file URI", uri: "pkcs11:object=k?pin-source=file://" + pctEncode([]byte(pinFile)), want: "4321"},
		{name: "pin-source CRLF", uri: "pkcs11:object=k?pin-source=" + crlf, want: "8765"},
		{name: "pin-value warns", uri: "pkcs11:object=k?pin-value=9999", env: envPIN, want: "9999", wantWarn: true},
		{name: "environment", uri: "pkcs11:object=k", env: envPIN, tty: true, want: "1111"},
		{name: "empty environment value is the empty PIN", uri: "pkcs11:object=k", env: map[string]string{PKCS11PINEnv: ""}, tty: true, want: ""},
		{name: "prompt", uri: "pkcs11:object=k", tty: true, typed: "2468", want: "2468", prompted: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := parsePKCS11URI(tt.uri)
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			p, reads := pinTerminal(tt.env, tt.tty, tt.typed, &stderr)
			got, err := u.pin("tok", p)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("PIN = %q, want %q", got, tt.want)
			}
			if tt.prompted != (*reads == 1) {
				t.Errorf("terminal reads = %d, prompted = %v", *reads, tt.prompted)
			}
			warned := strings.Contains(stderr.String(), "warning:")
			if warned != tt.wantWarn {
				t.Errorf("stderr %q: warning = %v, want %v", stderr.String(), warned, tt.wantWarn)
			}
			if tt.wantWarn && strings.Count(strings.TrimSuffix(stderr.String(), "\n"), "\n") != 0 {
				t.Errorf("pin-value warning is not one line: %q", stderr.String())
			}
			if tt.prompted && !strings.Contains(stderr.String(), `Enter PIN for PKCS#11 token "tok"`) {
				t.Errorf("prompt %q does not name the token", stderr.String())
			}
			if tt.want != "" && strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q echoes the PIN", stderr.String())
			}
		})
	}
}

func TestPKCS11PINErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, uri string
		tty       bool
		typed     string
		want      string
	}{
		{name: "no terminal", uri: "pkcs11:object=k", want: "set " + PKCS11PINEnv},
		{name: "terminal read fails", uri: "pkcs11:object=k", tty: true, want: "reading the PIN from the terminal"},
		{name: "missing pin file", uri: "pkcs11:object=k?pin-source=" + filepath.Join(dir, "nope"), want: "reading PIN file " + filepath.Join(dir, "nope")},
		{name: "remote pin-source", uri: "pkcs11:object=k?pin-source=https://example.com/pin", want: "only a file path or file: URI"},
		{name: "command pin-source", uri: "pkcs11:object=k?pin-source=%7Ccat%20pin", want: "only a file path or file: URI"},
		{name: "remote file URI", uri: "pkcs11:object=k?pin-source=file://host/pin", want: "only local file: URIs"},
		{name: "empty pin-source", uri: "pkcs11:object=k?pin-source=", want: "pin-source is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := parsePKCS11URI(tt.uri)
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			p, _ := pinTerminal(nil, tt.tty, tt.typed, &stderr)
			_, err = u.pin("tok", p)
			wantKind(t, err, errkind.Input)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func FuzzParsePKCS11URI(f *testing.F) {
	for _, s := range []string{
		"pkcs11:token=t;object=k?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=/p",
		"pkcs11:id=%01%02;slot-id=1;library-version=1.2",
		"pkcs11:object=k?pin-value=1234",
		"pkcs11:", "pkcs11:;", "pkcs11:a=b=c", "pkcs11:object=%",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := parsePKCS11URI(s)
		if err != nil {
			if k, ok := errkind.Of(err); !ok || k != errkind.Input {
				t.Fatalf("error %q has kind %v (marked %v), want input", err, k, ok)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			return
		}
		// Whatever parsed, re-encoding the key selection parses back to it.
		label, id := u.object()
		ref := "pkcs11:"
		if label != nil {
			ref += "object=" + pctEncode(label)
		}
		if id != nil {
			if label != nil {
				ref += ";"
			}
			ref += "id=" + pctEncode(id)
		}
		u2, err := parsePKCS11URI(ref)
		if err != nil {
			t.Fatalf("re-encoded %q does not parse: %v", ref, err)
		}
		l2, id2 := u2.object()
		if !bytes.Equal(label, l2) || !bytes.Equal(id, id2) {
			t.Fatalf("round trip of %q via %q: %q %x != %q %x", s, ref, l2, id2, label, id)
		}
	})
}
