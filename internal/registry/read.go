package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/storage"
)

// manifestAccept is every manifest type imgsign can sign or read.
var manifestAccept = strings.Join([]string{
	string(types.OCIManifestSchema1), string(types.OCIImageIndex),
	string(types.DockerManifestSchema2), string(types.DockerManifestList),
}, ", ")

func (r *Repo) url(path string, query url.Values) string {
	u := url.URL{Scheme: r.scheme, Host: r.name.RegistryStr(), Path: "/v2/" + r.name.RepositoryStr() + path}
	if query != nil {
		u.RawQuery = query.Encode()
	}
	return u.String()
}

func (r *Repo) do(ctx context.Context, method, u string, hdr http.Header, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, errkind.Operationalf("%s %s: %w", method, u, err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, classify(ctx, fmt.Errorf("%s %s: %w", method, u, err), r.name.RegistryStr())
	}
	return resp, nil
}

// get sends a GET and reads the body of a response accepted by want (by
// default: a 200) up to limit, closing it. Other responses come back unread,
// for the caller to inspect and close. A connection that breaks while the
// body is read is retried like one that breaks before the response, which the
// retrying transport cannot see.
func (r *Repo) get(ctx context.Context, u string, hdr http.Header, limit int64, what string, want func(*http.Response) bool) (*http.Response, []byte, error) {
	if want == nil {
		want = func(resp *http.Response) bool { return resp.StatusCode == http.StatusOK }
	}
	for attempt := 0; ; attempt++ {
		rctx, cancel := requestDeadline(ctx)
		resp, err := r.do(rctx, http.MethodGet, u, hdr, nil)
		if err != nil {
			cancel()
			return nil, nil, err
		}
		if !want(resp) {
			resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
			return resp, nil, nil
		}
		raw, err := readLimited(resp.Body, limit, what)
		resp.Body.Close()
		if err != nil {
			err = classify(rctx, fmt.Errorf("reading %s from %s: %w", what, r.name.RegistryStr(), err), r.name.RegistryStr())
		}
		cancel()
		if err == nil {
			return resp, raw, nil
		}
		var te *TimeoutError
		if k, _ := errkind.Of(err); k != errkind.Operational || errors.As(err, &te) {
			return resp, nil, err
		}
		if attempt >= len(backoff) || !retryable(nil, err) || !sleep(ctx, backoff[attempt]) {
			return resp, nil, err
		}
	}
}

// requestDeadline bounds one read through get (a manifest, a listing page, a
// bundle) by RequestTimeout, unless the run's own deadline comes sooner:
// commands without --timeout must not read a trickling body forever either.
func requestDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= requestTimeout {
		return ctx, func() {}
	}
	ctx = context.WithValue(ctx, timeoutKey{}, deadlineInfo{limit: requestTimeout, perRequest: true})
	return context.WithTimeout(ctx, requestTimeout)
}

// requestTimeout is RequestTimeout; tests shorten it.
var requestTimeout = RequestTimeout

// cancelOnClose ends a request's own deadline when the caller is done with
// a response get handed back unread.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// CancelOnClose returns body that also calls cancel when closed: how a
// request's own deadline ends once its body is read, for transports outside
// this package (the Notary client's in dct).
func CancelOnClose(body io.ReadCloser, cancel context.CancelFunc) io.ReadCloser {
	return &cancelOnClose{ReadCloser: body, cancel: cancel}
}

