package sbom

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"reflect"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/attest/sbom/catalog"
	"github.com/imgsign/imgsign/internal/errkind"
)

const (
	status   = "var/lib/dpkg/status"
	statusD  = "var/lib/dpkg/status.d/"
	osRel    = "usr/lib/os-release"
	apkDB    = "lib/apk/db/installed"
	sqliteDB = "var/lib/rpm/rpmdb.sqlite"
)

var dpkgStatusSet = []string{
	"deb adduser 3.134 " + status,
	"deb bsdutils 1:2.38.1-5+deb12u3 " + status,
	"deb libc6 2.36-9+deb12u14 " + status,
	"deb tzdata 2026b-0+deb12u1 " + status,
}

// TestSquash checks that the result is what the squashed filesystem
// declares, for each way a later layer can hide an earlier file.
func TestSquash(t *testing.T) {
	st := fixture(t, "dpkg/status")
	baseFiles := fixture(t, "dpkg/status.d/base-files")
	libssl := fixture(t, "dpkg/status.d/libssl3")
	libsslNew := strings.Replace(libssl, "3.0.11-1~deb12u2", "3.0.15-1~deb12u1", 1)
	statusD1 := []entry{dir("var/"), dir("var/lib/"), dir("var/lib/dpkg/"), dir(statusD), file(statusD+"base-files", baseFiles), file(statusD+"libssl3", libssl), file(statusD+"libssl3.md5sums", "x  y\n")}
	tests := []struct {
		name   string
		layers [][]entry
		want   []string
	}{
		{
			name:   "one layer",
			layers: [][]entry{{file(status, st)}},
			want:   dpkgStatusSet,
		},
		{
			name:   "tar names with ./ and /",
			layers: [][]entry{{file("./"+status, st)}, {file("/"+apkDB, fixture(t, "apk/installed"))}},
			want: append([]string{
				"apk busybox 1.36.1-r15 " + apkDB, "apk libcrypto3 3.1.4-r5 " + apkDB, "apk musl 1.2.4_git20230717-r4 " + apkDB,
			}, dpkgStatusSet...),
		},
		{
			name:   "whiteout of the status file",
			layers: [][]entry{{file(status, st)}, {whiteout(status)}},
			want:   []string{},
		},
		{
			name:   "whiteout of one status.d file",
			layers: [][]entry{statusD1, {whiteout(statusD + "libssl3")}},
			want:   []string{"deb base-files 12.4+deb12u5 " + statusD + "base-files"},
		},
		{
			name:   "whiteout of an ancestor directory",
			layers: [][]entry{statusD1, {whiteout("var/lib/dpkg")}},
			want:   []string{},
		},
		{
			name:   "opaque directory keeps its own layer's files",
			layers: [][]entry{statusD1, {dir(statusD), opaque(statusD), file(statusD+"libssl3", libsslNew)}},
			want:   []string{"deb libssl3 3.0.15-1~deb12u1 " + statusD + "libssl3"},
		},
		{
			name:   "opaque parent directory",
			layers: [][]entry{statusD1, {opaque("var/lib")}},
			want:   []string{},
		},
		{
			name:   "opaque sibling directory hides nothing",
			layers: [][]entry{statusD1, {opaque("var/lib/dpkg/info")}},
			want:   []string{"deb base-files 12.4+deb12u5 " + statusD + "base-files", "deb libssl3 3.0.11-1~deb12u2 " + statusD + "libssl3"},
		},
		{
			name:   "overwrite in a later layer",
			layers: [][]entry{statusD1, {file(statusD+"libssl3", libsslNew)}},
			want:   []string{"deb base-files 12.4+deb12u5 " + statusD + "base-files", "deb libssl3 3.0.15-1~deb12u1 " + statusD + "libssl3"},
		},
		{
			name:   "overwrite with a file that declares nothing",
			layers: [][]entry{{file(status, st)}, {file(status, "")}},
			want:   []string{},
		},
		{
			name:   "directory entries of later layers hide nothing",
			layers: [][]entry{{file(status, st)}, {dir("var/"), dir("var/lib/"), dir("var/lib/dpkg/"), file("var/lib/dpkg/lock", "")}},
			want:   dpkgStatusSet,
		},
		{
			name:   "ancestor replaced by a symlink",
			layers: [][]entry{statusD1, {symlink("var/lib/dpkg", "/opt/dpkg")}},
			want:   []string{},
		},
		{
			name:   "status file replaced by a symlink",
			layers: [][]entry{{file(status, st)}, {symlink(status, "status-old")}},
			want:   []string{},
		},
		{
			name: "deleting a package's files keeps it listed",
			layers: [][]entry{
				{file(status, st), file("usr/sbin/adduser", "#!/usr/bin/perl\n")},
				{whiteout("usr/sbin/adduser"), whiteout("usr/share/doc/adduser")},
			},
			want: dpkgStatusSet,
		},
		{
			name:   "path repeated within a layer: the last entry wins",
			layers: [][]entry{{file(statusD+"libssl3", libssl), file(statusD+"libssl3", libsslNew)}},
			want:   []string{"deb libssl3 3.0.15-1~deb12u1 " + statusD + "libssl3"},
		},
		{
			name:   "whiteout and re-add in a later layer",
			layers: [][]entry{{file(status, st)}, {whiteout(status)}, {file(statusD+"libssl3", libssl)}},
			want:   []string{"deb libssl3 3.0.11-1~deb12u2 " + statusD + "libssl3"},
		},
		{
			name:   "hard link to a cataloged file",
			layers: [][]entry{{file(statusD+"libssl3", libssl), hardlink(status, statusD+"libssl3")}, {whiteout(statusD + "libssl3")}},
			want:   []string{"deb libssl3 3.0.11-1~deb12u2 " + status},
		},
		{
			name:   "symlinked database is not followed",
			layers: [][]entry{{file("opt/status", st), symlink(status, "/opt/status")}},
			want:   []string{},
		},
		{
			name:   "names escaping the root are ignored",
			layers: [][]entry{{file("../"+status, st), file("var/../../"+status, st)}},
			want:   []string{},
		},
		{
			name:   "rpm and apk in different layers",
			layers: [][]entry{{file(sqliteDB, fixture(t, "rpm/rpmdb.sqlite.gz"))}, {file(apkDB, fixture(t, "apk/installed"))}},
			want: []string{
				"apk busybox 1.36.1-r15 " + apkDB, "apk libcrypto3 3.1.4-r5 " + apkDB, "apk musl 1.2.4_git20230717-r4 " + apkDB,
				"rpm hello 2.12.1-3.el9 " + sqliteDB, "rpm openssl-libs 1:3.0.7-27.el9 " + sqliteDB, "rpm tzdata 2024a-1.el9 " + sqliteDB,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ls []v1.Layer
			for _, es := range tt.layers {
				ls = append(ls, layer(t, gzipped, es...))
			}
			res := scan(t, image(t, ls...), catalog.OSPackages())
			if got := names(res); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("packages:\n got %q\nwant %q", got, tt.want)
			}
			if len(res.Warnings) != 0 {
				t.Errorf("warnings: %v", res.Warnings)
			}
		})
	}
}

