package attachment

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/registry"
)

var (
	testSubject = v1.Descriptor{
		MediaType: types.OCIManifestSchema1,
		Digest:    registry.Digest([]byte("the image manifest")),
		Size:      1234,
	}
	testBundle     = []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`)
	testBundleDesc = v1.Descriptor{Digest: registry.Digest(testBundle), Size: int64(len(testBundle))}
)

func TestNewReferrerRoundTrip(t *testing.T) {
	tests := []struct {
		name        string
		created     time.Time
		wantCreated string
		predicate   string
	}{
		{"utc", time.Date(2026, 11, 22, 6, 48, 15, 0, time.UTC), "2026-11-22T06:48:15Z", "https://sigstore.dev/cosign/sign/v1"},
		{"other zone, sub-second", time.Date(2026, 11, 22, 8, 48, 15, 999, time.FixedZone("CEST", 2*3600)), "2026-11-22T06:48:15Z", "https://slsa.dev/provenance/v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bundle := testBundleDesc
			bundle.MediaType = "application/octet-stream" // what PutBlob returns is replaced
			ref, err := NewReferrer(testSubject, bundle, tt.predicate, tt.created)
			if err != nil {
				t.Fatal(err)
			}
			if ref.Subject != testSubject.Digest {
				t.Errorf("Subject = %s", ref.Subject)
			}
			if ref.Descriptor.Digest != registry.Digest(ref.Manifest) || ref.Descriptor.Size != int64(len(ref.Manifest)) {
				t.Errorf("descriptor %+v does not describe the manifest", ref.Descriptor)
			}
			if ref.Descriptor.MediaType != types.OCIManifestSchema1 || ref.Descriptor.ArtifactType != BundleMediaType {
				t.Errorf("descriptor types = %s / %s", ref.Descriptor.MediaType, ref.Descriptor.ArtifactType)
			}

			// The manifest as another tool reads it: plain JSON.
			var doc map[string]any
			if err := json.Unmarshal(ref.Manifest, &doc); err != nil {
				t.Fatal(err)
			}
			for k, want := range map[string]any{
				"schemaVersion": 2.0,
				"mediaType":     "application/vnd.oci.image.manifest.v1+json",
				"artifactType":  "application/vnd.dev.sigstore.bundle.v0.3+json",
			} {
				if doc[k] != want {
					t.Errorf("%s = %v, want %v", k, doc[k], want)
				}
			}
			cfg := doc["config"].(map[string]any)
			if cfg["mediaType"] != EmptyMediaType || cfg["digest"] != registry.Digest([]byte("{}")).String() || cfg["size"] != 2.0 || cfg["data"] != "e30=" {
				t.Errorf("config = %v, want the OCI empty descriptor", cfg)
			}
			sub := doc["subject"].(map[string]any)
			if sub["digest"] != testSubject.Digest.String() || sub["size"] != 1234.0 || sub["mediaType"] != string(testSubject.MediaType) {
				t.Errorf("subject = %v", sub)
			}
			wantAnn := map[string]string{
				AnnotationContent:       "dsse-envelope",
				AnnotationPredicateType: tt.predicate,
				AnnotationCreated:       tt.wantCreated,
				AnnotationBundleDigest:  testBundleDesc.Digest.String(),
			}
			m, layer, err := ParseBundleReferrer(ref.Manifest, testSubject.Digest)
			if err != nil {
				t.Fatalf("ParseBundleReferrer: %v", err)
			}
			if !reflect.DeepEqual(m.Annotations, wantAnn) {
				t.Errorf("manifest annotations = %v, want %v", m.Annotations, wantAnn)
			}
			if !reflect.DeepEqual(ref.Descriptor.Annotations, wantAnn) {
				t.Errorf("descriptor annotations = %v, want %v", ref.Descriptor.Annotations, wantAnn)
			}
			if layer.MediaType != BundleMediaType || layer.Digest != testBundleDesc.Digest || layer.Size != testBundleDesc.Size {
				t.Errorf("layer = %+v, want the bundle as %s", layer, BundleMediaType)
			}
			if m.ArtifactType != BundleMediaType || m.Subject.Digest != testSubject.Digest {
				t.Errorf("parsed manifest = %+v", m)
			}
			if !IsBundle(ref.Descriptor) {
				t.Error("IsBundle(referrer descriptor) = false")
			}
		})
	}
}

// manifestJSON builds a referrer manifest with edits applied to a valid one.
func manifestJSON(t testing.TB, edit func(m map[string]any)) []byte {
	t.Helper()
	ref, err := NewReferrer(testSubject, testBundleDesc, "p", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(ref.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func layer(mt string) map[string]any {
	return map[string]any{"mediaType": mt, "digest": testBundleDesc.Digest.String(), "size": testBundleDesc.Size}
}

func TestParseBundleReferrerRejects(t *testing.T) {
	other := registry.Digest([]byte("another image"))
	tests := []struct {
		name     string
		raw      []byte
		mentions string
	}{
		{"wrong subject", manifestJSON(t, func(m map[string]any) {
			m["subject"] = v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: other, Size: 1}
		}), "subject"},
		{"no subject", manifestJSON(t, func(m map[string]any) { delete(m, "subject") }), "subject"},
		{"null subject", manifestJSON(t, func(m map[string]any) { m["subject"] = nil }), "subject"},
		{"no layers", manifestJSON(t, func(m map[string]any) { m["layers"] = []any{} }), "0 layers"},
		{"layers missing", manifestJSON(t, func(m map[string]any) { delete(m, "layers") }), "0 layers"},
		{"two layers", manifestJSON(t, func(m map[string]any) {
			m["layers"] = []any{layer(BundleMediaType), layer(BundleMediaType)}
		}), "2 layers"},
		{"image layer", manifestJSON(t, func(m map[string]any) {
			m["layers"] = []any{layer("application/vnd.oci.image.layer.v1.tar+gzip")}
		}), "not a Sigstore bundle"},
		{"cosign simple signing layer", manifestJSON(t, func(m map[string]any) {
			m["layers"] = []any{layer("application/vnd.dev.cosign.simplesigning.v1+json")}
		}), "not a Sigstore bundle"},
		{"dsse layer", manifestJSON(t, func(m map[string]any) {
			m["layers"] = []any{layer("application/vnd.dsse.envelope.v1+json")}
		}), "not a Sigstore bundle"},
		{"empty layer type", manifestJSON(t, func(m map[string]any) { m["layers"] = []any{layer("")} }), "not a Sigstore bundle"},
		{"not JSON", []byte("not json"), "not JSON"},
		{"empty", nil, "not JSON"},
		{"truncated", []byte(`{"schemaVersion":2,"layers":[`), "not JSON"},
		{"array", []byte(`[{"schemaVersion":2}]`), "not JSON"},
		{"bad subject digest", []byte(`{"subject":{"digest":"sha256:xyz"}}`), "not JSON"},
		{"json null", []byte(`null`), "subject"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, d, err := ParseBundleReferrer(tt.raw, testSubject.Digest)
			wantKind(t, err, errkind.Untrusted, tt.mentions)
			if !reflect.DeepEqual(d, v1.Descriptor{}) {
				t.Errorf("got a layer %+v with the error", d)
			}
		})
	}
	t.Run("accepts other bundle versions", func(t *testing.T) {
		for _, mt := range []string{"application/vnd.dev.sigstore.bundle+json;version=0.1", "application/vnd.dev.sigstore.bundle.v0.3+json"} {
			raw := manifestJSON(t, func(m map[string]any) { m["layers"] = []any{layer(mt)} })
			if _, d, err := ParseBundleReferrer(raw, testSubject.Digest); err != nil || string(d.MediaType) != mt {
				t.Errorf("%s: %v, %v", mt, d.MediaType, err)
			}
		}
	})
}

func TestIsBundle(t *testing.T) {
	tests := []struct {
		d    v1.Descriptor
		want bool
	}{
		{v1.Descriptor{ArtifactType: BundleMediaType}, true},
		{v1.Descriptor{ArtifactType: "application/vnd.dev.sigstore.bundle+json;version=0.2"}, true},
		{v1.Descriptor{ArtifactType: EmptyMediaType}, true},
		{v1.Descriptor{}, true},
		{v1.Descriptor{ArtifactType: "application/spdx+json", Annotations: map[string]string{AnnotationPredicateType: "x"}}, true},
		{v1.Descriptor{ArtifactType: "application/spdx+json"}, false},
		{v1.Descriptor{ArtifactType: "application/vnd.cncf.notary.signature"}, false},
	}
	for _, tt := range tests {
		if got := IsBundle(tt.d); got != tt.want {
			t.Errorf("IsBundle(%+v) = %v, want %v", tt.d, got, tt.want)
		}
	}
}

func FuzzParseBundleReferrer(f *testing.F) {
	valid, err := NewReferrer(testSubject, testBundleDesc, "https://sigstore.dev/cosign/sign/v1", time.Unix(1e9, 0))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid.Manifest)
	f.Add(bytes.Replace(valid.Manifest, []byte(`"layers":[`), []byte(`"layers":[{},`), 1))
	f.Add(bytes.Replace(valid.Manifest, []byte(testSubject.Digest.Hex), []byte(strings.Repeat("0", 64)), 1))
	f.Add([]byte(`{"subject":{"digest":"` + testSubject.Digest.String() + `"},"layers":[{"mediaType":"application/vnd.dev.sigstore.bundle","digest":"sha512:00"}]}`))
	f.Add([]byte(`{"layers":null,"subject":null}`))
	f.Add([]byte("\xff\xfe"))
	f.Add([]byte(`{"annotations":{"a":1}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, layer, err := ParseBundleReferrer(raw, testSubject.Digest)
		if err != nil {
			if k, ok := errkind.Of(err); !ok || k != errkind.Untrusted {
				t.Fatalf("error %v is not Untrusted", err)
			}
			return
		}
		if m == nil || m.Subject == nil || m.Subject.Digest != testSubject.Digest {
			t.Fatalf("accepted a manifest about another subject: %+v", m)
		}
		if len(m.Layers) != 1 || !reflect.DeepEqual(m.Layers[0], layer) {
			t.Fatalf("accepted %d layers, returned %+v", len(m.Layers), layer)
		}
		if !strings.HasPrefix(string(layer.MediaType), "application/vnd.dev.sigstore.bundle") {
			t.Fatalf("accepted layer type %q", layer.MediaType)
		}
	})
}
