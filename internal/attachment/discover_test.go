package attachment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/storage"
)

var (
	t1 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	t3 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
)

func TestDiscoverReferrersAPI(t *testing.T) {
	f := newFixture(t, true)
	b := f.sign(t, "bundle b", t2)
	a := f.sign(t, "bundle a", t1)
	f.reg.ResetLog()
	l, err := Discover(context.Background(), f.repo, f.image, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !l.ReferrersAPI || l.Subject.Digest != f.image.Digest {
		t.Errorf("listing = %+v", l)
	}
	if len(l.Entries) != 2 {
		t.Fatalf("entries = %d, want 2", len(l.Entries))
	}
	// Oldest first.
	if l.Entries[0].Descriptor.Digest != a.Descriptor.Digest || l.Entries[1].Descriptor.Digest != b.Descriptor.Digest {
		t.Errorf("entries not ordered by creation: %s, %s", l.Entries[0].Descriptor.Digest, l.Entries[1].Descriptor.Digest)
	}
	for _, e := range l.Entries {
		if !slices.Equal(e.Sources, []Source{SourceReferrersAPI}) || e.Tag != "" || e.manifest != nil {
			t.Errorf("entry %s: sources %v tag %q fetched %v", e.Descriptor.Digest, e.Sources, e.Tag, e.manifest != nil)
		}
		if e.PredicateType() != "https://sigstore.dev/cosign/sign/v1" || !IsBundle(e.Descriptor) {
			t.Errorf("entry %s: predicate %q, artifactType %q", e.Descriptor.Digest, e.PredicateType(), e.Descriptor.ArtifactType)
		}
	}
	// One request: the listing. No tag listing, no manifests.
	if got := requests(f.reg); len(got) != 1 || !strings.Contains(got[0], "/referrers/") {
		t.Errorf("requests = %v, want just the referrers listing", got)
	}
}

func TestDiscoverTagSchema(t *testing.T) {
	f := newFixture(t, false)
	a := f.sign(t, "bundle a", t1)
	b := f.sign(t, "bundle b", t2)
	f.reg.ResetLog()
	l, err := Discover(context.Background(), f.repo, f.image, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if l.ReferrersAPI {
		t.Error("ReferrersAPI = true on a registry without it")
	}
	if len(l.Entries) != 2 {
		t.Fatalf("entries = %d, want 2", len(l.Entries))
	}
	for i, want := range []storage.Referrer{a, b} {
		e := l.Entries[i]
		if e.Descriptor.Digest != want.Descriptor.Digest {
			t.Errorf("entry %d = %s, want %s", i, e.Descriptor.Digest, want.Descriptor.Digest)
		}
		if got := sources(e); !slices.Equal(got, []Source{SourceReferrerTag, SourceReferrersTag}) {
			t.Errorf("entry %d sources = %v, want the index and its own tag", i, got)
		}
		if e.PredicateType() == "" {
			t.Errorf("entry %d lost its annotations", i)
		}
	}
	// The index and the tag listing; per-referrer tags covered by the index
	// cost nothing.
	if got := requests(f.reg, "GET", "/manifests/"); len(got) != 1 || !strings.HasSuffix(got[0], registry.FallbackTag(f.image.Digest)) {
		t.Errorf("manifest requests = %v, want only the shared index", got)
	}
	if got := requests(f.reg, "/tags/list"); len(got) != 1 {
		t.Errorf("tag listings = %v, want one", got)
	}
	if got := requests(f.reg, "/referrers/"); len(got) != 1 {
		t.Errorf("referrers requests = %v, want one", got)
	}
}

// writeIndex replaces the shared referrers tag index of the fixture's image.
func (f *fixture) writeIndex(t *testing.T, descs ...v1.Descriptor) {
	t.Helper()
	if descs == nil {
		descs = []v1.Descriptor{}
	}
	raw, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: descs})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.repo.PutManifest(context.Background(), registry.FallbackTag(f.image.Digest), raw, types.OCIImageIndex); err != nil {
		t.Fatal(err)
	}
}

