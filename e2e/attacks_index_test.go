package e2e

import (
	"encoding/json"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Attacks that hide a runnable image inside an image index where a check
// does not look: a child without a platform field (containerd reads its
// platform from the config and runs it), a child in a nested index, a child
// dressed as a BuildKit attestation manifest.
func init() {
	// compliant is the visible child: linux/amd64, non-root.
	compliant := indexChild{user: "65532", platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}
	policy := func(s *scene) string {
		return s.signaturePolicy("    compliance:\n      nonRootUser: true\n")
	}
	addAttacks(
		attack{
			name:   "index child without a platform runs as root",
			guards: "compliance checks every index child a runtime could select, platform field or not",
			run: func(t *testing.T, s *scene) []string {
				pushIndexOf(t, s, "v1", compliant, indexChild{user: ""})
				// sign --recursive and tree see the same two children.
				signed := s.must("sign", "--recursive", "--output", "json", "--key", s.trusted(), s.ref("v1")).Stdout
				var res []struct{ Attached []json.RawMessage }
				if err := json.Unmarshal([]byte(signed), &res); err != nil || len(res) != 1 || len(res[0].Attached) != 3 {
					t.Errorf("sign --recursive: want the index and both children signed (3) (%v)\n%s", err, signed)
				}
				var tree struct {
					Children []struct{ Digest, Platform string }
				}
				if err := json.Unmarshal([]byte(s.must("tree", "--output", "json", s.ref("v1")).Stdout), &tree); err != nil || len(tree.Children) != 2 {
					t.Errorf("tree: want both children listed, got %+v (%v)", tree.Children, err)
				}
				return []string{"verify", "--policy", policy(s), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "✗ compliance nonRootUser", "sets no USER", "no platform"},
		},
		attack{
			name:   "root child hidden in a nested index",
			guards: "compliance checks the children of an index inside an index",
			run: func(t *testing.T, s *scene) []string {
				pushIndexOf(t, s, "v1", compliant, indexChild{nested: []indexChild{
					{user: "0", platform: &v1.Platform{OS: "linux", Architecture: "arm64"}},
				}})
				s.must("sign", "--key", s.trusted(), s.ref("v1"))
				return []string{"verify", "--policy", policy(s), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "✗ compliance nonRootUser", "linux/arm64", "(root)"},
		},
		attack{
			name:   "root child dressed as a BuildKit attestation manifest",
			guards: "only an attestation manifest BuildKit's way (annotation and platform unknown/unknown) is exempt from compliance",
			run: func(t *testing.T, s *scene) []string {
				pushIndexOf(t, s, "v1", compliant, indexChild{
					user:        "root",
					platform:    &v1.Platform{OS: "linux", Architecture: "arm64"},
					annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest"},
				})
				s.must("sign", "--key", s.trusted(), s.ref("v1"))
				return []string{"verify", "--policy", policy(s), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "✗ compliance nonRootUser", "linux/arm64", "(root)"},
		},
	)
}

// indexChild is one manifest of an index pushIndexOf builds: an image with
// the given USER, or (nested non-empty) an index of its own.
type indexChild struct {
	user        string
	platform    *v1.Platform // as the index lists it; nil lists none
	annotations map[string]string
	nested      []indexChild
}

// pushIndexOf pushes an OCI index of children as s.repo:tag.
func pushIndexOf(t *testing.T, s *scene, tag string, children ...indexChild) v1.Hash {
	t.Helper()
	idx := buildIndex(t, children)
	ref, err := name.ParseReference(s.ref(tag), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func buildIndex(t *testing.T, children []indexChild) v1.ImageIndex {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, c := range children {
		desc := v1.Descriptor{Platform: c.platform, Annotations: c.annotations}
		if len(c.nested) > 0 {
			idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: buildIndex(t, c.nested), Descriptor: desc})
			continue
		}
		img, err := random.Image(256, 1)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cfg = cfg.DeepCopy()
		cfg.OS, cfg.Architecture = "linux", "amd64"
		if c.platform != nil {
			cfg.OS, cfg.Architecture = c.platform.OS, c.platform.Architecture
		}
		cfg.Config.User = c.user
		if img, err = mutate.ConfigFile(img, cfg); err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: desc})
	}
	return idx
}
