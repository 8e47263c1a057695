package provenance

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/statement"
)

// An index fixture as BuildKit pushes it (docker buildx build --push with
// attestations): platform manifests, and for each one an attestation
// manifest listed as unknown/unknown with vnd.docker.reference.* annotations,
// whose layers are in-toto statements.

type fixtureStatement struct {
	statementType string
	predicateType string
	// predicate returns the predicate for the platform manifest digest.
	predicate func(t *testing.T) json.RawMessage
	// mutate, when set, edits the statement (to build broken fixtures).
	mutate func(st map[string]any)
	// annotation overrides the layer's predicate-type annotation.
	annotation *string
}

type indexFixture struct {
	platforms  []string // "linux/amd64"
	statements []fixtureStatement
	// subjectOverride, when set, is put in vnd.docker.reference.digest.
	subjectOverride string
}

var (
	spdxStatement = fixtureStatement{
		statementType: StatementTypeV01,
		predicateType: "https://spdx.dev/Document",
		predicate: func(t *testing.T) json.RawMessage {
			return json.RawMessage(`{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"sbom","documentNamespace":"https://docker.com/docker/sbom/fixture","creationInfo":{"created":"2026-11-20T10:16:40Z","creators":["Tool: buildkit-v0.17.2"]},"packages":[]}`)
		},
	}
	// indexFixtureV01 is BuildKit's default: Statement v0.1 with a SLSA
	// v0.2 predicate, next to an SPDX SBOM, for two platforms.
	indexFixtureV01 = indexFixture{
		platforms: []string{"linux/amd64", "linux/arm64"},
		statements: []fixtureStatement{
			{
				statementType: StatementTypeV01,
				predicateType: statement.SLSAProvenanceV02,
				predicate: func(t *testing.T) json.RawMessage {
					md, err := ParseBuildKitMetadata(readFixture(t, "buildkit-v02.metadata.json"))
					if err != nil {
						t.Fatal(err)
					}
					return md.Provenance[""]
				},
			},
			spdxStatement,
		},
	}
	// indexFixtureV1 is BuildKit with --attest type=provenance,version=v1
	// and a newer BuildKit writing Statement v1.
	indexFixtureV1 = indexFixture{
		platforms: []string{"linux/arm64"},
		statements: []fixtureStatement{{
			statementType: StatementTypeV1,
			predicateType: statement.SLSAProvenanceV1,
			predicate: func(t *testing.T) json.RawMessage {
				md, err := ParseBuildKitMetadata(readFixture(t, "buildkit-v1.metadata.json"))
				if err != nil {
					t.Fatal(err)
				}
				return md.Provenance["linux/arm64"]
			},
		}},
	}
)

