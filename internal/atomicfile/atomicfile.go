// Package atomicfile writes files whole or not at all: through a temporary
// file in the same directory, renamed over the target once written, so an
// interrupted run never leaves half a key, policy or bundle under the name.
package atomicfile

import (
	"os"
	"path/filepath"

	"github.com/imgsign/imgsign/internal/errkind"
)

// Write writes data to path with mode. A path that cannot be written to is
// bad input (exit 2); a write that fails midway is operational (exit 3).
func Write(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return errkind.Inputf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return errkind.Operationalf("writing %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return errkind.Operationalf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return errkind.Operationalf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return errkind.Inputf("writing %s: %w", path, err)
	}
	return nil
}
