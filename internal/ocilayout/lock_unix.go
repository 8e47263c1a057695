//go:build unix

package ocilayout

import (
	"fmt"
	"os"
	"syscall"
)

// lockDir takes an exclusive flock on path (created if missing) and
// returns its release.
func lockDir(path string) (func(), error) {
	// Only a regular file, looked at before it is opened: the layout may be
	// someone else's volume, where a FIFO or device node by that name would
	// be woken or acted on by an open for writing.
	if st, err := os.Lstat(path); err == nil && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o644)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
