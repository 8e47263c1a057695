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
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/imgsign/imgsign/internal/atomicfile"
	"github.com/imgsign/imgsign/internal/boundedfile"
	"github.com/imgsign/imgsign/internal/errkind"
)

// The cache: `imgsign trust-root update` keeps, in CacheDir,
//
//	public-good.json   the trusted root it fetched and verified, in a record
//	                   saying where from and when (cacheRecord), written
//	                   atomically, only ever after TUF verified it
//	repositories/      the TUF client's metadata (root, timestamp, snapshot,
//	                   targets) per mirror, which protects the next update
//	                   against rollback
//
// Named(PublicGood) uses public-good.json when it reads and parses, and the
// embedded snapshot otherwise. A cached copy that is damaged (unreadable,
// not JSON, a digest that does not match, not a trusted root) is never used:
// the embedded snapshot, which the binary would use with no cache at all, is
// the safe fallback, and Describe says why the cache was passed over.

// EnvCacheDir is the environment variable that moves imgsign's cache
// directory (default: the user's cache directory's imgsign, e.g.
// ~/.cache/imgsign). Trust roots are kept in its tuf subdirectory.
const EnvCacheDir = "IMGSIGN_CACHE_DIR"

// cacheFile is the cached public-good root's name in CacheDir.
const cacheFile = PublicGood + ".json"

// maxCacheBytes bounds the cache record: a trusted root plus a few fields.
const maxCacheBytes = MaxFileBytes + 16<<10

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
// the TUF target's, checked on every read.
type cacheRecord struct {
	Mirror      string    `json:"mirror"`
	TUFRoot     string    `json:"tufRoot"`
	Updated     time.Time `json:"updated"`
	SHA256      string    `json:"sha256"`
	TrustedRoot []byte    `json:"trustedRoot"`
}

// writeCache stores the verified trusted root in dir.
func writeCache(dir string, rec *cacheRecord) error {
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, cacheFile), append(data, '\n'), 0o644)
}

// readCache reads the cached record in dir and parses its root. A missing
// file is (nil, nil, nil); anything else wrong is an error saying what.
func readCache(dir string) (*cacheRecord, *root.TrustedRoot, error) {
	path := filepath.Join(dir, cacheFile)
	data, err := boundedfile.Read(path, maxCacheBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read %s: %v", path, pathReason(err))
	}
	var rec cacheRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, nil, fmt.Errorf("%s is damaged: %v", path, err)
	}
	if len(rec.TrustedRoot) == 0 {
		return nil, nil, fmt.Errorf("%s is damaged: no trustedRoot", path)
	}
	if got := digest(rec.TrustedRoot); got != rec.SHA256 {
		return nil, nil, fmt.Errorf("%s is damaged: its trusted root's sha256 is %s, the record says %q", path, got, rec.SHA256)
	}
	tr, err := parseShared(rec.TrustedRoot)
	if err != nil {
		return nil, nil, fmt.Errorf("%s is damaged: not a Sigstore trusted_root.json: %v", path, protoText(err))
	}
	return &rec, tr, nil
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
