package trustroot

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/tuf"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/testing/fakesigstore"
	"github.com/imgsign/imgsign/internal/trustroot/tuftest"
)

// wantEmbedded: Named(public-good) is the embedded snapshot, and Describe
// says why the cached copy was passed over (want, and its path).
func wantEmbedded(t *testing.T, f *fixture, want string) {
	t.Helper()
	tr, err := Named(PublicGood)
	if err != nil {
		t.Fatal(err)
	}
	if tr != embeddedRoot(t) {
		t.Fatalf("Named used the cached root (CA %s)", fulcioRoot(t, tr).Subject)
	}
	info, err := Describe(PublicGood)
	if err != nil || info.Source != SourceEmbedded || !strings.Contains(info.CacheProblem, want) || !strings.Contains(info.CacheProblem, filepath.Join(f.cacheDir, cacheFile)) {
		t.Fatalf("Describe: source %q, problem %q, %v; want embedded, a problem containing %q and the path", info.Source, info.CacheProblem, err, want)
	}
	t.Logf("passed over: %s", info.CacheProblem)
}

// The red team's finding: whoever can write the cache directory wrote a
// root of theirs there, with its sha256, and verify trusted their CA. Now
// the cached copy is used only if it verifies under the public-good TUF
// root, so none of these is: Named returns the embedded snapshot.
func TestPoisonedCacheNotUsed(t *testing.T) {
	f := newFixture(t)
	if _, err := f.update(t); err != nil {
		t.Fatal(err)
	}
	var good cacheRecord
	if err := json.Unmarshal([]byte(f.cached(t)), &good); err != nil {
		t.Fatal(err)
	}
	attacker := fakesigstore.New(t)
	evil := attacker.TrustedRootJSON(t)
	// The attacker's own TUF repository, its root rotated once: metadata
	// signed by keys of theirs, publishing their root.
	theirs := tuftest.New(t, map[string][]byte{TargetName: evil})
	theirs.RotateRoot()
	theirMD := tufOf(theirs.Metadata())

	legit := func(edit func(r *cacheRecord)) cacheRecord {
		r := good
		md := *good.TUF
		r.TUF = &md
		edit(&r)
		return r
	}
	withEvil := func(r *cacheRecord) { r.TrustedRoot, r.SHA256 = evil, digest(evil) }
	for _, tc := range []struct {
		name string
		rec  cacheRecord
		want string
	}{
		{"the attacker's root with its sha256, no TUF metadata", cacheRecord{Mirror: DefaultMirror, TUFRoot: TUFRootPublicGood, Updated: time.Now(), SHA256: digest(evil), TrustedRoot: evil},
			"holds no TUF metadata"},
		{"the attacker's root in place of the target, the legitimate metadata", legit(withEvil),
			"is not the trusted_root.json its TUF targets.json lists"},
		{"the attacker's root and TUF metadata signed by their keys", legit(func(r *cacheRecord) { withEvil(r); r.TUF = theirMD }),
			"TUF root.json version 2"},
		{"the attacker's root and their metadata, without their roots", legit(func(r *cacheRecord) {
			withEvil(r)
			md := *theirMD
			md.Roots = nil
			r.TUF = &md
		}), "TUF timestamp.json"},
		{"the legitimate timestamp and snapshot, the attacker's targets", legit(func(r *cacheRecord) { withEvil(r); r.TUF.Targets = theirMD.Targets }),
			"TUF targets.json"},
		{"the legitimate timestamp, the attacker's snapshot and targets", legit(func(r *cacheRecord) {
			withEvil(r)
			r.TUF.Snapshot, r.TUF.Targets = theirMD.Snapshot, theirMD.Targets
		}), "TUF snapshot.json"},
		{"the legitimate root under another TUF root's name (an older imgsign's update --tuf-root)", legit(func(r *cacheRecord) { r.TUFRoot = "sha256:" + digest(theirs.RootJSON()) }),
			"was verified under another TUF root"},
		{"TUF metadata without a timestamp", legit(func(r *cacheRecord) { r.TUF.Timestamp = nil }),
			"holds no TUF metadata"},
		{"too many roots", legit(func(r *cacheRecord) { r.TUF.Roots = make([][]byte, maxTUFRoots+1) }),
			"root versions, over the 256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := json.Marshal(tc.rec)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(f.cacheDir, cacheFile), data, 0o644); err != nil {
				t.Fatal(err)
			}
			wantEmbedded(t, f, tc.want)
		})
	}

	// The legitimate record, written back: used again.
	data, err := json.Marshal(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.cacheDir, cacheFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if tr, err := Named(PublicGood); err != nil || !fulcioRoot(t, tr).Equal(f.fs.FulcioRoot()) {
		t.Fatalf("Named with the legitimate record: %v", err)
	}
	// Under any other public-good TUF root (the attacker's; the real one,
	// sigstore-go's, which production always uses), the same record is not
	// used.
	useAnchor(t, theirs.RootJSON())
	wantEmbedded(t, f, "does not verify under the public-good TUF root")
	useAnchor(t, tuf.DefaultRoot())
	wantEmbedded(t, f, "TUF timestamp.json")
}

