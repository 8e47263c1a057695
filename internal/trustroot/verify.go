package trustroot

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/sigstore/sigstore-go/pkg/tuf"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/trustedmetadata"
)

// What "public-good" trusts. The cached copy of the public-good root is
// used only if it verifies again, offline, every time a process first reads
// it: the TUF metadata cached with it must chain, signature by signature,
// from the public-good TUF root.json built into imgsign (publicGoodAnchor)
// through every root rotation to a timestamp, snapshot and targets metadata
// that are all unexpired and list the cached trusted_root.json's length and
// hashes. Whoever can write the cache directory can delete or replace that
// file, but cannot make a root of theirs pass: they would need Sigstore's
// TUF keys. What fails is passed over for the embedded snapshot.
//
// This does not use sigstore-go's TUF client in its offline (ForceCache)
// mode: that client starts from the anchor alone every time (it writes the
// anchor over the cached root.json and does not follow the root rotations
// since), so once Sigstore rotates its root past the one embedded, or the
// embedded one expires, nothing would verify offline; and whenever the
// cached metadata does not verify it goes online to refresh it, writing to
// the cache, from a command that should neither. The checks themselves are
// go-tuf's (trustedmetadata), the ones its updater makes online.

// publicGoodAnchor is the TUF root.json the public-good trust root is
// anchored to: always sigstore-go's embedded public-good root (and with it
// imgsign's), for updates and for reading the cache. Only tests replace it
// (this package's, and others' through UseTUFAnchorForTest), to stand a
// local TUF repository in for Sigstore's.
var publicGoodAnchor = tuf.DefaultRoot

// githubAnchor is the TUF root.json GitHub's trust root is anchored to:
// always githubTUFRoot, the root of tuf-repo.github.com the GitHub CLI
// embeds. Only this package's tests replace it, as publicGoodAnchor.
var githubAnchor = func() []byte { return githubTUFRoot }

// timeNow is the time TUF metadata expiry is checked at (tests move it).
var timeNow = time.Now

// maxTUFRoots bounds the root rotations a cached record may carry: go-tuf's
// own bound (MaxRootRotations) for one update.
const maxTUFRoots = 256

// tufMetadata is the signed TUF metadata that vouches for a cached trusted
// root, kept byte for byte as the update verified it.
type tufMetadata struct {
	// Roots are the root.json versions after the anchor's that the update
	// followed, oldest first: each is signed by the one before.
	Roots     [][]byte `json:"roots,omitempty"`
	Timestamp []byte   `json:"timestamp"`
	Snapshot  []byte   `json:"snapshot"`
	Targets   []byte   `json:"targets"`
}

// errNoTUFMetadata: a cache record without TUF metadata (as imgsign wrote
// them before it kept the metadata, or as anyone could write one).
var errNoTUFMetadata = errors.New("it holds no TUF metadata to verify it against")

// expiredError: TUF metadata that verifies, but has expired.
type expiredError struct {
	role string
	at   time.Time
}

func (e *expiredError) Error() string {
	return fmt.Sprintf("its TUF %s.json expired at %s", e.role, e.at.UTC().Format(time.RFC3339))
}

// verifyTUF checks, offline and at now, that target is the TargetName
// target of md, verified from anchor up with go-tuf's client workflow
// checks: each root signed by a threshold of the previous one's root keys
// and of its own, versions in sequence; timestamp, snapshot and targets
// signed by the final root's keys for them, matching each other's versions
// and hashes; the target's length and hashes as targets lists them; and
// the final root, timestamp, snapshot and targets unexpired at now. It
// returns when the metadata expires: the earliest of those four expiries.
//
// Expiry is checked last (go-tuf checks it as it goes), so that metadata
// that does not verify is reported as that, never as out of date: an
// attacker's record is not "expired".
func verifyTUF(anchor []byte, md *tufMetadata, target []byte, now time.Time) (time.Time, error) {
	return verifyTUFTargets(anchor, md, map[string][]byte{TargetName: target}, now)
}

// verifyTUFTargets is verifyTUF for several targets of the same metadata:
// each must be the one its targets.json lists.
func verifyTUFTargets(anchor []byte, md *tufMetadata, want map[string][]byte, now time.Time) (time.Time, error) {
	if md == nil || len(md.Timestamp) == 0 || len(md.Snapshot) == 0 || len(md.Targets) == 0 {
		return time.Time{}, errNoTUFMetadata
	}
	if len(md.Roots) > maxTUFRoots {
		return time.Time{}, fmt.Errorf("its TUF metadata lists %d root versions, over the %d imgsign follows", len(md.Roots), maxTUFRoots)
	}
	tm, err := trustedmetadata.New(anchor)
	if err != nil {
		// The anchor is built in: a broken build, reported all the same.
		return time.Time{}, fmt.Errorf("the TUF root built in: %w", err)
	}
	// The zero time: nothing has expired yet. The expiries go-tuf would
	// check at now (the final root's, timestamp's, snapshot's and
	// targets') are checked below.
	tm.RefTime = time.Time{}
	for _, data := range md.Roots {
		r, err := metadata.Root().FromBytes(data)
		if err != nil {
			return time.Time{}, fmt.Errorf("TUF root.json: %w", err)
		}
		if r.Signed.Version <= tm.Root.Signed.Version {
			continue // not after the anchor (a newer imgsign embeds a newer one)
		}
		if _, err := tm.UpdateRoot(data); err != nil {
			return time.Time{}, fmt.Errorf("TUF root.json version %d: %w", r.Signed.Version, err)
		}
	}
	if _, err := tm.UpdateTimestamp(md.Timestamp); err != nil {
		return time.Time{}, fmt.Errorf("TUF timestamp.json: %w", err)
	}
	if _, err := tm.UpdateSnapshot(md.Snapshot, false); err != nil {
		return time.Time{}, fmt.Errorf("TUF snapshot.json: %w", err)
	}
	targets, err := tm.UpdateTargets(md.Targets)
	if err != nil {
		return time.Time{}, fmt.Errorf("TUF targets.json: %w", err)
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		tf := targets.Signed.Targets[name]
		if tf == nil {
			return time.Time{}, fmt.Errorf("its TUF targets.json lists no %s", name)
		}
		if err := tf.VerifyLengthHashes(want[name]); err != nil {
			return time.Time{}, fmt.Errorf("it is not the %s its TUF targets.json lists: %w", name, err)
		}
	}
	first := &expiredError{metadata.ROOT, tm.Root.Signed.Expires}
	for _, e := range []*expiredError{{metadata.TIMESTAMP, tm.Timestamp.Signed.Expires}, {metadata.SNAPSHOT, tm.Snapshot.Signed.Expires}, {metadata.TARGETS, targets.Signed.Expires}} {
		if e.at.Before(first.at) {
			first = e
		}
	}
	if !now.Before(first.at) {
		return time.Time{}, first
	}
	return first.at.UTC(), nil
}
