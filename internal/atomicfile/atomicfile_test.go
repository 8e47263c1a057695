package atomicfile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/imgsign/imgsign/internal/errkind"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		path string
		mode os.FileMode
		kind errkind.Kind // 0 = written
	}{
		{"new file", filepath.Join(dir, "a.pub"), 0o644, 0},
		{"private mode", filepath.Join(dir, "a.key"), 0o600, 0},
		{"replaces", filepath.Join(dir, "a.pub"), 0o644, 0},
		{"no such directory", filepath.Join(dir, "missing", "a.pub"), 0o644, errkind.Input},
		{"a directory in the way", dir, 0o644, errkind.Input},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Write(tc.path, []byte(tc.name), tc.mode)
			if tc.kind != 0 {
				if k, _ := errkind.Of(err); err == nil || k != tc.kind {
					t.Fatalf("Write = %v, want a %s error", err, tc.kind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(tc.path)
			if err != nil || string(got) != tc.name {
				t.Fatalf("read back %q, %v", got, err)
			}
			if fi, _ := os.Stat(tc.path); fi.Mode().Perm() != tc.mode {
				t.Fatalf("mode %v, want %v", fi.Mode().Perm(), tc.mode)
			}
		})
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp*"))
	if len(left) > 0 {
		t.Fatalf("temporary files left behind: %v", left)
	}
}