// Resolve returns the descriptor of the manifest ref names. A tag is resolved
// here once; callers use the returned digest from then on.
func (r *Repo) Resolve(ctx context.Context, ref name.Reference) (v1.Descriptor, error) {
	resp, err := r.do(ctx, http.MethodHead, r.url("/manifests/"+ref.Identifier(), nil), http.Header{"Accept": {manifestAccept}}, nil)
	if err != nil {
		return v1.Descriptor{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return v1.Descriptor{}, errkind.Mark(errkind.Input, fmt.Errorf("image %s: %w (check the name and tag, and that it was pushed)", ref, &storage.NotFoundError{What: "manifest"}))
	}
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return v1.Descriptor{}, classify(ctx, fmt.Errorf("resolving %s: %w", ref, err), r.name.RegistryStr())
	}
	dg := resp.Header.Get("Docker-Content-Digest")
	if d, ok := ref.(name.Digest); ok {
		// Trust our own digest over a header: the digest is what we were asked about.
		dg = d.DigestStr()
	}
	h, err := v1.NewHash(dg)
	if err != nil {
		// Without a digest header we must fetch the manifest and hash it ourselves.
		raw, mt, err := r.Manifest(ctx, ref.Identifier(), v1.Hash{})
		if err != nil {
			return v1.Descriptor{}, err
		}
		sum := sha256.Sum256(raw)
		return v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}}, nil
	}
	size, _ := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64)
	return v1.Descriptor{MediaType: types.MediaType(mediaTypeOf(resp)), Size: size, Digest: h}, nil
}

func mediaTypeOf(resp *http.Response) string {
	mt, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";")
	return strings.TrimSpace(mt)
}

// Manifest fetches a manifest by tag or digest. When want is set the bytes
// must hash to it; the registry's word is never taken for content.
func (r *Repo) Manifest(ctx context.Context, identifier string, want v1.Hash) ([]byte, types.MediaType, error) {
	byDigest := want != (v1.Hash{})
	if byDigest {
		identifier = want.String()
	}
	if identifier == "" {
		return nil, "", errkind.Inputf("fetching a manifest of %s needs a tag or a digest", r.name)
	}
	resp, raw, err := r.get(ctx, r.url("/manifests/"+identifier, nil), http.Header{"Accept": {manifestAccept}}, MaxManifestBytes, "manifest "+identifier, nil)
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			return nil, "", &storage.NotFoundError{What: "manifest " + r.name.String() + ":" + identifier}
		}
		return nil, "", classify(ctx, fmt.Errorf("fetching manifest %s: %w", identifier, transport.CheckError(resp, http.StatusOK)), r.name.RegistryStr())
	}
	if byDigest {
		if err := checkDigest(raw, want); err != nil {
			return nil, "", fmt.Errorf("manifest %s: %w", identifier, err)
		}
	}
	return raw, types.MediaType(mediaTypeOf(resp)), nil
}

// Blob fetches a small blob (a bundle, a config) by digest, checking its size
// and digest. Large blobs (layers) are streamed elsewhere, never read whole.
func (r *Repo) Blob(ctx context.Context, d v1.Descriptor, limit int64) ([]byte, error) {
	if d.Size > limit {
		return nil, errkind.Untrustedf("blob %s is %d bytes, over the %d byte limit", d.Digest, d.Size, limit)
	}
	resp, b, err := r.get(ctx, r.url("/blobs/"+d.Digest.String(), nil), nil, limit, "blob "+d.Digest.String(), nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			return nil, &storage.NotFoundError{What: "blob " + d.Digest.String()}
		}
		return nil, classify(ctx, fmt.Errorf("fetching blob %s: %w", d.Digest, transport.CheckError(resp, http.StatusOK)), r.name.RegistryStr())
	}
	if d.Size > 0 && int64(len(b)) != d.Size {
		return nil, errkind.Untrustedf("blob %s: registry sent %d bytes, the descriptor says %d", d.Digest, len(b), d.Size)
	}
	if err := checkDigest(b, d.Digest); err != nil {
		return nil, fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	return b, nil
}

// DigestMismatchError means a registry returned bytes that are not what the
// digest names: tampering or corruption, never trusted.
type DigestMismatchError struct{ Want, Got string }

func (e *DigestMismatchError) Error() string {
	return fmt.Sprintf("content digest mismatch: expected %s, registry sent %s", e.Want, e.Got)
}

