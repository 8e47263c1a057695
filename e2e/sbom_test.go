package e2e

import (
	"archive/tar"
	"bytes"
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

	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// layerTar packs files (path → content) into an uncompressed tar layer.
func layerTar(t *testing.T, files map[string]string) v1.Layer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for p, c := range files {
		if err := tw.WriteHeader(&tar.Header{Name: p, Mode: 0o644, Size: int64(len(c)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return static.NewLayer(b.Bytes(), types.OCIUncompressedLayer)
}

// distroImage is a small Debian-like image: a dpkg status file from the
// SBOM fixtures, os-release, a Python dist and an npm package.
func distroImage(t *testing.T, platform string) v1.Image {
	t.Helper()
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join("..", "testdata", "sbom", p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	base := layerTar(t, map[string]string{
		"etc/os-release":      read("os-release.debian"),
		"var/lib/dpkg/status": read("dpkg/status"),
		"usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nLicense: Apache 2.0\n\nbody\n",
	})
	app := layerTar(t, map[string]string{
		"app/node_modules/left-pad/package.json": `{"name": "left-pad", "version": "1.3.0", "license": "WTFPL"}`,
	})
	img, err := mutate.AppendLayers(empty.Image, base, app)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, _ = strings.Cut(platform, "/")
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

// SBOMs generated from the image's layers, in both formats, attested for an
// image and per platform of an index, required by a policy with a condition
// over the packages, and accepted by cosign verify-attestation.
func TestSBOM(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	img := host + "/sbom/app:v1"
	ref, _ := name.ParseReference(img, name.Insecure)
	if err := remote.Write(ref, distroImage(t, "linux/amd64")); err != nil {
		t.Fatal(err)
	}
	spdx := e.must("sbom", img).Stdout
	var doc struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct {
			Name    string `json:"name"`
			Version string `json:"versionInfo"`
		} `json:"packages"`
	}
	if err := json.Unmarshal([]byte(spdx), &doc); err != nil || doc.SPDXVersion != "SPDX-2.3" {
		t.Fatalf("sbom output is not SPDX 2.3 JSON: %v\n%.400s", err, spdx)
	}
	names := map[string]bool{}
	for _, p := range doc.Packages {
		names[p.Name] = true
	}
	for _, want := range []string{"requests", "left-pad"} {
		if !names[want] {
			t.Errorf("SBOM lacks package %s; has %v", want, names)
		}
	}
	cdx := e.must("sbom", "--format", "cyclonedx", img).Stdout
	if !strings.Contains(cdx, `"bomFormat": "CycloneDX"`) && !strings.Contains(cdx, `"bomFormat":"CycloneDX"`) {
		t.Errorf("cyclonedx output: %.300s", cdx)
	}

	e.must("sign", "--key", "k.key", img)
	e.must("attest", "sbom", "--key", "k.key", img)
	e.must("attest", "sbom", "--key", "k.key", "--format", "cyclonedx", img)
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
      - type: https://spdx.dev/Document
        keys: [k]
        conditions:
          - predicate.packages.exists(p, p.name == "left-pad")
      - type: https://cyclonedx.org/bom
        keys: [k]
`)
	e.must("verify", "--policy", pol, img)
	polText, err := os.ReadFile(pol)
	if err != nil {
		t.Fatal(err)
	}
	strict := strings.Replace(string(polText), `p.name == "left-pad"`, `p.name == "log4j-core"`, 1)
	if r := e.run("verify", "--policy", e.write("strict.yaml", strict), img); r.Code != 1 || !strings.Contains(r.Stdout, "failed") {
		t.Errorf("condition on a missing package: exit %d\n%s", r.Code, r.Stdout)
	}

	cosign := testenv.Tool(t, "cosign")
	for _, typ := range []string{"spdxjson", "cyclonedx"} {
		r := testenv.Run(t, e.dir, []string{"COSIGN_PASSWORD=" + passphrase}, cosign, "verify-attestation", "--key", "k.pub", "--type", typ,
			"--insecure-ignore-tlog", "--allow-insecure-registry", img)
		if r.Code != 0 {
			t.Errorf("cosign verify-attestation --type %s: exit %d\n%s", typ, r.Code, r.Stderr)
		}
	}

	// --input attaches an existing SBOM; its type follows the content.
	e.write("given.cdx.json", cdx)
	out := e.must("attest", "sbom", "--key", "k.key", "--input", "given.cdx.json", img).Stdout
	if !strings.Contains(out, "https://cyclonedx.org/bom") {
		t.Errorf("--input CycloneDX attested as: %s", out)
	}
	e.write("not-sbom.json", `{"hello": "world"}`)
	if r := e.run("attest", "sbom", "--key", "k.key", "--input", "not-sbom.json", img); r.Code != 2 {
		t.Errorf("--input of a non-SBOM: exit %d %s", r.Code, r.Stderr)
	}
}

// An index gets one SBOM per platform, each found from the platform digest
// and from the index digest.
func TestSBOMIndex(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	amd, arm := distroImage(t, "linux/amd64"), distroImage(t, "linux/arm64")
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
	ref, _ := name.ParseReference(host+"/multi:v1", name.Insecure)
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	r := e.must("attest", "sbom", "--key", "k.key", "--output", "json", host+"/multi:v1")
	if n := strings.Count(r.Stdout, `"referrer"`); n != 4 {
		t.Fatalf("want 2 SBOMs each attached to its platform and the index (4 referrers), got %d:\n%s", n, r.Stdout)
	}
	if out := e.must("sbom", "--platform", "linux/arm64", host+"/multi:v1").Stdout; !strings.Contains(out, "linux/arm64") {
		t.Errorf("--platform linux/arm64 SBOM does not name the platform:\n%.500s", out)
	}
	pol := e.write("trust.yaml", "version: 1\nkeys:\n  - name: k\n    publicKey: k.pub\npolicies:\n  - name: p\n    scopes: [\""+host+"/**\"]\n    attestations:\n      - type: https://spdx.dev/Document\n        keys: [k]\n")
	amdD, _ := amd.Digest()
	idxD, _ := idx.Digest()
	for _, d := range []v1.Hash{amdD, idxD} {
		if r := e.run("verify", "--policy", pol, host+"/multi@"+d.String()); r.Code != 0 {
			t.Errorf("verify %s: exit %d\n%s", d, r.Code, r.Stdout)
		}
	}
}
