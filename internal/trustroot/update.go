package trustroot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/tuf"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/imgsign/imgsign/internal/boundedfile"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/safetext"
)

// DefaultMirror is the Sigstore public-good instance's TUF repository.
const DefaultMirror = tuf.DefaultMirror

// TUFRootPublicGood is Info.TUFRoot for a root verified under the
// public-good TUF root.json that sigstore-go embeds (and imgsign with it).
const TUFRootPublicGood = "public-good (embedded)"

// TargetName is the TUF target holding a Sigstore instance's trusted root.
const TargetName = "trusted_root.json"

// maxTUFRootBytes bounds a --tuf-root file: go-tuf's limit for root.json.
const maxTUFRootBytes = 512000

// defaultTimeout bounds an update when the request brings no HTTP client.
const defaultTimeout = 2 * time.Minute

// UpdateRequest says where to update the public-good trust root from.
type UpdateRequest struct {
	// CacheDir keeps the TUF metadata and the verified trusted root; ""
	// is CacheDir(), which Named reads.
	CacheDir string
	// MirrorURL is the TUF repository (http or https); "" is DefaultMirror.
	MirrorURL string
	// TUFRootFile is a TUF root.json to verify the repository under (a
	// private Sigstore's); "" is the public-good TUF root sigstore-go
	// embeds.
	TUFRootFile string
	// HTTPClient fetches the metadata and target; nil is a client with a
	// two-minute timeout.
	HTTPClient *http.Client
	// UserAgent is sent with every request ("" sends none of ours).
	UserAgent string
}

// UpdateResult is the root now cached.
type UpdateResult struct {
	Info
	// Changed says the root differs from the one cached before (or none was).
	Changed bool `json:"changed"`
}

// Update fetches the trusted_root.json target from a Sigstore TUF
// repository with sigstore-go's TUF client (which verifies the repository's
// metadata from the TUF root anchor up: signatures, thresholds, versions,
// expiry, and the target's length and hashes), checks that it is a Sigstore
// trusted root with a certificate authority, and caches it in the request's
// CacheDir for Named. Nothing is cached unless all of that passes: a failed
// update leaves the previous copy as it was.
//
// Errors: a mirror that cannot be reached or answers with an HTTP error is
// errkind.Operational; a repository whose metadata or target does not
// verify is errkind.Untrusted; a bad mirror URL, TUF root file or cache
// directory is errkind.Input.
func Update(ctx context.Context, req UpdateRequest) (*UpdateResult, error) {
	mirror, err := mirrorURL(req.MirrorURL)
	if err != nil {
		return nil, err
	}
	anchor, anchorName := tuf.DefaultRoot(), TUFRootPublicGood
	if req.TUFRootFile != "" {
		if anchor, err = readTUFRoot(req.TUFRootFile); err != nil {
			return nil, err
		}
		anchorName = "sha256:" + digest(anchor)
		if bytes.Equal(anchor, tuf.DefaultRoot()) {
			anchorName = TUFRootPublicGood
		}
	}
	dir := req.CacheDir
	if dir == "" {
		if dir, err = CacheDir(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, errkind.Inputf("cache directory: %v", err)
	}
	client := req.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: defaultTimeout}
	}

	opts := &tuf.Options{
		Root:              anchor,
		RepositoryBaseURL: mirror,
		CachePath:         filepath.Join(dir, "repositories"),
		// CacheValidity 0 and no ForceCache: every update is a full TUF
		// refresh from the mirror.
		Fetcher: &fetcher{ctx: ctx, client: client, userAgent: req.UserAgent},
		Context: ctx,
	}
	c, err := tuf.New(opts)
	if err != nil {
		return nil, tufError(mirror, err)
	}
	data, err := c.GetTarget(TargetName)
	if err != nil {
		return nil, tufError(mirror, err)
	}
	if len(data) > MaxFileBytes {
		return nil, errkind.Untrustedf("the %s target of %s is %d bytes, over the %d imgsign reads: not cached", TargetName, mirror, len(data), MaxFileBytes)
	}
	tr, err := parseShared(data)
	if err != nil {
		return nil, errkind.Untrustedf("the %s target of %s is not a Sigstore trusted root (%s): not cached", TargetName, mirror, protoText(err))
	}
	if len(tr.FulcioCertificateAuthorities()) == 0 {
		return nil, errkind.Untrustedf("the %s target of %s lists no certificate authority, so no keyless signature could verify under it: not cached", TargetName, mirror)
	}

	rec := &cacheRecord{Mirror: mirror, TUFRoot: anchorName, Updated: time.Now().UTC().Truncate(time.Second), SHA256: digest(data), TrustedRoot: data}
	prev, _, prevErr := readCache(dir)
	changed := prevErr != nil || prev == nil || prev.SHA256 != rec.SHA256
	if err := writeCache(dir, rec); err != nil {
		return nil, err
	}
	res := &UpdateResult{Info: Info{Name: PublicGood, Source: SourceCached, Path: filepath.Join(dir, cacheFile),
		Mirror: rec.Mirror, TUFRoot: rec.TUFRoot, Updated: rec.Updated, SHA256: rec.SHA256, Root: tr}, Changed: changed}
	res.describe()
	return res, nil
}

