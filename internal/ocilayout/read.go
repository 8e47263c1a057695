package ocilayout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/storage"
)

// Resolve returns the descriptor of the manifest ref names: a tag is the
// index.json entry whose ref.name it is, a digest any manifest blob of the
// layout, and a Reference without either the layout's only image.
func (l *Layout) Resolve(ctx context.Context, ref name.Reference) (v1.Descriptor, error) {
	var want v1.Hash
	switch r := ref.(type) {
	case name.Digest:
		h, err := v1.NewHash(r.DigestStr())
		if err != nil {
			return v1.Descriptor{}, errkind.Inputf("%s: %w", ref, err)
		}
		want = h
	case *Reference:
		if r.Tag == "" && r.Digest == "" {
			return l.soleImage(ctx)
		}
		return l.Resolve(ctx, r.named())
	default:
		d, err := l.tagged(ref.Identifier())
		if err != nil {
			return v1.Descriptor{}, err
		}
		want = d.Digest
	}
	raw, mt, err := l.Manifest(ctx, "", want)
	if err != nil {
		var nf *storage.NotFoundError
		if errors.As(err, &nf) {
			return v1.Descriptor{}, errkind.Mark(errkind.Input, fmt.Errorf("image %s: %w", l.display(ref), err))
		}
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mt, Digest: want, Size: int64(len(raw))}, nil
}

// display is ref as the user names it: oci:DIR:TAG or oci:DIR@sha256:….
func (l *Layout) display(ref name.Reference) string {
	switch r := ref.(type) {
	case name.Digest:
		return "oci:" + l.dir + "@" + r.DigestStr()
	case *Reference:
		return r.String()
	}
	return "oci:" + l.dir + ":" + ref.Identifier()
}

// tagged is the entry tag names; tags name one manifest each.
func (l *Layout) tagged(tag string) (v1.Descriptor, error) {
	idx, err := l.readIndex()
	if err != nil {
		return v1.Descriptor{}, err
	}
	ds := tagsOf(idx)[tag]
	if len(ds) == 0 {
		return v1.Descriptor{}, errkind.Mark(errkind.Input, fmt.Errorf("image oci:%s:%s: %w (check the tag; imgsign tree oci:%s lists none, but index.json's ref.name annotations are the tags)", l.dir, tag, &storage.NotFoundError{What: "tag"}, l.dir))
	}
	for _, d := range ds[1:] {
		if d.Digest != ds[0].Digest {
			return v1.Descriptor{}, l.errf(errkind.Untrusted, "tag %s names two manifests in index.json (%s and %s)", tag, ds[0].Digest, d.Digest)
		}
	}
	// docker load and ctr import name a layout's images by the full
	// reference in io.containerd.image.name (or a ref.name that is one),
	// not by a ref.name that is a tag: an entry naming another manifest
	// with this tag there is the image they would load as it.
	for _, d := range idx.Manifests {
		if d.Digest == ds[0].Digest {
			continue
		}
		for _, key := range []string{AnnotationImageName, AnnotationRefName} {
			if n, ok := d.Annotations[key]; ok && referenceTag(n) == tag {
				return v1.Descriptor{}, l.errf(errkind.Untrusted, "tag %s names two manifests in index.json (%s by its ref.name, %s by %s %q, the name docker load and ctr import give it): remove the entry the tag should not name", tag, ds[0].Digest, d.Digest, key, clipName(n))
			}
		}
	}
	return ds[0], nil
}

// AnnotationImageName is the index.json annotation containerd's import
// (docker load, ctr import) names an image by: a full reference.
const AnnotationImageName = "io.containerd.image.name"

// referenceTag is the tag of a full image reference (registry/repo:tag),
// "" for a bare tag (a ref.name read as tagsOf reads it) or no tag.
func referenceTag(n string) string {
	n, _, _ = strings.Cut(n, "@")
	slash := strings.LastIndex(n, "/")
	i := strings.LastIndex(n, ":")
	if slash < 0 || i < slash {
		return ""
	}
	return n[i+1:]
}

