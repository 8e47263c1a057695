// Command sbomscan is the benchmark driver for `make bench-sbom`: it scans
// one image with package sbom, as `imgsign sbom` does, and prints the SBOM or
// just the packages, so bench/sbom.sh can time it against syft.
//
//	sbomscan [-format spdx|cyclonedx|packages] [-concurrency N] REF
//	sbomscan -layer layer.tar[.gz]            # a local layer, no registry
//	sbomscan -compare OURS.spdx.json SYFT.spdx.json
//
// -compare reads two SPDX JSON documents with spdx/tools-golang and prints,
// per purl type, how many packages each has and how far their sets of
// (name, version) pairs agree, both ways, with every disagreement.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"runtime/pprof"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	spdxjson "github.com/spdx/tools-golang/json"

	"github.com/imgsign/imgsign/attest/sbom"
)

func main() {
	format := flag.String("format", "packages", "output: spdx, cyclonedx, or packages (type name version per line)")
	layer := flag.String("layer", "", "scan this local layer tarball instead of a registry image")
	conc := flag.Int("concurrency", 0, "layers read at once (0: GOMAXPROCS)")
	outPath := flag.String("o", "", "write the output to this file instead of stdout")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	compare := flag.Bool("compare", false, "compare two SPDX JSON files (ours, syft's) instead of scanning")
	flag.Parse()
	if *compare {
		if err := compareSPDX(flag.Args()); err != nil {
			fmt.Fprintln(os.Stderr, "sbomscan:", err)
			os.Exit(1)
		}
		return
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "sbomscan:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(*format, *layer, *outPath, *conc, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "sbomscan:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(format, layer, outPath string, conc int, args []string) error {
	ctx := context.Background()
	var img v1.Image
	subject := sbom.Subject{Name: "local"}
	switch {
	case layer != "":
		l, err := tarball.LayerFromFile(layer)
		if err != nil {
			return err
		}
		if img, err = mutate.AppendLayers(empty.Image, l); err != nil {
			return err
		}
	case len(args) == 1:
		ref, err := name.ParseReference(args[0], name.Insecure)
		if err != nil {
			return err
		}
		if img, err = remote.Image(ref, remote.WithContext(ctx)); err != nil {
			return err
		}
		subject.Name = ref.Context().Name()
	default:
		return fmt.Errorf("usage: sbomscan [flags] REF | -layer FILE")
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	subject.Digest = d.String()
	res, err := sbom.Scan(ctx, img, sbom.Default(), sbom.WithConcurrency(conc), sbom.WithProgress(sbom.ProgressBar(os.Stderr)))
	if err != nil {
		return err
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(os.Stderr, "warning:", w)
	}
	var out []byte
	switch format {
	case "spdx":
		out, err = sbom.SPDX(res, subject)
	case "cyclonedx":
		out, err = sbom.CycloneDX(res, subject)
	case "packages":
		for _, p := range res.Packages {
			out = fmt.Appendf(out, "%s %s %s\n", p.Type, p.Name, p.Version)
		}
	default:
		return fmt.Errorf("unknown -format %q", format)
	}
	if err != nil {
		return err
	}
	if outPath != "" {
		return os.WriteFile(outPath, out, 0o644)
	}
	_, err = os.Stdout.Write(out)
	return err
}

// spdxPkg is one package of an SPDX document as the comparison sees it.
type spdxPkg struct {
	typ, name, version string
	// owned: syft linked it to an OS package by ownership-by-file-overlap.
	owned bool
}

// spdxPackages reads the packages of an SPDX JSON document that have a
// purl, keyed by purl type. The version is the purl's (syft's stdlib
// package says go1.19.8 in its version field and 1.19.8 in its purl, the
// form vulnerability databases match). Packages that an OS package (deb,
// apk, rpm) claims through syft's ownership-by-file-overlap relationship are
// marked owned, except Go modules (see below).
func spdxPackages(path string) (map[string][]spdxPkg, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	doc, err := spdxjson.Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	typeOf := map[string]string{}
	pkgs := map[string]*spdxPkg{}
	var order []string
	for _, p := range doc.Packages {
		purl := ""
		for _, r := range p.PackageExternalReferences {
			if r.RefType == "purl" {
				purl = r.Locator
			}
		}
		typ, rest, _ := strings.Cut(strings.TrimPrefix(purl, "pkg:"), "/")
		if typ == "" || typ == "oci" {
			continue
		}
		version := p.PackageVersion
		rest, _, _ = strings.Cut(rest, "?")
		if i := strings.LastIndexByte(rest, '@'); i >= 0 {
			if v, err := url.PathUnescape(rest[i+1:]); err == nil {
				version = v
			}
		} else {
			version = ""
		}
		id := string(p.PackageSPDXIdentifier)
		typeOf[id] = typ
		pkgs[id] = &spdxPkg{typ: typ, name: p.PackageName, version: version}
		order = append(order, id)
	}
	for _, r := range doc.Relationships {
		if !strings.HasPrefix(r.RelationshipComment, "ownership-by-file-overlap") {
			continue
		}
		switch typeOf[string(r.RefA.ElementRefID)] {
		case "deb", "apk", "rpm":
			// Go modules compiled into an OS-owned binary are kept by both
			// tools: they are what the binary contains, not the OS package.
			if c := pkgs[string(r.RefB.ElementRefID)]; c != nil && c.typ != "deb" && c.typ != "apk" && c.typ != "rpm" && c.typ != "golang" {
				c.owned = true
			}
		}
	}
	out := map[string][]spdxPkg{}
	for _, id := range order {
		p := pkgs[id]
		out[p.typ] = append(out[p.typ], *p)
	}
	return out, nil
}

// compareSPDX prints, per purl type, the packages each document has and
// how far their sets of (name, version) agree both ways, and lists every
// disagreement. Packages syft itself marks as owned by an OS package are
// counted apart: imgsign does not report them (the OS package does).
func compareSPDX(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: sbomscan -compare OURS.spdx.json SYFT.spdx.json")
	}
	ours, err := spdxPackages(args[0])
	if err != nil {
		return err
	}
	syft, err := spdxPackages(args[1])
	if err != nil {
		return err
	}
	types := map[string]bool{}
	for t := range ours {
		types[t] = true
	}
	for t := range syft {
		types[t] = true
	}
	var sorted []string
	for t := range types {
		sorted = append(sorted, t)
	}
	sort.Strings(sorted)
	pct := func(n, d int) string {
		if d == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(d))
	}
	set := func(ps []spdxPkg, owned bool) map[string]bool {
		m := map[string]bool{}
		for _, p := range ps {
			if p.owned == owned {
				m[p.name+" "+p.version] = true
			}
		}
		return m
	}
	fmt.Printf("%-8s %8s %6s %6s %14s %14s %s\n", "type", "imgsign", "syft", "both", "syft's found", "imgsign's found", "syft's OS-owned (not counted)")
	fmt.Printf("%-8s %8s %6s %6s %14s %14s\n", "", "", "", "", "by imgsign", "by syft")
	var lines []string
	for _, t := range sorted {
		o, s, owned := set(ours[t], false), set(syft[t], false), set(syft[t], true)
		both := 0
		for k := range o {
			if s[k] {
				both++
			} else {
				lines = append(lines, fmt.Sprintf("  %-6s only imgsign: %s", t, k))
			}
		}
		for k := range s {
			if !o[k] {
				lines = append(lines, fmt.Sprintf("  %-6s only syft:    %s", t, k))
			}
		}
		fmt.Printf("%-8s %8d %6d %6d %14s %14s %d\n", t, len(o), len(s), both, pct(both, len(s)), pct(both, len(o)), len(owned))
	}
	sort.Strings(lines)
	if len(lines) > 0 {
		fmt.Println("disagreements (name version):")
		for _, l := range lines {
			fmt.Println(l)
		}
	}
	var ownedLines []string
	for _, t := range sorted {
		for k := range set(syft[t], true) {
			ownedLines = append(ownedLines, fmt.Sprintf("  %-6s %s", t, k))
		}
	}
	sort.Strings(ownedLines)
	if len(ownedLines) > 0 {
		fmt.Println("syft also lists, under ownership-by-file-overlap of an OS package (imgsign reports only the OS package):")
		for _, l := range ownedLines {
			fmt.Println(l)
		}
	}
	return nil
}
