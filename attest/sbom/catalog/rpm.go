package catalog

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	rpmdb "github.com/knqyf263/go-rpmdb/pkg"
	// go-rpmdb opens rpmdb.sqlite through database/sql's "sqlite" driver;
	// modernc's is pure Go, so the binary stays cgo-free.
	_ "modernc.org/sqlite"
)

// DefaultMaxRPMDB bounds how large an rpm database the cataloger spools to a
// temporary file. Real ones are 5–150 MB (a full Fedora workstation); a
// bigger file is more likely hostile than a database.
const DefaultMaxRPMDB = 1 << 30

// RPMCataloger catalogs rpm packages from the three database formats rpm has
// used: BerkeleyDB (var/lib/rpm/Packages), NDB (Packages.db, SUSE) and
// SQLite (rpmdb.sqlite, RHEL 9 / Fedora 33+), in var/lib/rpm or
// usr/lib/sysimage/rpm. These need random access, so the file is spooled to
// a temporary file (bounded by MaxDBSize) and read there.
type RPMCataloger struct {
	// MaxDBSize is the largest database spooled; 0 means DefaultMaxRPMDB.
	MaxDBSize int64
	// TempDir is where databases are spooled; "" means os.TempDir().
	TempDir string
}

// RPM returns an rpm cataloger with default limits.
func RPM() *RPMCataloger { return &RPMCataloger{} }

func (*RPMCataloger) Name() string { return "rpm" }

func (c *RPMCataloger) Wants(p string, _ fs.FileMode, _ int64) bool {
	dir, base := "", p
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		dir, base = p[:i], p[i+1:]
	}
	if dir != "var/lib/rpm" && dir != "usr/lib/sysimage/rpm" {
		return false
	}
	return base == "Packages" || base == "Packages.db" || base == "rpmdb.sqlite"
}

// dbMu reads one database at a time: go-rpmdb decodes every header of a
// database into memory, so layers scanned in parallel must not multiply that.
var dbMu sync.Mutex

func (c *RPMCataloger) Catalog(f File) ([]Package, error) {
	limit := c.MaxDBSize
	if limit <= 0 {
		limit = DefaultMaxRPMDB
	}
	if f.Size > limit {
		return nil, fmt.Errorf("rpm database %s is %d bytes, over the %d-byte limit", f.Path, f.Size, limit)
	}
	dir, err := os.MkdirTemp(c.TempDir, "imgsign-rpmdb-")
	if err != nil {
		return nil, fmt.Errorf("spooling rpm database %s: %w", f.Path, err)
	}
	// SQLite may create -wal/-shm files beside the database: a private
	// directory keeps them ours and removes them together.
	defer os.RemoveAll(dir)
	dbPath := filepath.Join(dir, filepath.Base(f.Path))
	if err := spool(dbPath, f.Content, limit); err != nil {
		return nil, fmt.Errorf("spooling rpm database %s: %w", f.Path, err)
	}
	infos, err := listRPM(dbPath)
	if err != nil {
		return nil, fmt.Errorf("rpm database %s: %w", f.Path, err)
	}
	pkgs := make([]Package, 0, len(infos))
	for _, in := range infos {
		if p, ok := rpmPackage(in); ok {
			p.Location, p.Layer = f.Path, f.Layer
			if names, err := in.InstalledFileNames(); err == nil {
				for _, n := range names {
					if o := OwnedPath(n); o != "" {
						p.Files = append(p.Files, o)
					}
				}
			}
			pkgs = append(pkgs, p)
		}
	}
	return pkgs, nil
}

func spool(path string, r io.Reader, limit int64) error {
	out, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	n, err := io.Copy(out, io.LimitReader(r, limit+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if n > limit {
		return fmt.Errorf("over the %d-byte limit", limit)
	}
	return nil
}

func listRPM(path string) (infos []*rpmdb.PackageInfo, err error) {
	dbMu.Lock()
	defer dbMu.Unlock()
	// The readers index into the file with offsets it declares; a corrupt
	// or hostile database must come back as an error, not a crash.
	defer func() {
		if r := recover(); r != nil {
			infos, err = nil, fmt.Errorf("corrupt database: %v", r)
		}
	}()
	db, err := rpmdb.Open(path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	infos, err = db.ListPackages()
	if err != nil {
		return nil, err
	}
	if len(infos) == 0 {
		return nil, errors.New("no packages in database")
	}
	return infos, nil
}

func rpmPackage(in *rpmdb.PackageInfo) (Package, bool) {
	// gpg-pubkey entries are the keys rpm trusts, stored as fake packages.
	if in.Name == "" || in.Name == "gpg-pubkey" {
		return Package{}, false
	}
	vr := in.Version
	if in.Release != "" {
		vr += "-" + in.Release
	}
	version := vr
	pu := purl{typ: "rpm", namespace: rpmVendorNamespace(in.Vendor), name: in.Name, version: vr}
	pu.set("arch", in.Arch)
	if in.Epoch != nil {
		version = strconv.Itoa(*in.Epoch) + ":" + vr
		pu.set("epoch", strconv.Itoa(*in.Epoch))
	}
	pu.set("upstream", in.SourceRpm)
	var lic []string
	if l := strings.TrimSpace(in.License); l != "" {
		lic = []string{l}
	}
	return Package{
		Name: in.Name, Version: version, Type: "rpm", Arch: in.Arch,
		Licenses: lic, Supplier: in.Vendor, PURL: pu.String(),
	}, true
}

// rpmVendorNamespace guesses the purl namespace from the package vendor for
// when the image has no os-release; OSRelease.Qualify replaces it otherwise.
func rpmVendorNamespace(vendor string) string {
	v := strings.ToLower(vendor)
	switch {
	case strings.Contains(v, "red hat"):
		return "redhat"
	case strings.Contains(v, "fedora"):
		return "fedora"
	case strings.Contains(v, "centos"):
		return "centos"
	case strings.Contains(v, "suse"):
		return "opensuse"
	case strings.Contains(v, "rocky"):
		return "rocky"
	case strings.Contains(v, "alma"):
		return "almalinux"
	case strings.Contains(v, "amazon"):
		return "amazonlinux"
	case strings.Contains(v, "oracle"):
		return "oracle"
	case strings.Contains(v, "microsoft"):
		return "mariner"
	}
	return "rpm"
}
