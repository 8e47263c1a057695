package importnotation

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/imgsign/imgsign/internal/atomicfile"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/safetext"
)

// WriteFiles writes the policy to out and its certificates to CertsDir next
// to it. Existing files are refused unless force (a policy someone edited
// since, or another import's certificates); with force the certificates
// directory is replaced whole. The certificates are written into a
// temporary directory and renamed into place before the policy is written
// atomically, so the policy never refers to certificates not there.
func (r *Result) WriteFiles(out string, force bool) error {
	dir := filepath.Dir(out)
	certsDir := ""
	if r.CertsDir != "" {
		certsDir = filepath.Join(dir, r.CertsDir)
	}
	if !force {
		for _, p := range []string{out, certsDir} {
			if p == "" {
				continue
			}
			if _, err := os.Lstat(p); err == nil {
				return errkind.Inputf("%s already exists: choose another --out or pass --force to replace it", safetext.Clean(p))
			}
		}
	}
	if fi, err := os.Stat(out); err == nil && fi.IsDir() {
		return errkind.Inputf("%s is a directory: --out names the policy file to write", safetext.Clean(out))
	}
	if certsDir != "" {
		if err := r.writeCerts(dir, certsDir); err != nil {
			return err
		}
	}
	return atomicfile.Write(out, r.Policy, 0o644)
}

func (r *Result) writeCerts(dir, certsDir string) error {
	tmp, err := os.MkdirTemp(dir, "."+r.CertsDir+".tmp*")
	if err != nil {
		return errkind.Inputf("writing %s: %w", safetext.Clean(certsDir), err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return errkind.Operationalf("writing %s: %w", safetext.Clean(certsDir), err)
	}
	fresh := filepath.Join(tmp, "new")
	for _, c := range r.Certs {
		p := filepath.Join(fresh, filepath.FromSlash(c.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return errkind.Operationalf("writing %s: %w", safetext.Clean(certsDir), err)
		}
		if err := os.WriteFile(p, c.Data, 0o644); err != nil {
			return errkind.Operationalf("writing %s: %w", safetext.Clean(certsDir), err)
		}
	}
	if err := os.MkdirAll(fresh, 0o755); err != nil {
		return errkind.Operationalf("writing %s: %w", safetext.Clean(certsDir), err)
	}
	// An existing directory (--force) is moved aside first: a rename does
	// not replace a directory that is not empty. What was there is removed
	// with the temporary directory.
	if _, err := os.Lstat(certsDir); err == nil {
		if err := os.Rename(certsDir, filepath.Join(tmp, "old")); err != nil {
			return errkind.Inputf("replacing %s: %w", safetext.Clean(certsDir), err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return errkind.Inputf("writing %s: %w", safetext.Clean(certsDir), err)
	}
	if err := os.Rename(fresh, certsDir); err != nil {
		return errkind.Inputf("writing %s: %w", safetext.Clean(certsDir), err)
	}
	return nil
}