// A target the public-good repository signed that is not a trusted root
// (which update would refuse) is not used either.
func TestCachedTargetNotATrustedRoot(t *testing.T) {
	f := newFixture(t)
	f.repo.Publish(map[string][]byte{TargetName: []byte(`{}`)})
	rec := cacheRecord{TUFRoot: TUFRootPublicGood, SHA256: digest([]byte(`{}`)), TrustedRoot: []byte(`{}`), TUF: tufOf(f.repo.Metadata())}
	data, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(f.cacheDir, cacheFile), data)
	wantEmbedded(t, f, "not a Sigstore trusted_root.json")
}

// The cached copy is used while its TUF metadata has not expired, and not
// after: the embedded snapshot is, with a warning, until the next update.
func TestExpiredCacheFallsBack(t *testing.T) {
	f := newFixture(t)
	res, err := f.update(t)
	if err != nil {
		t.Fatal(err)
	}
	later := res.TUFExpires.Add(-time.Minute)
	useTime(t, func() time.Time { return later })
	if info, err := Describe(PublicGood); err != nil || info.Source != SourceCached {
		t.Fatalf("a minute before the metadata expires: %+v, %v", info, err)
	}
	runs := verifyRuns.Load()
	later = res.TUFExpires.Add(time.Minute)
	wantEmbedded(t, f, "is out of date: its TUF root.json expired at "+res.TUFExpires.Format(time.RFC3339))
	if verifyRuns.Load() == runs {
		t.Error("a verified copy was reused after its metadata expired")
	}
	// A repository nobody refreshes: the update fails, the copy stays unused.
	f.repo.ExpireTimestamp()
	useTime(t, time.Now)
	_, err = f.update(t)
	wantKind(t, err, errkind.Untrusted, "expired")
	// Refreshed: used again.
	f.repo.Publish(map[string][]byte{TargetName: f.target})
	if _, err := f.update(t); err != nil {
		t.Fatal(err)
	}
	if info, err := Describe(PublicGood); err != nil || info.Source != SourceCached {
		t.Fatalf("after a new update: %+v, %v", info, err)
	}
}

// A cache record from before imgsign kept TUF metadata is not used.
func TestCacheWithoutTUFMetadata(t *testing.T) {
	f := newFixture(t)
	rec := cacheRecord{Mirror: DefaultMirror, TUFRoot: TUFRootPublicGood, Updated: time.Now(), SHA256: digest(f.target), TrustedRoot: f.target}
	data, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(f.cacheDir, cacheFile), data)
	wantEmbedded(t, f, "does not verify under the public-good TUF root: it holds no TUF metadata to verify it against")
}

