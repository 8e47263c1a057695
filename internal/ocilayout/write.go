package ocilayout

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/atomicfile"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/storage"
)

// lockFile serialises index.json updates between processes (flock); the
// lock of dirLocks does within one.
const lockFile = "index.json.lock"

// dirLocks holds one mutex per layout directory: an flock is per open file,
// so two goroutines of one process need their own exclusion.
var dirLocks sync.Map // dir → *sync.Mutex

// create makes the layout's oci-layout file, an empty index.json and
// blobs/sha256 where they are missing: a copy's destination need not
// exist. It runs with the layout's lock held (updateIndex): an index.json
// created outside it could replace, empty, one another process had just
// written its entry to.
func (l *Layout) create() error {
	root, err := os.OpenRoot(l.dir)
	if err != nil {
		return errkind.Inputf("creating OCI layout %s: %w", l.dir, err)
	}
	defer root.Close()
	// Through the root: a blobs directory linking out of the layout is
	// refused, not followed.
	if err := root.MkdirAll(filepath.Join("blobs", "sha256"), 0o755); err != nil {
		return errkind.Inputf("creating OCI layout %s: %w", l.dir, err)
	}
	if _, err := root.Lstat("oci-layout"); errors.Is(err, fs.ErrNotExist) {
		if err := atomicfile.Write(filepath.Join(l.dir, "oci-layout"), []byte(`{"imageLayoutVersion":"`+layoutVersion+`"}`), 0o644); err != nil {
			return err
		}
	}
	if _, err := root.Lstat("index.json"); errors.Is(err, fs.ErrNotExist) {
		return l.writeIndex(&v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{}})
	}
	return nil
}

func (l *Layout) writeIndex(idx *v1.IndexManifest) error {
	if idx.Manifests == nil {
		idx.Manifests = []v1.Descriptor{}
	}
	raw, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(l.dir, "index.json"), raw, 0o644)
}

// updateIndex reads index.json, applies edit and writes it back, with every
// other writer of the layout (goroutines and processes) held off: no
// update is lost to another's read-modify-write.
func (l *Layout) updateIndex(ctx context.Context, edit func(idx *v1.IndexManifest) error) error {
	mu, _ := dirLocks.LoadOrStore(l.dir, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		return errkind.Inputf("creating OCI layout %s: %w", l.dir, err)
	}
	unlock, err := lockDir(ctx, filepath.Join(l.dir, lockFile))
	if err != nil {
		return errkind.Operationalf("locking OCI layout %s: %w", l.dir, err)
	}
	defer unlock()
	if err := l.create(); err != nil {
		return err
	}
	idx, err := l.readIndex()
	if err != nil {
		return err
	}
	if err := edit(idx); err != nil {
		return err
	}
	defer l.dropScan()
	return l.writeIndex(idx)
}

// copyBufs holds the buffers blobs stream through into a layout. At 128
// KiB a blob moves in a quarter of the read and write calls io.Copy's 32
// KiB makes (bench/copy.sh: about a tenth off a registry → layout copy's
// wall time); pooled, a copy of many small blobs does not allocate one each.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 128<<10); return &b }}

