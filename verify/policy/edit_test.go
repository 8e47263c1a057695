package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Document.Write writes only an edit that still loads, and shows the diff
// of a dry run whether or not it would.
func TestDocumentWrite(t *testing.T) {
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		edit    func(d *Document) error
		dry     bool
		wantErr string
		written bool
	}{
		{name: "revocation", edit: func(d *Document) error { return d.SetKeyTime("old", "revokedAt", at) }, written: true},
		{name: "dry run", edit: func(d *Document) error { return d.SetKeyTime("old", "revokedAt", at) }, dry: true},
		{
			name:    "an edit that would not load",
			edit:    func(d *Document) error { return d.AddKeyAfter("old", "new", "missing.pub", at) },
			wantErr: "the edited policy would not load (nothing written)",
		},
		{
			name: "dry run of an edit that would not load",
			edit: func(d *Document) error { return d.AddKeyAfter("old", "new", "missing.pub", at) },
			dry:  true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := rotateFixture(t, "")
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, 0o640); err != nil {
				t.Fatal(err)
			}
			d, err := OpenDocument(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.edit(d); err != nil {
				t.Fatal(err)
			}
			diff, err := d.Write(tt.dry)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Write error %v, want %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if (diff != "") != (tt.wantErr == "") {
				t.Errorf("diff %q", diff)
			}
			after, _ := os.ReadFile(path)
			if changed := string(after) != string(before); changed != tt.written {
				t.Errorf("policy changed = %v, want %v:\n%s", changed, tt.written, after)
			}
			if fi, err := os.Stat(path); err != nil {
				t.Error(err)
			} else if fi.Mode().Perm() != 0o640 {
				t.Errorf("policy file mode %v, want 0640 kept", fi.Mode().Perm())
			}
			if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 3 {
				t.Errorf("left files behind: %v", entries)
			}
		})
	}
}
