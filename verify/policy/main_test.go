package policy

import (
	"os"
	"testing"
)

// TestMain keeps the tests off the developer's own trust-root cache: a
// refreshed public-good root there (imgsign trust-root update) would make
// results depend on the machine.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "imgsign-policy-test-")
	if err != nil {
		panic(err)
	}
	os.Setenv("IMGSIGN_CACHE_DIR", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
