// Command sbomscan is the benchmark driver for `make bench-sbom`: it scans
// one image with package sbom, as `imgsign sbom` does, and prints the SBOM or
// just the packages, so bench/sbom.sh can time it against syft.
//
//	sbomscan [-format spdx|cyclonedx|packages] [-concurrency N] REF
//	sbomscan -layer layer.tar[.gz]            # a local layer, no registry
//	sbomscan -compare OURS.spdx.json SYFT.spdx.json
//
// -compare reads two SPDX JSON documents with spdx/tools-golang and prints
// how many packages of each purl type each has and how far their sets of
// deb (name, version) pairs agree, both ways.
package main

import (
	"context"
	"flag"
	"fmt"
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

// spdxPackages returns "name version" of every package per purl type.
func spdxPackages(path string) (map[string]map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	doc, err := spdxjson.Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := map[string]map[string]bool{}
	for _, p := range doc.Packages {
		typ := ""
		for _, r := range p.PackageExternalReferences {
			if r.RefType == "purl" {
				typ, _, _ = strings.Cut(strings.TrimPrefix(r.Locator, "pkg:"), "/")
			}
		}
		if typ == "" || typ == "oci" {
			continue
		}
		if out[typ] == nil {
			out[typ] = map[string]bool{}
		}
		out[typ][p.PackageName+" "+p.PackageVersion] = true
	}
	return out, nil
}

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
	count := func(m map[string]map[string]bool) string {
		var types []string
		total := 0
		for t, s := range m {
			types = append(types, fmt.Sprintf("%s=%d", t, len(s)))
			total += len(s)
		}
		sort.Strings(types)
		return fmt.Sprintf("%d (%s)", total, strings.Join(types, " "))
	}
	fmt.Printf("packages found: imgsign %s, syft %s\n", count(ours), count(syft))
	o, s := ours["deb"], syft["deb"]
	both := 0
	var onlyOurs, onlySyft []string
	for k := range o {
		if s[k] {
			both++
		} else {
			onlyOurs = append(onlyOurs, k)
		}
	}
	for k := range s {
		if !o[k] {
			onlySyft = append(onlySyft, k)
		}
	}
	pct := func(n, d int) float64 {
		if d == 0 {
			return 100
		}
		return 100 * float64(n) / float64(d)
	}
	fmt.Printf("dpkg agreement (name+version): %d in both; %.1f%% of syft's found by imgsign, %.1f%% of imgsign's found by syft\n",
		both, pct(both, len(s)), pct(both, len(o)))
	sort.Strings(onlyOurs)
	sort.Strings(onlySyft)
	for _, k := range onlyOurs {
		fmt.Println("  only imgsign:", k)
	}
	for _, k := range onlySyft {
		fmt.Println("  only syft:   ", k)
	}
	return nil
}
