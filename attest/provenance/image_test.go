package provenance

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/internal/testing/testkey"
	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/storage"
)

// imageRegistry is a registry to push fixtures to, and a way to resolve
// them as the CLI does.
type imageRegistry struct {
	t    *testing.T
	host string
}

func newImageRegistry(t *testing.T) *imageRegistry {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a registry")
	}
	return &imageRegistry{t: t, host: testenv.Registry(t, true).Addr}
}

func (r *imageRegistry) push(tag string, img any) *storage.Target {
	r.t.Helper()
	ref, err := name.ParseReference(r.host+"/acme/app:"+tag, name.Insecure)
	if err != nil {
		r.t.Fatal(err)
	}
	switch x := img.(type) {
	case v1.Image:
		err = remote.Write(ref, x)
	case v1.ImageIndex:
		err = remote.WriteIndex(ref, x)
	}
	if err != nil {
		r.t.Fatalf("pushing %s: %v", ref, err)
	}
	target, err := registry.New().Resolve(context.Background(), ref.String(), true)
	if err != nil {
		r.t.Fatal(err)
	}
	return target
}

// genericInputs are the facts of a build outside CI.
func genericInputs() Inputs {
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	return Inputs{Env: MapEnv(localEnv()), BuilderID: "https://ci.example.com/b",
		Source: &Source{Repository: "https://github.com/acme/app", Commit: strings.Repeat("ab", 20)},
		Now:    func() time.Time { return at }}
}

// buildDefinitionSource is where the predicate's build definition came from: "" for
// the CI (or caller) alone, else which BuildKit source.
func buildDefinitionSource(t *testing.T, pred any) string {
	t.Helper()
	p, ok := pred.(*Provenance)
	if !ok {
		t.Fatalf("predicate is %T, want *Provenance", pred)
	}
	sources, _ := p.BuildDefinition.InternalParameters[keyFactSources].(map[string]string)
	return sources[factBuildDefinition]
}

// Subjects gives the image and each platform of an index its own
// predicate; BuildKit's provenance goes only where it is about the subject.
func TestSubjects(t *testing.T) {
	reg := newImageRegistry(t)
	single := reg.push("single", platformImage(t, "linux/amd64"))
	index := reg.push("index", buildIndex(t, indexFixtureV01))
	plainIndex := reg.push("plain", mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: platformImage(t, "linux/amd64"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: platformImage(t, "linux/arm64"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}}))
	metadata := readFixture(t, "buildkit-v02.metadata.json")

	for _, tc := range []struct {
		name   string
		target *storage.Target
		req    ImageRequest
		kind   errkind.Kind // 0: success
		err    string
		// sources are each subject's build-definition source, in order.
		sources []string
	}{
		{name: "single image", target: single, req: ImageRequest{Inputs: genericInputs()}, sources: []string{""}},
		{name: "index: the index and each platform", target: plainIndex, req: ImageRequest{Inputs: genericInputs()}, sources: []string{"", "", ""}},
		{name: "from the image: each platform its own, the index its first's", target: index, req: ImageRequest{Inputs: genericInputs(), FromImage: true},
			sources: []string{SourceBuildKitIndex, SourceBuildKitIndex, SourceBuildKitIndex}},
		{name: "from the image, which is a single image", target: single, req: ImageRequest{Inputs: genericInputs(), FromImage: true},
			kind: errkind.Input, err: "--from-image reads BuildKit's attestations from an image index, but " + single.Descriptor.Digest.String() + " is a single image"},
		{name: "from the image and a metadata file", target: plainIndex, req: ImageRequest{Inputs: func() Inputs { in := genericInputs(); in.BuildKitMetadata = metadata; return in }(), FromImage: true},
			kind: errkind.Input, err: "from both a metadata file and the image index"},
		{name: "metadata file of another build", target: single, req: ImageRequest{Inputs: func() Inputs { in := genericInputs(); in.BuildKitMetadata = metadata; return in }()},
			kind: errkind.Input, err: "the BuildKit metadata file describes sha256:d30dbfbf"},
		{name: "generation fails for a subject", target: plainIndex, req: ImageRequest{Inputs: func() Inputs { in := genericInputs(); in.Source = nil; return in }()},
			kind: errkind.Input, err: "provenance for " + plainIndex.Descriptor.Digest.String() + ": nothing to attest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			subjects, err := Subjects(context.Background(), tc.target, tc.req)
			if tc.kind != 0 {
				if k, _ := errkind.Of(err); err == nil || k != tc.kind || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v (kind %v); want kind %v containing %q", err, k, tc.kind, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(subjects) != len(tc.sources) {
				t.Fatalf("%d subjects; want %d", len(subjects), len(tc.sources))
			}
			platforms, err := platformsOf(context.Background(), tc.target)
			if err != nil {
				t.Fatal(err)
			}
			want := append([]v1.Descriptor{tc.target.Descriptor}, platforms...)
			for i, s := range subjects {
				if s.Descriptor.Digest != want[i].Digest || len(s.Also) != 0 {
					t.Errorf("subject %d is %s (also %v); want %s alone", i, s.Descriptor.Digest, s.Also, want[i].Digest)
				}
				if got := buildDefinitionSource(t, s.Predicate); got != tc.sources[i] {
					t.Errorf("subject %d: build definition from %q; want %q", i, got, tc.sources[i])
				}
			}
		})
	}
}

