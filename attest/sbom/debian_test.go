package sbom

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/attest/sbom/catalog"
	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// debianTar is the debootstrap --variant=minbase bookworm rootfs that
// testdata/sbom/make-debian.sh (run by `make tools`) caches beside the
// pinned tools.
func debianTar(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("scans a 200 MB Debian rootfs")
	}
	p := filepath.Join(filepath.Dir(testenv.ToolsBin()), "debian-bookworm-minbase.tar")
	if _, err := os.Stat(p); err != nil {
		testenv.Missing(t, "Debian rootfs tarball %s is missing: create it with testdata/sbom/make-debian.sh", p)
	}
	return p
}

// fileLayer serves an uncompressed layer tarball from disk as it is, the
// way a registry serves an uncompressed layer, so the test streams 200 MB
// without holding it or recompressing it.
type fileLayer struct {
	path string
	once sync.Once
	hash v1.Hash
	size int64
	err  error
}

func (l *fileLayer) digest() (v1.Hash, error) {
	l.once.Do(func() {
		f, err := os.Open(l.path)
		if err != nil {
			l.err = err
			return
		}
		defer f.Close()
		h := sha256.New()
		if l.size, err = io.Copy(h, f); err != nil {
			l.err = err
			return
		}
		l.hash, l.err = v1.NewHash("sha256:" + hex.EncodeToString(h.Sum(nil)))
	})
	return l.hash, l.err
}

func (l *fileLayer) Digest() (v1.Hash, error)             { return l.digest() }
func (l *fileLayer) DiffID() (v1.Hash, error)             { return l.digest() }
func (l *fileLayer) Compressed() (io.ReadCloser, error)   { return os.Open(l.path) }
func (l *fileLayer) Uncompressed() (io.ReadCloser, error) { return os.Open(l.path) }
func (l *fileLayer) MediaType() (types.MediaType, error)  { return types.OCIUncompressedLayer, nil }
func (l *fileLayer) Size() (int64, error) {
	_, err := l.digest()
	return l.size, err
}

// statusOracle lists "name version" of the installed packages in the
// tarball's dpkg status file with a deliberately naive parse, independent of
// the cataloger, so the test does not pin versions that change with every
// Debian point release the tarball is rebuilt from.
func statusOracle(t *testing.T, tarPath string) (set []string, status string) {
	t.Helper()
	f, err := os.Open(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatal("no var/lib/dpkg/status in the tarball")
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimPrefix(h.Name, "./") != "var/lib/dpkg/status" {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		status = string(b)
		break
	}
	for _, stanza := range strings.Split(status, "\n\n") {
		var name, version, state string
		sc := bufio.NewScanner(strings.NewReader(stanza))
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ": ")
			switch k {
			case "Package":
				name = v
			case "Version":
				version = v
			case "Status":
				state = v
			}
		}
		if name != "" && state == "install ok installed" {
			set = append(set, name+" "+version)
		}
	}
	sort.Strings(set)
	return set, status
}

// TestDebianRootfs scans a real debootstrapped Debian and checks the squash
// semantics on it: deleting a package's files leaves it listed (its dpkg
// status entry still says installed, as syft and trivy report it too) but
// drops the license that came from its deleted copyright file; purging it
// from the status file, as `dpkg --purge` would, removes it.
func TestDebianRootfs(t *testing.T) {
	base := &fileLayer{path: debianTar(t)}
	want, st := statusOracle(t, base.path)
	if len(want) != 88 {
		t.Errorf("the minbase bookworm tarball has %d installed packages, expected 88: was it made by make-debian.sh?", len(want))
	}

	// Layer 2 deletes tzdata's files: its zoneinfo tree and docs.
	deleteFiles := layer(t, gzipped, dir("usr/"), dir("usr/share/"), whiteout("usr/share/zoneinfo"), whiteout("usr/share/doc/tzdata"))
	res := scan(t, image(t, base, deleteFiles), Default())
	var got []string
	byName := map[string]catalog.Package{}
	for _, p := range res.Packages {
		if p.Type != "deb" || p.Location != status {
			t.Errorf("unexpected package %+v", p)
			continue
		}
		got = append(got, p.Name+" "+p.Version)
		byName[p.Name] = p
	}
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("packages differ from the status file:\n got %q\nwant %q", got, want)
	}
	if res.OS == nil || res.OS.ID != "debian" || res.OS.VersionID != "12" || res.OS.PrettyName != "Debian GNU/Linux 12 (bookworm)" {
		t.Errorf("OS = %+v", res.OS)
	}
	for name, prefix := range map[string]string{"base-files": "12.4+deb12u", "libc6": "2.36-9", "bash": "5.2.15-2", "dpkg": "1.21.", "coreutils": "9.1-1"} {
		p, ok := byName[name]
		if !ok || !strings.HasPrefix(p.Version, prefix) {
			t.Errorf("%s = %+v, want version %s…", name, p, prefix)
		}
	}
	libc := byName["libc6"]
	if !strings.HasPrefix(libc.PURL, "pkg:deb/debian/libc6@"+libc.Version+"?arch=amd64&distro=debian-12&upstream=glibc") || libc.Layer != res.Layers[0].Digest {
		t.Errorf("libc6 = %+v", libc)
	}
	if len(byName["tzdata"].Licenses) != 0 {
		t.Errorf("tzdata licenses = %q after its copyright file was deleted", byName["tzdata"].Licenses)
	}
	if lic := byName["bash"].Licenses; len(lic) == 0 {
		t.Error("bash has no licenses from its copyright file")
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings: %v", res.Warnings)
	}

	// Layer 3 purges tzdata from the status file.
	var kept []string
	for _, stanza := range strings.Split(st, "\n\n") {
		if !strings.HasPrefix(stanza, "Package: tzdata\n") {
			kept = append(kept, stanza)
		}
	}
	purge := layer(t, gzipped, file(status, strings.Join(kept, "\n\n")))
	res = scan(t, image(t, base, deleteFiles, purge), Default())
	if len(res.Packages) != len(want)-1 {
		t.Errorf("after purging tzdata: %d packages, want %d", len(res.Packages), len(want)-1)
	}
	for _, p := range res.Packages {
		if p.Name == "tzdata" {
			t.Error("tzdata still listed after its status entry was purged")
		}
		if p.Layer != digestOf(t, purge) {
			t.Errorf("%s attributed to %s, want the purge layer", p.Name, p.Layer)
			break
		}
	}
}
