package registry

// Streaming reads and writes for copying images between registries
// (transfer): blobs pass through as streams checked against their digests,
// existence is asked with HEAD, and a blob another repository of the same
// registry holds is mounted rather than uploaded.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/storage"
)

// MaxTags bounds the tags of one repository that Tags lists (copy
// --all-tags): past it the listing is a *LimitError, never a shorter list
// that would leave tags behind unsaid.
const MaxTags = 100000

// OpenRepository opens repo (for pushing too when push is true) without
// resolving anything in it: the destination of a copy.
func (c *Client) OpenRepository(ctx context.Context, repo name.Repository, push bool) (storage.Writer, error) {
	r, err := c.Open(ctx, repo, push)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// OpenBlob streams the blob d. Nothing is buffered: the reader counts and
// hashes what passes and fails instead of completing when the bytes are not
// d.Size long or do not hash to d.Digest (the read that would deliver the
// last byte of a mismatching blob returns the error instead). A registry
// that sends more than d.Size bytes is cut off at d.Size+1.
func (r *Repo) OpenBlob(ctx context.Context, d v1.Descriptor) (io.ReadCloser, error) {
	if d.Digest.Algorithm != "sha256" {
		return nil, errkind.Untrustedf("blob %s: unsupported digest algorithm %q", d.Digest, d.Digest.Algorithm)
	}
	if d.Size < 0 {
		return nil, errkind.Untrustedf("blob %s: negative size %d", d.Digest, d.Size)
	}
	resp, err := r.do(ctx, http.MethodGet, r.url("/blobs/"+d.Digest.String(), nil), nil, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			return nil, &storage.NotFoundError{What: "blob " + r.name.String() + "@" + d.Digest.String()}
		}
		return nil, classify(ctx, fmt.Errorf("fetching blob %s: %w", d.Digest, transport.CheckError(resp, http.StatusOK)), r.name.RegistryStr())
	}
	return &verifyingReader{body: resp.Body, want: d, h: sha256.New(), registry: r.name.RegistryStr()}, nil
}

// verifyingReader passes a blob's bytes through, checking its size as it
// goes and its digest at the end.
type verifyingReader struct {
	body     io.ReadCloser
	want     v1.Descriptor
	h        hash.Hash
	n        int64
	checked  bool
	registry string
	mu       sync.Mutex
	err      error
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if err := v.failed(); err != nil {
		return 0, err
	}
	// Read at most one byte past the size, to tell "too long" from "done".
	if rest := v.want.Size + 1 - v.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := v.body.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.n > v.want.Size {
		return 0, v.fail(errkind.Untrustedf("blob %s: registry %s sent more than the %d bytes its descriptor says", v.want.Digest, v.registry, v.want.Size))
	}
	// The digest is checked as soon as the last byte arrives, and a
	// mismatch withholds that read: whoever consumes the stream never
	// holds the whole of a corrupt blob (an upload it feeds stays short).
	if v.n == v.want.Size && !v.checked {
		v.checked = true
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want.Digest.Hex {
			return 0, v.fail(errkind.Mark(errkind.Untrusted, fmt.Errorf("blob %s: %w", v.want.Digest, &DigestMismatchError{Want: v.want.Digest.String(), Got: "sha256:" + got})))
		}
	}
	switch {
	case err == io.EOF && v.n != v.want.Size:
		return 0, v.fail(errkind.Untrustedf("blob %s: registry %s sent %d bytes, its descriptor says %d", v.want.Digest, v.registry, v.n, v.want.Size))
	case err != nil && err != io.EOF:
		return n, v.fail(errkind.Mark(errkind.Operational, fmt.Errorf("reading blob %s from %s: %w", v.want.Digest, v.registry, err)))
	}
	return n, err
}

func (v *verifyingReader) fail(err error) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.err == nil {
		v.err = err
	}
	return v.err
}

func (v *verifyingReader) failed() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.err
}

// Err is why the stream failed, if it did: an upload that read from it and
// failed reports this rather than the broken request it caused.
func (v *verifyingReader) Err() error { return v.failed() }

func (v *verifyingReader) Close() error { return v.body.Close() }

// Verifies is the descriptor the stream is checked against.
func (v *verifyingReader) Verifies() v1.Descriptor { return v.want }

var _ storage.VerifyingReader = (*verifyingReader)(nil)

// HasBlob reports whether the repository holds the blob d.
func (r *Repo) HasBlob(ctx context.Context, d v1.Hash) (bool, error) {
	return r.exists(ctx, "/blobs/"+d.String(), nil, "blob "+d.String())
}

// HasManifest reports whether the repository holds the manifest d.
func (r *Repo) HasManifest(ctx context.Context, d v1.Hash) (bool, error) {
	return r.exists(ctx, "/manifests/"+d.String(), http.Header{"Accept": {manifestAccept}}, "manifest "+d.String())
}

func (r *Repo) exists(ctx context.Context, path string, hdr http.Header, what string) (bool, error) {
	resp, err := r.do(ctx, http.MethodHead, r.url(path, nil), hdr, nil)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, classify(ctx, fmt.Errorf("checking for %s in %s: %w", what, r.name, transport.CheckError(resp, http.StatusOK)), r.name.RegistryStr())
}

