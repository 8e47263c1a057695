package ocilayout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/refname"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/storage"
)

// newLayout writes a layout with one tagged image and returns it with the
// image's descriptor.
func newLayout(t *testing.T) (*Layout, v1.Descriptor) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	n, err := refname.LayoutRepository(dir)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := name.NewRepository(n)
	if err != nil {
		t.Fatal(err)
	}
	l := Open(dir, repo)
	ctx := context.Background()
	cfg, err := l.PutBlob(ctx, []byte(`{"architecture":"amd64","os":"linux"}`))
	if err != nil {
		t.Fatal(err)
	}
	layer, err := l.PutBlob(ctx, []byte("layer"))
	if err != nil {
		t.Fatal(err)
	}
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
		cfg.Digest, cfg.Size, layer.Digest, layer.Size)
	if err := l.PutManifest(ctx, "v1", []byte(m), types.OCIManifestSchema1); err != nil {
		t.Fatal(err)
	}
	return l, v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: digestOf([]byte(m)), Size: int64(len(m))}
}

func referrer(t *testing.T, subject v1.Descriptor, n int) storage.Referrer {
	t.Helper()
	raw := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/x-test","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[],"subject":{"mediaType":%q,"digest":%q,"size":%d},"annotations":{"n":"%d"}}`,
		subject.MediaType, subject.Digest, subject.Size, n)
	d := v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: digestOf([]byte(raw)), Size: int64(len(raw)), ArtifactType: "application/x-test"}
	return storage.Referrer{Manifest: []byte(raw), Descriptor: d, Subject: subject.Digest}
}

func TestWriteAndRead(t *testing.T) {
	ctx := context.Background()
	l, img := newLayout(t)
	got, err := l.Resolve(ctx, l.Name().Tag("v1"))
	if err != nil || got.Digest != img.Digest || got.Size != img.Size || got.MediaType != img.MediaType {
		t.Fatalf("Resolve v1 = %+v, %v; want %+v", got, err, img)
	}
	if _, err := l.Resolve(ctx, l.Name().Tag("nope")); !isKind(err, errkind.Input) {
		t.Errorf("unknown tag: %v", err)
	}
	// Referrers by subject, through untagged index.json entries.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each on its own Layout, as separate commands would be.
			if _, err := Open(l.dir, l.name).PushReferrer(ctx, referrer(t, img, i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	refs, supported, err := Open(l.dir, l.name).Referrers(ctx, img.Digest)
	if err != nil || !supported || len(refs) != 20 {
		t.Fatalf("Referrers: %d, %v, %v; want 20 (no concurrent update lost)", len(refs), supported, err)
	}
	if refs[0].ArtifactType != "application/x-test" || refs[0].Annotations["n"] == "" {
		t.Errorf("referrer descriptor %+v lacks artifactType or annotations", refs[0])
	}
	// The only image is still found among the referrers.
	if d, err := Open(l.dir, l.name).soleImage(ctx); err != nil || d.Digest != img.Digest {
		t.Errorf("soleImage = %v, %v", d.Digest, err)
	}
	// Nor does a cosign signature image tagged sha256-<hex>.sig count.
	sig := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`)
	if err := l.PutManifest(ctx, "sha256-"+img.Digest.Hex+".sig", sig, types.OCIManifestSchema1); err != nil {
		t.Fatal(err)
	}
	if d, err := Open(l.dir, l.name).soleImage(ctx); err != nil || d.Digest != img.Digest {
		t.Errorf("soleImage beside a cosign signature = %v, %v", d.Digest, err)
	}
	if tags, err := l.TagsWithPrefix(ctx, "sha256-"+img.Digest.Hex); err != nil || len(tags) != 1 {
		t.Errorf("TagsWithPrefix = %q, %v", tags, err)
	}
	// Retagging moves the tag; the old manifest stays listed, untagged.
	other := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
	if err := l.PutManifest(ctx, "v1", other, types.OCIImageIndex); err != nil {
		t.Fatal(err)
	}
	idx, err := l.readIndex()
	if err != nil {
		t.Fatal(err)
	}
	tags := tagsOf(idx)
	if len(tags["v1"]) != 1 || tags["v1"][0].Digest != digestOf(other) {
		t.Errorf("v1 after retagging: %+v", tags["v1"])
	}
	listed := false
	for _, m := range idx.Manifests {
		listed = listed || m.Digest == img.Digest
	}
	if !listed {
		t.Error("the manifest the tag moved off is no longer in index.json")
	}
	// Streams are checked.
	rc, err := l.OpenBlob(ctx, v1.Descriptor{Digest: digestOf([]byte("layer")), Size: 5})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(rc); err != nil || b.String() != "layer" {
		t.Errorf("OpenBlob: %q, %v", b.String(), err)
	}
	rc.Close()
	if err := l.PutBlobStream(ctx, v1.Descriptor{Digest: digestOf([]byte("good")), Size: 4}, strings.NewReader("evil")); !isKind(err, errkind.Untrusted) {
		t.Errorf("PutBlobStream of the wrong bytes: %v", err)
	}
	if ok, _ := l.HasBlob(ctx, digestOf([]byte("good"))); ok {
		t.Error("a refused blob was kept")
	}
}