// The layer a package is attributed to is the one its metadata file came
// from in the squashed view.
func TestLayerAttribution(t *testing.T) {
	l1 := layer(t, gzipped, file(status, fixture(t, "dpkg/status")), file(statusD+"base-files", fixture(t, "dpkg/status.d/base-files")))
	l2 := layer(t, gzipped, file(statusD+"base-files", fixture(t, "dpkg/status.d/base-files")))
	res := scan(t, image(t, l1, l2), catalog.OSPackages())
	for _, p := range res.Packages {
		want := digestOf(t, l1)
		if p.Name == "base-files" {
			want = digestOf(t, l2)
		}
		if p.Layer != want {
			t.Errorf("%s: layer %s, want %s", p.Name, p.Layer, want)
		}
	}
	if len(res.Layers) != 2 || res.Layers[0].Digest != digestOf(t, l1) || res.Layers[1].Files != 1 {
		t.Errorf("layers = %+v", res.Layers)
	}
}

func TestOSRelease(t *testing.T) {
	deb := fixture(t, "os-release.debian")
	alpine := fixture(t, "os-release.alpine")
	tests := []struct {
		name   string
		layers [][]entry
		wantID string
		purl   string
	}{
		{"usr/lib only, etc is a symlink", [][]entry{{file(osRel, deb), symlink("etc/os-release", "../usr/lib/os-release"), file(status, fixture(t, "dpkg/status"))}}, "debian", "pkg:deb/debian/adduser@3.134?arch=all&distro=debian-12"},
		{"etc wins over usr/lib", [][]entry{{file(osRel, alpine), file("etc/os-release", deb), file(status, fixture(t, "dpkg/status"))}}, "debian", "pkg:deb/debian/adduser@3.134?arch=all&distro=debian-12"},
		{"from another layer", [][]entry{{file(status, fixture(t, "dpkg/status"))}, {file(osRel, deb)}}, "debian", "pkg:deb/debian/adduser@3.134?arch=all&distro=debian-12"},
		{"whited out", [][]entry{{file(osRel, deb), file(status, fixture(t, "dpkg/status"))}, {whiteout(osRel)}}, "", "pkg:deb/debian/adduser@3.134?arch=all"},
		{"replaced", [][]entry{{file(osRel, alpine), file(status, fixture(t, "dpkg/status"))}, {file(osRel, deb)}}, "debian", "pkg:deb/debian/adduser@3.134?arch=all&distro=debian-12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ls []v1.Layer
			for _, es := range tt.layers {
				ls = append(ls, layer(t, plain, es...))
			}
			res := scan(t, image(t, ls...), catalog.OSPackages())
			gotID := ""
			if res.OS != nil {
				gotID = res.OS.ID
			}
			if gotID != tt.wantID {
				t.Errorf("OS = %+v, want ID %q", res.OS, tt.wantID)
			}
			if len(res.Packages) == 0 || res.Packages[0].PURL != tt.purl {
				t.Errorf("first purl = %v, want %s", res.Packages, tt.purl)
			}
		})
	}
}

