package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/attest/provenance"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/statement"
)

// pushBuildKitIndex pushes an index shaped as `docker buildx build --push
// --provenance=mode=max --sbom=true` leaves it: two platform images, and per
// platform an unknown/unknown attestation manifest whose layers are in-toto
// statements (Statement v0.1, SLSA v0.2 provenance and an SPDX SBOM).
func pushBuildKitIndex(t *testing.T, host, repo, tag string) (v1.Hash, []v1.Hash) {
	t.Helper()
	md, err := os.ReadFile(filepath.Join("..", "testdata", "provenance", "buildkit-v02.metadata.json"))
	if err != nil {
		t.Fatal(err)
	}
	meta, err := provenance.ParseBuildKitMetadata(md)
	if err != nil {
		t.Fatal(err)
	}
	prov := meta.Provenance[""]
	sbom := json.RawMessage(`{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"sbom","documentNamespace":"https://docker.com/docker/sbom/e2e","creationInfo":{"created":"2026-11-20T10:16:40Z","creators":["Tool: buildkit-v0.17.2"]},"packages":[]}`)
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	var adds []mutate.IndexAddendum
	var platforms []v1.Hash
	for _, platform := range []string{"linux/amd64", "linux/arm64"} {
		osName, arch, _ := strings.Cut(platform, "/")
		img, err := mutate.AppendLayers(empty.Image, static.NewLayer([]byte("layer for "+platform), types.OCILayer))
		if err != nil {
			t.Fatal(err)
		}
		img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
		d, _ := img.Digest()
		platforms = append(platforms, d)
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: osName, Architecture: arch}}})
		att := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
		for _, s := range []struct {
			pt   string
			pred json.RawMessage
		}{{statement.SLSAProvenanceV02, prov}, {"https://spdx.dev/Document", sbom}} {
			st, _ := json.Marshal(map[string]any{
				"_type": provenance.StatementTypeV01, "predicateType": s.pt, "predicate": s.pred,
				"subject": []any{map[string]any{"name": "pkg:docker/" + host + "/" + repo + "@" + tag, "digest": map[string]string{"sha256": d.Hex}}},
			})
			if att, err = mutate.Append(att, mutate.Addendum{
				Layer:       static.NewLayer(st, types.MediaType(provenance.MediaTypeInToto)),
				Annotations: map[string]string{provenance.AnnotationPredicateType: s.pt},
			}); err != nil {
				t.Fatal(err)
			}
		}
		adds = append(adds, mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
			Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{provenance.AnnotationReferenceType: provenance.ReferenceTypeAttestation, provenance.AnnotationReferenceDigest: d.String()},
		}})
	}
	full := mutate.AppendManifests(idx, adds...)
	ref, err := name.ParseReference(host+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, full); err != nil {
		t.Fatal(err)
	}
	d, _ := full.Digest()
	return d, platforms
}

// Provenance from CI facts and BuildKit's in-index attestations, attested
// per platform; BuildKit's own attestations signed unchanged; cosign accepts.
func TestProvenanceAndBuildKit(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	idx, platforms := pushBuildKitIndex(t, host, "bk", "v1")
	img := host + "/bk:v1"

	gh := []string{"IMGSIGN_PASSWORD=" + passphrase, "GITHUB_ACTIONS=true", "GITHUB_SERVER_URL=https://github.com", "GITHUB_REPOSITORY=acme/app",
		"GITHUB_REPOSITORY_ID=1", "GITHUB_REPOSITORY_OWNER_ID=2", "GITHUB_WORKFLOW_REF=acme/app/.github/workflows/release.yml@refs/heads/main",
		"GITHUB_REF=refs/heads/main", "GITHUB_SHA=0123456789abcdef0123456789abcdef01234567", "GITHUB_EVENT_NAME=push",
		"GITHUB_RUN_ID=42", "GITHUB_RUN_ATTEMPT=1", "RUNNER_ENVIRONMENT=github-hosted"}
	r := testenv.Run(t, e.dir, gh, e.bin, "provenance", "--from-image", img)
	if r.Code != 0 {
		t.Fatalf("provenance: exit %d\n%s", r.Code, r.Stderr)
	}
	var pred map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &pred); err != nil {
		t.Fatalf("provenance output is not JSON: %v\n%s", err, r.Stdout)
	}
	if got := pred["runDetails"].(map[string]any)["builder"].(map[string]any)["id"]; got != "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main" {
		t.Errorf("builder id %v", got)
	}
	r = testenv.Run(t, e.dir, gh, e.bin, "attest", "provenance", "--key", "k.key", "--from-image", "--output", "json", img)
	if r.Code != 0 {
		t.Fatalf("attest provenance: exit %d\n%s", r.Code, r.Stderr)
	}
	if n := strings.Count(r.Stdout, `"referrer"`); n != 1+len(platforms) {
		t.Errorf("attested %d subjects, want the index and %d platforms:\n%s", n, len(platforms), r.Stdout)
	}
	tree := e.must("tree", img).Stdout
	if n := strings.Count(tree, "BuildKit attestation manifest (unsigned)"); n != len(platforms) {
		t.Errorf("tree lists %d BuildKit attestation manifests, want %d:\n%s", n, len(platforms), tree)
	}
	e.must("sign", "--recursive", "--key", "k.key", img)
	e.must("attest", "buildkit", "--key", "k.key", img)

	pol := e.write("trust.yaml", `version: 1
keys:
  - name: k
    publicKey: k.pub
policies:
  - name: p
    scopes: ["`+host+`/**"]
    signatures:
      keys: [k]
    attestations:
      - type: https://slsa.dev/provenance/v1
        keys: [k]
        builderId: https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main
        sourceRepository: github.com/acme/app
        sourceRef: refs/heads/main
`)
	for _, d := range append([]v1.Hash{idx}, platforms...) {
		if r := e.run("verify", "--policy", pol, host+"/bk@"+d.String()); r.Code != 0 {
			t.Errorf("verify %s: exit %d\n%s", d, r.Code, r.Stdout)
		}
	}
	// BuildKit's own statements, now signed, satisfy a policy asking for them.
	bk := e.write("bk.yaml", `version: 1
keys:
  - name: k
    publicKey: k.pub
policies:
  - name: p
    scopes: ["`+host+`/**"]
    attestations:
      - type: https://slsa.dev/provenance/v0.2
        keys: [k]
      - type: https://spdx.dev/Document
        keys: [k]
`)
	for _, d := range platforms {
		if r := e.run("verify", "--policy", bk, host+"/bk@"+d.String()); r.Code != 0 {
			t.Errorf("verify BuildKit attestations of %s: exit %d\n%s", d, r.Code, r.Stdout)
		}
	}
	if r := testenv.Run(t, e.dir, nil, e.bin, "attest", "provenance", "--key", "k.key", "--from-image", img); r.Code != 2 || !strings.Contains(r.Stderr, "builder-id") {
		t.Errorf("outside CI without --builder-id: exit %d %s", r.Code, r.Stderr)
	}

	cosign := testenv.Tool(t, "cosign")
	r = testenv.Run(t, e.dir, []string{"COSIGN_PASSWORD=" + passphrase}, cosign, "verify-attestation", "--key", "k.pub", "--type", "slsaprovenance1",
		"--insecure-ignore-tlog", "--allow-insecure-registry", host+"/bk@"+platforms[0].String())
	if r.Code != 0 {
		t.Errorf("cosign verify-attestation --type slsaprovenance1: exit %d\n%s", r.Code, r.Stderr)
	}
}
