package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/errkind"
)

// manifestAccept is every manifest type imgsign can sign or read.
var manifestAccept = strings.Join([]string{
	string(types.OCIManifestSchema1), string(types.OCIImageIndex),
	string(types.DockerManifestSchema2), string(types.DockerManifestList),
}, ", ")

func (r *Repo) url(path string, query url.Values) string {
	u := url.URL{Scheme: r.scheme, Host: r.Name.RegistryStr(), Path: "/v2/" + r.Name.RepositoryStr() + path}
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
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, classify(fmt.Errorf("%s %s: %w", method, u, err), r.Name.RegistryStr())
	}
	return resp, nil
}

// NotFoundError says a manifest or blob is not in the registry.
type NotFoundError struct{ What string }

func (e *NotFoundError) Error() string { return e.What + " not found" }

// Resolve returns the descriptor of the manifest ref names. A tag is resolved
// here once; callers use the returned digest from then on.
func (r *Repo) Resolve(ctx context.Context, ref name.Reference) (v1.Descriptor, error) {
	resp, err := r.do(ctx, http.MethodHead, r.url("/manifests/"+ref.Identifier(), nil), http.Header{"Accept": {manifestAccept}}, nil)
	if err != nil {
		return v1.Descriptor{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return v1.Descriptor{}, errkind.Mark(errkind.Input, fmt.Errorf("image %s: %w (check the name and tag, and that it was pushed)", ref, &NotFoundError{What: "manifest"}))
	}
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return v1.Descriptor{}, classify(fmt.Errorf("resolving %s: %w", ref, err), r.Name.RegistryStr())
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
	if want.Hex != "" {
		identifier = want.String()
	}
	resp, err := r.do(ctx, http.MethodGet, r.url("/manifests/"+identifier, nil), http.Header{"Accept": {manifestAccept}}, nil)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, "", &NotFoundError{What: "manifest " + r.Name.String() + ":" + identifier}
	}
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return nil, "", classify(fmt.Errorf("fetching manifest %s: %w", identifier, err), r.Name.RegistryStr())
	}
	raw, err := readLimited(resp.Body, MaxManifestBytes, "manifest "+identifier)
	if err != nil {
		return nil, "", err
	}
	if want.Hex != "" {
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
	resp, err := r.do(ctx, http.MethodGet, r.url("/blobs/"+d.Digest.String(), nil), nil, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, &NotFoundError{What: "blob " + d.Digest.String()}
	}
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return nil, classify(fmt.Errorf("fetching blob %s: %w", d.Digest, err), r.Name.RegistryStr())
	}
	b, err := readLimited(resp.Body, limit, "blob "+d.Digest.String())
	if err != nil {
		return nil, err
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

func readLimited(rd io.Reader, limit int64, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(rd, limit+1))
	if err != nil {
		return nil, errkind.Operationalf("reading %s: %w", what, err)
	}
	if int64(len(b)) > limit {
		return nil, errkind.Untrustedf("%s is over the %d byte limit", what, limit)
	}
	return b, nil
}

// Referrers lists the referrers of subject through the OCI 1.1 referrers API.
// supported is false when the registry has no referrers API; then the caller
// uses the tag schema (FallbackIndex, Tags).
func (r *Repo) Referrers(ctx context.Context, subject v1.Hash) (descs []v1.Descriptor, supported bool, err error) {
	resp, err := r.do(ctx, http.MethodGet, r.url("/referrers/"+subject.String(), nil), http.Header{"Accept": {string(types.OCIImageIndex)}}, nil)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || mediaTypeOf(resp) != string(types.OCIImageIndex) {
		switch resp.StatusCode {
		case http.StatusOK, http.StatusNotFound, http.StatusBadRequest, http.StatusNotAcceptable, http.StatusMethodNotAllowed:
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			return nil, false, nil
		}
		return nil, false, classify(fmt.Errorf("listing referrers of %s: %w", subject, transport.CheckError(resp, http.StatusOK)), r.Name.RegistryStr())
	}
	raw, err := readLimited(resp.Body, MaxManifestBytes, "referrers listing")
	if err != nil {
		return nil, true, err
	}
	idx, err := parseIndex(raw)
	if err != nil {
		return nil, true, fmt.Errorf("referrers listing of %s: %w", subject, err)
	}
	return idx.Manifests, true, nil
}

func parseIndex(raw []byte) (*v1.IndexManifest, error) {
	var idx v1.IndexManifest
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, errkind.Untrustedf("not an OCI image index: %w", err)
	}
	return &idx, nil
}

// FallbackTag is the referrers tag schema tag for subject: sha256-<hex>.
func FallbackTag(subject v1.Hash) string { return subject.Algorithm + "-" + subject.Hex }

// FallbackIndex reads the referrers tag schema index of subject. A missing
// tag is an empty list.
func (r *Repo) FallbackIndex(ctx context.Context, subject v1.Hash) ([]v1.Descriptor, error) {
	raw, _, err := r.Manifest(ctx, FallbackTag(subject), v1.Hash{})
	if err != nil {
		if _, ok := err.(*NotFoundError); ok {
			return nil, nil
		}
		return nil, err
	}
	idx, err := parseIndex(raw)
	if err != nil {
		return nil, fmt.Errorf("referrers tag %s: %w", FallbackTag(subject), err)
	}
	return idx.Manifests, nil
}

// TagsWithPrefix lists the repository's tags starting with prefix. It asks
// the registry to start listing just before prefix (the `last` parameter), so
// on registries that honour it this is one request however many tags exist.
func (r *Repo) TagsWithPrefix(ctx context.Context, prefix string) ([]string, error) {
	q := url.Values{"n": {"1000"}, "last": {prefix}}
	next := r.url("/tags/list", q)
	var out []string
	for page := 0; next != "" && page < 100; page++ {
		resp, err := r.do(ctx, http.MethodGet, next, nil, nil)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusNotFound {
			resp.Body.Close()
			return nil, nil
		}
		if err := transport.CheckError(resp, http.StatusOK); err != nil {
			resp.Body.Close()
			return nil, classify(fmt.Errorf("listing tags of %s: %w", r.Name, err), r.Name.RegistryStr())
		}
		raw, err := readLimited(resp.Body, MaxManifestBytes, "tag list")
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		var tl struct {
			Tags []string `json:"tags"`
		}
		if err := json.Unmarshal(raw, &tl); err != nil {
			return nil, errkind.Operationalf("tag list of %s is not JSON: %w", r.Name, err)
		}
		past := false
		for _, t := range tl.Tags {
			if strings.HasPrefix(t, prefix) {
				out = append(out, t)
			} else if t > prefix {
				past = true
			}
		}
		if past {
			break
		}
		next = nextLink(resp, r)
	}
	return out, nil
}

// nextLink follows RFC 5988 pagination as the distribution spec describes it.
func nextLink(resp *http.Response, r *Repo) string {
	link := resp.Header.Get("Link")
	if link == "" {
		return ""
	}
	start, end := strings.Index(link, "<"), strings.Index(link, ">")
	if start < 0 || end < start || !strings.Contains(link, `rel="next"`) {
		return ""
	}
	u, err := url.Parse(link[start+1 : end])
	if err != nil {
		return ""
	}
	base := url.URL{Scheme: r.scheme, Host: r.Name.RegistryStr()}
	return base.ResolveReference(u).String()
}
