package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/storage"
)

// RunnableChildren is the one list of an index's runnable manifests: every
// image manifest a runtime could select, platform field or not, nested
// indexes included; only BuildKit attestation manifests and non-image
// entries are left out.
func TestRunnableChildren(t *testing.T) {
	ctx := context.Background()
	p := serveRegistry(t, true)
	repo := openRepo(t, p.Host, "team/app")
	img := func(tag string) v1.Descriptor { return pushImage(t, p.Host, "team/app", tag) }
	withPlatform := func(d v1.Descriptor, os, arch string) v1.Descriptor {
		d.Platform = &v1.Platform{OS: os, Architecture: arch}
		return d
	}
	annotated := func(d v1.Descriptor) v1.Descriptor {
		d.Annotations = map[string]string{"vnd.docker.reference.type": "attestation-manifest"}
		return d
	}
	index := func(tag string, mt types.MediaType, children ...v1.Descriptor) v1.Descriptor {
		raw, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: mt, Manifests: children})
		if err != nil {
			t.Fatal(err)
		}
		if err := repo.PutManifest(ctx, tag, raw, mt); err != nil {
			t.Fatal(err)
		}
		return v1.Descriptor{MediaType: mt, Digest: Digest(raw), Size: int64(len(raw))}
	}

	amd, noPlatform, arm, att, dressed, unknown, artifact := img("amd"), img("none"), img("arm"), img("att"), img("dressed"), img("unknown"), img("artifact")
	artifact.MediaType = "application/vnd.example.sbom.v1+json"
	nested := index("nested", types.OCIImageIndex, withPlatform(arm, "linux", "arm64"))
	top := index("top", types.OCIImageIndex,
		withPlatform(amd, "linux", "amd64"),
		noPlatform,
		nested,
		annotated(withPlatform(att, "unknown", "unknown")),
		annotated(withPlatform(dressed, "linux", "s390x")),
		withPlatform(unknown, "unknown", "unknown"),
		artifact,
		withPlatform(amd, "linux", "amd64"), // listed twice
	)
	list := index("list", types.DockerManifestList, withPlatform(amd, "linux", "amd64"))
	deep := nested
	for i := range storage.MaxIndexNesting + 1 {
		deep = index(fmt.Sprintf("deep%d", i), types.OCIImageIndex, deep)
	}

	for _, tc := range []struct {
		name     string
		desc     v1.Descriptor
		want     []v1.Hash
		wantKind errkind.Kind
	}{
		{name: "single image", desc: amd},
		// The artifact entry is an image manifest whatever type the index
		// claims: Docker picks children by platform and runs what is served.
		{name: "index", desc: top, want: []v1.Hash{amd.Digest, noPlatform.Digest, arm.Digest, dressed.Digest, unknown.Digest, artifact.Digest}},
		{name: "docker manifest list", desc: list, want: []v1.Hash{amd.Digest}},
		{name: "index without a media type in its descriptor", desc: v1.Descriptor{Digest: top.Digest}, want: []v1.Hash{amd.Digest, noPlatform.Digest, arm.Digest, dressed.Digest, unknown.Digest, artifact.Digest}},
		{name: "nested too deep", desc: deep, wantKind: errkind.Operational},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := storage.RunnableChildren(ctx, repo, tc.desc)
			if tc.wantKind != 0 {
				wantKind(t, err, tc.wantKind, "levels deep")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var digests []v1.Hash
			for _, c := range got {
				digests = append(digests, c.Descriptor.Digest)
				if c.Descriptor.Platform != nil || c.Descriptor.Annotations != nil {
					t.Errorf("child %s: descriptor carries the index's platform or annotations", c.Descriptor.Digest)
				}
			}
			if !slices.Equal(digests, tc.want) {
				t.Errorf("children %v; want %v", digests, tc.want)
			}
		})
	}

	got, err := storage.RunnableChildren(ctx, repo, top)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range got {
		want := map[v1.Hash]struct{ label, index string }{
			amd.Digest:        {"linux/amd64", top.Digest.String()},
			noPlatform.Digest: {"sha256:" + noPlatform.Digest.Hex[:12] + " (no platform in the index)", top.Digest.String()},
			arm.Digest:        {"linux/arm64", nested.Digest.String()},
			dressed.Digest:    {"linux/s390x", top.Digest.String()},
			unknown.Digest:    {"unknown/unknown", top.Digest.String()},
			artifact.Digest:   {"sha256:" + artifact.Digest.Hex[:12] + " (no platform in the index)", top.Digest.String()},
		}[c.Descriptor.Digest]
		if c.Descriptor.MediaType != types.OCIManifestSchema1 && c.Descriptor.MediaType != types.DockerManifestSchema2 {
			t.Errorf("child %s: media type %q, not the image manifest type the registry serves", c.Descriptor.Digest, c.Descriptor.MediaType)
		}
		if c.Label() != want.label || c.Index.String() != want.index {
			t.Errorf("child %s: label %q index %s; want %q, %s", c.Descriptor.Digest, c.Label(), c.Index, want.label, want.index)
		}
	}
}