// A concurrent writer dropped entries from the shared index: the per-referrer
// tags still find them.
func TestDiscoverUnionWithPerReferrerTags(t *testing.T) {
	tests := []struct {
		name  string
		index func(a, b, c storage.Referrer) []v1.Descriptor
	}{
		{"index lost two entries", func(a, b, c storage.Referrer) []v1.Descriptor { return []v1.Descriptor{a.Descriptor} }},
		{"index emptied", func(a, b, c storage.Referrer) []v1.Descriptor { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, false)
			a := f.sign(t, "bundle a", t1)
			b := f.sign(t, "bundle b", t2)
			c := f.sign(t, "bundle c", t3)
			index := tt.index(a, b, c)
			f.writeIndex(t, index...)
			l, err := Discover(context.Background(), f.repo, f.image, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Entries) != 3 {
				t.Fatalf("entries = %d, want 3", len(l.Entries))
			}
			for i, want := range []storage.Referrer{a, b, c} {
				e := l.Entries[i]
				if e.Descriptor.Digest != want.Descriptor.Digest {
					t.Fatalf("entry %d = %s, want %s (sorted by creation)", i, e.Descriptor.Digest, want.Descriptor.Digest)
				}
				inIndex := slices.ContainsFunc(index, func(d v1.Descriptor) bool { return d.Digest == want.Descriptor.Digest })
				wantSources := []Source{SourceReferrerTag}
				if inIndex {
					wantSources = []Source{SourceReferrerTag, SourceReferrersTag}
				}
				if got := sources(e); !slices.Equal(got, wantSources) {
					t.Errorf("entry %d sources = %v, want %v", i, got, wantSources)
				}
				if inIndex {
					continue
				}
				// Found by tag: the manifest was fetched, its annotations read.
				if string(e.manifest) != string(want.Manifest) {
					t.Errorf("entry %d: manifest not kept", i)
				}
				if e.Descriptor.ArtifactType != BundleMediaType || e.Descriptor.Annotations[AnnotationCreated] != want.Descriptor.Annotations[AnnotationCreated] || e.PredicateType() == "" {
					t.Errorf("entry %d descriptor = %+v, want the manifest's artifactType and annotations", i, e.Descriptor)
				}
				if e.Descriptor.Size != want.Descriptor.Size || e.Descriptor.MediaType != types.OCIManifestSchema1 {
					t.Errorf("entry %d descriptor = %+v", i, e.Descriptor)
				}
			}
		})
	}
}

// cosignManifest is a manifest shaped like cosign's legacy .sig/.att/.sbom
// artifacts: no subject, found only by tag.
func (f *fixture) cosignManifest(t *testing.T, kind string) []byte {
	t.Helper()
	ctx := context.Background()
	payload := []byte(`{"critical":{"type":"cosign container image signature","kind":"` + kind + `"}}`)
	cfg := []byte(`{"architecture":"","os":""}`)
	for _, b := range [][]byte{payload, cfg} {
		if _, err := f.repo.PutBlob(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	raw, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": types.OCIManifestSchema1,
		"config": v1.Descriptor{MediaType: types.OCIConfigJSON, Digest: registry.Digest(cfg), Size: int64(len(cfg))},
		"layers": []v1.Descriptor{{MediaType: "application/vnd.dev.cosign.simplesigning.v1+json", Digest: registry.Digest(payload), Size: int64(len(payload)),
			Annotations: map[string]string{"dev.cosignproject.cosign/signature": "MEUC"}}},
	})
	return raw
}

