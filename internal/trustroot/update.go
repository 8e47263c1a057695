package trustroot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tuf"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/imgsign/imgsign/internal/atomicfile"
	"github.com/imgsign/imgsign/internal/boundedfile"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/safetext"
)

// DefaultMirror is the Sigstore public-good instance's TUF repository.
const DefaultMirror = tuf.DefaultMirror

// TUFRootPublicGood is Info.TUFRoot for a root verified under the
// public-good TUF root.json that sigstore-go embeds (and imgsign with it):
// the only TUF root a cached public-good root is ever verified under.
const TUFRootPublicGood = "public-good (embedded)"

// GitHubMirror is the TUF repository of GitHub's Sigstore instance.
const GitHubMirror = "https://tuf-repo.github.com"

// TUFRootGitHub is Info.TUFRoot for a root verified under the TUF root.json
// of GitHubMirror built into imgsign: the only TUF root a cached github root
// is ever verified under.
const TUFRootGitHub = "github (embedded)"

// TargetName is the TUF target holding a Sigstore instance's trusted root.
const TargetName = "trusted_root.json"

// maxTUFRootBytes bounds a --tuf-root file: go-tuf's limit for root.json.
const maxTUFRootBytes = 512000

// defaultTimeout bounds an update when the request brings no HTTP client.
const defaultTimeout = 2 * time.Minute

// UpdateRequest says which named trust root to update and from where, or
// which private Sigstore's trusted root to fetch into a file.
type UpdateRequest struct {
	// Instance is the named trust root to update (PublicGood or GitHub):
	// its repository is verified under its TUF root built into imgsign.
	// "" is PublicGood, unless TUFRootFile is given.
	Instance string
	// CacheDir keeps the TUF metadata and the verified trusted root; ""
	// is CacheDir(), which Named reads.
	CacheDir string
	// MirrorURL is the TUF repository (http or https); "" is the
	// instance's (DefaultMirror, GitHubMirror).
	MirrorURL string
	// TUFRootFile is a TUF root.json to verify the repository under (a
	// private Sigstore's), instead of an Instance's. It needs OutFile: a
	// private root never becomes a named one.
	TUFRootFile string
	// OutFile, when set, is where the verified trusted_root.json is
	// written (atomically, byte for byte as the TUF target), instead of
	// the cache: a file the user then names as a trust root (verify-blob
	// --trusted-root, file: in a trust policy).
	OutFile string
	// HTTPClient fetches the metadata and target; nil is a client with a
	// two-minute timeout.
	HTTPClient *http.Client
	// UserAgent is sent with every request ("" sends none of ours).
	UserAgent string
}

// UpdateResult is the root now cached, or written to OutFile.
type UpdateResult struct {
	Info
	// Changed says the root differs from the one cached (or in OutFile)
	// before, or none was.
	Changed bool `json:"changed"`
}

