package e2e

import (
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// Attacks on the migration from Docker Content Trust: an attacker who holds
// a Notary delegation key docker pull never honoured tries to have its
// signatures carried over as imgsign tag bindings.
func init() {
	addAttacks(
		attack{
			name:   "dct tag signed only by a targets/ci delegation",
			guards: "dct import carries over only what docker pull trusted: targets/releases, else top-level targets",
			run: func(t *testing.T, s *scene) []string {
				n := testenv.NotaryServer(t)
				c := n.Client(t)
				gun := s.host + "/" + s.repo
				release := s.image("1.0")
				// The attacker pushed its image as prod and signed prod in
				// the CI delegation, whose key it holds; DOCKER_CONTENT_TRUST=1
				// docker pull refuses prod ("No trust data for prod").
				evil := s.image("prod")
				c.Init(t, gun)
				c.AddDelegation(t, gun, "targets/releases")
				c.AddHash(t, gun, "1.0", release.String(), manifestSize(t, s.ref("1.0")), "targets/releases")
				c.Publish(t, gun)
				c.AddDelegation(t, gun, "targets/ci")
				c.AddHash(t, gun, "prod", evil.String(), manifestSize(t, s.ref("prod")), "targets/ci")
				c.Publish(t, gun)

				r := s.run("dct", "import", "--key", s.trusted(), "--root-key-id", c.RootKeyID(t, gun),
					"--server", n.URL, "--server-ca", n.CAFile, "--trust-dir", t.TempDir(), gun)
				if r.Code != 0 || !strings.Contains(r.Stdout, "prod\t"+evil.String()+"\ttargets/ci\tnot trusted by DCT, not imported: only in delegation targets/ci, which docker pull does not trust") {
					t.Errorf("dct import: exit %d, want 0 importing 1.0 and listing prod as untrusted\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
				}
				return []string{"verify", "--policy", s.dctPolicy(s.host), s.ref("prod")}
			},
			wantCode: 1,
			want:     []string{"FAIL"},
		},
		attack{
			name:   "dct import asked for a tag docker pull did not trust",
			guards: "naming an untrusted DCT tag with --tag does not end in success",
			run: func(t *testing.T, s *scene) []string {
				n := testenv.NotaryServer(t)
				c := n.Client(t)
				gun := s.host + "/" + s.repo
				evil := s.image("prod")
				c.Init(t, gun)
				c.AddDelegation(t, gun, "targets/ci")
				c.AddHash(t, gun, "prod", evil.String(), manifestSize(t, s.ref("prod")), "targets/ci")
				c.Publish(t, gun)
				return []string{"dct", "import", "--key", s.trusted(), "--tag", "prod", "--root-key-id", c.RootKeyID(t, gun),
					"--server", n.URL, "--server-ca", n.CAFile, "--trust-dir", t.TempDir(), gun}
			},
			wantCode: 1,
			want:     []string{"--tag prod", "only in delegation targets/ci, which docker pull does not trust", "0 imported"},
		},
	)
}
