package trustroot

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/imgsign/imgsign/internal/atomicfile"
	"github.com/imgsign/imgsign/internal/boundedfile"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/safetext"
)

// The cache: `imgsign trust-root update [INSTANCE]` keeps, in CacheDir,
//
//	public-good.json   the public-good trusted root it fetched, with the
//	                   signed TUF metadata that vouched for it (timestamp,
//	                   snapshot, targets, and the root.json versions after
//	                   the embedded TUF root) and where from and when, in a
//	                   record (cacheRecord) written atomically
//	repositories/      the TUF client's metadata (root, timestamp, snapshot,
//	                   targets) per mirror, which protects the next update
//	                   against rollback
//	github.json        the same record for GitHub's instance (update
//	                   github), verified under GitHub's TUF root
//	github/repositories/  its TUF client's metadata, apart from Sigstore's
//	private/<sha256>/  the same, for repositories verified under a TUF root
//	                   given with --tuf-root (by its digest): their trusted
//	                   roots are written to a file of the user's (--out),
//	                   never to public-good.json
//
// The cache directory is not trusted: anyone who can write it (a shared CI
// cache, a shared runner) could write public-good.json. So Named(PublicGood)
// uses public-good.json only if its trusted root verifies again, offline,
// against its TUF metadata under the public-good TUF root built into imgsign
// (verifyTUF), with that metadata unexpired; the sha256 in the record is
// only a damage check. Anything else (damaged, no TUF metadata, metadata
// that does not chain to the embedded TUF root, a target that does not
// match it, expired metadata) is passed over for the embedded snapshot, the
// root the binary would use with no cache at all, and Describe says why.
// The same holds for github.json under GitHub's TUF root, except that
// there is no snapshot to fall back to: Named(GitHub) fails.
// Each cache file's content is verified once per process (verifiedCache).

// EnvCacheDir is the environment variable that moves imgsign's cache
// directory (default: the user's cache directory's imgsign, e.g.
// ~/.cache/imgsign). Trust roots are kept in its tuf subdirectory.
const EnvCacheDir = "IMGSIGN_CACHE_DIR"

// cacheFile is the cached public-good root's name in CacheDir (each
// instance's is instance.file).
const cacheFile = PublicGood + ".json"

// maxCacheBytes bounds the cache record: a trusted root and TUF metadata,
// base64-encoded, and a few fields. Sigstore's come to tens of KiB.
const maxCacheBytes = 8 << 20

// CacheDir is the directory trust-root update keeps trust roots in:
// $IMGSIGN_CACHE_DIR/tuf, or tuf in the user's cache directory's imgsign
// (os.UserCacheDir: $XDG_CACHE_HOME or ~/.cache on Linux, ~/Library/Caches
// on macOS, %LocalAppData% on Windows).
func CacheDir() (string, error) {
	base := os.Getenv(EnvCacheDir)
	if base == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return "", errkind.Inputf("no cache directory for trust roots (%v): set %s", err, EnvCacheDir)
		}
		base = filepath.Join(dir, "imgsign")
	}
	abs, err := filepath.Abs(base)
	if err != nil {
		return "", errkind.Inputf("cache directory %s: %v", base, err)
	}
	return filepath.Join(abs, "tuf"), nil
}

// cacheRecord is public-good.json in CacheDir. TrustedRoot holds the
// trusted_root.json target's bytes exactly as TUF verified them (base64 in
// the file: as JSON it would not keep its bytes); SHA256 is their digest,
// checked on every read for damage; TUF is the signed metadata that lists
// the target, which is what makes it trusted. Mirror, TUFRoot and Updated
// are shown, never trusted: TUFRoot is always the instance's
// (instance.tufRoot, e.g. TUFRootPublicGood) for a record imgsign writes.
type cacheRecord struct {
	Mirror      string    `json:"mirror"`
	TUFRoot     string    `json:"tufRoot"`
	Updated     time.Time `json:"updated"`
	SHA256      string    `json:"sha256"`
	TrustedRoot []byte    `json:"trustedRoot"`
	// SigningConfig is the signing_config.v0.2.json target's bytes, when
	// the repository publishes one: verified with the same metadata.
	SigningConfig []byte       `json:"signingConfig,omitempty"`
	TUF           *tufMetadata `json:"tuf,omitempty"`
}

// cached is a cache record that verified, its trusted root parsed.
type cached struct {
	rec  *cacheRecord
	root *root.TrustedRoot
	// expires is when its TUF metadata expires: it is not used after.
	expires time.Time
}