// Update fetches the trusted_root.json target from a Sigstore TUF
// repository with sigstore-go's TUF client (which verifies the repository's
// metadata from the TUF root anchor up: signatures, thresholds, versions,
// expiry, and the target's length and hashes) and checks that it is a
// Sigstore trusted root with a certificate authority.
//
// Under a named instance's TUF root (no TUFRootFile) it caches the target
// in the request's CacheDir for Named, with the signed TUF metadata that lists
// it (the root versions followed, timestamp, snapshot, targets), having
// checked that they verify again offline as Named will. With OutFile, or
// with TUFRootFile (which needs OutFile), it writes the target to OutFile
// and leaves the cached named roots alone. Nothing is written unless
// all of that passes: a failed update leaves the previous copy as it was.
//
// Errors: a mirror that cannot be reached or answers with an HTTP error is
// errkind.Operational; a repository whose metadata or target does not
// verify is errkind.Untrusted; an unknown instance, a bad mirror URL, TUF
// root file, output file or cache directory, a TUF root file without an
// output file or with an instance, is errkind.Input.
func Update(ctx context.Context, req UpdateRequest) (*UpdateResult, error) {
	name := req.Instance
	if name == "" {
		name = PublicGood
	}
	in, err := lookup(name)
	if err != nil {
		return nil, err
	}
	if req.TUFRootFile != "" && req.Instance != "" {
		return nil, errkind.Inputf("--tuf-root %s verifies a private Sigstore's repository under a TUF root of your own; %s is verified under the one built into imgsign: give one or the other", safetext.Clean(req.TUFRootFile), in.name)
	}
	def := in.mirror
	if req.MirrorURL != "" {
		def = req.MirrorURL
	}
	mirror, err := mirrorURL(def)
	if err != nil {
		return nil, err
	}
	if req.TUFRootFile != "" && req.OutFile == "" {
		return nil, errkind.Inputf("a TUF root of your own (--tuf-root %s) never replaces the public-good trust root: give an output file (--out FILE) for the trusted_root.json it verifies, and name that file as the trust root (verify-blob --trusted-root FILE, or file: FILE in a trust policy)", safetext.Clean(req.TUFRootFile))
	}
	out := ""
	if req.OutFile != "" {
		if out, err = filepath.Abs(req.OutFile); err != nil {
			return nil, errkind.Inputf("output file %s: %v", safetext.Clean(req.OutFile), err)
		}
	}
	dir := req.CacheDir
	if dir == "" {
		if dir, err = CacheDir(); err != nil {
			return nil, err
		}
	}
	anchor, anchorName, tufCache := in.anchor(), in.tufRoot, filepath.Join(dir, in.clientDir)
	if req.TUFRootFile != "" {
		if anchor, err = readTUFRoot(req.TUFRootFile); err != nil {
			return nil, err
		}
		// Its own TUF cache: what a private anchor verified never mixes
		// with a named instance's repository metadata. (An instance's
		// own TUF root given as a file is that instance's.)
		anchorName, tufCache = "sha256:"+digest(anchor), filepath.Join(dir, "private", digest(anchor))
		for _, known := range instances {
			if bytes.Equal(anchor, known.anchor()) {
				in, anchorName, tufCache = known, known.tufRoot, filepath.Join(dir, known.clientDir)
			}
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, errkind.Inputf("cache directory: %v", err)
	}
	client := req.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: defaultTimeout}
	}

	kept := "the cached " + in.name + " trust root is unchanged"
	if out != "" {
		kept = safetext.Clean(out) + " is unchanged"
	}
	fetch := &fetcher{ctx: ctx, client: client, userAgent: req.UserAgent, mirror: mirror}
	opts := &tuf.Options{
		Root:              anchor,
		RepositoryBaseURL: mirror,
		CachePath:         tufCache,
		// CacheValidity 0 and no ForceCache: every update is a full TUF
		// refresh from the mirror.
		Fetcher: fetch,
		Context: ctx,
	}
	c, err := tuf.New(opts)
	if err != nil {
		return nil, tufError(mirror, err, kept)
	}
	data, err := c.GetTarget(TargetName)
	if err != nil {
		return nil, tufError(mirror, err, kept)
	}
	if len(data) > MaxFileBytes {
		return nil, errkind.Untrustedf("the %s target of %s is %d bytes, over the %d imgsign reads; %s", TargetName, mirror, len(data), MaxFileBytes, kept)
	}
	tr, err := parseShared(data)
	if err != nil {
		return nil, errkind.Untrustedf("the %s target of %s is not a Sigstore trusted root (%s); %s", TargetName, mirror, protoText(err), kept)
	}
	if len(tr.FulcioCertificateAuthorities()) == 0 {
		return nil, errkind.Untrustedf("the %s target of %s lists no certificate authority, so no keyless signature could verify under it; %s", TargetName, mirror, kept)
	}
	// The signing config the repository publishes beside it, if any: what
	// sign --keyless uses by default (PublicGoodSigningConfig).
	var signingConfig []byte
	if sc, err := c.GetTarget(SigningConfigTarget); err == nil && len(sc) <= MaxFileBytes {
		if _, err := root.NewSigningConfigFromJSON(sc); err == nil {
			signingConfig = sc
		}
	}
	now := timeNow().UTC().Truncate(time.Second)

	if out != "" {
		prev, prevErr := boundedfile.Read(out, MaxFileBytes)
		changed := prevErr != nil || !bytes.Equal(prev, data)
		if err := atomicfile.Write(out, data, 0o644); err != nil {
			return nil, err
		}
		res := &UpdateResult{Info: Info{Source: SourceFile, Path: out, Mirror: mirror, TUFRoot: anchorName, Updated: now, SHA256: digest(data), Root: tr}, Changed: changed}
		res.describe()
		return res, nil
	}

	// What Named will check: the target against the metadata the client
	// verified, offline, from the instance's TUF root up.
	md, err := fetch.metadata(filepath.Join(tufCache, tuf.URLToPath(mirror)))
	if err != nil {
		return nil, errkind.Operationalf("reading the TUF metadata of %s back from the cache: %v; %s", mirror, err, kept)
	}
	targets := map[string][]byte{TargetName: data}
	if signingConfig != nil {
		targets[SigningConfigTarget] = signingConfig
	}
	expires, err := verifyTUFTargets(anchor, md, targets, now)
	if err != nil {
		return nil, errkind.Untrustedf("the %s target of %s does not verify again offline under the %s TUF root (%v); %s", TargetName, mirror, in.name, err, kept)
	}
	rec := &cacheRecord{Mirror: mirror, TUFRoot: anchorName, Updated: now, SHA256: digest(data), TrustedRoot: data, SigningConfig: signingConfig, TUF: md}
	prev, prevErr := readCache(dir, in)
	changed := prevErr != nil || prev == nil || prev.rec.SHA256 != rec.SHA256
	if err := writeCache(dir, in, rec); err != nil {
		return nil, err
	}
	res := &UpdateResult{Info: Info{Name: in.name, Source: SourceCached, Path: filepath.Join(dir, in.file),
		Mirror: rec.Mirror, TUFRoot: rec.TUFRoot, Updated: rec.Updated, TUFExpires: expires, SHA256: rec.SHA256, Root: tr}, Changed: changed}
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
func tufError(mirror string, err error, kept string) error {
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
		return errkind.Mark(errkind.Untrusted, fmt.Errorf("the TUF repository at %s does not verify: %s; %s", mirror, msg, kept))
	}
	return errkind.Mark(errkind.Operational, fmt.Errorf("updating from TUF mirror %s: %s", mirror, msg))
}

