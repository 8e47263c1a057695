package catalog

import (
	"bytes"
	"debug/buildinfo"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"testing/iotest"
)

// goTestModule writes a module example.com/app that depends on a versioned
// module, a module replaced by another module, and a module replaced by a
// local directory, all vendored so that the build needs no network.
func goTestModule(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": `module example.com/app

go 1.21

require (
	example.com/dep v1.2.3
	example.com/local v0.0.0
	example.com/old v1.0.0
)

replace example.com/old => example.com/new v1.5.0

replace example.com/local => ./local
`,
		"vendor/modules.txt": `# example.com/dep v1.2.3
## explicit; go 1.21
example.com/dep
# example.com/local v0.0.0 => ./local
## explicit; go 1.21
example.com/local
# example.com/old v1.0.0 => example.com/new v1.5.0
## explicit; go 1.21
example.com/old
# example.com/old => example.com/new v1.5.0
# example.com/local => ./local
`,
		"vendor/example.com/dep/dep.go":     "package dep\n\nfunc Name() string { return \"dep\" }\n",
		"vendor/example.com/old/old.go":     "package old\n\nfunc Name() string { return \"old\" }\n",
		"vendor/example.com/local/local.go": "package local\n\nfunc Name() string { return \"local\" }\n",
		"local/go.mod":                      "module example.com/local\n\ngo 1.21\n",
		"local/local.go":                    "package local\n\nfunc Name() string { return \"local\" }\n",
		"main.go": `package main

import (
	"fmt"

	"example.com/dep"
	"example.com/local"
	"example.com/old"
)

func main() { fmt.Println(dep.Name(), old.Name(), local.Name()) }
`,
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// goBuild builds the module in dir for linux/amd64 with extra go build
// arguments and returns the binary's path.
func goBuild(t *testing.T, dir, out string, args ...string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	bin := filepath.Join(t.TempDir(), out)
	cmd := exec.Command(goTool, append(append([]string{"build", "-o", bin}, args...), ".")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GOFLAGS=-mod=vendor -buildvcs=false", "GOPROXY=off", "GOWORK=off",
		"GOTOOLCHAIN=local", "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if outb, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, outb)
	}
	return bin
}

func catalogFile(t *testing.T, c Cataloger, path, imagePath string) ([]Package, error) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Wants(imagePath, fi.Mode(), fi.Size()) {
		t.Fatalf("%s does not want %s (mode %v, size %d)", c.Name(), imagePath, fi.Mode(), fi.Size())
	}
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	return c.Catalog(File{Path: imagePath, Size: fi.Size(), Mode: fi.Mode(), Layer: "sha256:l1", Content: fh})
}

func TestGoBinaryBuilt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Go binaries")
	}
	mod := goTestModule(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"plain", nil},
		{"stripped", []string{"-ldflags=-s -w"}},
		{"trimpath", []string{"-trimpath"}},
		{"pie", []string{"-buildmode=pie"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := goBuild(t, mod, "app", tc.args...)
			bi, err := buildinfo.ReadFile(bin)
			if err != nil {
				t.Fatal(err)
			}
			got, err := catalogFile(t, goBinaryCataloger{}, bin, "usr/local/bin/app")
			if err != nil {
				t.Fatal(err)
			}
			gv := strings.TrimPrefix(bi.GoVersion, "go")
			want := []Package{
				{Name: "example.com/app", PURL: "pkg:golang/example.com/app"},
				{Name: "example.com/dep", Version: "v1.2.3", PURL: "pkg:golang/example.com/dep@v1.2.3"},
				{Name: "example.com/local", Version: "v0.0.0", PURL: "pkg:golang/example.com/local@v0.0.0"},
				{Name: "example.com/new", Version: "v1.5.0", PURL: "pkg:golang/example.com/new@v1.5.0"},
				{Name: "stdlib", Version: gv, PURL: "pkg:golang/stdlib@" + gv},
			}
			for i := range want {
				want[i].Type, want[i].Arch = "golang", "amd64"
				want[i].Location, want[i].Layer = "usr/local/bin/app", "sha256:l1"
			}
			props := takeProps(got)
			if props["go.build:GOOS"] != "linux" || props["go.build:CGO_ENABLED"] != "0" || props["go.build:-compiler"] != "gc" {
				t.Errorf("main module build settings = %v", props)
			}
			if tc.name == "trimpath" && props["go.build:-trimpath"] != "true" || tc.name == "pie" && props["go.build:-buildmode"] != "pie" {
				t.Errorf("%s: build settings = %v", tc.name, props)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestGoBinaryEmbedded builds a Go program that embeds another Go executable
// (go:embed): the embedded build info sits in read-only data, before the
// outer binary's own, and must not be reported as the outer binary's.
func TestGoBinaryEmbedded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Go binaries")
	}
	inner := goBuild(t, goTestModule(t), "app")
	outer := t.TempDir()
	data, err := os.ReadFile(inner)
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{
		"go.mod": []byte("module example.com/outer\n\ngo 1.21\n"),
		// Embedded as a string, the file lands in read-only data (as []byte
		// it would land in writable data, after the build info).
		"main.go": []byte("package main\n\nimport _ \"embed\"\n\n//go:embed app\nvar app string\n\n" +
			"func main() { println(len(app)) }\n"),
		"app": data,
	} {
		if err := os.WriteFile(filepath.Join(outer, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := goBuild(t, outer, "outer", "-mod=mod")
	bi, err := buildinfo.ReadFile(bin)
	if err != nil || bi.Main.Path != "example.com/outer" {
		t.Fatalf("debug/buildinfo: %v, %v", bi, err)
	}
	got, err := catalogFile(t, goBinaryCataloger{}, bin, "outer")
	if err != nil {
		t.Fatal(err)
	}
	takeProps(got)
	want := []Package{
		{Name: "example.com/outer", Type: "golang", PURL: "pkg:golang/example.com/outer", Arch: "amd64", Location: "outer", Layer: "sha256:l1"},
		{Name: "stdlib", Version: strings.TrimPrefix(bi.GoVersion, "go"), Type: "golang", PURL: "pkg:golang/stdlib@" + strings.TrimPrefix(bi.GoVersion, "go"), Arch: "amd64", Location: "outer", Layer: "sha256:l1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	// Without the data offset, the first blob in the file is the embedded one.
	fh, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	_, mod, found, err := goBinScan(fh, -1)
	if err != nil || !found || !strings.Contains(mod, "example.com/app") {
		t.Errorf("test premise: first blob is not the embedded one (%v, %v)", found, err)
	}
}

// elfHeader builds an ELF header and program headers (64- or 32-bit, little
// or big endian) for loads of (flags, offset, filesz), padded to size.
func elfHeader(is64, big bool, size int, loads ...[3]uint64) []byte {
	var bo binary.ByteOrder = binary.LittleEndian
	data := byte(1)
	if big {
		bo, data = binary.BigEndian, 2
	}
	class, ehsize, phentsize := byte(1), 52, 32
	if is64 {
		class, ehsize, phentsize = 2, 64, 56
	}
	b := make([]byte, max(size, ehsize+len(loads)*phentsize))
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = class, data, 1
	if is64 {
		bo.PutUint64(b[32:], uint64(ehsize))
		bo.PutUint16(b[54:], uint16(phentsize))
		bo.PutUint16(b[56:], uint16(len(loads)))
	} else {
		bo.PutUint32(b[28:], uint32(ehsize))
		bo.PutUint16(b[42:], uint16(phentsize))
		bo.PutUint16(b[44:], uint16(len(loads)))
	}
	for i, l := range loads {
		ph := b[ehsize+i*phentsize:]
		bo.PutUint32(ph[0:], 1) // PT_LOAD
		if is64 {
			bo.PutUint32(ph[4:], uint32(l[0]))
			bo.PutUint64(ph[8:], l[1])
			bo.PutUint64(ph[32:], l[2])
		} else {
			bo.PutUint32(ph[24:], uint32(l[0]))
			bo.PutUint32(ph[4:], uint32(l[1]))
			bo.PutUint32(ph[16:], uint32(l[2]))
		}
	}
	return b
}

func TestGoBinELFDataOffset(t *testing.T) {
	const rx, r, rw = 5, 4, 6
	for _, tc := range []struct {
		name string
		head []byte
		want int64
	}{
		{"64 LE", elfHeader(true, false, 0, [3]uint64{rx, 0, 100}, [3]uint64{r, 0x1000, 10}, [3]uint64{rw, 0x5000, 10}, [3]uint64{rw, 0x4000, 10}), 0x4000},
		{"32 BE", elfHeader(false, true, 0, [3]uint64{rx, 0, 100}, [3]uint64{rw, 0x3000, 10}), 0x3000},
		{"bss only", elfHeader(true, false, 0, [3]uint64{rx, 0, 100}, [3]uint64{rw, 0x3000, 0}), -1},
		{"writable text", elfHeader(true, false, 0, [3]uint64{7, 0x3000, 10}), -1},
		{"no loads", elfHeader(true, false, 0), -1},
		{"truncated", elfHeader(true, false, 0, [3]uint64{rw, 0x3000, 10})[:80], -1},
		{"bad class", append([]byte("\x7fELF\x03\x01"), make([]byte, 100)...), -1},
		{"not ELF", bytes.Repeat([]byte{0}, 100), -1},
		{"short", []byte("\x7fELF"), -1},
	} {
		if got := goBinELFDataOffset(tc.head); got != tc.want {
			t.Errorf("%s: got %#x, want %#x", tc.name, got, tc.want)
		}
	}
}

// TestGoBinScanDataOffset covers blobs before the data offset (embedded
// executables): a fallback only.
func TestGoBinScanDataOffset(t *testing.T) {
	embedded := goBlob(0x2, "go1.20", "path\tembedded\n")
	real := goBlob(0x2, "go1.22.5", goTestModinfo)
	const dataOff = 8192
	build := func(early, late []byte) []byte {
		b := make([]byte, dataOff)
		copy(b[1000:], early)
		b = append(b, late...)
		return append(b, make([]byte, 100)...)
	}
	// A header claiming more modinfo than fits before the data offset.
	crossing := goBlob(0x2, "go1.20", "")
	crossing = binary.AppendUvarint(crossing[:len(crossing)-1], dataOff)
	for _, tc := range []struct {
		name     string
		data     []byte
		wantVers string
	}{
		{"embedded then real", build(embedded, real), "go1.22.5"},
		{"two embedded then real", build(append(append([]byte{}, embedded...), embedded...), real), "go1.22.5"},
		{"embedded only: fallback", build(embedded, nil), "go1.20"},
		{"crossing blob skipped", build(crossing, real), "go1.22.5"},
		{"real only", build(nil, real), "go1.22.5"},
		{"nothing", build(nil, nil), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vers, _, found, err := goBinScan(bytes.NewReader(tc.data), dataOff)
			if err != nil || vers != tc.wantVers || found != (tc.wantVers != "") {
				t.Errorf("got %q, %v, %v; want %q", vers, found, err, tc.wantVers)
			}
		})
	}
}

// TestGoBinScanMatchesDebugBuildinfo checks the streaming scanner against the
// standard library's random-access reader on real executables, including the
// go command itself, which imports debug/buildinfo and so holds the magic
// as a string literal too.
func TestGoBinScanMatchesDebugBuildinfo(t *testing.T) {
	var bins []string
	if goTool, err := exec.LookPath("go"); err == nil {
		bins = append(bins, goTool)
		if root, err := exec.Command(goTool, "env", "GOROOT").Output(); err == nil {
			bins = append(bins, filepath.Join(strings.TrimSpace(string(root)), "pkg", "tool", runtime.GOOS+"_"+runtime.GOARCH, "vet"))
		}
	}
	if exe, err := os.Executable(); err == nil {
		bins = append(bins, exe) // this test binary
	}
	for _, bin := range bins {
		t.Run(filepath.Base(bin), func(t *testing.T) {
			bi, err := buildinfo.ReadFile(bin)
			if err != nil {
				t.Skipf("not readable by debug/buildinfo: %v", err)
			}
			fh, err := os.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			head := make([]byte, goBinWindow)
			n, _ := io.ReadFull(fh, head)
			dataOff := goBinELFDataOffset(head[:n])
			if runtime.GOOS == "linux" && dataOff <= 0 {
				t.Errorf("no ELF data offset found")
			}
			vers, mod, found, err := goBinScan(io.MultiReader(bytes.NewReader(head[:n]), fh), dataOff)
			if err != nil || !found {
				t.Fatalf("goBinScan: found=%v err=%v", found, err)
			}
			if vers != bi.GoVersion {
				t.Errorf("version %q, debug/buildinfo %q", vers, bi.GoVersion)
			}
			if got, want := mod, bi.String(); !strings.HasSuffix(want, mod) {
				t.Errorf("modinfo\n%s\nis not the tail of debug/buildinfo's\n%s", got, want)
			}
		})
	}
}

func TestGoBinaryNotGo(t *testing.T) {
	c := goBinaryCataloger{}
	for _, p := range []string{"/bin/true", "/usr/bin/true", "/bin/sh"} {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if bi, err := buildinfo.ReadFile(p); err == nil {
			t.Logf("%s is a Go binary (%s); skipped", p, bi.GoVersion)
			continue
		}
		got, err := catalogFile(t, c, p, strings.TrimPrefix(p, "/"))
		if err != nil || got != nil {
			t.Errorf("%s: got %v, %v; want nothing", p, got, err)
		}
	}
	// An executable script: not an executable format, not read further.
	got, err := c.Catalog(File{Path: "usr/bin/x", Size: 100, Mode: 0o755,
		Content: strings.NewReader("#!/bin/sh\n" + string(goBuildInfoMagic) + strings.Repeat("x", 80))})
	if err != nil || got != nil {
		t.Errorf("script: got %v, %v", got, err)
	}
}

func TestGoBinaryWants(t *testing.T) {
	c := goBinaryCataloger{}
	for _, tc := range []struct {
		mode fs.FileMode
		size int64
		want bool
	}{
		{0o755, 2 << 20, true},
		{0o700, 2 << 20, true},
		{0o001, 2 << 20, true},
		{0o644, 2 << 20, false},
		{0o755, 10, false},
		{0o755, goBinMaxSize, true},
		{0o755, goBinMaxSize + 1, false},
		{fs.ModeSymlink | 0o777, 2 << 20, false},
	} {
		if got := c.Wants("usr/bin/x", tc.mode, tc.size); got != tc.want {
			t.Errorf("Wants(%v, %d) = %v", tc.mode, tc.size, got)
		}
	}
}

// goBlob builds a Go ≥1.18 build info blob: 32-byte header with the inline
// flag, then varint-prefixed version and modinfo (sentinel-framed).
func goBlob(flags byte, vers, modinfo string) []byte {
	var b []byte
	b = append(b, goBuildInfoMagic...)
	b = append(b, 8, flags)
	b = append(b, make([]byte, goBinHeaderSize-len(b))...)
	b = binary.AppendUvarint(b, uint64(len(vers)))
	b = append(b, vers...)
	if modinfo != "" {
		modinfo = "0w\xaf\f\x92t\b\x02A\xe1\xc1\a\xe6\xd6\x18\xe6" + modinfo + "\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2"
	}
	b = binary.AppendUvarint(b, uint64(len(modinfo)))
	b = append(b, modinfo...)
	return b
}

const goTestModinfo = "path\texample.com/cmd/tool\nmod\texample.com\tv1.0.0\th1:abc=\n" +
	"dep\tgithub.com/BurntSushi/toml\tv2.0.0-RC1+incompatible\th1:x=\n" +
	"dep\tgolang.org/x/sys\tv0.1.0\n=>\tgithub.com/fork/sys\tv0.1.1\th1:y=\n" +
	"dep\texample.com/lib\tv0.3.0\n=>\t../lib\t(devel)\t\n" +
	"build\tGOARCH=arm64\nbuild\tGOOS=linux\n"

func TestGoBinScanStream(t *testing.T) {
	blob := goBlob(0x2, "go1.22.5", goTestModinfo)
	elf := []byte("\x7fELF\x02\x01\x01")
	decoy := append(append([]byte{}, goBuildInfoMagic...), "Xgo1.99 not a header, just rodata text......"...)
	// Windows are [0,w), [w-13, 2w-13), [2w-26, 3w-26), …: each keeps the
	// last len(magic)-1 = 13 bytes of the one before.
	w := goBinWindow
	for _, tc := range []struct {
		name  string
		at    int  // offset of the magic
		decoy bool // a stray magic (string literal) before the blob
	}{
		{"start", len(elf), false},
		{"small", 100, false},
		{"fully in first window", w - 14, false},
		{"straddle 13/1", w - 13, false},
		{"straddle 7/7", w - 7, false},
		{"straddle 2/12", w - 2, false},
		{"straddle 1/13", w - 1, false},
		{"at boundary", w, false},
		{"after boundary", w + 1, false},
		{"header straddles", w - 20, false},
		{"straddle second boundary", 2*w - 13 - 5, false},
		{"straddle third boundary", 3*w - 26 - 1, false},
		{"decoy", 5000, true},
		{"decoy before boundary", w - 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var data []byte
			data = append(data, elf...)
			if tc.decoy {
				data = append(data, decoy...)
			}
			data = append(data, bytes.Repeat([]byte{0x90}, tc.at-len(data))...)
			data = append(data, blob...)
			data = append(data, bytes.Repeat([]byte{0}, 4096)...)
			if !bytes.Equal(data[tc.at:tc.at+len(goBuildInfoMagic)], goBuildInfoMagic) {
				t.Fatal("test data: magic misplaced")
			}
			for _, rd := range []struct {
				name string
				r    func() io.Reader
			}{
				{"bytes", func() io.Reader { return bytes.NewReader(data) }},
				{"onebyte", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data)) }},
				{"half", func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) }},
			} {
				vers, mod, found, err := goBinScan(rd.r(), -1)
				if err != nil || !found || vers != "go1.22.5" || mod != goTestModinfo {
					t.Errorf("%s: got %q, %q, %v, %v", rd.name, vers, mod, found, err)
				}
			}
		})
	}
}

func TestGoBinIndexMagic(t *testing.T) {
	m := string(goBuildInfoMagic)
	for _, tc := range []struct {
		buf  string
		want int
	}{
		{m, 0},
		{"xx" + m, 2},
		{m[2:] + m, len(m) - 2},        // a bare tail first
		{m[1:] + "yy" + m, len(m) + 1}, // tail at offset 1 is no match
		{"\xff Go buildinf" + m, 13},
		{m[:13], -1},
		{"", -1},
	} {
		if got := goBinIndexMagic([]byte(tc.buf)); got != tc.want {
			t.Errorf("goBinIndexMagic(%q) = %d, want %d", tc.buf, got, tc.want)
		}
	}
}

func TestGoBinScanEdgeCases(t *testing.T) {
	huge := goBlob(0x2, "go1.22.5", "")
	huge = huge[:len(huge)-1] // drop the zero modinfo length
	huge = binary.AppendUvarint(huge, goBinMaxModInfo+1)
	for _, tc := range []struct {
		name    string
		r       io.Reader
		found   bool
		wantErr bool
	}{
		{"empty", strings.NewReader(""), false, false},
		{"no magic", bytes.NewReader(bytes.Repeat([]byte("Go buildinf"), 20000)), false, false},
		{"pre-1.18 pointer format", bytes.NewReader(goBlob(0x0, "go1.16", "")), false, false},
		{"magic at end", bytes.NewReader(append(bytes.Repeat([]byte{1}, 100), goBuildInfoMagic...)), false, false},
		{"bad version", bytes.NewReader(goBlob(0x2, "\x00\x01", "")), false, false},
		{"no modinfo (GOPATH build)", bytes.NewReader(goBlob(0x2, "go1.20", "")), true, false},
		{"truncated modinfo", bytes.NewReader(goBlob(0x2, "go1.20", goTestModinfo)[:80]), false, true},
		// The declared modinfo length is over the bound: refused before any
		// allocation or reading, even with endless input behind it.
		{"modinfo over bound", io.MultiReader(bytes.NewReader(huge), zeroReader{}), false, true},
		{"read error", iotest.ErrReader(errors.New("boom")), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, found, err := goBinScan(tc.r, -1)
			if found != tc.found || (err != nil) != tc.wantErr {
				t.Errorf("found=%v err=%v; want found=%v err=%v", found, err, tc.found, tc.wantErr)
			}
		})
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestGoBinScanMemoryBound scans 64 MiB without build info and checks that
// the scan allocates only its window.
func TestGoBinScanMemoryBound(t *testing.T) {
	r := io.MultiReader(strings.NewReader("\x7fELF"), io.LimitReader(zeroReader{}, 64<<20))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, _, found, err := goBinScan(r, -1)
	runtime.ReadMemStats(&after)
	if err != nil || found {
		t.Fatal(found, err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("scanning 64 MiB allocated %d bytes", d)
	}
}

func TestGoBinPackages(t *testing.T) {
	got, err := goBinPackages("devel go1.23-abcdef Tue Jan 2 15:04:05 2024 +0000 X:loopvar", goTestModinfo)
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{
		{Name: "example.com", Version: "v1.0.0", PURL: "pkg:golang/example.com@v1.0.0"},
		{Name: "github.com/BurntSushi/toml", Version: "v2.0.0-RC1+incompatible", PURL: "pkg:golang/github.com/BurntSushi/toml@v2.0.0-RC1%2Bincompatible"},
		{Name: "github.com/fork/sys", Version: "v0.1.1", PURL: "pkg:golang/github.com/fork/sys@v0.1.1"},
		{Name: "example.com/lib", Version: "v0.3.0", PURL: "pkg:golang/example.com/lib@v0.3.0"},
		{Name: "stdlib", Version: "1.23-abcdef", PURL: "pkg:golang/stdlib@1.23-abcdef"},
	}
	for i := range want {
		want[i].Type, want[i].Arch = "golang", "arm64"
	}
	if props := takeProps(got); len(props) != 2 || props["go.build:GOARCH"] != "arm64" || props["go.build:GOOS"] != "linux" {
		t.Errorf("build settings = %v", props)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}

	// Built outside a module: only the standard library.
	got, err = goBinPackages("go1.21.0 X:loopvar", "path\tcommand-line-arguments\nbuild\tGOARCH=386\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].PURL != "pkg:golang/stdlib@1.21.0" || got[0].Arch != "386" {
		t.Errorf("command-line-arguments: %+v", got)
	}
	if _, err := goBinPackages("go1.21.0", "dep\tonly-a-path\n"); err == nil {
		t.Error("malformed modinfo: no error")
	}
}

func FuzzGoBinScan(f *testing.F) {
	f.Add(goBlob(0x2, "go1.22.5", goTestModinfo))
	f.Add(goBlob(0x0, "go1.16", ""))
	f.Add(append([]byte("junk"), goBlob(0x2, "go1.20", "path\tx\n")...))
	f.Add(append(append([]byte{}, goBuildInfoMagic...), goBlob(0x3, "devel go1.23", "")...))
	f.Add([]byte("\xff Go buildinf:\x08\x02"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dataOff := int64(-1)
		if len(data) > 0 {
			dataOff = int64(data[0]) * 7 // exercise the fallback logic too
		}
		vers, mod, found, err := goBinScan(bytes.NewReader(data), dataOff)
		if found && (len(vers) > goBinMaxVersion || len(mod) > goBinMaxModInfo) {
			t.Fatalf("over bounds: %d, %d", len(vers), len(mod))
		}
		// Chunking must not change the result.
		v2, m2, f2, err2 := goBinScan(iotest.OneByteReader(bytes.NewReader(data)), dataOff)
		if v2 != vers || m2 != mod || f2 != found || (err2 == nil) != (err == nil) {
			t.Fatalf("one-byte reads differ: %q %q %v %v vs %q %q %v %v", v2, m2, f2, err2, vers, mod, found, err)
		}
		if found && err == nil {
			_, _ = goBinPackages(vers, mod) // must not panic
		}
		// Through the cataloger, with an executable header in front.
		_, _ = goBinaryCataloger{}.Catalog(File{Path: "x", Size: int64(len(data) + 4), Mode: 0o755,
			Content: io.MultiReader(strings.NewReader("\x7fELF"), bytes.NewReader(data))})
	})
}

func TestGoBinMainVersion(t *testing.T) {
	for _, tc := range []struct {
		name     string
		m        debug.Module
		settings []debug.BuildSetting
		want     string
	}{
		{"released", debug.Module{Path: "example.com/x", Version: "v1.4.0"}, nil, "v1.4.0"},
		{"devel, nothing else", debug.Module{Path: "example.com/x", Version: "(devel)"}, nil, ""},
		{"ldflags main.version", debug.Module{Path: "example.com/x", Version: "(devel)"},
			[]debug.BuildSetting{{Key: "-ldflags", Value: "-s -w -X main.version=1.2.3"}}, "v1.2.3"},
		{"ldflags module package", debug.Module{Path: "github.com/a/b", Version: "(devel)"},
			[]debug.BuildSetting{{Key: "-ldflags", Value: "-X github.com/a/b/internal/build.Version=v2.0.1-rc.1"}}, "v2.0.1-rc.1"},
		{"ldflags gitTag", debug.Module{Path: "example.com/x", Version: "(devel)"},
			[]debug.BuildSetting{{Key: "-ldflags", Value: "-X main.gitTag=0.9.0"}}, "v0.9.0"},
		{"ldflags of another module", debug.Module{Path: "example.com/x", Version: "(devel)"},
			[]debug.BuildSetting{{Key: "-ldflags", Value: "-X other.org/y.Version=1.0.0"}}, ""},
		{"vcs", debug.Module{Path: "example.com/x", Version: "(devel)"},
			[]debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2024-01-02T15:04:05Z"}},
			"v0.0.0-20240102150405-0123456789ab"},
	} {
		if got := goBinMainVersion(tc.m, tc.settings); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestGoBinMainFromDeps: build info with a path but no main module.
func TestGoBinMainFromDeps(t *testing.T) {
	got, err := goBinPackages("go1.22.4", "path\texample.com/cmd/x\ndep\texample.com/x\t(devel)\t\ndep\tgolang.org/x/text\tv0.14.0\th1:x=\n")
	if err != nil {
		t.Fatal(err)
	}
	var purls []string
	for _, p := range got {
		purls = append(purls, p.PURL)
	}
	want := []string{"pkg:golang/example.com/x", "pkg:golang/golang.org/x/text@v0.14.0", "pkg:golang/stdlib@1.22.4"}
	if !reflect.DeepEqual(purls, want) {
		t.Errorf("got %q, want %q", purls, want)
	}
	got, err = goBinPackages("go1.22.4", "path\texample.com/cmd/y\n")
	if err != nil || len(got) != 2 || got[0].PURL != "pkg:golang/example.com/cmd/y" {
		t.Errorf("main from path: %+v, %v", got, err)
	}
}

// takeProps removes the packages' properties, which only the main module
// (the first package) has, and returns them as a map.
func takeProps(pkgs []Package) map[string]string {
	m := map[string]string{}
	for i := range pkgs {
		for _, p := range pkgs[i].Properties {
			if i != 0 {
				m["unexpected on "+pkgs[i].Name+": "+p.Name] = p.Value
				continue
			}
			m[p.Name] = p.Value
		}
		pkgs[i].Properties = nil
	}
	return m
}
