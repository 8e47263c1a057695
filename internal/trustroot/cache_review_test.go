package trustroot

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Offline review: a FIFO planted in the untrusted cache directory (or a
// symlink to one) must be passed over at once, like any cache file that
// does not verify, not opened and waited on: opening a FIFO for reading
// blocks until a writer comes, and verify would hang before any deadline.
func TestCacheFIFONotWaitedOn(t *testing.T) {
	base := t.TempDir()
	t.Setenv(EnvCacheDir, base)
	dir := filepath.Join(base, "tuf")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(base, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("no FIFOs here: %v", err)
	}
	for _, plant := range []struct {
		name string
		do   func(path string) error
	}{
		{"a FIFO", func(p string) error { return syscall.Mkfifo(p, 0o644) }},
		{"a symlink to a FIFO", func(p string) error { return os.Symlink(fifo, p) }},
	} {
		t.Run(plant.name, func(t *testing.T) {
			for _, name := range []string{PublicGood, GitHub} {
				path := filepath.Join(dir, name+".json")
				if err := plant.do(path); err != nil {
					t.Fatal(err)
				}
				type result struct {
					info *Info
					err  error
				}
				ch := make(chan result, 1)
				go func() {
					info, err := resolve(name)
					ch <- result{info, err}
				}()
				var r result
				select {
				case r = <-ch:
				case <-time.After(10 * time.Second):
					t.Fatalf("%s: reading the cache did not return within 10s: a FIFO was waited on", name)
				}
				if r.err != nil {
					t.Fatalf("%s: %v", name, r.err)
				}
				if !strings.Contains(r.info.CacheProblem, "not a regular file") {
					t.Errorf("%s: cache problem %q, want it to say not a regular file", name, r.info.CacheProblem)
				}
				if name == PublicGood && r.info.Source != SourceEmbedded {
					t.Errorf("public-good: source %v, want the embedded snapshot", r.info.Source)
				}
				if name == GitHub {
					if _, err := Named(GitHub); err == nil || !strings.Contains(err.Error(), "not a regular file") {
						t.Errorf("github: Named = %v, want a refusal saying why", err)
					}
				}
				os.Remove(path)
			}
		})
	}
}
