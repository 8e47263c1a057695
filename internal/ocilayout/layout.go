// Package ocilayout stores images in OCI image layouts on disk (an
// oci-layout file, index.json and blobs/sha256/<hex>) behind the storage
// interfaces, so every command takes an oci:DIR[:TAG|@sha256:…] reference
// where it takes a registry's. Referrers are kept as oras-go and notation
// keep them: every manifest is an entry of index.json, tags are
// org.opencontainers.image.ref.name annotations, and a manifest's referrers
// are the entries whose subject is its digest.
//
// A layout is as untrusted as a registry: everything read is checked
// against its digest and bounded, blobs are opened beneath the layout
// directory only and never through a symlink, and index.json updates are
// atomic and serialised across processes.
package ocilayout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/refname"
	"github.com/imgsign/imgsign/storage"
)

// Bounds on what a layout may make imgsign read, as internal/registry's
// limits bound a registry (docs/storage.md, Limits): past any of them
// imgsign stops with exit 3 rather than judge on part of the layout.
const (
	// MaxIndexBytes bounds index.json.
	MaxIndexBytes = 4 << 20
	// MaxManifestBytes bounds one manifest.
	MaxManifestBytes = 4 << 20
	// MaxConfigBytes bounds an image config read whole.
	MaxConfigBytes = 16 << 20
	// MaxEntries bounds the manifests index.json lists.
	MaxEntries = 10000
	// MaxScanBytes bounds the manifests read while looking for referrers
	// (every entry's manifest, once per run).
	MaxScanBytes = 256 << 20
	// MaxReferrers bounds the referrers of one manifest.
	MaxReferrers = 1000
)

// AnnotationRefName is the index.json annotation that tags an entry.
const AnnotationRefName = "org.opencontainers.image.ref.name"

const layoutVersion = "1.0.0"

// ValidTag reports whether t is a tag as the distribution specification
// defines it: the only ref.name values read as tags (a ref.name with "/"
// or control characters, as some tools write full image names, is no tag
// here).
func ValidTag(t string) bool { return refname.ValidTag(t) }

// Layout is one OCI image layout, read (and written) as one repository.
type Layout struct {
	dir  string
	name name.Repository

	mu sync.Mutex
	// scan caches what every index.json entry's manifest says (subjects,
	// children), read once per run and dropped by this Layout's writes.
	scan *scan
}

// Open opens the layout in dir (absolute) as the repository repo. Nothing
// is read until asked for; a layout that does not exist yet is created by
// the first write.
func Open(dir string, repo name.Repository) *Layout {
	return &Layout{dir: dir, name: repo}
}

// Dir is the layout's directory.
func (l *Layout) Dir() string { return l.dir }

// Name is the repository the layout stands for: the --as repository, or
// its oci.invalid name (refname.LayoutRepository).
func (l *Layout) Name() name.Repository { return l.name }

func (l *Layout) errf(kind errkind.Kind, format string, args ...any) error {
	return errkind.Mark(kind, fmt.Errorf("OCI layout %s: %s", l.dir, fmt.Sprintf(format, args...)))
}

// overLimit is a layout offering more than imgsign reads: exit 3, as a
// registry's.
func (l *Layout) overLimit(format string, args ...any) error {
	return l.errf(errkind.Operational, format+" (limit); refusing to judge on partial data", args...)
}

// openFile opens rel beneath the layout directory: never a path outside it
// (os.Root), never through a symlink at the last component, and only a
// regular file (a FIFO or device could hang or feed endless bytes).
func (l *Layout) openFile(rel string) (*os.File, int64, error) {
	root, err := os.OpenRoot(l.dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, 0, &storage.NotFoundError{What: "OCI layout " + l.dir}
		}
		return nil, 0, l.errf(errkind.Input, "%v", err)
	}
	defer root.Close()
	// os.Root follows a symlink that stays inside the root even with
	// O_NOFOLLOW; look first. (One swapped in between is still confined
	// to the layout, and its content is still checked against the digest.)
	// Nor is anything but a regular file opened: opening a FIFO wakes its
	// writer, and a device node on removable media mounted without nodev
	// acts on being opened (a watchdog, a tape).
	if st, err := root.Lstat(rel); err == nil {
		switch {
		case st.Mode()&fs.ModeSymlink != 0:
			return nil, 0, l.errf(errkind.Untrusted, "%s is a symbolic link: imgsign reads only regular files in a layout", rel)
		case !st.Mode().IsRegular():
			return nil, 0, l.errf(errkind.Untrusted, "%s is not a regular file", rel)
		}
	}
	f, err := root.OpenFile(rel, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, 0, &storage.NotFoundError{What: rel + " in OCI layout " + l.dir}
		}
		if errors.Is(err, syscall.ELOOP) {
			return nil, 0, l.errf(errkind.Untrusted, "%s is a symbolic link: imgsign reads only regular files in a layout", rel)
		}
		return nil, 0, l.errf(errkind.Untrusted, "opening %s: %v", rel, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, l.errf(errkind.Operational, "%v", err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, l.errf(errkind.Untrusted, "%s is not a regular file", rel)
	}
	return f, st.Size(), nil
}