// writeBlob stores what r yields as the blob d: written to a temporary file
// beside the blobs, hashed on the way, renamed into place only when its
// size and digest are d's. A blob already there is kept.
func (l *Layout) writeBlob(ctx context.Context, d v1.Descriptor, r io.Reader) error {
	p, err := l.blobPath(d.Digest)
	if err != nil {
		return err
	}
	// An error is no "absent": a blobs directory linking out of the layout
	// is refused here, not written through below.
	if ok, err := l.HasBlob(ctx, d.Digest); err != nil {
		return err
	} else if ok {
		// Kept only when its bytes are d's: a file planted under d's name
		// (a shared volume) or corrupted would otherwise stay for good,
		// named by the index entry and tag written next, while the copy
		// reported success. Other bytes are replaced below.
		if same, err := l.holds(p, d); err != nil {
			return err
		} else if same {
			_, _ = io.Copy(io.Discard, r) // a verifying source still checks what it passes
			return sourceErr(r)
		}
	}
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		return errkind.Inputf("creating OCI layout %s: %w", l.dir, err)
	}
	// Every path is opened through the root, so that blobs or blobs/sha256
	// swapped for a link out of the layout (a shared volume) after the
	// check above is still never written through.
	root, err := os.OpenRoot(l.dir)
	if err != nil {
		return errkind.Inputf("writing to OCI layout %s: %w", l.dir, err)
	}
	defer root.Close()
	if err := root.MkdirAll(filepath.Join("blobs", "sha256"), 0o755); err != nil {
		return errkind.Inputf("creating OCI layout %s: %w", l.dir, err)
	}
	tmpName := filepath.Join("blobs", "sha256", ".tmp-"+d.Digest.Hex[:12]+"-"+rand.Text())
	tmp, err := root.OpenFile(tmpName, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return errkind.Inputf("writing to OCI layout %s: %w", l.dir, err)
	}
	defer root.Remove(tmpName)
	// A stream that checks d itself (a store's OpenBlob) ends only when the
	// bytes are d's: hashing them again would double the copy's CPU.
	var h *hasher
	dst := io.Writer(tmp)
	if vr, ok := r.(storage.VerifyingReader); !ok || vr.Verifies().Digest != d.Digest || vr.Verifies().Size != d.Size {
		h = newHasher()
		dst = io.MultiWriter(tmp, h)
	}
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	// Hidden behind a plain Writer, the file cannot take over with its
	// ReadFrom, which would copy through a 32 KiB buffer of its own.
	n, err := io.CopyBuffer(struct{ io.Writer }{dst}, io.LimitReader(r, d.Size+1), *buf)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if serr := sourceErr(r); serr != nil {
		return serr
	}
	if err != nil {
		return errkind.Operationalf("writing blob %s to OCI layout %s: %w", d.Digest, l.dir, err)
	}
	if n != d.Size || (h != nil && h.digest() != d.Digest) {
		got := "its digest"
		if h != nil {
			got = h.digest().String()
		}
		return errkind.Untrustedf("blob %s for OCI layout %s: got %d bytes hashing to %s, not %d bytes hashing to its digest", d.Digest, l.dir, n, got, d.Size)
	}
	if err := root.Chmod(tmpName, 0o644); err != nil {
		return errkind.Operationalf("writing blob %s: %w", d.Digest, err)
	}
	if err := root.Rename(tmpName, p); err != nil {
		return errkind.Operationalf("writing blob %s to OCI layout %s: %w", d.Digest, l.dir, err)
	}
	return nil
}