func platformImage(t *testing.T, platform string) v1.Image {
	t.Helper()
	os, arch, _ := strings.Cut(platform, "/")
	img, err := mutate.AppendLayers(empty.Image, static.NewLayer([]byte("application layer for "+platform), types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = os, arch
	cf.Config.User = "65532:65532"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

func statementBytes(t *testing.T, s fixtureStatement, subject v1.Hash, platform string) []byte {
	t.Helper()
	st := map[string]any{
		"_type":         s.statementType,
		"predicateType": s.predicateType,
		"subject": []any{map[string]any{
			"name":   "pkg:docker/ghcr.io/acme/app@1.4.2?platform=" + strings.ReplaceAll(platform, "/", "%2F"),
			"digest": map[string]string{subject.Algorithm: subject.Hex},
		}},
		"predicate": s.predicate(t),
	}
	if s.mutate != nil {
		s.mutate(st)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func attestationImage(t *testing.T, f indexFixture, subject v1.Hash, platform string) v1.Image {
	t.Helper()
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	for _, s := range f.statements {
		ann := s.predicateType
		if s.annotation != nil {
			ann = *s.annotation
		}
		var err error
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:       static.NewLayer(statementBytes(t, s, subject, platform), types.MediaType(MediaTypeInToto)),
			Annotations: map[string]string{AnnotationPredicateType: ann},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "unknown", "unknown"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

func buildIndex(t *testing.T, f indexFixture) v1.ImageIndex {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	var adds []mutate.IndexAddendum
	for _, platform := range f.platforms {
		img := platformImage(t, platform)
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		os, arch, _ := strings.Cut(platform, "/")
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: os, Architecture: arch}}})
		ref := d.String()
		if f.subjectOverride != "" {
			ref = f.subjectOverride
		}
		adds = append(adds, mutate.IndexAddendum{
			Add: attestationImage(t, f, d, platform),
			Descriptor: v1.Descriptor{
				Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
				Annotations: map[string]string{
					AnnotationReferenceType:   ReferenceTypeAttestation,
					AnnotationReferenceDigest: ref,
				},
			},
		})
	}
	return mutate.AppendManifests(idx, adds...)
}

// provenanceFromIndex is what `--from-image` does: the provenance of the
// index's first platform.
func provenanceFromIndex(t *testing.T, idx v1.ImageIndex) *Attestation {
	t.Helper()
	atts, err := FromIndex(context.Background(), idx)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	a := ProvenanceFor(atts, im.Manifests[0].Digest)
	if a == nil {
		t.Fatal("no provenance for the first platform")
	}
	return a
}

func TestFromIndex(t *testing.T) {
	idx := buildIndex(t, indexFixtureV01)
	atts, err := FromIndex(context.Background(), idx)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	idxDigest, _ := idx.Digest()
	amd64, arm64 := im.Manifests[0], im.Manifests[2]
	want := []struct {
		subject       v1.Hash
		arch          string
		predicateType string
	}{
		{amd64.Digest, "amd64", statement.SLSAProvenanceV02},
		{amd64.Digest, "amd64", "https://spdx.dev/Document"},
		{arm64.Digest, "arm64", statement.SLSAProvenanceV02},
		{arm64.Digest, "arm64", "https://spdx.dev/Document"},
	}
	if len(atts) != len(want) {
		t.Fatalf("got %d attestations, want %d", len(atts), len(want))
	}
	for i, w := range want {
		a := atts[i]
		if a.Subject != w.subject || a.PredicateType != w.predicateType || a.StatementType != StatementTypeV01 {
			t.Errorf("attestation %d: subject %s type %s/%s, want %s %s", i, a.Subject, a.StatementType, a.PredicateType, w.subject, w.predicateType)
		}
		if a.Platform == nil || a.Platform.Architecture != w.arch {
			t.Errorf("attestation %d: platform %v, want linux/%s", i, a.Platform, w.arch)
		}
		if a.Index == nil || *a.Index != idxDigest {
			t.Errorf("attestation %d: index %v, want %s", i, a.Index, idxDigest)
		}
		// The statement is returned exactly as stored, for signing unchanged.
		img, _ := idx.Image(a.Manifest)
		l, _ := img.LayerByDigest(a.Layer)
		rc, _ := l.Compressed()
		var stored bytes.Buffer
		_, _ = stored.ReadFrom(rc)
		rc.Close()
		if !bytes.Equal(stored.Bytes(), a.Statement) {
			t.Errorf("attestation %d: statement differs from the stored layer", i)
		}
		var st map[string]json.RawMessage
		if err := json.Unmarshal(a.Statement, &st); err != nil || !bytes.Equal(canonicalJSON(st["predicate"]), canonicalJSON(a.Predicate)) {
			t.Errorf("attestation %d: predicate is not the statement's", i)
		}
	}
	if p := ProvenanceFor(atts, arm64.Digest); p == nil || p != &atts[2] {
		t.Errorf("ProvenanceFor(arm64) = %v, want attestation 2", p)
	}
	if p := ProvenanceFor(atts, v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}); p != nil {
		t.Errorf("ProvenanceFor(unknown) = %v, want nil", p)
	}
}

func TestFromIndexV1(t *testing.T) {
	atts, err := FromIndex(context.Background(), buildIndex(t, indexFixtureV1))
	if err != nil {
		t.Fatal(err)
	}
	if len(atts) != 1 || atts[0].StatementType != StatementTypeV1 || atts[0].PredicateType != statement.SLSAProvenanceV1 || !atts[0].IsProvenance() {
		t.Fatalf("got %+v", atts)
	}
}

// An image without attestations (built with --provenance=false, or by
// another tool) has none: not an error.
func TestFromIndexWithoutAttestations(t *testing.T) {
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: platformImage(t, "linux/amd64")})
	atts, err := FromIndex(context.Background(), idx)
	if err != nil || len(atts) != 0 {
		t.Fatalf("FromIndex = %v, %v; want none", atts, err)
	}
}