// SignBuildKit signs BuildKit's statements only when every one is about a
// platform of the index as BuildKit writes it, and asks for the key only
// then.
func TestSignBuildKit(t *testing.T) {
	reg := newImageRegistry(t)
	key := testkey.Signer(t)
	noAttestations, err := random.Index(64, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	twoSubjects := indexFixtureV1
	twoSubjects.statements = []fixtureStatement{indexFixtureV1.statements[0]}
	twoSubjects.statements[0].mutate = func(st map[string]any) {
		st["subject"] = append(st["subject"].([]any), map[string]any{"name": "victim", "digest": map[string]string{"sha256": strings.Repeat("ee", 32)}})
	}

	for _, tc := range []struct {
		name   string
		target *storage.Target
		kind   errkind.Kind // 0: success
		err    string
		signed int // statements attached on success
	}{
		{name: "every statement, to its platform", target: reg.push("buildkit", buildIndex(t, indexFixtureV01)), signed: 4},
		{name: "a single image", target: reg.push("single", platformImage(t, "linux/amd64")),
			kind: errkind.Input, err: "is not an image index with BuildKit attestations"},
		{name: "an index without attestations", target: reg.push("plain", noAttestations),
			kind: errkind.Input, err: "carries no BuildKit attestations"},
		{name: "a statement about another image too", target: reg.push("two", buildIndex(t, twoSubjects)),
			kind: errkind.Input, err: "refusing to sign BuildKit's attestations of"},
		{name: "an attestation of a manifest the index does not run", target: reg.push("stray", strayAttestationIndex(t)),
			kind: errkind.Input, err: "which is not a platform of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loaded := 0
			res, err := SignBuildKit(context.Background(), tc.target, BuildKitRequest{
				Signer: func(context.Context) (sign.Signer, error) { loaded++; return key, nil },
			})
			if tc.kind != 0 {
				if k, _ := errkind.Of(err); err == nil || k != tc.kind || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v (kind %v); want kind %v containing %q", err, k, tc.kind, tc.err)
				}
				if loaded != 0 {
					t.Errorf("the key was loaded %d times for an index nothing of which is signed", loaded)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if loaded != 1 || len(res.Attached) != tc.signed || res.Digest != tc.target.Descriptor.Digest.String() || res.Image != tc.target.Reference().String() {
				t.Fatalf("key loaded %d times, result %+v; want one load and %d attached to %s", loaded, res, tc.signed, tc.target.Reference())
			}
			platforms, err := platformsOf(context.Background(), tc.target)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range res.Attached {
				if _, err := platformDescriptor(platforms, tc.target, a.Subject); err != nil || a.KeyID != key.ID() {
					t.Errorf("attached %+v: %v; want a platform subject, signed by %s", a, err, key.ID())
				}
			}
		})
	}
}

// strayAttestationIndex is an index with one platform and a BuildKit
// attestation manifest about an image the index does not list, its
// statement consistent with that: only the platform check refuses it.
func strayAttestationIndex(t *testing.T) v1.ImageIndex {
	t.Helper()
	stray := platformImage(t, "linux/s390x")
	strayDigest, err := stray.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: platformImage(t, "linux/amd64"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: attestationImage(t, indexFixtureV01, strayDigest, "linux/s390x"), Descriptor: v1.Descriptor{
			Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{AnnotationReferenceType: ReferenceTypeAttestation, AnnotationReferenceDigest: strayDigest.String()},
		}})
}