// readFile reads rel whole, at most limit bytes.
func (l *Layout) readFile(rel string, limit int64) ([]byte, error) {
	f, size, err := l.openFile(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if size > limit {
		return nil, l.overLimit("%s is %d bytes, over the %d byte limit", rel, size, limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, l.errf(errkind.Operational, "reading %s: %v", rel, err)
	}
	if int64(len(b)) > limit {
		return nil, l.overLimit("%s is over the %d byte limit", rel, limit)
	}
	return b, nil
}

// blobPath is where the blob d lives; only sha256 digests of 64 lower-case
// hex digits name one, so no digest can name a path elsewhere.
func (l *Layout) blobPath(d v1.Hash) (string, error) {
	if d.Algorithm != "sha256" || !refname.SHA256Hex(d.Hex) {
		return "", l.errf(errkind.Untrusted, "digest %q is not a sha256 digest", d.String())
	}
	return filepath.Join("blobs", "sha256", d.Hex), nil
}

// readBlob reads the blob d whole, at most limit bytes, checked against d.
func (l *Layout) readBlob(d v1.Hash, limit int64) ([]byte, error) {
	p, err := l.blobPath(d)
	if err != nil {
		return nil, err
	}
	b, err := l.readFile(p, limit)
	if err != nil {
		return nil, err
	}
	if got := digestOf(b); got != d {
		return nil, l.errf(errkind.Untrusted, "blob %s does not match its digest (its content hashes to %s)", d, got)
	}
	return b, nil
}

func digestOf(b []byte) v1.Hash {
	sum := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

// readIndex reads and checks index.json (and the oci-layout file beside
// it). A directory that is not a layout is a *storage.NotFoundError.
func (l *Layout) readIndex() (*v1.IndexManifest, error) {
	marker, err := l.readFile("oci-layout", 4<<10)
	if err != nil {
		return nil, err
	}
	var ml struct {
		Version string `json:"imageLayoutVersion"`
	}
	if err := json.Unmarshal(marker, &ml); err != nil || ml.Version == "" {
		return nil, l.errf(errkind.Untrusted, "oci-layout is not an OCI layout marker")
	}
	raw, err := l.readFile("index.json", MaxIndexBytes)
	if err != nil {
		return nil, err
	}
	idx, err := ParseIndex(raw)
	if err != nil {
		return nil, l.errf(errkind.Untrusted, "index.json: %v", err)
	}
	if len(idx.Manifests) > MaxEntries {
		return nil, l.overLimit("index.json lists more than %d manifests", MaxEntries)
	}
	return idx, nil
}

// ParseIndex parses a layout's index.json: an OCI image index
// (storage.ParseIndex) whose every entry names a manifest by a sha256
// digest with a size, since the digest becomes a file path. Anything else
// is an error, never an empty or partial index that would hide an entry.
func ParseIndex(raw []byte) (*v1.IndexManifest, error) {
	if err := ambiguousKeys(raw); err != nil {
		return nil, errkind.Mark(errkind.Untrusted, err)
	}
	idx, err := storage.ParseIndex(raw)
	if err != nil {
		return nil, err
	}
	for i, d := range idx.Manifests {
		if d.Digest.Algorithm != "sha256" || !refname.SHA256Hex(d.Digest.Hex) {
			return nil, fmt.Errorf("manifests[%d]: digest %q is not a sha256 digest", i, d.Digest.String())
		}
		if d.Size < 0 || d.Size > MaxManifestBytes {
			return nil, fmt.Errorf("manifests[%d]: size %d is not a manifest's size (at most %d bytes)", i, d.Size, MaxManifestBytes)
		}
	}
	return idx, nil
}

// ambiguousKeys refuses JSON with an object holding two keys that Go's
// encoding/json reads as one: repeated, or equal but for case (it matches
// struct fields case-insensitively, Unicode folding included: "manifeſts"
// is "manifests"). It keeps the last of them, where other readers of the
// layout keep the first or only the exact spelling: index.json is not
// signed, so {"manifests":[unsigned, tagged v1],"Manifests":[signed,
// tagged v1]} would have imgsign verify the signed image while the tool
// that runs the layout's v1 takes the unsigned one.
func ambiguousKeys(raw []byte) error {
	// What is not JSON is storage.ParseIndex's to refuse; past this point
	// the bytes are valid JSON, which the scan below relies on. (A scan of
	// its own: json.Decoder's tokens cost twice the parse of index.json.)
	if !json.Valid(raw) {
		return nil
	}
	// An object's folded keys: a list while it is short, a set once wide
	// (annotations), so that no index.json costs quadratic time.
	type object struct {
		keys []string
		set  map[string]bool
	}
	var stack []*object // nil for an array
	for i := 0; i < len(raw); {
		switch raw[i] {
		case '{':
			stack = append(stack, &object{})
			i++
		case '[':
			stack = append(stack, nil)
			i++
		case '}', ']':
			stack = stack[:len(stack)-1]
			i++
		case '"':
			open, j, escaped := i, i+1, false
			for raw[j] != '"' {
				if raw[j] == '\\' {
					escaped = true
					j++
				}
				j++
			}
			i = j + 1
			k := i
			for k < len(raw) && (raw[k] == ' ' || raw[k] == '\t' || raw[k] == '\n' || raw[k] == '\r') {
				k++
			}
			// In valid JSON a string followed by ':' is an object's key.
			if k == len(raw) || raw[k] != ':' {
				continue
			}
			key := string(raw[open+1 : j])
			if escaped {
				if err := json.Unmarshal(raw[open:i], &key); err != nil {
					return fmt.Errorf("not JSON: %w", err)
				}
			}
			o, f := stack[len(stack)-1], foldKey(key)
			dup := o.set[f]
			if o.set == nil {
				dup = slices.Contains(o.keys, f)
			}
			if dup {
				return fmt.Errorf("the key %q appears twice in one object (or again in another case): readers disagree on which counts", key)
			}
			switch {
			case o.set != nil:
				o.set[f] = true
			case len(o.keys) < 16:
				o.keys = append(o.keys, f)
			default:
				o.set = map[string]bool{f: true}
				for _, k := range o.keys {
					o.set[k] = true
				}
			}
		default:
			i++
		}
	}
	return nil
}

// foldKey maps each rune of k to the smallest of its case-folding orbit, as
// encoding/json folds names: keys it would match to one field fold alike.
func foldKey(k string) string {
	ascii := true
	for i := 0; i < len(k) && ascii; i++ {
		ascii = k[i] < utf8.RuneSelf
	}
	if ascii {
		return strings.ToUpper(k) // the smallest of 'a' and 'A' is 'A'
	}
	var b strings.Builder
	for _, r := range k {
		for {
			r2 := unicode.SimpleFold(r)
			if r2 <= r {
				r = r2
				break
			}
			r = r2
		}
		b.WriteRune(r)
	}
	return b.String()
}

// tagsOf lists the entries' tags: ref.name annotations that are tags.
func tagsOf(idx *v1.IndexManifest) map[string][]v1.Descriptor {
	out := map[string][]v1.Descriptor{}
	for _, d := range idx.Manifests {
		if t, ok := d.Annotations[AnnotationRefName]; ok && ValidTag(t) {
			out[t] = append(out[t], d)
		}
	}
	return out
}

// entry is what one index.json entry's manifest says.
type entry struct {
	desc      v1.Descriptor // as index.json lists it
	mediaType types.MediaType
	subject   *v1.Hash
	// referrer is the descriptor a referrers listing carries for it.
	referrer v1.Descriptor
	children []v1.Hash
}

type scan struct {
	idx     *v1.IndexManifest
	entries []entry
}

// manifestFields is what imgsign reads from any manifest to list it.
type manifestFields struct {
	MediaType    types.MediaType   `json:"mediaType"`
	ArtifactType string            `json:"artifactType"`
	Config       *v1.Descriptor    `json:"config"`
	Subject      *v1.Descriptor    `json:"subject"`
	Manifests    []v1.Descriptor   `json:"manifests"`
	Annotations  map[string]string `json:"annotations"`
}

// scanned reads every entry's manifest once (bounded: MaxEntries entries,
// MaxScanBytes in all), to find referrers by subject as oras-go does.
func (l *Layout) scanned(ctx context.Context) (*scan, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.scan != nil {
		return l.scan, nil
	}
	idx, err := l.readIndex()
	var nf *storage.NotFoundError
	switch {
	case errors.As(err, &nf):
		// Not written yet (a copy's destination): nothing is listed.
		return &scan{idx: &v1.IndexManifest{SchemaVersion: 2}}, nil
	case err != nil:
		return nil, err
	}
	s := &scan{idx: idx}
	seen := map[v1.Hash]bool{}
	var total int64
	for _, d := range idx.Manifests {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if seen[d.Digest] {
			continue
		}
		seen[d.Digest] = true
		raw, err := l.readBlob(d.Digest, MaxManifestBytes)
		if err != nil {
			var nf *storage.NotFoundError
			if errors.As(err, &nf) {
				// A referrer left unread could be the one that decides.
				return nil, l.errf(errkind.Operational, "index.json lists manifest %s, but the layout has no such blob", d.Digest)
			}
			return nil, err
		}
		if d.Size != int64(len(raw)) {
			return nil, l.errf(errkind.Untrusted, "index.json lists manifest %s as %d bytes, but it is %d", d.Digest, d.Size, len(raw))
		}
		if total += int64(len(raw)); total > MaxScanBytes {
			return nil, l.overLimit("the manifests index.json lists are over %d bytes in all", MaxScanBytes)
		}
		var mf manifestFields
		if err := json.Unmarshal(raw, &mf); err != nil {
			return nil, l.errf(errkind.Untrusted, "manifest %s is not JSON: %v", d.Digest, err)
		}
		e := entry{desc: d, mediaType: mediaTypeOf(mf.MediaType, d.MediaType, mf)}
		if mf.Subject != nil {
			h := mf.Subject.Digest
			e.subject = &h
			at := mf.ArtifactType
			if at == "" && mf.Config != nil {
				at = string(mf.Config.MediaType)
			}
			e.referrer = v1.Descriptor{MediaType: e.mediaType, Digest: d.Digest, Size: int64(len(raw)), ArtifactType: at, Annotations: mf.Annotations}
		}
		for _, c := range mf.Manifests {
			e.children = append(e.children, c.Digest)
		}
		s.entries = append(s.entries, e)
	}
	l.scan = s
	return s, nil
}

func (l *Layout) dropScan() {
	l.mu.Lock()
	l.scan = nil
	l.mu.Unlock()
}

// mediaTypeOf is a manifest's media type: its own mediaType field, else the
// one its descriptor gives, else what its shape says (OCI manifests need
// not carry the field).
func mediaTypeOf(own, listed types.MediaType, mf manifestFields) types.MediaType {
	switch {
	case own != "":
		return own
	case listed != "":
		return listed
	case mf.Manifests != nil:
		return types.OCIImageIndex
	}
	return types.OCIManifestSchema1
}

// soleImage is the image an oci:DIR reference without tag or digest names:
// the only entry of index.json that is not a referrer of another manifest
// (by subject, or by a sha256-<hex> tag as cosign names its signatures) or
// a child of an index the layout lists. Its tags are not the user's
// words, so none is bound.
func (l *Layout) soleImage(ctx context.Context) (v1.Descriptor, error) {
	s, err := l.scanned(ctx)
	if err != nil {
		return v1.Descriptor{}, err
	}
	children := map[v1.Hash]bool{}
	for _, e := range s.entries {
		for _, c := range e.children {
			children[c] = true
		}
	}
	// Manifests tagged sha256-<hex>… are attachments by name: cosign's
	// .sig/.att/.sbom images and referrers tag schema indexes.
	attached := map[v1.Hash]bool{}
	for _, d := range s.idx.Manifests {
		if _, ok := refname.AttachedTo(d.Annotations[AnnotationRefName]); ok {
			attached[d.Digest] = true
		}
	}
	var images []entry
	for _, e := range s.entries {
		if e.subject == nil && !children[e.desc.Digest] && !attached[e.desc.Digest] {
			images = append(images, e)
		}
	}
	switch len(images) {
	case 0:
		return v1.Descriptor{}, errkind.Inputf("OCI layout %s holds no image", l.dir)
	case 1:
		// docker load and ctr import name images by io.containerd.image.name
		// (or a ref.name that is a full reference), on any entry: another
		// entry carrying one is an image they would load under that name,
		// whatever imgsign reads it as.
		for _, d := range s.idx.Manifests {
			if d.Digest == images[0].desc.Digest {
				continue
			}
			for _, key := range []string{AnnotationImageName, AnnotationRefName} {
				if n, ok := d.Annotations[key]; ok && (key == AnnotationImageName || !ValidTag(n)) && strings.Contains(n, "/") {
					return v1.Descriptor{}, l.errf(errkind.Untrusted, "oci:%s names its only image %s, but index.json names %s too, by %s %q (the name docker load and ctr import give it): name the image as oci:%s@%s, or remove that entry", l.dir, images[0].desc.Digest, d.Digest, key, clipName(n), l.dir, images[0].desc.Digest)
				}
			}
		}
		return v1.Descriptor{MediaType: images[0].mediaType, Digest: images[0].desc.Digest, Size: images[0].desc.Size}, nil
	}
	var names []string
	for t := range tagsOf(s.idx) {
		names = append(names, t)
	}
	sort.Strings(names)
	return v1.Descriptor{}, errkind.Inputf("OCI layout %s holds %d images: name one as oci:%s:TAG or oci:%s@sha256:… (tags: %s)", l.dir, len(images), l.dir, l.dir, strings.Join(names, ", "))
}