// mirrorURL checks a mirror URL, "" meaning DefaultMirror.
func mirrorURL(s string) (string, error) {
	if s == "" {
		return DefaultMirror, nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		shown := s
		if err == nil {
			shown = u.Redacted() // never echo a password
		}
		return "", errkind.Inputf("TUF mirror %q: expected an http(s) URL without credentials, query or fragment, such as %s", safetext.Clean(shown), DefaultMirror)
	}
	return strings.TrimSuffix(s, "/"), nil
}

// readTUFRoot reads a TUF root.json and checks that it is one, signed by a
// threshold of its own root keys: go-tuf trusts it from there.
func readTUFRoot(path string) ([]byte, error) {
	data, err := boundedfile.Read(path, maxTUFRootBytes)
	if err != nil {
		return nil, errkind.Inputf("cannot read TUF root %s: %v", safetext.Clean(path), pathReason(err))
	}
	md, err := metadata.Root().FromBytes(data)
	if err != nil {
		return nil, errkind.Inputf("%s is not a TUF root.json: %v", safetext.Clean(path), err)
	}
	if err := md.VerifyDelegate(metadata.ROOT, md); err != nil {
		return nil, errkind.Inputf("TUF root %s is not signed by its own root keys: %v", safetext.Clean(path), err)
	}
	return data, nil
}

// unreachable marks an HTTP request that got no answer.
type unreachable struct{ err error }

func (u *unreachable) Error() string { return u.err.Error() }
func (u *unreachable) Unwrap() error { return u.err }

// tufError classifies a TUF client failure and drops sigstore-go's
// wrapping, which names its own steps.
func tufError(mirror string, err error) error {
	msg := err.Error()
	for _, p := range []string{"failed to load metadata: ", "tuf refresh failed: ", "failed to create TUF client: "} {
		msg = strings.ReplaceAll(msg, p, "")
	}
	var u *unreachable
	var status *metadata.ErrDownloadHTTP
	switch {
	case errors.As(err, &u):
		return errkind.Mark(errkind.Operational, fmt.Errorf("TUF mirror %s unreachable: %s", mirror, msg))
	case errors.As(err, &status):
		return errkind.Mark(errkind.Operational, fmt.Errorf("TUF mirror %s: %s", mirror, msg))
	case errors.Is(err, &metadata.ErrRepository{}), errors.Is(err, &metadata.ErrDownloadLengthMismatch{}):
		return errkind.Mark(errkind.Untrusted, fmt.Errorf("the TUF repository at %s does not verify: %s; the cached trust root is unchanged", mirror, msg))
	}
	return errkind.Mark(errkind.Operational, fmt.Errorf("updating from TUF mirror %s: %s", mirror, msg))
}

// fetcher is go-tuf's fetcher with a context, an HTTP client of ours, and
// errors that say whether the mirror answered.
type fetcher struct {
	ctx       context.Context
	client    *http.Client
	userAgent string
}

func (f *fetcher) DownloadFile(urlPath string, maxLength int64, _ time.Duration) ([]byte, error) {
	req, err := http.NewRequestWithContext(f.ctx, http.MethodGet, urlPath, nil)
	if err != nil {
		return nil, err
	}
	if f.userAgent != "" {
		req.Header.Set("User-Agent", f.userAgent)
	}
	res, err := f.client.Do(req)
	if err != nil {
		return nil, &unreachable{err}
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		// go-tuf reads a 404 for the next root.json as "no newer root".
		return nil, &metadata.ErrDownloadHTTP{StatusCode: res.StatusCode, URL: urlPath}
	}
	if res.ContentLength > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s is %d bytes, over the %d expected", urlPath, res.ContentLength, maxLength)}
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, maxLength+1))
	if err != nil {
		return nil, &unreachable{err}
	}
	if int64(len(data)) > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s is over the %d bytes expected", urlPath, maxLength)}
	}
	return data, nil
}