// holds reports whether the blob file p is d: its size, then its digest.
func (l *Layout) holds(p string, d v1.Descriptor) (bool, error) {
	f, size, err := l.openFile(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if size != d.Size {
		return false, nil
	}
	h := newHasher()
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	if _, err := io.CopyBuffer(h, io.LimitReader(f, d.Size+1), *buf); err != nil {
		return false, l.errf(errkind.Operational, "reading blob %s: %v", d.Digest, err)
	}
	return h.digest() == d.Digest, nil
}

// sourceErr is the error a verifying stream stopped with.
func sourceErr(r io.Reader) error {
	if e, ok := r.(interface{ Err() error }); ok {
		return e.Err()
	}
	return nil
}

// PutBlob stores b and returns its descriptor.
func (l *Layout) PutBlob(ctx context.Context, b []byte) (v1.Descriptor, error) {
	d := v1.Descriptor{Digest: digestOf(b), Size: int64(len(b))}
	return d, l.writeBlob(ctx, d, bytes.NewReader(b))
}

// PutBlobStream stores the blob d from r, refused unless it is d.
func (l *Layout) PutBlobStream(ctx context.Context, d v1.Descriptor, r io.Reader) error {
	return l.writeBlob(ctx, d, r)
}

// PutManifest stores a manifest and lists it in index.json: under the tag
// identifier (the one entry carrying that ref.name; a tag moved off a
// manifest leaves it listed untagged, so nothing attached to it is lost),
// or untagged when identifier is its digest.
func (l *Layout) PutManifest(ctx context.Context, identifier string, raw []byte, mt types.MediaType) error {
	d := v1.Descriptor{MediaType: mt, Digest: digestOf(raw), Size: int64(len(raw))}
	if len(raw) > MaxManifestBytes {
		return errkind.Inputf("manifest %s is over the %d byte limit", d.Digest, MaxManifestBytes)
	}
	tag := ""
	if h, err := v1.NewHash(identifier); err == nil {
		if h != d.Digest {
			return errkind.Inputf("manifest stored as %s hashes to %s", identifier, d.Digest)
		}
	} else if ValidTag(identifier) {
		tag = identifier
	} else {
		return errkind.Inputf("%q is not a tag or digest", identifier)
	}
	if err := l.writeBlob(ctx, d, bytes.NewReader(raw)); err != nil {
		return err
	}
	return l.updateIndex(ctx, func(idx *v1.IndexManifest) error {
		if tag == "" {
			addEntry(idx, d)
			return nil
		}
		var kept []v1.Descriptor
		var moved []v1.Descriptor
		for _, m := range idx.Manifests {
			if m.Annotations[AnnotationRefName] == tag {
				moved = append(moved, m)
				continue
			}
			if m.Digest == d.Digest && m.Annotations[AnnotationRefName] == "" {
				continue // the tagged entry lists it now
			}
			kept = append(kept, m)
		}
		idx.Manifests = kept
		t := d
		t.Annotations = map[string]string{AnnotationRefName: tag}
		idx.Manifests = append(idx.Manifests, t)
		for _, m := range moved {
			if m.Digest != d.Digest {
				delete(m.Annotations, AnnotationRefName)
				if len(m.Annotations) == 0 {
					m.Annotations = nil
				}
				addEntry(idx, m)
			}
		}
		return nil
	})
}

// addEntry lists d in idx unless an entry for its digest is there.
func addEntry(idx *v1.IndexManifest, d v1.Descriptor) {
	for _, m := range idx.Manifests {
		if m.Digest == d.Digest {
			return
		}
	}
	idx.Manifests = append(idx.Manifests, d)
}

// PushReferrer stores a referrer manifest as oras-go and notation do: its
// blob, and an untagged index.json entry carrying the descriptor a
// referrers listing gives (artifactType, annotations). Referrers finds it
// by its subject, so usedAPI is true.
func (l *Layout) PushReferrer(ctx context.Context, ref storage.Referrer) (bool, error) {
	if got := digestOf(ref.Manifest); got != ref.Descriptor.Digest || int64(len(ref.Manifest)) != ref.Descriptor.Size {
		return false, errkind.Inputf("referrer manifest hashes to %s, its descriptor says %s", got, ref.Descriptor.Digest)
	}
	if err := l.writeBlob(ctx, ref.Descriptor, bytes.NewReader(ref.Manifest)); err != nil {
		return false, err
	}
	d := ref.Descriptor
	// Untagged: the annotations are the referrer manifest's own (the
	// source's words, in a copy), and a ref.name among them would tag the
	// referrer in index.json — a tag nobody wrote, or one the layout's image
	// has, which would then name two manifests.
	if _, ok := d.Annotations[AnnotationRefName]; ok {
		d.Annotations = maps.Clone(d.Annotations)
		delete(d.Annotations, AnnotationRefName)
	}
	return true, l.updateIndex(ctx, func(idx *v1.IndexManifest) error {
		addEntry(idx, d)
		return nil
	})
}

var _ storage.Writer = (*Layout)(nil)
