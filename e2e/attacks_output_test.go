package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/sign"
)

// forged is what an attacker writes into unsigned strings (annotations, key
// hints, registry error bodies): terminal escapes that move the cursor up
// and erase the FAIL line, and a newline starting a line that reads like a
// verdict.
const forged = "\x1b[1A\x1b[2K\rPASS  trusted ✓\nPASS  registry.example.com/prod/app@sha256:0000"

// notForged are what the output must never hold: the raw escape byte, and a
// forged line of its own.
var notForged = []string{"\x1b", "\nPASS  registry.example.com", "\nPASS  trusted"}

// Attacks on what imgsign prints and how it reads its arguments: unsigned
// strings forging output, key material echoed in errors, mistyped flags
// taken for images.
func init() {
	addAttacks(
		// Item 13: untrusted strings in text output.
		attack{
			name:   "terminal escapes in a key hint forge a PASS line under FAIL",
			guards: "every untrusted string in text output is escaped: a bundle's key hint cannot move the cursor or start a line",
			run: func(t *testing.T, s *scene) []string {
				d := s.image("v1")
				s.key("attacker", "ecdsa-p256")
				pol := s.signaturePolicy("")
				attachRaw(t, s.host, s.repo, d, setKeyHint(t, signedBundle(t, s.path("attacker.key"), s.host, s.repo, d), forged))
				return []string{"verify", "--policy", pol, s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", `\x1b`},
			notWant:  notForged,
		},
		attack{
			name:   "newlines and escapes in referrer annotations and key hints forge tree lines",
			guards: "tree escapes what the registry says about attachments (annotations, key hints): nothing in it can add lines",
			run: func(t *testing.T, s *scene) []string {
				d := s.image("v1")
				s.key("attacker", "ecdsa-p256")
				// An unreadable bundle: tree shows the listing's annotation.
				pushWithPredicateType(t, s, d, []byte("not a bundle"), "https://slsa.dev/provenance/v1"+forged)
				attachRaw(t, s.host, s.repo, d, setKeyHint(t, signedBundle(t, s.path("attacker.key"), s.host, s.repo, d), forged))
				return []string{"tree", s.ref("v1")}
			},
			wantCode: 0,
			want:     []string{"2 attached", `\x1b`, `\n`},
			notWant:  notForged,
		},
		attack{
			name:    "registry error body with terminal escapes",
			guards:  "registry texts embedded in errors are escaped, in the report and in the one-line error on stderr",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				host := hostileRegistry(t, http.StatusForbidden, "denied: "+forged)
				s.trusted()
				return []string{"verify", "--policy", s.policy(host, []string{"k"}, 1, nil), host + "/app:v1"}
			},
			wantCode: 3,
			want:     []string{"403", `\x1b`},
			notWant:  notForged,
		},
		attack{
			name:    "registry error body with terminal escapes on stderr",
			guards:  "the one-line error printer escapes what it embeds",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				host := hostileRegistry(t, http.StatusForbidden, "denied: "+forged)
				return []string{"tree", host + "/app:v1"}
			},
			wantCode: 3,
			want:     []string{"imgsign: ", `\x1b`},
			notWant:  notForged,
		},

		// Item 14: key material never echoed.
		attack{
			name:    "base64 private key given as a policy publicKey",
			guards:  "key material is never printed: a publicKey that is not a file prints a redacted description",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				body := privateKeyBody(t, s)
				return []string{"policy", "check", s.write("leak.yaml", "version: 1\nkeys:\n  - name: k\n    publicKey: "+body+"\npolicies:\n  - name: p\n    scopes: [\"registry.example.com/**\"]\n    signatures:\n      keys: [k]\n")}
			},
			wantCode: 2,
			want:     []string{"publicKey", "not shown", "PRIVATE key"},
			notWant:  []string{"MIG", "MC4CAQ"},
		},
		attack{
			name:    "base64 private key given as --key",
			guards:  "key material is never printed: a --key that is not a file is described, not echoed",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				return []string{"sign", "--key", privateKeyBody(t, s), "127.0.0.1:1/app:v1"}
			},
			wantCode: 2,
			want:     []string{"not shown"},
			notWant:  []string{"MIG", "MC4CAQ"},
		},
		attack{
			name:    "inline PEM private key given as --key to keys id",
			guards:  "key material is never printed, whatever command takes the --key",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				s.must("keys", "generate", "--unencrypted", "--out", "plain")
				b, err := os.ReadFile(s.path("plain.key"))
				if err != nil {
					t.Fatal(err)
				}
				return []string{"keys", "id", "--key", string(b)}
			},
			wantCode: 2,
			want:     []string{"not shown"},
			notWant:  []string{"MIG", "MC4CAQ", "BEGIN"},
		},
		attack{
			name:    "Vault token in a KMS key reference",
			guards:  "a KMS reference is printed as scheme and key name only: credentials in it never reach the output",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				return []string{"sign", "--key", "hashivault://release?token=hvs.SECRETTOKEN", "127.0.0.1:1/app:v1"}
			},
			wantCode: 2,
			want:     []string{"hashivault"},
			notWant:  []string{"SECRETTOKEN"},
		},
		attack{
			name:    "credentials in an awskms endpoint",
			guards:  "a KMS reference is printed as scheme and key name only: user:password@ never reaches the output",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				return []string{"keys", "public", "--key", "awskms://AKIAEXAMPLE:SECRETACCESSKEY@127.0.0.1:1/alias/release"}
			},
			wantCode: 2,
			want:     []string{"awskms"},
			notWant:  []string{"SECRETACCESSKEY"},
		},
		attack{
			name:    "PIN in a pkcs11 URI",
			guards:  "a pin-value in a PKCS#11 URI is never printed",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				return []string{"sign", "--key", "pkcs11:token=t;object=o?pin-value=S3CRETPIN&module-path=/nonexistent/libsofthsm2.so", "127.0.0.1:1/app:v1"}
			},
			wantCode: 2,
			want:     []string{"PKCS#11"},
			notWant:  []string{"S3CRETPIN"},
		},

		// Item 15: arguments.
		attack{
			name:    "mistyped flag after the image (sign)",
			guards:  "an unknown flag anywhere is a usage error before anything is done, with a did-you-mean",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				return []string{"sign", "--key", s.trusted(), "127.0.0.1:1/app:v1", "--no-tag-bindng"}
			},
			wantCode: 2,
			want:     []string{"--no-tag-bindng", "did you mean --no-tag-binding?"},
			notWant:  []string{"signing", "127.0.0.1:1"},
		},
		attack{
			name:   "mistyped flag after the image signs nothing",
			guards: "a usage error stops the command before it signs or pushes anything",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1")
				r := s.run("sign", "--key", s.trusted(), s.ref("v1"), "--no-tag-bindng")
				if r.Code != 2 || !strings.Contains(r.Stderr, "did you mean --no-tag-binding?") {
					t.Errorf("sign with a mistyped flag: exit %d, want 2 with a did-you-mean\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
				}
				return []string{"verify", "--policy", s.signaturePolicy(""), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "nothing is attached"},
		},
		attack{
			name:    "mistyped flag after the image (verify)",
			guards:  "verify never takes a mistyped flag or its value for an image",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				s.trusted()
				return []string{"verify", "--policy", s.policy("127.0.0.1:1", []string{"k"}, 1, nil), "127.0.0.1:1/app:v1", "--ouput", "json"}
			},
			wantCode: 2,
			want:     []string{"did you mean --output?"},
			notWant:  []string{"FAIL", "ERROR"},
		},
		attack{
			name:    "global flag after the command",
			guards:  "global flags are flags wherever they stand, never images",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				s.trusted()
				return []string{"verify", "--policy", s.policy("127.0.0.1:1", []string{"k"}, 1, nil), "127.0.0.1:1/app:v1", "--insecure-registry", "127.0.0.1:1"}
			},
			wantCode: 3,
			want:     []string{"127.0.0.1:1"},
			notWant:  []string{"--insecure-registry", "bad input"},
		},
		attack{
			name:    "second file to policy check",
			guards:  "a command given several files checks every one of them (a bad second file is not ignored)",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				s.trusted()
				good := s.policy("registry.example.com", []string{"k"}, 1, nil)
				bad := s.write("bad.yaml", "version: 1\nkeys: []\npolicies:\n  - name: p\n    scopes: [\"registry.example.com/**\"]\n    signatures:\n      keys: [nobody]\n")
				return []string{"policy", "check", good, bad}
			},
			wantCode: 2,
			want:     []string{"bad.yaml", "nobody"},
		},
		attack{
			name:    "extra argument to keys revoke",
			guards:  "a command that takes one argument refuses extras instead of ignoring them",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				s.trusted()
				return []string{"keys", "revoke", "--policy", s.policy("registry.example.com", []string{"k"}, 1, nil), "--dry-run", "k", "other-key"}
			},
			wantCode: 2,
			want:     []string{"other-key"},
			notWant:  []string{"revokedAt"},
		},
		attack{
			name:    "flag-like image after -- is an image",
			guards:  "-- ends flags as usual: what follows is positional",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				s.trusted()
				return []string{"verify", "--policy", s.policy("127.0.0.1:1", []string{"k"}, 1, nil), "--", "--no-such-flag"}
			},
			wantCode: 2,
			want:     []string{"--no-such-flag"},
			notWant:  []string{"did you mean", "flag provided but not defined"},
		},
	)
}

// pushWithPredicateType pushes raw bytes as a bundle referrer of subject
// whose listing annotation claims predicateType.
func pushWithPredicateType(t *testing.T, s *scene, subject v1.Hash, raw []byte, predicateType string) {
	t.Helper()
	rp := openRepo(t, s.host, s.repo)
	desc := v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: subject}
	if _, err := sign.Push(context.Background(), rp, desc, predicateType, raw, sign.Options{}); err != nil {
		t.Fatal(err)
	}
}

// hostileRegistry answers every request with status and body, on loopback.
func hostileRegistry(t *testing.T, status int, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// privateKeyBody is the base64 DER of an unencrypted private key: the PEM
// body without its armor, as someone pastes it.
func privateKeyBody(t *testing.T, s *scene) string {
	t.Helper()
	s.must("keys", "generate", "--unencrypted", "--out", "plain")
	b, err := os.ReadFile(s.path("plain.key"))
	if err != nil {
		t.Fatal(err)
	}
	var body strings.Builder
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "-----") {
			body.WriteString(strings.TrimSpace(l))
		}
	}
	return body.String()
}