func TestDebLicensesFromCopyright(t *testing.T) {
	cp := "usr/share/doc/adduser/copyright"
	base := []entry{file(status, fixture(t, "dpkg/status")), file(cp, fixture(t, "dpkg/adduser.copyright"))}
	licenses := func(res *Result) []string {
		for _, p := range res.Packages {
			if p.Name == "adduser" {
				return p.Licenses
			}
		}
		t.Fatal("no adduser")
		return nil
	}
	res := scan(t, image(t, layer(t, gzipped, base...)), catalog.OSPackages())
	if got := licenses(res); !reflect.DeepEqual(got, []string{"GPL-2", "GPL-2+"}) {
		t.Errorf("licenses = %q", got)
	}
	if got := names(res); !reflect.DeepEqual(got, dpkgStatusSet) {
		t.Errorf("copyright records leaked into packages: %q", got)
	}
	res = scan(t, image(t, layer(t, gzipped, base...), layer(t, gzipped, whiteout("usr/share/doc"))), catalog.OSPackages())
	if got := licenses(res); got != nil {
		t.Errorf("licenses after deleting usr/share/doc = %q, want none", got)
	}
}

// Every compression a registry serves gives the same result, and so does
// go-containerregistry's own tarball layer (gzip on the fly).
func TestCompressions(t *testing.T) {
	es := []entry{file(status, fixture(t, "dpkg/status")), file(osRel, fixture(t, "os-release.debian"))}
	raw := layerTar(t, es...)
	tl, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil })
	if err != nil {
		t.Fatal(err)
	}
	layers := map[string]v1.Layer{
		"plain":   layer(t, plain, es...),
		"gzip":    layer(t, gzipped, es...),
		"zstd":    layer(t, zstded, es...),
		"tarball": tl,
	}
	for name, l := range layers {
		t.Run(name, func(t *testing.T) {
			res := scan(t, image(t, l), catalog.OSPackages())
			if got := names(res); !reflect.DeepEqual(got, dpkgStatusSet) {
				t.Errorf("got %q", got)
			}
			if res.OS == nil || res.OS.VersionID != "12" {
				t.Errorf("OS = %+v", res.OS)
			}
		})
	}
}

