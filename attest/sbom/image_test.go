package sbom

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/storage"
)

func TestPredicateType(t *testing.T) {
	for _, tc := range []struct{ format, want string }{
		{"spdx", statement.SPDX},
		{"spdxjson", statement.SPDX},
		{"cyclonedx", statement.CycloneDX},
		{"SPDX", ""},
		{"syft-json", ""},
		{"", ""},
	} {
		got, err := PredicateType(tc.format)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("PredicateType(%q) = %q, %v; want %q", tc.format, got, err, tc.want)
		}
		if k, _ := errkind.Of(err); err != nil && (k != errkind.Input || !strings.Contains(err.Error(), "--format must be spdx or cyclonedx")) {
			t.Errorf("PredicateType(%q): %v (kind %v); want a bad-input error naming the formats", tc.format, err, k)
		}
	}
}

// platformImage is an image whose config names platform ("os/arch[/variant]").
func platformImage(t *testing.T, platform string, layers ...v1.Layer) v1.Image {
	t.Helper()
	img := image(t, layers...)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	parts := strings.SplitN(platform, "/", 3)
	cf.OS, cf.Architecture = parts[0], parts[1]
	if len(parts) == 3 {
		cf.Variant = parts[2]
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

// pushTarget pushes img (an image or index) and resolves it as the CLI does.
func pushTarget(t *testing.T, host, tag string, img any) *storage.Target {
	t.Helper()
	ref, err := name.ParseReference(host+"/acme/app:"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	switch x := img.(type) {
	case v1.Image:
		err = remote.Write(ref, x)
	case v1.ImageIndex:
		err = remote.WriteIndex(ref, x)
	}
	if err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	target, err := registry.New().Resolve(context.Background(), ref.String(), false)
	if err != nil {
		t.Fatal(err)
	}
	return target
}

// ScanImage describes a single image by itself and an index by each
// platform, each document about the platform and the index.
func TestScanImage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a registry")
	}
	host := testenv.Registry(t, true).Addr
	debian := []v1.Layer{
		layer(t, gzipped, file(osRel, fixture(t, "os-release.debian"))),
		layer(t, plain, file(status, fixture(t, "dpkg/status"))),
	}
	single := pushTarget(t, host, "single", image(t, debian...))
	index := pushTarget(t, host, "index", mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: platformImage(t, "linux/amd64", debian...), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: platformImage(t, "linux/arm64/v8", debian...), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}}))
	created := time.Date(2026, 11, 20, 10, 16, 40, 0, time.FixedZone("CET", 3600))

	for _, tc := range []struct {
		name   string
		target *storage.Target
		req    ImageRequest
		err    string // a bad-input error containing this; "" for success
		// platforms are the documents' platforms, in order.
		platforms []string
		warnings  int
		contains  string // in every document
	}{
		{name: "single image", target: single, req: ImageRequest{Format: "spdx"}, platforms: []string{""},
			contains: `"spdxVersion": "SPDX-2.3"`},
		{name: "index, by platform", target: index, req: ImageRequest{Format: "cyclonedx"}, platforms: []string{"linux/amd64", "linux/arm64/v8"},
			contains: `"bomFormat": "CycloneDX"`},
		{name: "creation time and tool, in UTC", target: single, req: ImageRequest{Format: "spdxjson", ToolVersion: "v9.8.7", Now: func() time.Time { return created }},
			platforms: []string{""}, contains: `"created": "2026-11-20T09:16:40Z"`},
		{name: "warnings of each scan, with its options", target: index, req: ImageRequest{Format: "spdx", ScanOptions: []Option{WithMaxFileSize(64)}},
			platforms: []string{"linux/amd64", "linux/arm64/v8"}, warnings: 2}, // dpkg status, in each platform
		{name: "unknown format, before any read", target: &storage.Target{}, req: ImageRequest{Format: "xml"}, err: `--format must be spdx or cyclonedx, not "xml"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var warnings []Warning
			tc.req.Warn = func(w Warning) { warnings = append(warnings, w) }
			res, err := ScanImage(context.Background(), tc.target, tc.req)
			if tc.err != "" {
				if k, _ := errkind.Of(err); err == nil || k != errkind.Input || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v (kind %v); want bad input containing %q", err, k, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Image.Digest != tc.target.Descriptor.Digest || len(res.Documents) != len(tc.platforms) {
				t.Fatalf("image %s with %d documents; want %s with %d", res.Image.Digest, len(res.Documents), tc.target.Descriptor.Digest, len(tc.platforms))
			}
			platforms, err := platformsOf(context.Background(), tc.target)
			if err != nil {
				t.Fatal(err)
			}
			for i, d := range res.Documents {
				want, also := tc.target.Descriptor, 0
				if len(platforms) > 0 {
					want, also = platforms[i], 1
				}
				if d.Descriptor.Digest != want.Digest || len(d.Also) != also || (also == 1 && d.Also[0].Digest != tc.target.Descriptor.Digest) {
					t.Errorf("document %d about %s (also %v); want %s, and the index for a platform", i, d.Descriptor.Digest, d.Also, want.Digest)
				}
				if d.Platform != tc.platforms[i] {
					t.Errorf("document %d platform %q; want %q", i, d.Platform, tc.platforms[i])
				}
				if !strings.Contains(string(d.JSON), d.Descriptor.Digest.Hex) || !strings.Contains(string(d.JSON), tc.contains) {
					t.Errorf("document %d does not name its manifest %s or lacks %s:\n%.600s", i, d.Descriptor.Digest, tc.contains, d.JSON)
				}
				if tc.req.ToolVersion != "" && !strings.Contains(string(d.JSON), tc.req.ToolVersion) {
					t.Errorf("document %d does not name the tool version %s", i, tc.req.ToolVersion)
				}
			}
			if len(warnings) != tc.warnings {
				t.Errorf("warnings %v; want %d", warnings, tc.warnings)
			}
		})
	}

	res, err := ScanImage(context.Background(), index, ImageRequest{Format: "spdx"})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("ForPlatform", func(t *testing.T) {
		for _, tc := range []struct {
			platform string
			want     int // document index; -1 for an error
		}{
			{"", 0},
			{"linux/amd64", 0},
			{"linux/arm64/v8", 1},
			{"linux/arm64", -1},
			{"linux/s390x", -1},
		} {
			d, err := res.ForPlatform(tc.platform)
			if tc.want < 0 {
				if k, _ := errkind.Of(err); k != errkind.Input || !strings.Contains(errString(err), index.Descriptor.Digest.String()+" has no platform "+tc.platform) {
					t.Errorf("ForPlatform(%q): %v (kind %v); want bad input naming the index and platform", tc.platform, err, k)
				}
				continue
			}
			if err != nil || d.Descriptor.Digest != res.Documents[tc.want].Descriptor.Digest {
				t.Errorf("ForPlatform(%q) = %s, %v; want document %d", tc.platform, d.Descriptor.Digest, err, tc.want)
			}
		}
	})
	t.Run("Subjects", func(t *testing.T) {
		subjects, err := res.Subjects()
		if err != nil {
			t.Fatal(err)
		}
		if len(subjects) != len(res.Documents) {
			t.Fatalf("%d subjects for %d documents", len(subjects), len(res.Documents))
		}
		for i, s := range subjects {
			d := res.Documents[i]
			pred, ok := s.Predicate.(map[string]any)
			if s.Descriptor.Digest != d.Descriptor.Digest || len(s.Also) != 1 || s.Also[0].Digest != index.Descriptor.Digest || !ok || pred["spdxVersion"] != "SPDX-2.3" {
				t.Errorf("subject %d: %s also %v predicate %T; want document %d's manifest, the index, and its SPDX as a JSON object", i, s.Descriptor.Digest, s.Also, s.Predicate, i)
			}
		}
		bad := &ImageSBOM{Documents: []Document{{JSON: []byte("[]")}}}
		if _, err := bad.Subjects(); err == nil {
			t.Error("a document that is not a JSON object became a predicate")
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
