package catalog

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
)

// dotnetMaxDeps bounds a *.deps.json read (Wants skips bigger ones): a large
// ASP.NET application's is a few MiB.
const dotnetMaxDeps = 32 << 20

// dotnetCataloger reads .NET dependency manifests, APP.deps.json, which the
// SDK writes beside every built or published application and library. The
// packages reported are the ones syft's deps.json cataloger reports with its
// default settings:
//   - the application itself: the "project" library named like the file;
//   - every other library except other "project"s and reference assemblies
//     that ship nothing (no path, no sha512);
//   - and only libraries that claim an assembly (a runtime, resource, compile
//     or native asset in some target) themselves or through a dependency,
//     unless an IL-merging tool (ILRepack, ILMerge, Costura, …) is among the
//     libraries, in which case claims are not required.
type dotnetCataloger struct{}

func (dotnetCataloger) Name() string { return "dotnet-deps" }

func (dotnetCataloger) Wants(path string, _ fs.FileMode, size int64) bool {
	return size <= dotnetMaxDeps && strings.HasSuffix(path, ".deps.json")
}

type dotnetDeps struct {
	Targets   map[string]map[string]dotnetTarget `json:"targets"`
	Libraries map[string]struct {
		Type   string `json:"type"`
		Path   string `json:"path"`
		Sha512 string `json:"sha512"`
	} `json:"libraries"`
}

type dotnetTarget struct {
	Dependencies map[string]string          `json:"dependencies"`
	Runtime      map[string]json.RawMessage `json:"runtime"`
	Resources    map[string]json.RawMessage `json:"resources"`
	Compile      map[string]json.RawMessage `json:"compile"`
	Native       map[string]json.RawMessage `json:"native"`
}

// dotnetBundlers are IL-merging tools: an application built with one carries
// its dependencies inside its own assembly, so they claim no file.
var dotnetBundlers = map[string]bool{
	"ILRepack.Lib.MSBuild.Task": true, "ILRepack.Lib": true, "ILRepack.Lib.MSBuild": true,
	"ILRepack.Lib.NET": true, "ILRepack.NETStandard": true, "ILRepack.FullAuto": true,
	"ILMerge": true, "JetBrains.Build.ILRepack": true, "PostSharp.Community.Packer": true,
	"Brokenevent.ILStrip": true, "Brokenevent.ILStrip.CLI": true, "Costura.Fody": true, "Fody": true,
}

func (dotnetCataloger) Catalog(f File) ([]Package, error) {
	data, err := io.ReadAll(io.LimitReader(f.Content, dotnetMaxDeps+1))
	if err != nil {
		return nil, err
	}
	if len(data) > dotnetMaxDeps {
		return nil, fmt.Errorf("deps.json %s: %w", f.Path, errLangTooLarge{"deps.json", dotnetMaxDeps})
	}
	var doc dotnetDeps
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("deps.json %s: %w", f.Path, err)
	}
	_, base := langSplitDir(f.Path)
	pkgs := dotnetPackages(doc, strings.TrimSuffix(base, ".deps.json"))
	for i := range pkgs {
		pkgs[i].Location, pkgs[i].Layer = f.Path, f.Layer
	}
	return pkgs, nil
}

// dotnetPackages applies the selection described on dotnetCataloger; app is
// the file name without ".deps.json".
func dotnetPackages(doc dotnetDeps, app string) []Package {
	type lib struct {
		claims bool
		deps   []string
	}
	libs := map[string]*lib{}
	var names []string
	for _, targets := range doc.Targets {
		for nv, t := range targets {
			l := libs[nv]
			if l == nil {
				l = &lib{}
				libs[nv] = l
				names = append(names, nv)
			}
			l.claims = l.claims || len(t.Runtime) > 0 || len(t.Resources) > 0 || len(t.Compile) > 0 || len(t.Native) > 0
			for n, v := range t.Dependencies {
				l.deps = append(l.deps, n+"/"+v)
			}
		}
	}
	sort.Strings(names)
	bundled := false
	for _, nv := range names {
		name, _, _ := strings.Cut(nv, "/")
		bundled = bundled || dotnetBundlers[name]
	}
	// claims: a library claims a file itself or through what it depends
	// on. One backwards walk from the libraries that claim files marks them
	// all, linear in the graph whatever its shape (cycles included).
	dependents := map[string][]string{}
	var queue []string
	claimsAll := map[string]bool{}
	for _, nv := range names {
		l := libs[nv]
		for _, d := range l.deps {
			dependents[d] = append(dependents[d], nv)
		}
		if l.claims {
			claimsAll[nv] = true
			queue = append(queue, nv)
		}
	}
	for len(queue) > 0 {
		cur := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		for _, up := range dependents[cur] {
			if !claimsAll[up] {
				claimsAll[up] = true
				queue = append(queue, up)
			}
		}
	}
	claims := func(nv string) bool { return claimsAll[nv] }

	pkg := func(nv string) Package {
		name, version, _ := strings.Cut(nv, "/")
		return Package{Name: name, Version: version, Type: "nuget", PURL: langPURL("nuget", "", name, version)}
	}
	var pkgs []Package
	rootNV := ""
	for _, nv := range names {
		name, _, _ := strings.Cut(nv, "/")
		if lib, ok := doc.Libraries[nv]; ok && lib.Type == "project" && name == app && app != "" {
			rootNV = nv
			pkgs = append(pkgs, pkg(nv))
			break
		}
	}
	for _, nv := range names {
		if nv == rootNV {
			continue
		}
		lib, hasLib := doc.Libraries[nv]
		if hasLib && lib.Type == "referenceassembly" && lib.Sha512 == "" && lib.Path == "" {
			continue
		}
		if hasLib && lib.Type == "project" {
			continue
		}
		if !bundled && !claims(nv) {
			continue
		}
		pkgs = append(pkgs, pkg(nv))
	}
	return pkgs
}