// writeCache stores the verified trusted root of in in dir.
func writeCache(dir string, in *instance, rec *cacheRecord) error {
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if len(data) > maxCacheBytes {
		return errkind.Untrustedf("the trusted root and its TUF metadata come to %d bytes, over the %d imgsign reads back: not cached", len(data), maxCacheBytes)
	}
	return atomicfile.Write(filepath.Join(dir, in.file), data, 0o644)
}

// verifiedCache remembers what reading a cache file's content came to, by
// path, TUF root anchor and content digest: each content is verified
// once per process. A verified entry is reused only until its metadata
// expires; then it is verified again (and fails, saying so).
var verifiedCache = struct {
	sync.Mutex
	m map[string]cacheResult
}{m: map[string]cacheResult{}}

type cacheResult struct {
	c   *cached
	err error
}

// verifyRuns counts full verifications of cache content, for tests.
var verifyRuns atomic.Int64

// readCache reads the cached record of in in dir and verifies it under in's
// TUF root, at timeNow. A missing file is (nil, nil); anything else that
// keeps it from being used is an error saying what.
func readCache(dir string, in *instance) (*cached, error) {
	path := filepath.Join(dir, in.file)
	// Only a regular file: the cache is not trusted, and a FIFO planted
	// in it would hang every verify that names a Sigstore root.
	data, err := boundedfile.ReadRegular(path, maxCacheBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", path, pathReason(err))
	}
	anchor, now := in.anchor(), timeNow()
	key := path + "\x00" + digest(anchor) + "\x00" + digest(data)
	verifiedCache.Lock()
	defer verifiedCache.Unlock()
	if r, ok := verifiedCache.m[key]; ok && (r.err != nil || now.Before(r.c.expires)) {
		return r.c, r.err
	}
	c, err := verifyCache(path, data, in, anchor, now)
	if len(verifiedCache.m) >= 64 {
		clear(verifiedCache.m) // a long-lived process that saw many updates
	}
	verifiedCache.m[key] = cacheResult{c, err}
	return c, err
}

// verifyCache decodes and verifies a cache file's content.
func verifyCache(path string, data []byte, in *instance, anchor []byte, now time.Time) (*cached, error) {
	verifyRuns.Add(1)
	var rec cacheRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("%s is damaged: %v", path, err)
	}
	if len(rec.TrustedRoot) == 0 {
		return nil, fmt.Errorf("%s is damaged: no trustedRoot", path)
	}
	if got := digest(rec.TrustedRoot); got != rec.SHA256 {
		return nil, fmt.Errorf("%s is damaged: its trusted root's sha256 is %s, the record says %q", path, got, rec.SHA256)
	}
	if rec.TUFRoot != in.tufRoot && (rec.TUFRoot != "" || in.name != PublicGood) {
		// What an older imgsign cached after update --tuf-root (or wrote
		// without the field, for public-good), or another instance's
		// record in this one's place.
		return nil, fmt.Errorf("%s was verified under another TUF root (%s), and %s only ever means a root verified under the %s TUF root built into imgsign", path, safetext.Clean(rec.TUFRoot), in.name, in.name)
	}
	targets := map[string][]byte{TargetName: rec.TrustedRoot}
	if rec.SigningConfig != nil {
		targets[SigningConfigTarget] = rec.SigningConfig
	}
	expires, err := verifyTUFTargets(anchor, rec.TUF, targets, now)
	var expired *expiredError
	switch {
	case errors.As(err, &expired):
		return nil, fmt.Errorf("%s is out of date: %v", path, err)
	case err != nil:
		return nil, fmt.Errorf("%s does not verify under the %s TUF root: %v", path, in.name, err)
	}
	tr, err := parseShared(rec.TrustedRoot)
	if err != nil {
		return nil, fmt.Errorf("%s is damaged: not a Sigstore trusted_root.json: %v", path, protoText(err))
	}
	return &cached{rec: &rec, root: tr, expires: expires}, nil
}

func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// parsed are the cached roots parsed so far, by digest: Named returns the
// same *root.TrustedRoot for the same bytes, as it does for the embedded
// snapshot. Roots are few (one per update), so the map stays small.
var parsed = struct {
	sync.Mutex
	m map[string]*root.TrustedRoot
}{m: map[string]*root.TrustedRoot{}}

func parseShared(data []byte) (*root.TrustedRoot, error) {
	d := digest(data)
	parsed.Lock()
	defer parsed.Unlock()
	if tr := parsed.m[d]; tr != nil {
		return tr, nil
	}
	tr, err := root.NewTrustedRootFromJSON(data)
	if err != nil {
		return nil, err
	}
	parsed.m[d] = tr
	return tr, nil
}