// clipName bounds an annotation quoted in an error.
func clipName(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// Manifest reads the manifest identifier (a tag) or want (a digest),
// checked against its digest.
func (l *Layout) Manifest(ctx context.Context, identifier string, want v1.Hash) ([]byte, types.MediaType, error) {
	var listed types.MediaType
	if want == (v1.Hash{}) {
		if identifier == "" {
			return nil, "", errkind.Inputf("fetching a manifest of OCI layout %s needs a tag or a digest", l.dir)
		}
		if h, err := v1.NewHash(identifier); err == nil {
			want = h
		} else {
			d, err := l.tagged(identifier)
			if err != nil {
				var nf *storage.NotFoundError
				if errors.As(err, &nf) {
					return nil, "", &storage.NotFoundError{What: "manifest oci:" + l.dir + ":" + identifier}
				}
				return nil, "", err
			}
			want, listed = d.Digest, d.MediaType
		}
	}
	raw, err := l.readBlob(want, MaxManifestBytes)
	if err != nil {
		var nf *storage.NotFoundError
		if errors.As(err, &nf) {
			return nil, "", &storage.NotFoundError{What: "manifest oci:" + l.dir + "@" + want.String()}
		}
		return nil, "", err
	}
	var mf manifestFields
	if err := json.Unmarshal(raw, &mf); err != nil {
		return nil, "", l.errf(errkind.Untrusted, "manifest %s is not JSON: %v", want, err)
	}
	return raw, mediaTypeOf(mf.MediaType, listed, mf), nil
}

// Blob reads the blob d, at most limit bytes, checked against d.
func (l *Layout) Blob(ctx context.Context, d v1.Descriptor, limit int64) ([]byte, error) {
	if d.Size > limit {
		return nil, l.errf(errkind.Untrusted, "blob %s is %d bytes, over the %d byte limit", d.Digest, d.Size, limit)
	}
	b, err := l.readBlob(d.Digest, limit)
	if err != nil {
		return nil, err
	}
	if d.Size > 0 && int64(len(b)) != d.Size {
		return nil, l.errf(errkind.Untrusted, "blob %s is %d bytes, its descriptor says %d", d.Digest, len(b), d.Size)
	}
	return b, nil
}

// Referrers lists the manifests of index.json whose subject is subject, as
// a registry's referrers API would: artifactType and annotations from each
// manifest. A layout always has this "API".
func (l *Layout) Referrers(ctx context.Context, subject v1.Hash) ([]v1.Descriptor, bool, error) {
	s, err := l.scanned(ctx)
	if err != nil {
		return nil, true, err
	}
	var out []v1.Descriptor
	for _, e := range s.entries {
		if e.subject == nil || *e.subject != subject {
			continue
		}
		if len(out) == MaxReferrers {
			return nil, true, l.overLimit("image %s has more than %d referrers", subject, MaxReferrers)
		}
		out = append(out, e.referrer)
	}
	return out, true, nil
}

// FallbackIndex reads the referrers tag schema index of subject (the tag
// sha256-<hex>, as cosign and others write it); none is an empty list.
func (l *Layout) FallbackIndex(ctx context.Context, subject v1.Hash) ([]v1.Descriptor, error) {
	tag := subject.Algorithm + "-" + subject.Hex
	raw, _, err := l.Manifest(ctx, tag, v1.Hash{})
	if err != nil {
		var nf *storage.NotFoundError
		if errors.As(err, &nf) {
			return nil, nil
		}
		return nil, err
	}
	idx, err := ParseIndex(raw)
	if err != nil {
		return nil, l.errf(errkind.Untrusted, "referrers tag %s: %v", tag, err)
	}
	if len(idx.Manifests) > MaxReferrers {
		return nil, l.overLimit("image %s has more than %d referrers in its referrers tag schema index", subject, MaxReferrers)
	}
	return idx.Manifests, nil
}

// Tags lists the layout's tags (sorted).
func (l *Layout) Tags(ctx context.Context) ([]string, error) {
	idx, err := l.readIndex()
	if err != nil {
		var nf *storage.NotFoundError
		if errors.As(err, &nf) {
			return nil, nil // a layout not written yet has no tags
		}
		return nil, err
	}
	var out []string
	for t := range tagsOf(idx) {
		out = append(out, t)
	}
	sort.Strings(out)
	return out, nil
}

// TagsWithPrefix lists the tags starting with prefix (cosign's
// sha256-<hex>.sig legacy tags are read through it).
func (l *Layout) TagsWithPrefix(ctx context.Context, prefix string) ([]string, error) {
	all, err := l.Tags(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range all {
		if strings.HasPrefix(t, prefix) {
			if len(out) == MaxReferrers {
				return nil, l.overLimit("more than %d tags start with %s", MaxReferrers, prefix)
			}
			out = append(out, t)
		}
	}
	return out, nil
}

// HasBlob reports whether the layout holds the blob d.
func (l *Layout) HasBlob(ctx context.Context, d v1.Hash) (bool, error) {
	p, err := l.blobPath(d)
	if err != nil {
		return false, err
	}
	f, _, err := l.openFile(p)
	if err != nil {
		var nf *storage.NotFoundError
		if errors.As(err, &nf) {
			return false, nil
		}
		return false, err
	}
	f.Close()
	return true, nil
}

// HasManifest reports whether the layout holds the manifest d and lists it
// in index.json (a manifest only reachable as a blob is copied again, so
// that index.json lists it as oras-go's layouts do).
func (l *Layout) HasManifest(ctx context.Context, d v1.Hash) (bool, error) {
	idx, err := l.readIndex()
	if err != nil {
		var nf *storage.NotFoundError
		if errors.As(err, &nf) {
			return false, nil
		}
		return false, err
	}
	listed := false
	for _, m := range idx.Manifests {
		if m.Digest == d {
			listed = true
			break
		}
	}
	if !listed {
		return false, nil
	}
	return l.HasBlob(ctx, d)
}

// OpenBlob streams the blob d; the reader fails instead of ending when the
// bytes are not d.Size long or do not hash to d.Digest.
func (l *Layout) OpenBlob(ctx context.Context, d v1.Descriptor) (io.ReadCloser, error) {
	p, err := l.blobPath(d.Digest)
	if err != nil {
		return nil, err
	}
	if d.Size < 0 {
		return nil, l.errf(errkind.Untrusted, "blob %s: negative size %d", d.Digest, d.Size)
	}
	f, size, err := l.openFile(p)
	if err != nil {
		return nil, err
	}
	if size != d.Size {
		f.Close()
		return nil, l.errf(errkind.Untrusted, "blob %s is %d bytes, its descriptor says %d", d.Digest, size, d.Size)
	}
	return &verifyingReader{body: f, want: d, h: sha256.New(), l: l}, nil
}

// verifyingReader passes a blob's bytes through, failing instead of ending
// when they are too many, too few or hash to another digest.
type verifyingReader struct {
	body io.ReadCloser
	want v1.Descriptor
	h    hash.Hash
	n    int64
	l    *Layout
	err  error
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if rest := v.want.Size + 1 - v.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := v.body.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	switch {
	case v.n > v.want.Size:
		v.err = v.l.errf(errkind.Untrusted, "blob %s is longer than the %d bytes its descriptor says", v.want.Digest, v.want.Size)
		return 0, v.err
	case v.n == v.want.Size && hex.EncodeToString(v.h.Sum(nil)) != v.want.Digest.Hex:
		v.err = v.l.errf(errkind.Untrusted, "blob %s does not match its digest", v.want.Digest)
		return 0, v.err
	case err == io.EOF && v.n != v.want.Size:
		v.err = v.l.errf(errkind.Untrusted, "blob %s is %d bytes, its descriptor says %d", v.want.Digest, v.n, v.want.Size)
		return 0, v.err
	case err != nil && err != io.EOF:
		v.err = v.l.errf(errkind.Operational, "reading blob %s: %v", v.want.Digest, err)
		return n, v.err
	}
	return n, err
}

// Err is why the stream failed, if it did.
func (v *verifyingReader) Err() error { return v.err }

func (v *verifyingReader) Close() error { return v.body.Close() }

// Verifies is the descriptor the stream is checked against.
func (v *verifyingReader) Verifies() v1.Descriptor { return v.want }

var _ storage.VerifyingReader = (*verifyingReader)(nil)
