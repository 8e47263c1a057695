//go:build unix

package ocilayout

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Whoever can open a shared layout's index.json.lock (another user of a
// shared volume, a stuck process) can hold its flock for ever. A write to
// the layout waited for it in a blocking flock that no context reaches:
// imgsign copy --timeout and Ctrl-C/SIGTERM (which cancel the run's
// context) left it hanging. The wait ends with the context.
func TestRedTeam3LockWaitEndsWithTheContext(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "layout")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		raw := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
		done <- openAt(t, dir).PutManifest(ctx, "v1", raw, types.OCIImageIndex)
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("PutManifest while another holds the lock: %v, want the context's deadline", err)
		}
	case <-time.After(10 * time.Second):
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) // let the goroutine end
		t.Fatal("PutManifest still waiting for the layout's lock 10s after its context's 500ms deadline")
	}
}
