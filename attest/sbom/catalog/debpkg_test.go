package catalog

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// Fixtures from real Debian packages: debFetch downloads a package with
// apt-get download once into a cache beside the pinned tools (so CI's fresh
// clones reuse it) and debUnpack unpacks it into a test's directory. Nobody
// on this project wrote these files: they are what Debian and the upstream
// projects publish.

var (
	debFetchMu sync.Mutex
	debUpdated bool // apt-get update was run by a test of this process
)

// debCache is where downloaded .deb files are kept between runs.
func debCache() string {
	return filepath.Join(filepath.Dir(testenv.ToolsBin()), "sbom-debs")
}

// debFetch returns the path of the .deb for spec ("name" for the candidate
// version, or "name=version" for an exact one), downloading it if it is not
// cached. Missing (a failure in CI) when apt-get cannot get it.
func debFetch(t *testing.T, spec string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("downloads Debian packages with apt-get; run make test")
	}
	for _, tool := range []string{"apt-get", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "%s is not installed (%v): these fixtures are Debian packages", tool, err)
		}
	}
	name, version, pinned := strings.Cut(spec, "=")
	debFetchMu.Lock()
	defer debFetchMu.Unlock()
	dir := debCache()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	glob := name + "_*.deb"
	if pinned {
		// Debian escapes ':' (epochs) as %3a in file names.
		glob = name + "_" + strings.ReplaceAll(version, ":", "%3a") + "_*.deb"
	}
	if m, _ := filepath.Glob(filepath.Join(dir, glob)); len(m) > 0 {
		return m[0]
	}
	download := func() ([]byte, error) {
		cmd := exec.Command("apt-get", "download", spec)
		cmd.Dir = dir
		return cmd.CombinedOutput()
	}
	out, err := download()
	if err != nil && os.Geteuid() == 0 && !debUpdated {
		// A fresh machine may have no package lists yet: get them once.
		debUpdated = true
		if uout, uerr := exec.Command("apt-get", "update", "-qq").CombinedOutput(); uerr != nil {
			t.Logf("apt-get update: %v\n%s", uerr, uout)
		}
		out, err = download()
	}
	if err != nil {
		testenv.Missing(t, "apt-get download %s failed (%v): %s\n(run apt-get update first; the machine needs Debian bookworm's archive)", spec, err, out)
	}
	m, _ := filepath.Glob(filepath.Join(dir, glob))
	if len(m) == 0 {
		t.Fatalf("apt-get download %s left no %s in %s", spec, glob, dir)
	}
	return m[0]
}

// debVersion is the package's Version field.
func debVersion(t *testing.T, deb string) string {
	t.Helper()
	out, err := exec.Command("dpkg-deb", "-f", deb, "Version").Output()
	if err != nil {
		t.Fatalf("dpkg-deb -f %s Version: %v", deb, err)
	}
	return strings.TrimSpace(string(out))
}

// debUpstream is the upstream part of a Debian version: no epoch, no Debian
// revision, no "+dfsg"-style repack suffix ("1:2.6.3+dfsg-1" → "2.6.3").
func debUpstream(v string) string {
	if _, after, ok := strings.Cut(v, ":"); ok {
		v = after
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		v = v[:i]
	}
	if i := strings.IndexByte(v, '+'); i >= 0 {
		v = v[:i]
	}
	return v
}

// debUnpack unpacks deb into dest: the whole package, or only the given
// members ("./usr/share/…", as dpkg-deb -c lists them).
func debUnpack(t *testing.T, deb, dest string, members ...string) {
	t.Helper()
	if len(members) == 0 {
		if out, err := exec.Command("dpkg-deb", "-x", deb, dest).CombinedOutput(); err != nil {
			t.Fatalf("dpkg-deb -x %s: %v\n%s", deb, err, out)
		}
		return
	}
	fsys := exec.Command("dpkg-deb", "--fsys-tarfile", deb)
	untar := exec.Command("tar", append([]string{"-x", "-C", dest}, members...)...)
	pipe, err := fsys.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	untar.Stdin = pipe
	if err := fsys.Start(); err != nil {
		t.Fatal(err)
	}
	out, err := untar.CombinedOutput()
	_ = fsys.Wait()
	if err != nil {
		t.Fatalf("unpacking %v from %s: %v\n%s", members, deb, err, out)
	}
}

// npmFetch returns the tarball of an npm package at an exact version
// ("name@1.2.3"), fetched with npm pack once into the fixture cache.
func npmFetch(t *testing.T, spec string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("downloads npm packages with npm pack; run make test")
	}
	if _, err := exec.LookPath("npm"); err != nil {
		testenv.Missing(t, "npm is not installed (%v): apt-get install npm", err)
	}
	name, version, _ := strings.Cut(strings.TrimPrefix(spec, "@"), "@")
	file := strings.ReplaceAll(strings.TrimPrefix(name, "@"), "/", "-") + "-" + version + ".tgz"
	debFetchMu.Lock()
	defer debFetchMu.Unlock()
	dir := filepath.Join(filepath.Dir(testenv.ToolsBin()), "sbom-npm")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, file)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	cmd := exec.Command("npm", "pack", "--silent", spec)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		testenv.Missing(t, "npm pack %s failed (%v): %s", spec, err, out)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("npm pack %s left no %s: %v", spec, file, err)
	}
	return p
}

// untgz unpacks the given members of a .tgz into dest.
func untgz(t *testing.T, tgz, dest string, members ...string) {
	t.Helper()
	if out, err := exec.Command("tar", append([]string{"-xzf", tgz, "-C", dest}, members...)...).CombinedOutput(); err != nil {
		t.Fatalf("tar -xzf %s: %v\n%s", tgz, err, out)
	}
}