func isKind(err error, k errkind.Kind) bool {
	got, ok := errkind.Of(err)
	return err != nil && ok && got == k
}

// Someone who can write the layout but holds no key tries to make imgsign
// read what is not the content named, outside the layout, or without end.
func TestAttacks(t *testing.T) {
	ctx := context.Background()
	blob := func(l *Layout, d v1.Hash) string { return filepath.Join(l.dir, "blobs", "sha256", d.Hex) }
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, l *Layout, img v1.Descriptor)
		want   string
	}{
		{"digest mismatch", func(t *testing.T, l *Layout, img v1.Descriptor) {
			raw, _ := os.ReadFile(blob(l, img.Digest))
			_ = os.WriteFile(blob(l, img.Digest), append(raw, ' '), 0o644)
		}, "does not match its digest"},
		{"symlinked blob", func(t *testing.T, l *Layout, img v1.Descriptor) {
			inside := filepath.Join(l.dir, "m")
			if err := os.Rename(blob(l, img.Digest), inside); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("../../m", blob(l, img.Digest)); err != nil {
				t.Fatal(err)
			}
		}, "symbolic link"},
		{"blob linked to a file outside the layout", func(t *testing.T, l *Layout, img v1.Descriptor) {
			raw, _ := os.ReadFile(blob(l, img.Digest))
			outside := filepath.Join(t.TempDir(), "m")
			_ = os.WriteFile(outside, raw, 0o644)
			_ = os.Remove(blob(l, img.Digest))
			if err := os.Symlink(outside, blob(l, img.Digest)); err != nil {
				t.Fatal(err)
			}
		}, "symbolic link"},
		{"blobs directory escaping the layout", func(t *testing.T, l *Layout, img v1.Descriptor) {
			outside := t.TempDir()
			if err := os.Rename(filepath.Join(l.dir, "blobs", "sha256"), filepath.Join(outside, "sha256")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Join(outside, "sha256"), filepath.Join(l.dir, "blobs", "sha256")); err != nil {
				t.Fatal(err)
			}
		}, "escapes"},
		{"digest naming a path", func(t *testing.T, l *Layout, img v1.Descriptor) {
			writeIndex(t, l, `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../../../etc/passwd","size":1,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}`)
		}, "not an OCI image index"},
		{"oversized index.json", func(t *testing.T, l *Layout, img v1.Descriptor) {
			writeIndex(t, l, `{"schemaVersion":2,"manifests":[]`+strings.Repeat(" ", MaxIndexBytes)+`}`)
		}, "limit"},
		{"FIFO as a blob", func(t *testing.T, l *Layout, img v1.Descriptor) {
			_ = os.Remove(blob(l, img.Digest))
			if err := syscall.Mkfifo(blob(l, img.Digest), 0o644); err != nil {
				t.Skip("mkfifo:", err)
			}
		}, "not a regular file"},
		{"size in index.json not the manifest's", func(t *testing.T, l *Layout, img v1.Descriptor) {
			writeIndex(t, l, fmt.Sprintf(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":3,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}`, img.Digest))
		}, "bytes, but it is"},
		{"not an index", func(t *testing.T, l *Layout, img v1.Descriptor) {
			writeIndex(t, l, `null`)
		}, "not an OCI image index"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, img := newLayout(t)
			tc.tamper(t, l, img)
			fresh := Open(l.dir, l.name)
			_, err := fresh.Resolve(ctx, l.name.Tag("v1"))
			if err == nil {
				_, _, err = fresh.Referrers(ctx, img.Digest)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func writeIndex(t *testing.T, l *Layout, s string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(l.dir, "index.json"), []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A ref.name that is no tag (a full image name, control characters) is
// never read as one.
func TestRefNameNotATag(t *testing.T) {
	l, img := newLayout(t)
	for _, bad := range []string{"docker.io/library/app:v1", "v1\x1b[2J", "../v1"} {
		q, _ := json.Marshal(bad)
		writeIndex(t, l, fmt.Sprintf(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":%d,"annotations":{"org.opencontainers.image.ref.name":%s}}]}`, img.Digest, img.Size, q))
		tags, err := l.Tags(context.Background())
		if err != nil || len(tags) != 0 {
			t.Errorf("ref.name %q: tags %q, %v", bad, tags, err)
		}
	}
}

func TestSplitReference(t *testing.T) {
	wd, _ := os.Getwd()
	hex := strings.Repeat("ab", 32)
	for _, tc := range []struct{ in, dir, tag, digest, err string }{
		{in: "oci:/a/b:v1", dir: "/a/b", tag: "v1"},
		{in: "oci:/a/b@sha256:" + hex, dir: "/a/b", digest: "sha256:" + hex},
		{in: "oci:/a/b", dir: "/a/b"},
		{in: "oci:/a:b/c", dir: "/a:b/c"},
		{in: "oci:/a/b:", dir: "/a/b:"},
		{in: "oci:/a/b:-x", dir: "/a/b:-x"},
		{in: "oci:rel:1.0", dir: filepath.Join(wd, "rel"), tag: "1.0"},
		{in: "oci:/a/../b", dir: "/b"},
		{in: "oci:/a@sha256:zz", err: "not a sha256 digest"},
		{in: "oci::v1", err: "names no layout directory"},
		{in: "/a/b", err: "not an OCI layout reference"},
	} {
		dir, tag, digest, err := SplitReference(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || dir != tc.dir || tag != tc.tag || digest != tc.digest {
			t.Errorf("%q = %q %q %q %v, want %q %q %q", tc.in, dir, tag, digest, err, tc.dir, tc.tag, tc.digest)
		}
	}
}

func TestStoreAs(t *testing.T) {
	as := name.MustParseReference("ghcr.io/acme/app:x").Context()
	s := NewStore(nil, WithAs(as))
	ref, err := s.ParseReference("oci:/x/layout:v1")
	if err != nil || ref.Context().Name() != "ghcr.io/acme/app" {
		t.Fatalf("--as: %v, %v", ref, err)
	}
	if _, err := s.ParseReference("oci:/y/other:v1"); err == nil {
		t.Error("--as stood for two layouts")
	}
	if _, err := s.ParseReference("ghcr.io/acme/app:v1"); err == nil {
		t.Error("--as accepted a registry image")
	}
	// The registry client (the router's next) refuses layout names typed
	// as registry images.
	plain := NewStore(registry.New())
	n, _ := refname.LayoutRepository("/x/layout")
	if _, err := plain.ParseReference(n + ":v1"); err == nil {
		t.Error("a layout's repository name typed as a registry image was accepted")
	}
	ref, err = plain.ParseReference("oci:/x/layout:v1")
	if err != nil {
		t.Fatal(err)
	}
	if dir, ok, err := refname.LayoutDir(ref.Context().Name()); !ok || err != nil || dir != "/x/layout" {
		t.Errorf("layout name %s decodes to %q %v %v", ref.Context(), dir, ok, err)
	}
	if _, ok := ref.(name.Tag); !ok {
		t.Errorf("oci:DIR:TAG parsed as %T, want name.Tag (tag binding, copies)", ref)
	}
	if _, err := plain.ParseReference("oci:/" + strings.Repeat("d", refname.MaxLayoutDir)); err == nil || !strings.Contains(err.Error(), "--as") {
		t.Errorf("too long a directory: %v", err)
	}
	var nf *storage.NotFoundError
	_, err = plain.Resolve(context.Background(), "oci:"+filepath.Join(t.TempDir(), "none")+":v1", false)
	if !isKind(err, errkind.Input) && !errors.As(err, &nf) {
		t.Errorf("missing layout: %v", err)
	}
}

func FuzzParseIndex(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + strings.Repeat("0", 64) + `","size":2,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}`))
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"digest":"sha256:../x","size":1}]}`))
	f.Add([]byte(`null`))
	hexPattern := regexp.MustCompile(`^[a-f0-9]{64}$`)
	f.Fuzz(func(t *testing.T, raw []byte) {
		idx, err := ParseIndex(raw)
		if err != nil {
			return
		}
		for _, d := range idx.Manifests {
			if d.Digest.Algorithm != "sha256" || !hexPattern.MatchString(d.Digest.Hex) || strings.ContainsAny(d.Digest.Hex, "/.") {
				t.Fatalf("accepted digest %q", d.Digest)
			}
		}
		for tag := range tagsOf(idx) {
			if !ValidTag(tag) {
				t.Fatalf("accepted tag %q", tag)
			}
		}
	})
}

// A checked stream is trusted only for the blob it checks: one opened for
// another blob of the same size is hashed, and refused.
func TestPutBlobStreamTrustsOnlyItsOwnCheck(t *testing.T) {
	l, _ := newLayout(t)
	ctx := context.Background()
	a, err := l.PutBlob(ctx, []byte("aaaa"))
	if err != nil {
		t.Fatal(err)
	}
	b := v1.Descriptor{Digest: digestOf([]byte("bbbb")), Size: 4}
	r, err := l.OpenBlob(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := l.PutBlobStream(ctx, b, r); err == nil {
		t.Fatal("the bytes of one blob were stored under another's digest")
	}
	if ok, _ := l.HasBlob(ctx, b.Digest); ok {
		t.Error("a refused blob was left in the layout")
	}
}