func checkDigest(b []byte, want v1.Hash) error {
	if want.Algorithm != "sha256" {
		return errkind.Untrustedf("unsupported digest algorithm %q", want.Algorithm)
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != want.Hex {
		return errkind.Mark(errkind.Untrusted, &DigestMismatchError{Want: want.String(), Got: "sha256:" + got})
	}
	return nil
}

// readLimited reads at most limit bytes. A read that fails comes back
// unmarked, for the caller to retry or classify; a body over the limit is a
// *TooLargeError, marked untrusted (listings turn it into a LimitError).
func readLimited(rd io.Reader, limit int64, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(rd, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errkind.Mark(errkind.Untrusted, &TooLargeError{What: what, Limit: limit})
	}
	return b, nil
}

// TooLargeError says a registry sent more bytes than imgsign reads for one
// thing.
type TooLargeError struct {
	What  string
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s is over the %d byte limit", e.What, e.Limit)
}

// LimitError says a registry offered more than imgsign reads for one image
// (limits.go). It is operational, exit 3: a verdict on the part that was read
// could miss the one signature or attestation that decides.
type LimitError struct{ Problem string }

func (e *LimitError) Error() string {
	return e.Problem + "; refusing to judge on partial data (remove stale signatures and attestations from the registry, or check it)"
}

// OverLimit returns a LimitError for the problem format describes.
func OverLimit(format string, args ...any) error {
	return errkind.Mark(errkind.Operational, &LimitError{Problem: fmt.Sprintf(format, args...)})
}

// listingOverLimit turns a listing response over the size limit into a
// LimitError; other errors pass unchanged.
func listingOverLimit(err error) error {
	var tl *TooLargeError
	if errors.As(err, &tl) {
		return OverLimit("%s (limit)", tl)
	}
	return err
}

// Referrers lists the referrers of subject through the OCI 1.1 referrers API,
// following the registry's pagination (Link headers). supported is false when
// the registry has no referrers API; then the caller uses the tag schema
// (FallbackIndex, Tags).
//
// A listing longer than MaxReferrerPages pages, with more than MaxReferrers
// descriptors or a page over MaxManifestBytes is a *LimitError: never a
// truncated listing, which could hide the referrer that decides.
func (r *Repo) Referrers(ctx context.Context, subject v1.Hash) (descs []v1.Descriptor, supported bool, err error) {
	return r.referrers(ctx, subject, MaxReferrerPages)
}

// SupportsReferrers reports whether the registry has the referrers API, from
// the first page of subject's listing (writers need no more).
func (r *Repo) SupportsReferrers(ctx context.Context, subject v1.Hash) (bool, error) {
	_, supported, err := r.referrers(ctx, subject, 1)
	var le *LimitError
	if errors.As(err, &le) {
		return true, nil // only a referrers API has pages
	}
	return supported, err
}

func (r *Repo) referrers(ctx context.Context, subject v1.Hash, maxPages int) (descs []v1.Descriptor, supported bool, err error) {
	isIndex := func(resp *http.Response) bool {
		return resp.StatusCode == http.StatusOK && mediaTypeOf(resp) == string(types.OCIImageIndex)
	}
	next := r.url("/referrers/"+subject.String(), nil)
	for page := 0; next != ""; page++ {
		if page == maxPages {
			return nil, true, OverLimit("registry %s lists the referrers of %s on more than %d pages (limit)", r.name.RegistryStr(), subject, maxPages)
		}
		resp, raw, err := r.get(ctx, next, http.Header{"Accept": {string(types.OCIImageIndex)}}, MaxManifestBytes, "a page of the referrers listing of "+subject.String(), isIndex)
		if err != nil {
			return nil, page > 0, listingOverLimit(err)
		}
		if !isIndex(resp) {
			err := transport.CheckError(resp, http.StatusOK) // reads an error body
			if err == nil {
				_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			}
			resp.Body.Close()
			if page == 0 {
				switch resp.StatusCode {
				case http.StatusOK, http.StatusNotFound, http.StatusBadRequest, http.StatusNotAcceptable, http.StatusMethodNotAllowed:
					return nil, false, nil
				}
			}
			if err == nil { // a 200 that is no index, on a later page
				err = fmt.Errorf("registry sent %q, not an OCI image index", mediaTypeOf(resp))
			}
			return nil, page > 0, classify(ctx, fmt.Errorf("listing referrers of %s: %w", subject, err), r.name.RegistryStr())
		}
		idx, err := storage.ParseIndex(raw)
		if err != nil {
			return nil, true, fmt.Errorf("referrers listing of %s: %w", subject, err)
		}
		if len(descs)+len(idx.Manifests) > MaxReferrers {
			return nil, true, OverLimit("image %s has more than %d referrers (limit)", subject, MaxReferrers)
		}
		descs = append(descs, idx.Manifests...)
		if next, err = nextLink(resp, r); err != nil {
			return nil, true, err
		}
	}
	return descs, true, nil
}

// FallbackTag is the referrers tag schema tag for subject: sha256-<hex>.
func FallbackTag(subject v1.Hash) string { return subject.Algorithm + "-" + subject.Hex }

// FallbackIndex reads the referrers tag schema index of subject. A missing
// tag is an empty list.
func (r *Repo) FallbackIndex(ctx context.Context, subject v1.Hash) ([]v1.Descriptor, error) {
	raw, _, err := r.Manifest(ctx, FallbackTag(subject), v1.Hash{})
	if err != nil {
		if _, ok := err.(*storage.NotFoundError); ok {
			return nil, nil
		}
		var tl *TooLargeError
		if errors.As(err, &tl) {
			return nil, OverLimit("the referrers tag schema index %s of %s is over the %d byte limit (limit)", FallbackTag(subject), r.name, MaxManifestBytes)
		}
		return nil, err
	}
	idx, err := storage.ParseIndex(raw)
	if err != nil {
		return nil, fmt.Errorf("referrers tag %s: %w", FallbackTag(subject), err)
	}
	if len(idx.Manifests) > MaxReferrers {
		return nil, OverLimit("image %s has more than %d referrers (limit) in its referrers tag schema index %s", subject, MaxReferrers, FallbackTag(subject))
	}
	return idx.Manifests, nil
}

// TagsWithPrefix lists the repository's tags starting with prefix. It asks
// the registry to start listing just before prefix (the `last` parameter), so
// on registries that honour it this is one request however many tags exist.
// More than MaxTagListPages pages, more than MaxReferrers tags with the
// prefix (each an image's referrer, for the prefixes imgsign lists) or a page
// over MaxManifestBytes is a *LimitError, not a shorter list.
func (r *Repo) TagsWithPrefix(ctx context.Context, prefix string) ([]string, error) {
	q := url.Values{"n": {"1000"}, "last": {prefix}}
	next := r.url("/tags/list", q)
	var out []string
	seen := map[string]bool{}
	for page := 0; next != ""; page++ {
		if page == MaxTagListPages {
			return nil, OverLimit("registry %s lists the tags of %s on more than %d pages (limit) while looking for tags starting with %s", r.name.RegistryStr(), r.name, MaxTagListPages, prefix)
		}
		resp, raw, err := r.get(ctx, next, nil, MaxManifestBytes, "a page of the tag list of "+r.name.String(), nil)
		if err != nil {
			return nil, listingOverLimit(err)
		}
		if resp.StatusCode != http.StatusOK {
			err := transport.CheckError(resp, http.StatusOK)
			resp.Body.Close()
			if resp.StatusCode == http.StatusNotFound && page == 0 {
				return nil, nil // no such repository: no tags
			}
			return nil, classify(ctx, fmt.Errorf("listing tags of %s: %w", r.name, err), r.name.RegistryStr())
		}
		var tl struct {
			Tags []string `json:"tags"`
		}
		if err := json.Unmarshal(raw, &tl); err != nil {
			return nil, errkind.Operationalf("tag list of %s is not JSON: %w", r.name, err)
		}
		past := false
		for _, t := range tl.Tags {
			if strings.HasPrefix(t, prefix) {
				if !seen[t] {
					if len(out) == MaxReferrers {
						return nil, OverLimit("repository %s has more than %d tags starting with %s (limit)", r.name, MaxReferrers, prefix)
					}
					seen[t] = true
					out = append(out, t)
				}
			} else if t > prefix {
				past = true
			}
		}
		// Tags past the prefix end the search only where the registry lists
		// in lexical order, as the distribution spec asks; some do not.
		if past && sort.StringsAreSorted(tl.Tags) {
			break
		}
		if next, err = nextLink(resp, r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// nextLink follows RFC 5988 pagination as the distribution spec describes it:
// the target of the link whose rel is "next", among any others.
func nextLink(resp *http.Response, r *Repo) (string, error) {
	for _, header := range resp.Header.Values("Link") {
		for rest := header; ; {
			start := strings.IndexByte(rest, '<')
			if start < 0 {
				break
			}
			end := strings.IndexByte(rest[start:], '>')
			if end < 0 {
				break
			}
			target := rest[start+1 : start+end]
			rest = rest[start+end+1:]
			params := rest
			if i := strings.IndexByte(rest, '<'); i >= 0 {
				params = rest[:i]
			}
			if !relNext(params) {
				continue
			}
			// A next page that cannot be followed is an error, not the end of
			// the listing: a truncated listing could hide a referrer.
			u, err := url.Parse(target)
			if err != nil {
				return "", errkind.Operationalf("registry %s sent an unusable pagination link %q: %w", r.name.RegistryStr(), target, err)
			}
			base := url.URL{Scheme: r.scheme, Host: r.name.RegistryStr()}
			next := base.ResolveReference(u)
			if _, err := url.Parse(next.String()); err != nil || next.Host == "" {
				return "", errkind.Operationalf("registry %s sent an unusable pagination link %q", r.name.RegistryStr(), target)
			}
			// The next page is on the registry that was asked: a link to
			// another host or scheme would make imgsign fetch whatever the
			// registry names (inside the CI network too) and quote its
			// answer in errors.
			if next.Scheme != base.Scheme || !strings.EqualFold(next.Host, base.Host) {
				return "", errkind.Operationalf("registry %s sent a pagination link to another host or scheme (%s://%s); refusing to follow it", r.name.RegistryStr(), next.Scheme, next.Host)
			}
			return next.String(), nil
		}
	}
	return "", nil
}

// relNext reports whether a link's parameters (`; rel="next", `) say rel=next.
func relNext(params string) bool {
	for _, p := range strings.FieldsFunc(params, func(c rune) bool { return c == ';' || c == ',' }) {
		k, v, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
			continue
		}
		for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(v), `"`)) {
			if strings.EqualFold(rel, "next") {
				return true
			}
		}
	}
	return false
}

// Image reads the image manifest d lazily: its config and layers are
// fetched (and checked against their digests) only when read, and layers
// are streamed, never buffered whole.
func (r *Repo) Image(ctx context.Context, d v1.Hash) (v1.Image, error) {
	img, err := remote.Image(r.name.Digest(d.String()), r.remote(ctx)...)
	if err != nil {
		return nil, classify(ctx, fmt.Errorf("reading image %s: %w", d, err), r.name.RegistryStr())
	}
	return img, nil
}

// Index reads the image index d lazily, as Image does an image.
func (r *Repo) Index(ctx context.Context, d v1.Hash) (v1.ImageIndex, error) {
	idx, err := remote.Index(r.name.Digest(d.String()), r.remote(ctx)...)
	if err != nil {
		return nil, classify(ctx, fmt.Errorf("reading image index %s: %w", d, err), r.name.RegistryStr())
	}
	return idx, nil
}