// PutBlobStream uploads the blob d from rd in one request after the upload
// is opened (POST, then a monolithic PUT), streaming: rd is read once and
// must yield exactly d.Size bytes. The registry checks the digest. A
// request whose body was partly sent cannot be replayed, so a broken
// connection fails the upload; the caller reopens the source to retry.
func (r *Repo) PutBlobStream(ctx context.Context, d v1.Descriptor, rd io.Reader) error {
	loc, err := r.startUpload(ctx, d.Digest)
	if err != nil {
		return err
	}
	q := loc.Query()
	q.Set("digest", d.Digest.String())
	loc.RawQuery = q.Encode()
	body := io.NopCloser(rd)
	if d.Size == 0 {
		body = http.NoBody
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, loc.String(), body)
	if err != nil {
		return errkind.Operationalf("uploading %s: %w", d.Digest, err)
	}
	req.ContentLength = d.Size
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := r.client.Do(req)
	if err != nil {
		if serr := sourceErr(rd); serr != nil {
			return serr
		}
		// The upload URL (with the registry's session state) says nothing
		// a reader needs; what broke does.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return classify(ctx, fmt.Errorf("uploading blob %s to %s: %w", d.Digest, r.name, err), r.name.RegistryStr())
	}
	if serr := sourceErr(rd); serr != nil {
		resp.Body.Close()
		return serr
	}
	if err := checkAndClose(resp, http.StatusCreated, http.StatusOK, http.StatusAccepted, http.StatusNoContent); err != nil {
		return classify(ctx, fmt.Errorf("uploading blob %s to %s: %w", d.Digest, r.name, err), r.name.RegistryStr())
	}
	return nil
}

// sourceErr is the error a verifying stream (OpenBlob's, possibly wrapped
// by the caller in something with an Err method) stopped with.
func sourceErr(rd io.Reader) error {
	if e, ok := rd.(interface{ Err() error }); ok {
		return e.Err()
	}
	return nil
}

// startUpload opens an upload session and returns where to send the bytes.
func (r *Repo) startUpload(ctx context.Context, d v1.Hash) (*url.URL, error) {
	resp, err := r.do(ctx, http.MethodPost, r.url("/blobs/uploads/", nil), nil, nil)
	if err != nil {
		return nil, err
	}
	if err := checkAndClose(resp, http.StatusAccepted); err != nil {
		return nil, classify(ctx, fmt.Errorf("starting upload of %s to %s: %w", d, r.name, err), r.name.RegistryStr())
	}
	return r.location(resp)
}

func (r *Repo) location(resp *http.Response) (*url.URL, error) {
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.Header.Get("Location") == "" {
		return nil, errkind.Operationalf("registry %s gave no usable upload location", r.name.RegistryStr())
	}
	return (&url.URL{Scheme: r.scheme, Host: r.name.RegistryStr()}).ResolveReference(loc), nil
}

// MountBlob asks the registry to link the blob d from the repository from,
// on the same registry, into this one: no bytes travel. A registry that
// declines (it need not support mounting, and may not let this client read
// from) answers with an upload session instead, and mounted is false.
func (r *Repo) MountBlob(ctx context.Context, d v1.Descriptor, from name.Repository) (bool, error) {
	if from.RegistryStr() != r.name.RegistryStr() || from.RepositoryStr() == r.name.RepositoryStr() {
		return false, nil
	}
	q := url.Values{"mount": {d.Digest.String()}, "from": {from.RepositoryStr()}}
	resp, err := r.do(ctx, http.MethodPost, r.url("/blobs/uploads/", q), nil, nil)
	if err != nil {
		return false, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode == http.StatusCreated, nil
}

// Tags lists every tag of the repository, following the registry's
// pagination. More than MaxTags tags, more than MaxTags/1000+1 pages or a
// page over MaxManifestBytes is a *LimitError. A repository that does not
// exist has no tags.
func (r *Repo) Tags(ctx context.Context) ([]string, error) {
	next := r.url("/tags/list", url.Values{"n": {"1000"}})
	var out []string
	seen := map[string]bool{}
	maxPages := MaxTags/1000 + 1
	for page := 0; next != ""; page++ {
		if page == maxPages {
			return nil, OverLimit("registry %s lists the tags of %s on more than %d pages (limit)", r.name.RegistryStr(), r.name, maxPages)
		}
		resp, raw, err := r.get(ctx, next, nil, MaxManifestBytes, "a page of the tag list of "+r.name.String(), nil)
		if err != nil {
			return nil, listingOverLimit(err)
		}
		if resp.StatusCode != http.StatusOK {
			err := transport.CheckError(resp, http.StatusOK)
			resp.Body.Close()
			if resp.StatusCode == http.StatusNotFound && page == 0 {
				return nil, nil
			}
			return nil, classify(ctx, fmt.Errorf("listing tags of %s: %w", r.name, err), r.name.RegistryStr())
		}
		var tl struct {
			Tags []string `json:"tags"`
		}
		if err := json.Unmarshal(raw, &tl); err != nil {
			return nil, errkind.Operationalf("tag list of %s is not JSON: %w", r.name, err)
		}
		for _, t := range tl.Tags {
			if seen[t] {
				continue
			}
			if len(out) == MaxTags {
				return nil, OverLimit("repository %s has more than %d tags (limit)", r.name, MaxTags)
			}
			seen[t] = true
			out = append(out, t)
		}
		if next, err = nextLink(resp, r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

var (
	_ storage.Store       = (*Client)(nil)
	_ storage.BlobMounter = (*Repo)(nil)
)
