package policy

import (
	"os"
	"testing"

	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// TestMain keeps the tests off the developer's own trust-root cache.
func TestMain(m *testing.M) { os.Exit(testenv.RunWithOwnCache(m)) }