func TestDiscoverLegacyTags(t *testing.T) {
	for _, api := range []bool{true, false} {
		t.Run(fmt.Sprintf("api=%v", api), func(t *testing.T) {
			f := newFixture(t, api)
			signed := f.sign(t, "bundle", t1)
			prefix := registry.FallbackTag(f.image.Digest) + "."
			legacy := map[string][]byte{}
			for _, kind := range []string{"sig", "att", "sbom"} {
				raw := f.cosignManifest(t, kind)
				f.tag(t, prefix+kind, raw)
				legacy[prefix+kind] = raw
			}
			// Look-alikes that are not cosign's.
			f.tag(t, prefix+"sig.bak", f.cosignManifest(t, "bak"))
			f.tag(t, "sha256-"+strings.Repeat("0", 64)+".sig", f.cosignManifest(t, "other image"))

			f.reg.ResetLog()
			l, err := Discover(context.Background(), f.repo, f.image, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Entries) != 1 || l.Entries[0].Descriptor.Digest != signed.Descriptor.Digest {
				t.Errorf("without LegacyTags: %d entries, want only the referrer", len(l.Entries))
			}
			if api && len(requests(f.reg, "/tags/list")) != 0 {
				t.Errorf("listed tags without LegacyTags on a registry with the API")
			}

			l, err = Discover(context.Background(), f.repo, f.image, Options{LegacyTags: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Entries) != 4 {
				t.Fatalf("with LegacyTags: %d entries, want the referrer and 3 legacy tags", len(l.Entries))
			}
			if e := entryFor(l, signed.Descriptor.Digest); e == nil || e.Tag != "" {
				t.Errorf("referrer entry = %+v", e)
			}
			for tag, raw := range legacy {
				e := entryFor(l, registry.Digest(raw))
				if e == nil {
					t.Errorf("%s not found", tag)
					continue
				}
				if e.Tag != tag || !slices.Equal(e.Sources, []Source{SourceCosignLegacy}) {
					t.Errorf("%s: tag %q sources %v", tag, e.Tag, e.Sources)
				}
				if e.Descriptor.Size != int64(len(raw)) || e.Descriptor.MediaType != types.OCIManifestSchema1 {
					t.Errorf("%s: descriptor %+v", tag, e.Descriptor)
				}
			}
		})
	}
}

func TestDiscoverSkipsTagDeletedAfterListing(t *testing.T) {
	f := newFixture(t, false)
	a := f.sign(t, "bundle a", t1)
	b := f.sign(t, "bundle b", t2)
	f.writeIndex(t, a.Descriptor) // b is reachable only by its tag
	gone := registry.ReferrerTag(f.image.Digest, b.Descriptor.Digest)
	f.reg.Hook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/manifests/"+gone) {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"errors":[{"code":"MANIFEST_UNKNOWN"}]}`))
			return true
		}
		return false
	})
	l, err := Discover(context.Background(), f.repo, f.image, Options{LegacyTags: true})
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	if len(l.Entries) != 1 || l.Entries[0].Descriptor.Digest != a.Descriptor.Digest {
		t.Errorf("entries = %d, want only a", len(l.Entries))
	}
	if len(requests(f.reg, "GET", "/manifests/"+gone)) != 1 {
		t.Errorf("the deleted tag was not tried")
	}
}