func TestFromIndexErrors(t *testing.T) {
	prov := indexFixtureV01.statements[0]
	other := "https://cyclonedx.org/bom"
	broken := func(s fixtureStatement) indexFixture {
		return indexFixture{platforms: []string{"linux/amd64"}, statements: []fixtureStatement{s}}
	}
	withMutation := func(m func(map[string]any)) fixtureStatement {
		s := prov
		s.mutate = m
		return s
	}
	withAnnotation := prov
	withAnnotation.annotation = &other
	cases := []struct {
		name    string
		fixture indexFixture
		want    string
		kind    errkind.Kind
	}{
		{
			"statement about another image",
			broken(withMutation(func(st map[string]any) {
				st["subject"] = []any{map[string]any{"name": "x", "digest": map[string]string{"sha256": strings.Repeat("b", 64)}}}
			})),
			"its statement (layer", errkind.Input,
		},
		{"annotation disagrees with the statement", broken(withAnnotation), "layer annotation says predicate type https://cyclonedx.org/bom", errkind.Input},
		{"not an in-toto statement", broken(withMutation(func(st map[string]any) { st["_type"] = "https://example.com/Statement/v9" })), "is not in-toto Statement v0.1 or v1", errkind.Input},
		{"no predicate", broken(withMutation(func(st map[string]any) { delete(st, "predicate") })), "has no predicate", errkind.Input},
		{"reference digest is not a digest", indexFixture{platforms: []string{"linux/amd64"}, statements: []fixtureStatement{prov}, subjectOverride: "latest"}, "is not a digest", errkind.Input},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromIndex(context.Background(), buildIndex(t, tc.fixture))
			if err == nil {
				t.Fatalf("FromIndex succeeded, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if k, _ := errkind.Of(err); k != tc.kind {
				t.Errorf("kind %v, want %v", k, tc.kind)
			}
		})
	}
}

// A registry (or a man in the middle) serving a layer that does not match
// its digest must not get its statement signed.
func TestFromIndexDigestMismatch(t *testing.T) {
	idx := buildIndex(t, indexFixture{platforms: []string{"linux/amd64"}, statements: []fixtureStatement{indexFixtureV01.statements[0]}})
	tampered := &tamperedIndex{imageIndex: idx}
	_, err := FromIndex(context.Background(), tampered)
	if err == nil || !strings.Contains(err.Error(), "does not match its digest") {
		t.Fatalf("err = %v, want a digest mismatch", err)
	}
	if k, _ := errkind.Of(err); k != errkind.Untrusted {
		t.Errorf("kind %v, want untrusted", k)
	}
}

// tamperedIndex serves attestation layers whose bytes differ from their
// digests.
type tamperedIndex struct{ imageIndex }

// imageIndex lets tamperedIndex embed v1.ImageIndex, whose method
// ImageIndex would otherwise clash with the embedded field's name.
type imageIndex = v1.ImageIndex

func (t *tamperedIndex) Image(h v1.Hash) (v1.Image, error) {
	img, err := t.imageIndex.Image(h)
	if err != nil {
		return nil, err
	}
	return &tamperedImage{Image: img}, nil
}

type tamperedImage struct{ v1.Image }

func (t *tamperedImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := t.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return &tamperedLayer{Layer: l}, nil
}

type tamperedLayer struct{ v1.Layer }

func (t *tamperedLayer) Compressed() (io.ReadCloser, error) {
	rc, err := t.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	// Same statement, different builder: what a forger would change.
	return io.NopCloser(bytes.NewReader(bytes.Replace(b, []byte("acme/app/actions"), []byte("evil/app/actions"), 1))), nil
}
