package e2e

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/imgsign/imgsign/internal/testing/kubeenv"
	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// TestMain skips the whole package under -short (make test-short): every test
// here builds and runs the imgsign binary against real registries and tools
// (cosign, CNCF distribution, the timestamp authority, notary-server,
// SoftHSM2), which takes minutes. Skipping here, not test by test, means a
// new end-to-end test cannot forget to. Without -short (make test) nothing
// changes: every test runs, and a missing tool is still reported through
// testenv.Missing.
func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: every test skipped under -short: they run the imgsign binary against real registries and tools and take minutes; run them with `make test` or `go test ./e2e/`")
		os.Exit(0)
	}
	code := m.Run()
	kubeenv.Stop()
	testenv.RemoveBuilt()
	os.Exit(code)
}
