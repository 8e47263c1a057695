package catalog

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// syftEcosystems maps syft's package types to this package's for the
// ecosystems compared here.
var syftEcosystems = map[string]string{
	"gem": "gem", "php-composer": "composer", "rust-crate": "cargo", "dotnet": "nuget",
	"java-archive": "maven", "jenkins-plugin": "maven",
}

// syftKey identifies a package in both tools' results: ecosystem, name,
// version, the file it was found in and the purl (percent-decoded, since
// the two encode '+' differently and both decode to the same).
func syftKey(eco, name, version, loc, purl string) string {
	if d, err := url.PathUnescape(purl); err == nil {
		purl = d
	}
	return strings.Join([]string{eco, name, version, strings.TrimPrefix(loc, "/"), purl}, " ")
}

// syftScan runs syft v1.57.0 (tools/build.sh syft) over a directory with the
// catalogers it runs on images, and returns its packages of the compared
// ecosystems by key.
func syftScan(t *testing.T, root string) map[string]bool {
	t.Helper()
	syft := testenv.Tool(t, "syft")
	// On images syft runs no lock-file catalogers; imgsign reads
	// Cargo.lock and composer.lock there too, so those are added.
	cmd := exec.Command(syft, "scan", "dir:"+root, "--override-default-catalogers", "image",
		"--select-catalogers", "+rust-cargo-lock-cataloger,+php-composer-lock-cataloger", "-o", "syft-json", "-q")
	cmd.Env = append(cmd.Environ(), "SYFT_CHECK_FOR_APP_UPDATE=false")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("syft: %v\n%s", err, stderr)
	}
	var doc struct {
		Artifacts []struct {
			Name, Version, Type, PURL string
			Locations                 []struct {
				Path        string
				Annotations map[string]string
			}
		}
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, a := range doc.Artifacts {
		eco, ok := syftEcosystems[a.Type]
		if !ok {
			continue
		}
		// The file that declared the package is the one with "primary"
		// evidence; the others (a .NET package's DLLs) only support it.
		loc := ""
		for _, l := range a.Locations {
			if loc == "" || l.Annotations["evidence"] == "primary" {
				loc = l.Path
			}
			if l.Annotations["evidence"] == "primary" {
				break
			}
		}
		got[syftKey(eco, a.Name, a.Version, loc, a.PURL)] = true
	}
	return got
}

// compareWithSyft catalogs root and compares, per ecosystem, with syft; it
// returns the disagreements (one line each) and logs the agreement table.
func compareWithSyft(t *testing.T, root string) []string {
	t.Helper()
	theirs := syftScan(t, root)
	ours := map[string]bool{}
	for _, p := range catalogTree(t, root) {
		if p.Type == "npm" || p.Type == "pypi" || p.Type == "golang" {
			continue // other people's ecosystems, compared elsewhere
		}
		ours[syftKey(p.Type, p.Name, p.Version, p.Location, p.PURL)] = true
	}
	type count struct{ ours, theirs, both int }
	per := map[string]*count{}
	var diffs []string
	for k := range ours {
		eco, _, _ := strings.Cut(k, " ")
		if per[eco] == nil {
			per[eco] = &count{}
		}
		per[eco].ours++
		if theirs[k] {
			per[eco].both++
		} else {
			diffs = append(diffs, "only imgsign: "+k)
		}
	}
	for k := range theirs {
		eco, _, _ := strings.Cut(k, " ")
		if per[eco] == nil {
			per[eco] = &count{}
		}
		per[eco].theirs++
		if !ours[k] {
			diffs = append(diffs, "only syft:    "+k)
		}
	}
	var ecos []string
	for e := range per {
		ecos = append(ecos, e)
	}
	sort.Strings(ecos)
	var b strings.Builder
	fmt.Fprintf(&b, "%-10s %8s %8s %8s\n", "ecosystem", "imgsign", "syft", "both")
	for _, e := range ecos {
		c := per[e]
		fmt.Fprintf(&b, "%-10s %8d %8d %8d\n", e, c.ours, c.theirs, c.both)
	}
	t.Logf("agreement with syft on (ecosystem, name, version, location, purl):\n%s", b.String())
	sort.Strings(diffs)
	return diffs
}

// TestAgainstSyft puts the real fixtures of the ecosystems added for issue
// 18 in one tree and compares what imgsign and syft find in it, package by
// package.
func TestAgainstSyft(t *testing.T) {
	if testing.Short() {
		t.Skip("runs syft over Debian and npm packages; run make test")
	}
	root := t.TempDir()
	for _, name := range []string{"ruby-rack", "ruby-json", "libruby3.1"} {
		debUnpack(t, debFetch(t, name), root)
	}
	debUnpack(t, debFetch(t, icingaDeb), root, "./"+icingaVendor)
	debUnpack(t, debFetch(t, rustSrcDeb), root, "./"+rustBookV3, "./"+rustBookV1, "./"+rustfmtLock)
	untgz(t, npmFetch(t, fableNPM), root, "package/bin/fable-cli")
	diffs := compareWithSyft(t, root)
	for _, d := range diffs {
		t.Errorf("%s", d)
	}
}
