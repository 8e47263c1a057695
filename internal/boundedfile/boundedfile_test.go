package boundedfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(small, []byte("key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(big, make([]byte, 2048), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, want string // want: content, or an error substring after "!"
	}{
		{"regular file", small, "key"},
		{"at the limit", big, ""},
		{"over the limit", big, "!larger than 1 KiB"},
		{"a device never ends", "/dev/zero", "!not a regular file"},
		{"a directory", dir, "!not a regular file"},
		{"missing", filepath.Join(dir, "nope"), "!no such file"},
	}
	// A pipe, as bash's <(…) gives one: read, within the limit.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		if f, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			_, _ = f.Write([]byte("key"))
			f.Close()
		}
	}()
	cases = append([]struct{ name, path, want string }{{"a pipe", fifo, "key"}}, cases...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			limit := int64(1024)
			if c.name == "at the limit" {
				limit = 2048
			}
			b, err := Read(c.path, limit)
			if strings.HasPrefix(c.want, "!") {
				var pe *fs.PathError
				if err == nil || !strings.Contains(err.Error(), c.want[1:]) || !errors.As(err, &pe) {
					t.Fatalf("Read(%s) = %v, want a *fs.PathError containing %q", c.path, err, c.want[1:])
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.want != "" && string(b) != c.want {
				t.Fatalf("Read = %q, want %q", b, c.want)
			}
		})
	}
}

// ReadRegular refuses a FIFO without waiting for a writer, and reads what
// Read reads from regular files.
func TestReadRegular(t *testing.T) {
	dir := t.TempDir()
	fifo, small := filepath.Join(dir, "fifo"), filepath.Join(dir, "small")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(small, []byte("root"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadRegular(small, 1024); err != nil || string(b) != "root" {
		t.Fatalf("ReadRegular(regular file) = %q, %v", b, err)
	}
	for _, p := range []string{fifo, "/dev/zero", dir} {
		if _, err := ReadRegular(p, 1024); !errors.Is(err, ErrNotRegular) {
			t.Errorf("ReadRegular(%s) = %v, want %v", p, err, ErrNotRegular)
		}
	}
	if _, err := ReadRegular(small, 2); err == nil || !strings.Contains(err.Error(), "larger than 2 bytes") {
		t.Errorf("ReadRegular over the limit = %v", err)
	}
}