// fetcher is go-tuf's fetcher with a context, an HTTP client of ours, and
// errors that say whether the mirror answered. It keeps the N.root.json
// versions it downloads: the client's cache keeps only the last, and the
// cache record needs each one since the anchor to verify offline.
type fetcher struct {
	ctx       context.Context
	client    *http.Client
	userAgent string
	mirror    string

	mu    sync.Mutex
	roots map[int64][]byte // by version
}

var rootFile = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([1-9][0-9]{0,17})\.root\.json$`) })

// metadata is the TUF metadata the update verified: the root versions
// downloaded, and the timestamp, snapshot and targets the client keeps in
// dir (verifyTUF checks them all again).
func (f *fetcher) metadata(dir string) (*tufMetadata, error) {
	md := &tufMetadata{}
	f.mu.Lock()
	versions := slices.Sorted(maps.Keys(f.roots))
	for _, v := range versions {
		md.Roots = append(md.Roots, f.roots[v])
	}
	f.mu.Unlock()
	for _, m := range []struct {
		name  string
		limit int64
		to    *[]byte
	}{
		{metadata.TIMESTAMP, 16384, &md.Timestamp},
		{metadata.SNAPSHOT, 2000000, &md.Snapshot},
		{metadata.TARGETS, 5000000, &md.Targets},
	} {
		data, err := boundedfile.Read(filepath.Join(dir, m.name+".json"), m.limit)
		if err != nil {
			return nil, err
		}
		*m.to = data
	}
	return md, nil
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
	if rest, ok := strings.CutPrefix(urlPath, f.mirror+"/"); ok {
		if m := rootFile().FindStringSubmatch(rest); m != nil {
			v, _ := strconv.ParseInt(m[1], 10, 64)
			f.mu.Lock()
			if f.roots == nil {
				f.roots = map[int64][]byte{}
			}
			f.roots[v] = data
			f.mu.Unlock()
		}
	}
	return data, nil
}
