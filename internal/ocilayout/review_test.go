package ocilayout

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/refname"
)

// Security review of layout writes: someone who can write the destination
// layout directory (a shared volume) tries to make imgsign write outside it
// or lose another writer's index.json entries.

func openAt(t *testing.T, dir string) *Layout {
	t.Helper()
	n, err := refname.LayoutRepository(dir)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := name.NewRepository(n)
	if err != nil {
		t.Fatal(err)
	}
	return Open(dir, repo)
}

// A blobs/sha256 directory that is a symbolic link out of the layout is
// never written through: the blob is refused, and nothing lands where the
// link points.
func TestReviewBlobWriteThroughEscapingBlobsDir(t *testing.T) {
	for _, link := range []string{"blobs", filepath.Join("blobs", "sha256")} {
		t.Run(link, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "layout")
			outside := t.TempDir()
			if err := os.MkdirAll(filepath.Join(outside, "sha256"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, link)), 0o755); err != nil {
				t.Fatal(err)
			}
			target := outside
			if link != "blobs" {
				target = filepath.Join(outside, "sha256")
			}
			if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
				t.Fatal(err)
			}
			l := openAt(t, dir)
			_, err := l.PutBlob(context.Background(), []byte("payload"))
			if err == nil {
				t.Error("a blob was written through a blobs directory linking out of the layout")
			}
			ents, _ := os.ReadDir(filepath.Join(outside, "sha256"))
			if len(ents) != 0 {
				t.Errorf("files written outside the layout: %v", ents)
			}
		})
	}
}

// Every write of index.json happens under the layout's lock, creating it
// included: a process that created index.json outside the lock could
// replace, with an empty one, the entries another process had just written.
func TestReviewIndexCreatedUnderTheLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "layout")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Another process holds the lock (an flock is per open file, so this
	// one blocks the Layout's as another process's would).
	unlock, err := lockDir(context.Background(), filepath.Join(dir, lockFile))
	if err != nil {
		t.Fatal(err)
	}
	// What that process writes while holding it: an entry of its own.
	other := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
	otherDesc := v1.Descriptor{MediaType: types.OCIImageIndex, Digest: digestOf(other), Size: int64(len(other))}
	done := make(chan error, 1)
	go func() {
		mine := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[],"annotations":{"a":"b"}}`)
		done <- openAt(t, dir).PutManifest(context.Background(), "mine", mine, types.OCIImageIndex)
	}()
	time.Sleep(300 * time.Millisecond) // the writer is waiting for the lock by now
	for _, f := range []string{"index.json", "oci-layout"} {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			// Had the other process written its entry a moment before, this
			// empty file would now have replaced it.
			t.Errorf("%s was written while another process held the layout's lock", f)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", otherDesc.Digest.Hex), other, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	idx := fmt.Sprintf(`{"schemaVersion":2,"manifests":[{"mediaType":%q,"digest":%q,"size":%d,"annotations":{"org.opencontainers.image.ref.name":"theirs"}}]}`, otherDesc.MediaType, otherDesc.Digest, otherDesc.Size)
	if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte(idx), 0o644); err != nil {
		t.Fatal(err)
	}
	unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	tags, err := openAt(t, dir).Tags(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(tags, ",") != "mine,theirs" {
		t.Errorf("tags after two writers: %q, want mine and theirs (an index.json written outside the lock lost the other's entry)", tags)
	}
}

// A layout whose index.json is a FIFO, or lists more manifests than
// imgsign reads, is refused at once: no hang, no judgement on part of it.
func TestReviewIndexFIFOAndTooManyEntries(t *testing.T) {
	ctx := context.Background()
	l, _ := newLayout(t)
	p := filepath.Join(l.dir, "index.json")
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	errc := make(chan error, 1)
	go func() { _, err := Open(l.dir, l.name).Tags(ctx); errc <- err }()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("index.json as a FIFO: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("reading a layout whose index.json is a FIFO hung")
	}

	l2, img := newLayout(t)
	var b strings.Builder
	b.WriteString(`{"schemaVersion":2,"manifests":[`)
	for i := range MaxEntries + 1 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":%d}`, img.Digest, img.Size)
	}
	b.WriteString(`]}`)
	writeIndex(t, l2, b.String())
	if _, _, err := Open(l2.dir, l2.name).Referrers(ctx, img.Digest); !isKindOperational(err) || !strings.Contains(err.Error(), "limit") {
		t.Errorf("index.json with %d entries: %v, want an operational limit error", MaxEntries+1, err)
	}
}

