package catalog

import (
	"bufio"
	"fmt"
	"io/fs"
	"strings"
)

const apkInstalled = "lib/apk/db/installed"

type apk struct{}

// APK catalogs Alpine (and Wolfi/Chainguard) packages from
// lib/apk/db/installed. Purls are pkg:apk/alpine/NAME@VERSION?arch=ARCH
// [&upstream=ORIGIN]; the walker sets the namespace and distro= from the
// image's os-release.
func APK() Cataloger { return apk{} }

func (apk) Name() string { return "apk" }

func (apk) Wants(p string, _ fs.FileMode, _ int64) bool { return p == apkInstalled }

// Catalog reads the database line by line: "P:name", "V:version" and so on,
// one blank-line-separated block per package. The file lists every
// installed file too (F:/R: lines), so it is streamed, never held whole.
func (apk) Catalog(f File) ([]Package, error) {
	sc := bufio.NewScanner(f.Content)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var pkgs []Package
	var cur apkEntry
	flush := func() {
		if cur.name != "" && cur.version != "" {
			pkgs = append(pkgs, cur.pkg(f))
		}
		cur = apkEntry{}
	}
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			flush()
			continue
		}
		if len(line) < 2 || line[1] != ':' {
			continue
		}
		switch line[0] {
		case 'P':
			cur.name = string(line[2:])
		case 'V':
			cur.version = string(line[2:])
		case 'A':
			cur.arch = string(line[2:])
		case 'L':
			cur.license = string(line[2:])
		case 'm':
			cur.maintainer = string(line[2:])
		case 'o':
			cur.origin = string(line[2:])
		case 'F':
			cur.dir = OwnedPath(string(line[2:]))
		case 'R':
			if cur.dir != "" {
				cur.files = append(cur.files, cur.dir+"/"+string(line[2:]))
			} else {
				cur.files = append(cur.files, string(line[2:]))
			}
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return pkgs, fmt.Errorf("apk database %s: %w", f.Path, err)
	}
	return pkgs, nil
}

type apkEntry struct {
	name, version, arch, license, maintainer, origin string
	// dir is the last F: line; files the R: lines under it and earlier ones.
	dir   string
	files []string
}

func (e apkEntry) pkg(f File) Package {
	pu := purl{typ: "apk", namespace: "alpine", name: e.name, version: e.version}
	pu.set("arch", e.arch)
	if e.origin != "" && e.origin != e.name {
		pu.set("upstream", e.origin)
	}
	var lic []string
	if l := strings.TrimSpace(e.license); l != "" {
		lic = []string{l}
	}
	return Package{
		Name: e.name, Version: e.version, Type: "apk", Arch: e.arch,
		Licenses: lic, Supplier: e.maintainer, PURL: pu.String(),
		Location: f.Path, Layer: f.Layer, Files: e.files,
	}
}
