package trustroot

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgsign/imgsign/internal/testing/fakesigstore"
)

// State changes exactly when what Named returns does: the cached copy
// appearing, changing, expiring, disappearing; not when the record is
// rewritten around the same root. Checking it again and again verifies
// each content once.
func TestState(t *testing.T) {
	f := newFixture(t)
	var clock time.Time // zero: the real time
	useTime(t, func() time.Time {
		if clock.IsZero() {
			return time.Now()
		}
		return clock
	})
	state := func() string {
		t.Helper()
		s, err := State(PublicGood)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	embedded := state()
	if want := SourceEmbedded + " sha256:" + digest(publicGoodJSON); embedded != want {
		t.Fatalf("no cache: %q, want %q", embedded, want)
	}
	res, err := f.update(t)
	if err != nil {
		t.Fatal(err)
	}
	first := state()
	if want := SourceCached + " sha256:" + digest(f.target); first != want {
		t.Fatalf("after an update: %q, want %q", first, want)
	}
	runs := verifyRuns.Load()
	for range 100 {
		if s := state(); s != first {
			t.Fatalf("unchanged cache: %q, then %q", first, s)
		}
	}
	if n := verifyRuns.Load() - runs; n != 0 {
		t.Errorf("100 checks of an unchanged cache verified it %d times; want 0", n)
	}

	// New metadata around the same root: the record changes, Named's
	// result does not.
	f.repo.Publish(map[string][]byte{TargetName: f.target})
	before := f.cached(t)
	if _, err := f.update(t); err != nil {
		t.Fatal(err)
	}
	if f.cached(t) == before {
		t.Fatal("the update did not rewrite the record")
	}
	if s := state(); s != first {
		t.Errorf("re-signed metadata around the same root: %q, want %q", s, first)
	}

	// Sigstore publishes another root (a key removed): the state changes.
	other := fakesigstore.New(t).TrustedRootJSON(t)
	f.repo.Publish(map[string][]byte{TargetName: other})
	if res, err = f.update(t); err != nil {
		t.Fatal(err)
	}
	second := state()
	if want := SourceCached + " sha256:" + digest(other); second != want {
		t.Fatalf("after Sigstore changed its root: %q, want %q", second, want)
	}

	// Its TUF metadata expires: Named falls back, and so does State.
	clock = res.TUFExpires.Add(-time.Second)
	if s := state(); s != second {
		t.Errorf("a second before expiry: %q, want %q", s, second)
	}
	clock = res.TUFExpires.Add(time.Second)
	if s := state(); s != embedded {
		t.Errorf("a second after expiry: %q, want the embedded %q", s, embedded)
	}
	runs = verifyRuns.Load()
	for range 10 {
		state()
	}
	if n := verifyRuns.Load() - runs; n != 0 {
		t.Errorf("an expired record was verified %d more times; want its verdict remembered", n)
	}
	clock = time.Time{}

	// Damaged, then gone: the embedded snapshot.
	path := filepath.Join(f.cacheDir, cacheFile)
	if err := os.WriteFile(path, []byte(strings.Replace(f.cached(t), `"sha256"`, `"sha256x"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if s := state(); s != embedded {
		t.Errorf("damaged record: %q, want %q", s, embedded)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if s := state(); s != embedded {
		t.Errorf("no record: %q, want %q", s, embedded)
	}
}

// GitHub's instance has no snapshot: no cached copy is SourceNone. An
// unknown name is Named's error.
func TestStateGitHubAndUnknown(t *testing.T) {
	t.Setenv(EnvCacheDir, t.TempDir())
	if s, err := State(GitHub); err != nil || s != SourceNone+" sha256:" {
		t.Errorf("github without a cache: %q, %v", s, err)
	}
	if _, err := State("public-evil"); err == nil || !strings.Contains(err.Error(), "unknown Sigstore trust root") {
		t.Errorf("unknown name: %v", err)
	}
}

// The test hooks swap what imgsign trusts: nothing but tests may call them.
func TestHooksOnlyInTests(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	self, err := filepath.Abs("state.go")
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || path == self {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, hook := range []string{"UseTUFAnchorForTest(", "UseTimeForTest("} {
			if strings.Contains(string(data), hook) {
				t.Errorf("%s calls trustroot.%s): only tests may", path, hook)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