func TestConcurrencyDoesNotChangeResult(t *testing.T) {
	var ls []v1.Layer
	for i := range 6 {
		ls = append(ls, layer(t, gzipped,
			file(fmt.Sprintf("%s%d", statusD, i), strings.Replace(fixture(t, "dpkg/status.d/libssl3"), "libssl3", fmt.Sprintf("libssl3-%d", i), 1)),
			whiteout(fmt.Sprintf("%s%d", statusD, i-2))))
	}
	img := image(t, ls...)
	one := scan(t, img, catalog.OSPackages(), WithConcurrency(1))
	many := scan(t, img, catalog.OSPackages(), WithConcurrency(4))
	if !reflect.DeepEqual(one, many) {
		t.Errorf("concurrency 1:\n%+v\nconcurrency 4:\n%+v", one, many)
	}
	if got := names(one); len(got) != 2 || !strings.Contains(got[0], "libssl3-4") || !strings.Contains(got[1], "libssl3-5") {
		t.Errorf("got %q, want libssl3-4 and libssl3-5", got)
	}
}

func TestProgress(t *testing.T) {
	big := strings.Repeat("x", 3<<20) // incompressible enough in plain layers
	img := image(t, layer(t, plain, file("a", big)), layer(t, plain, file(status, fixture(t, "dpkg/status"))))
	var mu sync.Mutex
	var seen []Progress
	scan(t, img, catalog.OSPackages(), WithProgress(func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, p)
	}))
	if len(seen) < 3 {
		t.Fatalf("progress called %d times: %+v", len(seen), seen)
	}
	last := seen[len(seen)-1]
	if last.Layers != 2 || last.LayersDone != 2 || last.BytesDone != last.Bytes || last.Bytes < 3<<20 {
		t.Errorf("last progress = %+v", last)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].BytesDone < seen[i-1].BytesDone || seen[i].LayersDone < seen[i-1].LayersDone {
			t.Errorf("progress went backwards: %+v then %+v", seen[i-1], seen[i])
		}
	}
}

// recorder is a test cataloger that records what it read.
type recorder struct {
	name  string
	limit int // bytes to read; -1 for all
	panic bool
	err   error
}

func (r *recorder) Name() string { return r.name }
func (r *recorder) Wants(p string, _ fs.FileMode, _ int64) bool {
	return strings.HasPrefix(p, "data/")
}
func (r *recorder) Catalog(f catalog.File) ([]catalog.Package, error) {
	if r.panic {
		panic("boom")
	}
	var rd io.Reader = f.Content
	if r.limit >= 0 {
		rd = io.LimitReader(rd, int64(r.limit))
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		return nil, err
	}
	return []catalog.Package{{Name: r.name, Version: fmt.Sprint(len(b)), Type: "test", Location: f.Path, Layer: f.Layer}}, r.err
}

