package catalog

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
)

// DpkgLicenseType is the Type of the license-only records the dpkg cataloger
// returns for usr/share/doc/NAME/copyright files. They are not packages: the
// walker joins them to the deb package NAME after squashing and drops them,
// so a license disappears with its copyright file when a layer deletes it.
const DpkgLicenseType = "deb-copyright"

// DpkgFilesType is the Type of the file-list records the dpkg cataloger
// returns for var/lib/dpkg/info/NAME.list: Files holds what package NAME
// installed. Like DpkgLicenseType records they are not packages; the walker
// uses them after squashing to drop language packages dpkg owns.
const DpkgFilesType = "deb-files"

// maxLine bounds one line of a package database, which bounds what a
// cataloger buffers per file: real lines are a few hundred bytes (long
// Description or Depends fields stay under a few KiB).
const maxLine = 1 << 20

const (
	dpkgStatus     = "var/lib/dpkg/status"
	dpkgStatusDir  = "var/lib/dpkg/status.d/"
	dpkgDocPrefix  = "usr/share/doc/"
	dpkgCopyright  = "/copyright"
	dpkgInfoDir    = "var/lib/dpkg/info/"
	dpkgListExt    = ".list"
	dpkgMd5sumsExt = ".md5sums"
	maxListSz      = 64 << 20
	maxCopyrightSz = 4 << 20
)

type dpkg struct{}

// Dpkg catalogs Debian/Ubuntu packages from var/lib/dpkg/status and from the
// one-file-per-package var/lib/dpkg/status.d/ directory distroless images
// use, and their licenses from DEP-5 usr/share/doc/NAME/copyright files.
// Purls are pkg:deb/debian/NAME@VERSION?arch=ARCH[&upstream=SRC]; the walker
// rewrites namespace and adds distro= once it knows the image's OS.
func Dpkg() Cataloger { return dpkg{} }

func (dpkg) Name() string { return "dpkg" }

func (dpkg) Wants(p string, _ fs.FileMode, size int64) bool {
	switch {
	case p == dpkgStatus:
		return true
	case strings.HasPrefix(p, dpkgStatusDir):
		rest := p[len(dpkgStatusDir):]
		// status.d also holds NAME.md5sums lists: the only file lists
		// distroless images keep, read for ownership.
		return rest != "" && !strings.Contains(rest, "/")
	case len(p) > len(dpkgInfoDir)+len(dpkgListExt) && strings.HasPrefix(p, dpkgInfoDir) && strings.HasSuffix(p, dpkgListExt):
		return !strings.Contains(p[len(dpkgInfoDir):], "/") && size <= maxListSz
	case len(p) > len(dpkgDocPrefix)+len(dpkgCopyright) && strings.HasPrefix(p, dpkgDocPrefix) && strings.HasSuffix(p, dpkgCopyright):
		mid := p[len(dpkgDocPrefix) : len(p)-len(dpkgCopyright)]
		return mid != "" && !strings.Contains(mid, "/") && size <= maxCopyrightSz
	}
	return false
}

func (dpkg) Catalog(f File) ([]Package, error) {
	if strings.HasPrefix(f.Path, dpkgInfoDir) {
		return dpkgFileList(f, dpkgInfoDir, dpkgListExt, false)
	}
	if strings.HasPrefix(f.Path, dpkgStatusDir) && strings.HasSuffix(f.Path, dpkgMd5sumsExt) {
		return dpkgFileList(f, dpkgStatusDir, dpkgMd5sumsExt, true)
	}
	if strings.HasPrefix(f.Path, dpkgDocPrefix) {
		name := f.Path[len(dpkgDocPrefix) : len(f.Path)-len(dpkgCopyright)]
		lic, err := parseCopyright(f.Content)
		if err != nil || len(lic) == 0 {
			// A copyright file that is not DEP-5 is normal, not an error.
			return nil, nil
		}
		return []Package{{Name: name, Type: DpkgLicenseType, Licenses: lic, Location: f.Path, Layer: f.Layer}}, nil
	}
	var pkgs []Package
	err := readStanzas(f.Content, func(s map[string]string) {
		if p, ok := dpkgPackage(s); ok {
			p.Location, p.Layer = f.Path, f.Layer
			pkgs = append(pkgs, p)
		}
	})
	if err != nil {
		return pkgs, fmt.Errorf("dpkg database %s: %w", f.Path, err)
	}
	return pkgs, nil
}