func isKindOperational(err error) bool {
	return err != nil && strings.Contains(err.Error(), "refusing to judge on partial data")
}

// Two entries carrying one tag for two manifests, in either order, make
// the tag unusable rather than letting the first (or last) one win.
func TestReviewTagOnTwoManifests(t *testing.T) {
	ctx := context.Background()
	l, img := newLayout(t)
	other, err := l.PutBlob(ctx, []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	entry := func(d v1.Descriptor, mt string) string {
		return fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":%d,"annotations":{"org.opencontainers.image.ref.name":"v1"}}`, mt, d.Digest, d.Size)
	}
	a, b := entry(img, string(types.OCIManifestSchema1)), entry(other, string(types.OCIImageIndex))
	for _, order := range [][2]string{{a, b}, {b, a}} {
		writeIndex(t, l, `{"schemaVersion":2,"manifests":[`+order[0]+`,`+order[1]+`]}`)
		if _, err := Open(l.dir, l.name).Resolve(ctx, l.name.Tag("v1")); err == nil || !strings.Contains(err.Error(), "names two manifests") {
			t.Errorf("tag on two manifests resolved: %v", err)
		}
	}
}

// index.json is unsigned: a key that encoding/json reads as the same field
// as another (repeated, another case, Unicode folding) would let imgsign
// verify one manifest under a tag while another reader of the layout runs
// another, so ParseIndex refuses it.
func TestReviewIndexAmbiguousKeys(t *testing.T) {
	hexA, hexB := strings.Repeat("a", 64), strings.Repeat("b", 64)
	entry := func(h string) string {
		return `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + h + `","size":2,"annotations":{"org.opencontainers.image.ref.name":"v1"}}`
	}
	for name, raw := range map[string]string{
		"manifests twice":            `{"schemaVersion":2,"manifests":[` + entry(hexB) + `],"manifests":[` + entry(hexA) + `]}`,
		"Manifests beside manifests": `{"schemaVersion":2,"manifests":[` + entry(hexB) + `],"Manifests":[` + entry(hexA) + `]}`,
		"long s folding":             `{"schemaVersion":2,"manifests":[` + entry(hexB) + `],"manifeſts":[` + entry(hexA) + `]}`,
		"digest twice in an entry":   `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + hexB + `","DIGEST":"sha256:` + hexA + `","size":2}]}`,
		"ref.name twice":             `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + hexA + `","size":2,"annotations":{"org.opencontainers.image.ref.name":"v1","org.opencontainers.image.ref.name":"v2"}}]}`,
		"escaped manifests":          `{"schemaVersion":2,"manifests":[` + entry(hexB) + `],"manifest\u0073":[` + entry(hexA) + `]}`,
		"invalid UTF-8 keys":         "{\"schemaVersion\":2,\"manifests\":[],\"annotations\":{\"\xff\":\"a\",\"\xfe\":\"b\"}}",
		"ref.name in another case":   `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + hexA + `","size":2,"annotations":{"org.opencontainers.image.ref.name":"v1","Org.opencontainers.image.ref.name":"v2"}}]}`,
	} {
		if _, err := ParseIndex([]byte(raw)); err == nil || !strings.Contains(err.Error(), "appears twice") {
			t.Errorf("%s: ParseIndex = %v, want a refusal", name, err)
		}
	}
	ok := `{"schemaVersion":2,"manifests":[` + entry(hexA) + `,` + entry(hexB) + `],"annotations":{"a":"1","b":"2"},"x":{"a":[{"a":1},{"a":2}]}}`
	if _, err := ParseIndex([]byte(ok)); err != nil {
		t.Errorf("an index whose objects repeat no key: %v", err)
	}
	// Linear in the keys: a 4 MiB index of one huge annotations object is
	// read at once.
	var b strings.Builder
	b.WriteString(`{"schemaVersion":2,"manifests":[],"annotations":{`)
	for i := 0; b.Len() < MaxIndexBytes-64; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%d":""`, i)
	}
	b.WriteString(`}}`)
	start := time.Now()
	if _, err := ParseIndex([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("ParseIndex of a 4 MiB annotations object took %s", took)
	}
}

// A referrer is listed untagged, whatever its annotations say: a ref.name
// among them (a copy's source chooses them) would tag it, here "v1",
// which then names two manifests.
func TestReviewReferrerAnnotationsTagNothing(t *testing.T) {
	ctx := context.Background()
	l, img := newLayout(t)
	ref := referrer(t, img, 1)
	ref.Descriptor.Annotations = map[string]string{AnnotationRefName: "v1", "n": "1"}
	if _, err := l.PushReferrer(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if ref.Descriptor.Annotations[AnnotationRefName] != "v1" {
		t.Error("PushReferrer changed its caller's annotations")
	}
	got, err := Open(l.dir, l.name).Resolve(ctx, l.name.Tag("v1"))
	if err != nil || got.Digest != img.Digest {
		t.Fatalf("v1 after pushing a referrer annotated ref.name=v1: %v, %v; want %s", got.Digest, err, img.Digest)
	}
	refs, _, err := Open(l.dir, l.name).Referrers(ctx, img.Digest)
	if err != nil || len(refs) != 1 {
		t.Fatalf("Referrers: %v, %v", refs, err)
	}
}

// A layout file that is not a regular file is refused before it is opened:
// a FIFO's writer, waiting for a reader, is never woken.
func TestReviewFIFONeverOpened(t *testing.T) {
	l, img := newLayout(t)
	p := filepath.Join(l.dir, "blobs", "sha256", img.Digest.Hex)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	opened := make(chan struct{})
	go func() {
		if f, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil { // blocks until a reader opens
			close(opened)
			f.Close()
		}
	}()
	time.Sleep(200 * time.Millisecond) // the writer is waiting in open(2) by now
	_, err := Open(l.dir, l.name).Resolve(context.Background(), l.name.Tag("v1"))
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("FIFO as the image manifest: %v", err)
	}
	select {
	case <-opened:
		t.Error("imgsign opened the FIFO (its writer woke up)")
	case <-time.After(300 * time.Millisecond):
	}
	// Release the writer.
	if f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
		<-opened
		f.Close()
	}
}

// The lock file of a layout someone else can write is opened only when it
// is a regular file: a FIFO in its place is never opened (its reader never
// wakes) and the write is refused.
func TestReviewLockFileNotARegularFile(t *testing.T) {
	l, img := newLayout(t)
	p := filepath.Join(l.dir, lockFile)
	_ = os.Remove(p)
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	opened := make(chan struct{})
	go func() {
		if f, err := os.OpenFile(p, os.O_RDONLY, 0); err == nil { // blocks until a writer opens
			close(opened)
			f.Close()
		}
	}()
	time.Sleep(200 * time.Millisecond)
	_, err := Open(l.dir, l.name).PushReferrer(context.Background(), referrer(t, img, 7))
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("PushReferrer with a FIFO as the lock file: %v", err)
	}
	select {
	case <-opened:
		t.Error("imgsign opened the FIFO in place of its lock file")
	case <-time.After(300 * time.Millisecond):
	}
	if f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		<-opened
		f.Close()
	}
}