// Several catalogers wanting one file each get the whole stream, however
// much the others read, and misbehaving ones become warnings.
func TestFanOutAndWarnings(t *testing.T) {
	body := strings.Repeat("0123456789", 50000) // 500 kB: more than a pipe buffer
	img := image(t, layer(t, gzipped, file("data/x", body), file(status, fixture(t, "dpkg/status"))))
	cats := append([]catalog.Cataloger{
		&recorder{name: "all", limit: -1},
		&recorder{name: "head", limit: 10},
		&recorder{name: "none", limit: 0},
		&recorder{name: "panics", panic: true},
		&recorder{name: "fails", limit: -1, err: errors.New("bad metadata")},
	}, catalog.OSPackages()...)
	res := scan(t, img, cats)
	want := append([]string{
		"test all 500000 data/x", "test fails 500000 data/x", "test head 10 data/x", "test none 0 data/x",
	}, dpkgStatusSet...)
	got := names(res)
	sortStrings(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	var msgs []string
	for _, w := range res.Warnings {
		msgs = append(msgs, w.Cataloger+": "+w.Message)
	}
	sortStrings(msgs)
	if len(msgs) != 2 || !strings.Contains(msgs[0], "fails: bad metadata") || !strings.Contains(msgs[1], "panics: cataloger panicked: boom") {
		t.Errorf("warnings = %q", msgs)
	}
}

func TestMaxFileSize(t *testing.T) {
	img := image(t, layer(t, gzipped, file(status, fixture(t, "dpkg/status"))))
	res := scan(t, img, catalog.OSPackages(), WithMaxFileSize(100))
	if len(res.Packages) != 0 || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0].Message, "limit") {
		t.Errorf("packages %v warnings %v", res.Packages, res.Warnings)
	}
}

func TestScanErrors(t *testing.T) {
	good := layer(t, gzipped, file(status, fixture(t, "dpkg/status")))
	gz, _ := compress(t, gzipped, layerTar(t, file(status, fixture(t, "dpkg/status"))))
	corrupt := bytes.Clone(gz)
	corrupt[len(corrupt)/2] ^= 0xff
	truncated := gz[:len(gz)/2]
	tests := []struct {
		name string
		l    v1.Layer
		want string
	}{
		{"corrupt gzip", static.NewLayer(corrupt, types.OCILayer), "reading layer 1"},
		{"truncated gzip", static.NewLayer(truncated, types.OCILayer), "reading layer 1"},
		{"not a tar", static.NewLayer(bytes.Repeat([]byte("garbage!"), 200), types.OCIUncompressedLayer), "tar"},
		{"failing blob", failingLayer{good}, "registry went away"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Scan(context.Background(), image(t, good, tt.l), catalog.OSPackages())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.want)
			}
			if k, ok := errkind.Of(err); !ok || k != errkind.Operational {
				t.Errorf("err kind = %v, %v; want Operational", k, ok)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Scan(ctx, image(t, good), catalog.OSPackages()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled scan: err = %v", err)
	}
}

// failingLayer's blob breaks half way, like a registry dropping the
// connection.
type failingLayer struct{ v1.Layer }

func (f failingLayer) Compressed() (io.ReadCloser, error) {
	rc, err := f.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(io.LimitReader(rc, 100), errReader{}), rc}, nil
}

func (f failingLayer) Digest() (v1.Hash, error) {
	return v1.NewHash("sha256:" + strings.Repeat("ab", 32))
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("registry went away") }

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func TestDefaultIncludesOSAndLanguage(t *testing.T) {
	got := map[string]bool{}
	for _, c := range Default() {
		got[c.Name()] = true
	}
	for _, n := range []string{"dpkg", "apk", "rpm"} {
		if !got[n] {
			t.Errorf("Default() lacks %s: %v", n, got)
		}
	}
	if len(got) <= 3 {
		t.Errorf("Default() has no language catalogers: %v", got)
	}
}

func TestProgressBarSilentWhenNotATerminal(t *testing.T) {
	var buf bytes.Buffer
	fn := ProgressBar(&buf)
	fn(Progress{Layers: 1, LayersDone: 1, Bytes: 10, BytesDone: 10})
	if buf.Len() != 0 {
		t.Errorf("wrote %q to a non-terminal", buf.String())
	}
}
