package keys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/errkind"
)

func TestPassphraseFromEnv(t *testing.T) {
	tests := []struct {
		name, value string
	}{
		{"set", "s3cret pass"},
		{"set but empty means the empty passphrase", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(PasswordEnv, tt.value)
			var stderr bytes.Buffer
			pass := PassphraseFromEnvOrPrompt(&stderr)
			for _, confirm := range []bool{false, true} {
				got, err := pass(confirm)
				if err != nil {
					t.Fatalf("pass(%v): %v", confirm, err)
				}
				if string(got) != tt.value {
					t.Errorf("pass(%v) = %q, want %q", confirm, got, tt.value)
				}
			}
			if tt.value == "" {
				if !strings.Contains(stderr.String(), "warning: "+PasswordEnv+" is set but empty") {
					t.Errorf("no warning for a new key under the empty passphrase: %q", stderr.String())
				}
			} else if stderr.Len() != 0 {
				t.Errorf("prompted although %s is set: %q", PasswordEnv, stderr.String())
			}
		})
	}
}

// fakeTerminal answers reads from a list and records how many were made.
type fakeTerminal struct {
	answers []string
	reads   int
	err     error
}

func (f *fakeTerminal) read() ([]byte, error) {
	if f.err != nil {
		return nil, f.err
	}
	if f.reads >= len(f.answers) {
		return nil, errors.New("no more input")
	}
	f.reads++
	return []byte(f.answers[f.reads-1]), nil
}

func noEnv(string) (string, bool) { return "", false }

func TestPassphrasePrompt(t *testing.T) {
	tests := []struct {
		name      string
		terminal  bool
		confirm   bool
		answers   []string
		readErr   error
		want      string
		wantReads int
		wantErr   string
	}{
		{name: "no terminal", terminal: false, wantErr: PasswordEnv},
		{name: "prompt once", terminal: true, answers: []string{"typed-pw-1"}, want: "typed-pw-1", wantReads: 1},
		{name: "confirm matching", terminal: true, confirm: true, answers: []string{"typed-pw-1", "typed-pw-1"}, want: "typed-pw-1", wantReads: 2},
		{name: "confirm differing", terminal: true, confirm: true, answers: []string{"typed-pw-1", "typed-pw-2"}, wantReads: 2, wantErr: "differ"},
		{name: "terminal read fails", terminal: true, readErr: errors.New("EOF"), wantErr: "reading passphrase"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			term := &fakeTerminal{answers: tt.answers, err: tt.readErr}
			var stderr bytes.Buffer
			pass := passphraseFunc(noEnv, func() bool { return tt.terminal }, term.read, &stderr)
			got, err := pass(tt.confirm)
			if term.reads != tt.wantReads {
				t.Errorf("read the terminal %d times, want %d", term.reads, tt.wantReads)
			}
			for _, a := range tt.answers {
				if strings.Contains(stderr.String(), a) {
					t.Errorf("stderr %q shows the passphrase", stderr.String())
				}
			}
			if tt.wantErr != "" {
				wantKind(t, err, errkind.Input)
				wantNoSecret(t, err, tt.answers...)
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if !strings.Contains(stderr.String(), "passphrase") {
				t.Errorf("no prompt on stderr: %q", stderr.String())
			}
		})
	}
}

func TestPassphraseEnvPrecedence(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"imgsign only", map[string]string{PasswordEnv: "imgsign-pw"}, "imgsign-pw"},
		{"cosign only: people migrate with their secrets", map[string]string{CosignPasswordEnv: "cosign-pw"}, "cosign-pw"},
		{"imgsign wins", map[string]string{PasswordEnv: "imgsign-pw", CosignPasswordEnv: "cosign-pw"}, "imgsign-pw"},
		{"imgsign set but empty still wins", map[string]string{PasswordEnv: "", CosignPasswordEnv: "cosign-pw"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			pass := passphraseFunc(env, func() bool { return false }, nil, &bytes.Buffer{})
			got, err := pass(false)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// An encrypted key opened with an empty variable (a CI secret that does
// not exist expands to "") names the variable, not just "wrong passphrase".
func TestEmptyPassphraseVariableNamed(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := EncodePrivate(priv, []byte("the-real-passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	emptyKey, err := EncodePrivate(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		key     []byte
		wantErr string
	}{
		{"IMGSIGN_PASSWORD empty", map[string]string{PasswordEnv: ""}, pemBytes, PasswordEnv + " is set but empty (a missing CI secret?)"},
		{"COSIGN_PASSWORD empty", map[string]string{CosignPasswordEnv: ""}, pemBytes, CosignPasswordEnv + " is set but empty"},
		{"a key encrypted with the empty passphrase opens", map[string]string{PasswordEnv: ""}, emptyKey, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{PasswordEnv, CosignPasswordEnv} {
				if v, ok := tt.env[k]; ok {
					t.Setenv(k, v)
				} else {
					t.Setenv(k, "")
					os.Unsetenv(k)
				}
			}
			_, err := ParsePrivatePEM(tt.key, PassphraseFromEnvOrPrompt(&bytes.Buffer{}))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantKind(t, err, errkind.Input)
			if !errors.Is(err, ErrWrongPassphrase) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q, want %q", err, tt.wantErr)
			}
		})
	}
}