// dpkgFileList reads info/NAME[:ARCH].list, one installed path per line
// (directories included), or a distroless status.d/NAME.md5sums ("MD5
// path" per line, regular files only), into a DpkgFilesType record.
func dpkgFileList(f File, dir, ext string, md5sums bool) ([]Package, error) {
	name := strings.TrimSuffix(f.Path[len(dir):], ext)
	if i := strings.IndexByte(name, ':'); i >= 0 {
		name = name[:i] // multi-arch: libc6:amd64.list
	}
	sc := bufio.NewScanner(f.Content)
	sc.Buffer(make([]byte, 0, 16<<10), maxLine)
	var files []string
	for sc.Scan() {
		line := sc.Text()
		if md5sums {
			_, line, _ = strings.Cut(line, " ")
			line = strings.TrimLeft(line, " *")
		}
		if p := OwnedPath(line); p != "" {
			files = append(files, p)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("dpkg file list %s: %w", f.Path, err)
	}
	return []Package{{Name: name, Type: DpkgFilesType, Files: files, Location: f.Path, Layer: f.Layer}}, nil
}

// OwnedPath turns a path as package managers list them ("/usr/bin/x",
// "./usr/bin/x") into the walker's form ("usr/bin/x"); "" for the root.
func OwnedPath(p string) string {
	p = strings.TrimRight(p, "\r")
	p = strings.TrimPrefix(p, ".")
	p = strings.TrimLeft(p, "/")
	if p == "." {
		return ""
	}
	return p
}

// dpkgFields are the control fields the cataloger keeps; the rest
// (Description, Depends, Conffiles…) are skipped without being stored.
var dpkgFields = map[string]bool{
	"Package": true, "Status": true, "Version": true, "Architecture": true,
	"Maintainer": true, "Source": true,
}

func dpkgPackage(s map[string]string) (Package, bool) {
	name, version := s["Package"], s["Version"]
	if name == "" || version == "" || !dpkgInstalled(s["Status"]) {
		return Package{}, false
	}
	arch := s["Architecture"]
	pu := purl{typ: "deb", namespace: "debian", name: name, version: version}
	pu.set("arch", arch)
	if src := s["Source"]; src != "" {
		// "Source: glibc (2.36-9)" names the source package and, when it
		// differs, its version; syft writes upstream=NAME@VERSION then.
		srcName, srcVer, _ := strings.Cut(src, " ")
		srcVer = strings.Trim(strings.TrimSpace(srcVer), "()")
		if srcVer != "" {
			srcName += "@" + srcVer
		}
		pu.set("upstream", srcName)
	}
	return Package{
		Name: name, Version: version, Type: "deb", Arch: arch,
		Supplier: s["Maintainer"], PURL: pu.String(),
	}, true
}

// dpkgInstalled reads "Status: want flag state". Entries that were removed
// but not purged ("deinstall ok config-files") leave only configuration
// behind and are not installed software. Distroless status.d files may have
// no Status at all.
func dpkgInstalled(status string) bool {
	if status == "" {
		return true
	}
	f := strings.Fields(status)
	if len(f) != 3 {
		return true
	}
	if f[0] == "deinstall" || f[0] == "purge" {
		return false
	}
	return f[2] != "not-installed" && f[2] != "config-files"
}

// readStanzas calls fn for every blank-line-separated stanza of a deb822
// control file, with the first line of each field dpkgFields keeps.
func readStanzas(r io.Reader, fn func(map[string]string)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	cur := map[string]string{}
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			if len(cur) > 0 {
				fn(cur)
				cur = map[string]string{}
			}
			continue
		}
		if line[0] == ' ' || line[0] == '\t' || line[0] == '#' {
			continue // continuation of a multi-line field, or a comment
		}
		i := indexByte(line, ':')
		if i <= 0 {
			continue
		}
		if k := string(line[:i]); dpkgFields[k] {
			cur[k] = strings.TrimSpace(string(line[i+1:]))
		}
	}
	if len(cur) > 0 {
		fn(cur)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

const commonLicenses = "/usr/share/common-licenses/"

// parseCopyright returns the licenses a machine-readable (DEP-5) copyright
// file names: every "License: ID" line's short name and every reference to
// /usr/share/common-licenses/ID, sorted and without duplicates. Free-form
// copyright files are not guessed at.
func parseCopyright(r io.Reader) ([]string, error) {
	sc := bufio.NewScanner(io.LimitReader(r, maxCopyrightSz))
	sc.Buffer(make([]byte, 0, 16<<10), maxLine)
	seen := map[string]bool{}
	dep5 := false
	for sc.Scan() {
		line := sc.Text()
		if !dep5 {
			if strings.TrimSpace(line) == "" {
				continue
			}
			if !strings.HasPrefix(line, "Format:") || !strings.Contains(line, "debian.org/doc/packaging-manuals/copyright-format/") {
				return nil, nil
			}
			dep5 = true
			continue
		}
		if v, ok := strings.CutPrefix(line, "License:"); ok {
			if f := strings.Fields(v); len(f) == 1 {
				addLicense(seen, f[0])
			}
		}
		if i := strings.Index(line, commonLicenses); i >= 0 {
			rest := line[i+len(commonLicenses):]
			end := strings.IndexFunc(rest, func(r rune) bool {
				return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-')
			})
			if end >= 0 {
				rest = rest[:end]
			}
			addLicense(seen, strings.TrimSuffix(rest, "."))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(seen))
	for l := range seen {
		out = append(out, l)
	}
	sort.Strings(out)
	return out, nil
}

func addLicense(seen map[string]bool, l string) {
	l = strings.TrimSuffix(strings.TrimSpace(l), ".")
	if l == "" || strings.EqualFold(l, "none") {
		return
	}
	seen[l] = true
}
