package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgsign/imgsign/internal/refname"
	"github.com/imgsign/imgsign/verify"
)

// Attacks through OCI image layouts: someone who can write the layout
// directory (a USB stick, a shared volume) but holds no trusted key.
func init() {
	addAttacks(
		attack{
			name:   "unsigned layout under a catch-all audit rule",
			guards: "a catch-all ** never judges an OCI layout: a layout nobody wrote an oci: scope for is rejected, not passed in audit mode",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1") // unsigned
				dir := s.path("layout")
				s.must("copy", s.ref("v1"), "oci:"+dir)
				pol := scopePolicy(s, scopeRule{"all", "audit", "**"})
				return []string{"verify", "--policy", pol, "oci:" + dir + ":v1"}
			},
			wantCode: 1,
			want:     []string{"no trust policy scope matches OCI layout", `"oci:`},
			notWant:  []string{"PASS", "audit mode"},
		},
		attack{
			name:   "layout repository name typed as a registry image",
			guards: "a layout's oci.invalid name is imgsign's own: typed as a registry image it is refused (exit 2)",
			run: func(t *testing.T, s *scene) []string {
				n, err := refname.LayoutRepository(s.path("layout"))
				if err != nil {
					t.Fatal(err)
				}
				pol := scopePolicy(s, scopeRule{"layouts", "audit", "oci:/**"})
				return []string{"verify", "--policy", pol, n + ":v1"}
			},
			offline:  true,
			wantCode: 2,
			want:     []string{"reserved for OCI layouts"},
		},
		attack{
			name:   "layout blob swapped for a symlink to a file outside it",
			guards: "layout blobs are read beneath the layout and never through a symlink, whatever the link's target holds",
			run: func(t *testing.T, s *scene) []string {
				d := s.image("v1")
				dir := s.path("layout")
				s.must("copy", s.ref("v1"), "oci:"+dir)
				s.must("sign", "--key", s.trusted(), "oci:"+dir+":v1")
				blob := filepath.Join(dir, "blobs", "sha256", d.Hex)
				raw, err := os.ReadFile(blob)
				if err != nil {
					t.Fatal(err)
				}
				outside := s.path("elsewhere")
				if err := os.WriteFile(outside, raw, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Remove(blob); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(outside, blob); err != nil {
					t.Fatal(err)
				}
				pol := scopePolicy(s, scopeRule{"layouts", "enforce", "oci:" + dir})
				return []string{"verify", "--policy", pol, "oci:" + dir + ":v1"}
			},
			wantCode: 1,
			want:     []string{"symbolic link"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "layout signature bundle rewritten in place",
			guards: "every blob read from a layout is checked against its digest: a bundle edited on disk counts for nothing",
			run: func(t *testing.T, s *scene) []string {
				s.image("v1")
				dir := s.path("layout")
				s.must("copy", s.ref("v1"), "oci:"+dir)
				s.must("sign", "--key", s.trusted(), "oci:"+dir+":v1")
				var tr verify.Tree
				if err := json.Unmarshal([]byte(s.must("tree", "--output", "json", "oci:"+dir+":v1").Stdout), &tr); err != nil || len(tr.Attachments) != 1 {
					t.Fatalf("tree: %v %+v", err, tr.Attachments)
				}
				// The referrer manifest's one layer is the bundle.
				var m struct {
					Layers []struct {
						Digest string `json:"digest"`
					} `json:"layers"`
				}
				ref := tr.Attachments[0].Referrer
				raw, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", ref[len("sha256:"):]))
				if err != nil || json.Unmarshal(raw, &m) != nil || len(m.Layers) != 1 {
					t.Fatalf("referrer manifest: %v %s", err, raw)
				}
				bundle := filepath.Join(dir, "blobs", "sha256", m.Layers[0].Digest[len("sha256:"):])
				b, err := os.ReadFile(bundle)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(bundle, append(b, ' '), 0o644); err != nil {
					t.Fatal(err)
				}
				pol := scopePolicy(s, scopeRule{"layouts", "enforce", "oci:" + dir})
				return []string{"verify", "--policy", pol, "oci:" + dir + ":v1"}
			},
			wantCode: 1,
			want:     []string{"FAIL"},
			notWant:  []string{"PASS"},
		},
	)
}
