package sbom

import (
	"path"
	"sort"
	"strings"

	"github.com/imgsign/imgsign/attest/sbom/catalog"
)

// squash merges the layers' findings bottom to top the way an overlay
// filesystem stacks them, and fills res with what the top of the stack
// declares:
//
//   - a path a later layer puts again (file, directory, link, anything) or
//     whites out (.wh.NAME) loses what the earlier file declared; the later
//     file's own findings, if any, take its place;
//   - a later layer's opaque marker (.wh..wh..opq) in a directory, a
//     whiteout of a directory, or a non-directory put where a directory was,
//     drops everything found below that directory in earlier layers.
//
// Deleting files a package installed does not remove the package: only its
// metadata file counts (deleting usr/bin/foo leaves foo listed in the dpkg
// status file, as syft and trivy also report it).
func squash(res *Result, layers []*layerResult) {
	live := map[string]record{}
	for j, lr := range layers {
		if j > 0 {
			for p := range live {
				if lr.hides(p) {
					delete(live, p)
				}
			}
		}
		for p, r := range lr.found {
			live[p] = r
		}
		res.Warnings = append(res.Warnings, lr.warnings...)
	}

	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		if r, ok := live[p]; ok && r.os != nil {
			o := *r.os
			res.OS = &o
			break
		}
	}

	paths := make([]string, 0, len(live))
	for p := range live {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	debLicenses := map[string][]string{}
	var owned [][]string
	var pkgs []catalog.Package
	for _, p := range paths {
		for _, pk := range live[p].pkgs {
			if len(pk.Files) > 0 {
				owned = append(owned, pk.Files)
			}
			pk.Files = nil
			switch pk.Type {
			case catalog.DpkgLicenseType:
				debLicenses[pk.Name] = pk.Licenses
				continue
			case catalog.DpkgFilesType:
				continue
			}
			pkgs = append(pkgs, pk)
		}
	}
	pkgs = dropOwned(pkgs, owned)
	pkgs = dropShadowedLocks(pkgs)
	for i := range pkgs {
		if pkgs[i].Type == "deb" && len(pkgs[i].Licenses) == 0 {
			pkgs[i].Licenses = debLicenses[pkgs[i].Name]
		}
		if res.OS != nil {
			pkgs[i] = res.OS.Qualify(pkgs[i])
		}
	}
	sortPackages(pkgs)
	if pkgs == nil {
		pkgs = []catalog.Package{}
	}
	res.Packages = pkgs
}

// hides reports whether this layer deletes or replaces what a lower layer
// had at p.
func (lr *layerResult) hides(p string) bool {
	if _, ok := lr.entries[p]; ok {
		return true
	}
	if lr.opaque[""] {
		return true
	}
	for i := 0; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		a := p[:i]
		if k, ok := lr.entries[a]; ok && k != kindDir {
			return true
		}
		if lr.opaque[a] {
			return true
		}
	}
	return false
}

// osTypes are the package types of OS package managers, whose file lists
// say which files they installed.
var osTypes = map[string]bool{"deb": true, "apk": true, "rpm": true}

// dropOwned drops language packages declared by a file an OS package
// installed (python3-six's dist-info, node-semver's package.json, a
// libfoo-java jar): the OS package already reports that software, and
// reporting it again makes scanners match it twice, once against the
// language ecosystem's advisories that the distribution's backports do not
// show. This is the set syft links with ownership-by-file-overlap. Go
// modules and Rust crates (cargo auditable data) compiled into an OS-owned
// binary stay: they are what the binary contains, not the OS package
// itself.
func dropOwned(pkgs []catalog.Package, owned [][]string) []catalog.Package {
	if len(owned) == 0 {
		return pkgs
	}
	// The language packages' locations are few and the owned files many
	// (every file of every OS package): index the few, scan the many.
	cand := map[string]bool{}
	droppable := func(p catalog.Package) bool {
		compiledIn := p.Type == "golang" || (p.Type == "cargo" && path.Base(p.Location) != "Cargo.lock")
		return !osTypes[p.Type] && !compiledIn
	}
	for _, p := range pkgs {
		if droppable(p) {
			cand[p.Location] = false
		}
	}
	if len(cand) == 0 {
		return pkgs
	}
	for _, files := range owned {
		for _, f := range files {
			for _, alt := range ownedSpellings(f) {
				if _, ok := cand[alt]; ok {
					cand[alt] = true
				}
			}
		}
	}
	out := pkgs[:0]
	for _, p := range pkgs {
		if droppable(p) && cand[p.Location] {
			continue
		}
		out = append(out, p)
	}
	return out
}

// ownedSpellings are the paths an owned file may appear at: itself and, for
// merged-/usr images where lists name /lib/x or /bin/x and the layer has
// usr/lib/x (or the other way round), the other spelling.
func ownedSpellings(f string) [2]string {
	if rest, ok := strings.CutPrefix(f, "usr/"); ok {
		for _, d := range []string{"bin/", "sbin/", "lib/", "lib32/", "lib64/", "libx32/"} {
			if strings.HasPrefix(rest, d) {
				return [2]string{f, rest}
			}
		}
		return [2]string{f, f}
	}
	for _, d := range []string{"bin/", "sbin/", "lib/", "lib32/", "lib64/", "libx32/"} {
		if strings.HasPrefix(f, d) {
			return [2]string{f, "usr/" + f}
		}
	}
	return [2]string{f, f}
}

// npmLockFiles are the lock files the npm-lock cataloger reads.
var npmLockFiles = map[string]bool{"package-lock.json": true, "npm-shrinkwrap.json": true, "yarn.lock": true, "pnpm-lock.yaml": true}

// dropShadowedLocks drops packages read from an npm lock file in DIR when
// packages are installed under DIR/node_modules: what is installed is what
// the image runs, and the lock file would only repeat or contradict it.
func dropShadowedLocks(pkgs []catalog.Package) []catalog.Package {
	installed := map[string]bool{}
	locks := false
	for _, p := range pkgs {
		if p.Type != "npm" {
			continue
		}
		if npmLockFiles[path.Base(p.Location)] {
			locks = true
			continue
		}
		if i := strings.Index("/"+p.Location, "/node_modules/"); i >= 0 {
			installed[strings.TrimSuffix(p.Location[:max(i-1, 0)], "/")] = true
		}
	}
	if !locks {
		return pkgs
	}
	out := pkgs[:0]
	for _, p := range pkgs {
		if p.Type == "npm" && npmLockFiles[path.Base(p.Location)] && installed[lockDir(p.Location)] {
			continue
		}
		out = append(out, p)
	}
	return out
}

// lockDir is the directory of a lock file, "" at the root.
func lockDir(p string) string {
	if d := path.Dir(p); d != "." {
		return d
	}
	return ""
}
