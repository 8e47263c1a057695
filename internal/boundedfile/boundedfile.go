// Package boundedfile reads the small files imgsign is pointed at (keys,
// certificate chains, PIN files, CA bundles, trust metadata) without letting
// a wrong path exhaust memory: a device (/dev/zero, /dev/urandom), a FIFO or
// a huge file is refused instead of read to the end. A policy file under
// review names such paths too, so "the operator gave it" is no bound. A
// pipe (`--key <(vault read …)`) is read, up to the same limit.
package boundedfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ErrNotRegular is the reason a device, socket or directory is refused.
var ErrNotRegular = errors.New("not a regular file")

// Read is os.ReadFile for a regular file or a pipe of at most limit bytes.
// Errors are *fs.PathError, as os.ReadFile's are, so callers that keep only
// the reason (a path may be a pasted secret) keep working.
func Read(path string, limit int64) ([]byte, error) { return read(path, limit, true) }

// ReadRegular is Read for a regular file only, opened without blocking.
// Opening a FIFO waits for a writer, in the open itself, where neither a
// timeout nor SIGTERM ends it: where a file sits in a directory others can
// write (a cache), a FIFO planted there is refused instead of waited on.
func ReadRegular(path string, limit int64) ([]byte, error) { return read(path, limit, false) }

func read(path string, limit int64, pipes bool) ([]byte, error) {
	flag := os.O_RDONLY
	if !pipes {
		flag |= syscall.O_NONBLOCK
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() && (!pipes || st.Mode()&fs.ModeNamedPipe == 0) {
		return nil, &fs.PathError{Op: "read", Path: path, Err: ErrNotRegular}
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("larger than %s: is it the right file?", size(limit))}
	}
	return b, nil
}

func size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
