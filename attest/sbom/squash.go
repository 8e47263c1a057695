package sbom

import (
	"sort"

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
	var pkgs []catalog.Package
	for _, p := range paths {
		for _, pk := range live[p].pkgs {
			if pk.Type == catalog.DpkgLicenseType {
				debLicenses[pk.Name] = pk.Licenses
				continue
			}
			pkgs = append(pkgs, pk)
		}
	}
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