// A private Sigstore's TUF root (--tuf-root) never makes public-good: its
// verified trusted root is written to the file asked for, the public-good
// cache is left alone, and its TUF metadata is kept apart.
func TestUpdatePrivateTUFRoot(t *testing.T) {
	f := newFixture(t)
	private := fakesigstore.New(t)
	target := private.TrustedRootJSON(t)
	repo := tuftest.New(t, map[string][]byte{TargetName: target})
	anchor := filepath.Join(t.TempDir(), "private-root.json")
	repo.WriteRoot(anchor)
	out := filepath.Join(t.TempDir(), "trusted_root.json")

	_, err := Update(context.Background(), UpdateRequest{MirrorURL: repo.URL, TUFRootFile: anchor})
	wantKind(t, err, errkind.Input, "never replaces the public-good trust root")
	if len(repo.Requests()) != 0 {
		t.Errorf("bad input fetched %v", repo.Requests())
	}

	res, err := Update(context.Background(), UpdateRequest{MirrorURL: repo.URL, TUFRootFile: anchor, OutFile: out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Source != SourceFile || res.Name != "" || res.Path != out || !res.Changed || res.Mirror != repo.URL ||
		res.TUFRoot != "sha256:"+digest(repo.RootJSON()) || res.SHA256 != digest(target) || !res.TUFExpires.IsZero() {
		t.Errorf("result %+v", res)
	}
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, target) {
		t.Fatalf("%s is not the target: %v", out, err)
	}
	if tr, err := FromFile(out); err != nil || !fulcioRoot(t, tr).Equal(private.FulcioRoot()) {
		t.Fatalf("FromFile(%s): %v", out, err)
	}
	if f.cached(t) != "" {
		t.Error("a private root was cached as public-good")
	}
	if info, err := Describe(PublicGood); err != nil || info.Source != SourceEmbedded || info.CacheProblem != "" {
		t.Errorf("Describe: %+v, %v; want the embedded snapshot", info, err)
	}
	if _, err := os.Stat(filepath.Join(f.cacheDir, "private", digest(repo.RootJSON()), tufURLDir(repo.URL), "timestamp.json")); err != nil {
		t.Errorf("the private repository's TUF metadata is not kept apart: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.cacheDir, "repositories", tufURLDir(repo.URL))); err == nil {
		t.Error("the private repository's TUF metadata is with the public-good repository's")
	}
	if res, err := Update(context.Background(), UpdateRequest{MirrorURL: repo.URL, TUFRootFile: anchor, OutFile: out}); err != nil || res.Changed {
		t.Fatalf("second update: %+v, %v; want unchanged", res, err)
	}

	// A tampered target changes nothing.
	next := fakesigstore.New(t).TrustedRootJSON(t)
	repo.Publish(map[string][]byte{TargetName: next})
	repo.Tamper(TargetName, bytes.Replace(next, []byte("fulcio"), []byte("fulciX"), 1))
	_, err = Update(context.Background(), UpdateRequest{MirrorURL: repo.URL, TUFRootFile: anchor, OutFile: out})
	wantKind(t, err, errkind.Untrusted, out+" is unchanged")
	if got, _ := os.ReadFile(out); !bytes.Equal(got, target) {
		t.Error("a failed update changed the file")
	}
}

// --out without --tuf-root writes the public-good root to the file only.
func TestUpdatePublicGoodToFile(t *testing.T) {
	f := newFixture(t)
	out := filepath.Join(t.TempDir(), "trusted_root.json")
	res, err := Update(context.Background(), UpdateRequest{MirrorURL: f.mirror, OutFile: out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Source != SourceFile || res.TUFRoot != TUFRootPublicGood || res.Path != out {
		t.Errorf("result %+v", res)
	}
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, f.target) {
		t.Fatalf("%s is not the target: %v", out, err)
	}
	if f.cached(t) != "" {
		t.Error("--out cached the root too")
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func tufURLDir(u string) string {
	return strings.NewReplacer("http://", "", ":", "-", "/", "-").Replace(u)
}