// Only the exact per-referrer tag of an indexed referrer covers it; a tag
// with a short or empty suffix must be fetched, or it would hide its referrer.
func TestDiscoverFetchesNonStandardReferrerTags(t *testing.T) {
	f := newFixture(t, false)
	a := f.sign(t, "bundle a", t1)
	ctx := context.Background()
	prefix := registry.FallbackTag(f.image.Digest) + ".ref-"
	var hidden []storage.Referrer
	for i, suffix := range []string{"", a.Descriptor.Digest.Hex[:4]} {
		bundle := fmt.Sprintf("bundle hidden %d", i)
		if _, err := f.repo.PutBlob(ctx, []byte(bundle)); err != nil {
			t.Fatal(err)
		}
		ref, err := NewReferrer(f.image, v1.Descriptor{Digest: registry.Digest([]byte(bundle)), Size: int64(len(bundle))}, "p", t2)
		if err != nil {
			t.Fatal(err)
		}
		f.tag(t, prefix+suffix, ref.Manifest)
		hidden = append(hidden, ref)
	}
	l, err := Discover(ctx, f.repo, f.image, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range append(hidden, a) {
		if entryFor(l, want.Descriptor.Digest) == nil {
			t.Errorf("referrer %s not discovered", want.Descriptor.Digest)
		}
	}
}

// A per-referrer tag may point at a referrer of another image (a mistake or
// an attack): it is listed, but without the claims of its annotations, and
// FetchBundle refuses it.
func TestDiscoverRefTagForOtherSubject(t *testing.T) {
	f := newFixture(t, false)
	other := v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: registry.Digest([]byte("other image")), Size: 3}
	ctx := context.Background()
	if _, err := f.repo.PutBlob(ctx, []byte("stray")); err != nil {
		t.Fatal(err)
	}
	ref, err := NewReferrer(other, v1.Descriptor{Digest: registry.Digest([]byte("stray")), Size: 5}, "p", t1)
	if err != nil {
		t.Fatal(err)
	}
	f.tag(t, registry.ReferrerTag(f.image.Digest, ref.Descriptor.Digest), ref.Manifest)
	l, err := Discover(ctx, f.repo, f.image, Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := entryFor(l, ref.Descriptor.Digest)
	if e == nil {
		t.Fatal("stray referrer not listed")
	}
	if e.PredicateType() != "" || e.Descriptor.Annotations != nil {
		t.Errorf("stray referrer carries annotations %v", e.Descriptor.Annotations)
	}
	_, err = FetchBundle(ctx, f.repo, f.image.Digest, e)
	wantKind(t, err, errkind.Untrusted, "subject")
}

func TestDiscoverErrors(t *testing.T) {
	tests := []struct {
		name  string
		api   bool
		opts  Options
		match func(r *http.Request) bool
		kind  errkind.Kind
	}{
		{"referrers listing refused", true, Options{}, func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/referrers/") }, errkind.Operational},
		{"tag listing refused", false, Options{}, func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/tags/list") }, errkind.Operational},
		{"legacy tag listing refused", true, Options{LegacyTags: true}, func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/tags/list") }, errkind.Operational},
		{"index refused", false, Options{}, func(r *http.Request) bool {
			i := strings.Index(r.URL.Path, "/manifests/sha256-") // the index tag, not a referrer tag
			return r.Method == http.MethodGet && i >= 0 && !strings.Contains(r.URL.Path[i:], ".")
		}, errkind.Operational},
		{"per-referrer tag refused", false, Options{}, func(r *http.Request) bool {
			return r.Method == http.MethodGet && strings.Contains(r.URL.Path, ".ref-")
		}, errkind.Operational},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.api)
			f.sign(t, "bundle a", t1)
			if !tt.api {
				f.writeIndex(t) // the referrer is reachable only by its tag
			}
			f.reg.Hook(func(w http.ResponseWriter, r *http.Request) bool {
				if tt.match(r) {
					w.WriteHeader(http.StatusForbidden) // not retried
					return true
				}
				return false
			})
			l, err := Discover(context.Background(), f.repo, f.image, tt.opts)
			wantKind(t, err, tt.kind)
			if l != nil {
				t.Errorf("got a listing with the error")
			}
		})
	}
	t.Run("index is not an index", func(t *testing.T) {
		f := newFixture(t, false)
		f.sign(t, "bundle a", t1)
		f.tag(t, registry.FallbackTag(f.image.Digest), []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"a","digest":"`+registry.Digest(nil).String()+`","size":0},"layers":[]}`))
		_, err := Discover(context.Background(), f.repo, f.image, Options{})
		wantKind(t, err, errkind.Untrusted)
	})
}

func TestFetchBundle(t *testing.T) {
	for _, api := range []bool{true, false} {
		t.Run(fmt.Sprintf("api=%v", api), func(t *testing.T) {
			f := newFixture(t, api)
			f.sign(t, "bundle a", t1)
			ctx := context.Background()
			l, err := Discover(ctx, f.repo, f.image, Options{})
			if err != nil || len(l.Entries) != 1 {
				t.Fatalf("Discover: %v, %d entries", err, len(l.Entries))
			}
			listed := *l.Entries[0]

			t.Run("annotation shortcut", func(t *testing.T) {
				e := listed
				f.reg.ResetLog()
				b, err := FetchBundle(ctx, f.repo, f.image.Digest, &e)
				if err != nil || string(b) != "bundle a" {
					t.Fatalf("FetchBundle = %q, %v", b, err)
				}
				if got := requests(f.reg); len(got) != 1 || !strings.Contains(got[0], "/blobs/") {
					t.Errorf("requests = %v, want the bundle blob only", got)
				}
			})
			t.Run("via the manifest", func(t *testing.T) {
				e := listed
				e.Descriptor.Annotations = nil
				f.reg.ResetLog()
				b, err := FetchBundle(ctx, f.repo, f.image.Digest, &e)
				if err != nil || string(b) != "bundle a" {
					t.Fatalf("FetchBundle = %q, %v", b, err)
				}
				got := requests(f.reg)
				if len(got) != 2 || !strings.Contains(got[0], "/manifests/"+listed.Descriptor.Digest.String()) || !strings.Contains(got[1], "/blobs/") {
					t.Errorf("requests = %v, want the manifest by digest, then the blob", got)
				}
				if e.manifest == nil {
					t.Error("the fetched manifest was not kept")
				}
				// Kept: a second call fetches the blob only.
				f.reg.ResetLog()
				if _, err := FetchBundle(ctx, f.repo, f.image.Digest, &e); err != nil {
					t.Fatal(err)
				}
				if got := requests(f.reg, "/manifests/"); len(got) != 0 {
					t.Errorf("manifest fetched again: %v", got)
				}
			})
			t.Run("malformed annotation falls back to the manifest", func(t *testing.T) {
				e := listed
				e.Descriptor.Annotations = map[string]string{AnnotationBundleDigest: "sha256:nothex"}
				b, err := FetchBundle(ctx, f.repo, f.image.Digest, &e)
				if err != nil || string(b) != "bundle a" {
					t.Fatalf("FetchBundle = %q, %v", b, err)
				}
			})
			t.Run("annotation naming another blob", func(t *testing.T) {
				// The annotation is a shortcut, not a claim: whatever it names
				// is digest-checked, and a wrong name fetches nothing trusted.
				e := listed
				e.Descriptor.Annotations = map[string]string{AnnotationBundleDigest: registry.Digest([]byte("absent")).String()}
				_, err := FetchBundle(ctx, f.repo, f.image.Digest, &e)
				var nf *storage.NotFoundError
				if !errors.As(err, &nf) {
					t.Errorf("err = %v, want not found", err)
				}
			})
			t.Run("wrong subject", func(t *testing.T) {
				e := listed
				e.Descriptor.Annotations = nil
				_, err := FetchBundle(ctx, f.repo, registry.Digest([]byte("another image")), &e)
				wantKind(t, err, errkind.Untrusted, "subject")
			})
		})
	}
}

func TestFetchBundleTampered(t *testing.T) {
	tests := []struct {
		name     string
		tamper   string // "blob" or "manifest"
		shortcut bool
	}{
		{"blob, annotation shortcut", "blob", true},
		{"blob, via manifest", "blob", false},
		{"manifest", "manifest", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, true)
			a := f.sign(t, "bundle a", t1)
			other := f.sign(t, "bundle other", t2)
			ctx := context.Background()
			l, err := Discover(ctx, f.repo, f.image, Options{})
			if err != nil {
				t.Fatal(err)
			}
			e := entryFor(l, a.Descriptor.Digest)
			if !tt.shortcut {
				e.Descriptor.Annotations = nil
			}
			var path string
			var body []byte
			switch tt.tamper {
			case "blob":
				path, body = "/blobs/"+registry.Digest([]byte("bundle a")).String(), []byte("bundle z") // same size
			case "manifest":
				// A registry answering with another valid referrer of the
				// same image: well-formed, but not what the digest names.
				path, body = "/manifests/"+a.Descriptor.Digest.String(), other.Manifest
			}
			f.reg.Hook(func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, path) {
					w.Header().Set("Content-Type", string(types.OCIManifestSchema1))
					_, _ = w.Write(body)
					return true
				}
				return false
			})
			b, err := FetchBundle(ctx, f.repo, f.image.Digest, e)
			wantKind(t, err, errkind.Untrusted)
			var dm *registry.DigestMismatchError
			if !errors.As(err, &dm) {
				t.Errorf("err = %v, want a DigestMismatchError", err)
			}
			if b != nil {
				t.Errorf("got bytes %q with the error", b)
			}
		})
	}
}

// An entry found through its per-referrer tag already has its manifest; the
// bundle is fetched from the manifest's layer, digest-checked.
func TestFetchBundleFromTaggedEntry(t *testing.T) {
	f := newFixture(t, false)
	a := f.sign(t, "bundle a", t1)
	f.writeIndex(t)
	ctx := context.Background()
	l, err := Discover(ctx, f.repo, f.image, Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := entryFor(l, a.Descriptor.Digest)
	if e == nil || e.manifest == nil {
		t.Fatalf("entry = %+v, want one found by tag", e)
	}
	f.reg.ResetLog()
	b, err := FetchBundle(ctx, f.repo, f.image.Digest, e)
	if err != nil || string(b) != "bundle a" {
		t.Fatalf("FetchBundle = %q, %v", b, err)
	}
	if got := requests(f.reg); len(got) != 1 || !strings.Contains(got[0], "/blobs/") {
		t.Errorf("requests = %v, want the blob only", got)
	}
	f.reg.Hook(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/blobs/") {
			_, _ = w.Write([]byte("bundle evil"))
			return true
		}
		return false
	})
	_, err = FetchBundle(ctx, f.repo, f.image.Digest, e)
	wantKind(t, err, errkind.Untrusted)
}
