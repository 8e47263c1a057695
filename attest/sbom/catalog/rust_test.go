package catalog

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// Debian's rust-src ships the Rust book's example projects with the
// Cargo.lock files Cargo wrote for them (format 3, and format 1 with its
// [metadata] checksum table) and rustfmt's.
const (
	rustSrcDeb  = "rust-src" // 1.63.0+dfsg1-2 when written, as icingaDeb
	rustSrcRoot = "usr/src/rustc-1.63.0/"
	rustBookV3  = rustSrcRoot + "src/doc/book/listings/ch02-guessing-game-tutorial/listing-02-04/Cargo.lock"
	rustBookV1  = rustSrcRoot + "src/doc/book/listings/ch19-advanced-features/listing-19-31/hello_macro/hello_macro_derive/Cargo.lock"
	rustfmtLock = rustSrcRoot + "src/tools/rustfmt/Cargo.lock"
)

func cargoPkg(name, version, loc string, local bool) Package {
	p := Package{Name: name, Version: version, Type: "cargo", Location: loc, Layer: "sha256:layer"}
	if !local {
		p.PURL = langPURL("cargo", "", name, version)
	}
	return p
}

func TestRustDebianCargoLock(t *testing.T) {
	root := t.TempDir()
	debUnpack(t, debFetch(t, rustSrcDeb), root, "./"+rustBookV3, "./"+rustBookV1, "./"+rustfmtLock)
	var want []Package
	for _, nv := range []string{"cfg-if 1.0.0", "getrandom 0.2.2", "libc 0.2.86", "ppv-lite86 0.2.10",
		"rand 0.8.3", "rand_chacha 0.3.0", "rand_core 0.6.2", "rand_hc 0.3.0", "wasi 0.10.2+wasi-snapshot-preview1"} {
		n, v, _ := strings.Cut(nv, " ")
		want = append(want, cargoPkg(n, v, rustBookV3, false))
	}
	want = append(want, cargoPkg("guessing_game", "0.1.0", rustBookV3, true))
	for _, nv := range []string{"proc-macro2 1.0.8", "quote 1.0.2", "syn 1.0.14", "unicode-xid 0.2.0"} {
		n, v, _ := strings.Cut(nv, " ")
		want = append(want, cargoPkg(n, v, rustBookV1, false))
	}
	want = append(want, cargoPkg("hello_macro_derive", "0.1.0", rustBookV1, true))
	// rustfmt's lock: an oracle independent of the parser, a regular
	// expression over the whole file for each [[package]] table.
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rustfmtLock)))
	if err != nil {
		t.Fatal(err)
	}
	table := regexp.MustCompile(`(?m)^\[\[package\]\]\nname = "([^"]+)"\nversion = "([^"]+)"\n(source = ")?`)
	for _, m := range table.FindAllStringSubmatch(string(data), -1) {
		want = append(want, cargoPkg(m[1], m[2], rustfmtLock, m[3] == ""))
	}
	if n := strings.Count(string(data), "[[package]]"); n != 82 {
		t.Fatalf("rustfmt's Cargo.lock has %d packages, want 82", n)
	}
	sortPackages(want)
	comparePackages(t, catalogTreeType(t, root, "cargo"), want)
}

func TestRustParseLock(t *testing.T) {
	in := `# comment
version = 4

[[package]]
name = "a"
version = "1.0.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "00"
dependencies = [
 "b",
]

[[package]]
name = 'lit'
version = "0.1.0" # trailing comment
source = "git+https://example.com/x#abc"

[[package]]
name = "no-version"

[[package]]
name = "esc\u0061ped"
version = "2.0.0"

[patch.unused]
name = "not-a-package"
version = "9"
`
	got, err := rustParseLock(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{
		{Name: "a", Version: "1.0.0", Type: "cargo", PURL: "pkg:cargo/a@1.0.0"},
		{Name: "lit", Version: "0.1.0", Type: "cargo", PURL: "pkg:cargo/lit@0.1.0"},
		{Name: "escaped", Version: "2.0.0", Type: "cargo"},
	}
	comparePackages(t, got, want)
}

func FuzzRustParseLock(f *testing.F) {
	f.Add("[[package]]\nname = \"a\"\nversion = \"1\"\nsource = \"x\"\n")
	f.Add("[[package]]\nname = \"\\u00e9\"\nversion = '1'\n[metadata]\n")
	f.Fuzz(func(t *testing.T, in string) {
		pkgs, err := rustParseLock(strings.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" {
				t.Fatalf("empty name or version: %+v", p)
			}
		}
	})
}

// rustCrateDebs are Debian's vendored sources of three crates.io crates
// (librust-*-dev install them as a cargo directory source).
var rustCrateDebs = []string{"librust-itoa-dev", "librust-cfg-if-dev", "librust-autocfg-dev"}

// rustAuditableBinary builds, with the real cargo and offline, a program
// using two crates (itoa, cfg-if) and a third at build time only (autocfg),
// all from Debian's packaged crate sources, and embeds the dependency list
// the way cargo auditable does: cargo auditable itself is not packaged by
// Debian and crates.io is not reachable here, so the list is made from
// cargo metadata's resolve graph in cargo auditable's format (auditable-serde
// VersionInfo, zlib-compressed, in an ELF section named .dep-v0), and added
// with objcopy. It returns the binary with and without the section.
func rustAuditableBinary(t *testing.T) (audited, plain string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a Rust program; run make test")
	}
	cargo, err := exec.LookPath("cargo")
	if err != nil {
		testenv.Missing(t, "cargo is not installed (%v): apt-get install cargo", err)
	}
	objcopy, err := exec.LookPath("objcopy")
	if err != nil {
		testenv.Missing(t, "objcopy is not installed (%v): apt-get install binutils", err)
	}
	crates := t.TempDir()
	for _, d := range rustCrateDebs {
		debUnpack(t, debFetch(t, d), crates)
	}
	app := t.TempDir()
	files := map[string]string{
		"Cargo.toml": "[package]\nname = \"auditdemo\"\nversion = \"0.3.1\"\nedition = \"2021\"\n\n" +
			"[dependencies]\nitoa = \"1\"\ncfg-if = \"1\"\n\n[build-dependencies]\nautocfg = \"1\"\n",
		"build.rs": "fn main() { autocfg::new().emit_has_type(\"i128\"); }\n",
		"src/main.rs": "cfg_if::cfg_if! { if #[cfg(unix)] { const OS: &str = \"unix\"; } else { const OS: &str = \"other\"; } }\n" +
			"fn main() { let mut b = itoa::Buffer::new(); println!(\"{} {}\", b.format(42u64), OS); }\n",
		".cargo/config.toml": "[source.crates-io]\nreplace-with = \"debian\"\n[source.debian]\ndirectory = \"" +
			filepath.ToSlash(filepath.Join(crates, "usr/share/cargo/registry")) + "\"\n[net]\noffline = true\n",
	}
	for name, body := range files {
		p := filepath.Join(app, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(name string, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = app
		cmd.Env = append(os.Environ(), "CARGO_TARGET_DIR="+filepath.Join(app, "target"), "CARGO_TERM_COLOR=never")
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("%s %v: %v\n%s", name, args, err, stderr)
		}
		return out
	}
	run(cargo, "build", "--release", "--offline", "-q")
	plain = filepath.Join(app, "target", "release", "auditdemo")

	// cargo metadata's resolve graph → cargo auditable's VersionInfo.
	var meta struct {
		Packages []struct {
			ID, Name, Version string
			Source            *string
		}
		Resolve struct {
			Root  string
			Nodes []struct {
				ID   string
				Deps []struct {
					Pkg      string
					DepKinds []struct{ Kind *string } `json:"dep_kinds"`
				}
			}
		}
	}
	if err := json.Unmarshal(run(cargo, "metadata", "--format-version", "1", "--offline", "-q"), &meta); err != nil {
		t.Fatal(err)
	}
	type auditPkg struct {
		Name         string `json:"name"`
		Version      string `json:"version"`
		Source       string `json:"source"`
		Kind         string `json:"kind,omitempty"`
		Dependencies []int  `json:"dependencies,omitempty"`
		Root         bool   `json:"root,omitempty"`
	}
	sort.Slice(meta.Packages, func(i, j int) bool { return meta.Packages[i].Name < meta.Packages[j].Name })
	index := map[string]int{}
	pkgs := make([]auditPkg, len(meta.Packages))
	for i, p := range meta.Packages {
		index[p.ID] = i
		src := "local"
		if p.Source != nil && strings.HasPrefix(*p.Source, "registry+https://github.com/rust-lang/crates.io-index") {
			src = "crates.io"
		}
		pkgs[i] = auditPkg{Name: p.Name, Version: p.Version, Source: src, Root: p.ID == meta.Resolve.Root, Kind: "build"}
	}
	// Runtime: reachable from the root through normal dependencies.
	deps := map[string][]string{}
	for _, n := range meta.Resolve.Nodes {
		for _, d := range n.Deps {
			for _, k := range d.DepKinds {
				if k.Kind == nil {
					deps[n.ID] = append(deps[n.ID], d.Pkg)
				}
			}
			pkgs[index[n.ID]].Dependencies = append(pkgs[index[n.ID]].Dependencies, index[d.Pkg])
		}
	}
	for stack := []string{meta.Resolve.Root}; len(stack) > 0; {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if pkgs[index[id]].Kind == "" {
			continue
		}
		pkgs[index[id]].Kind = ""
		stack = append(stack, deps[id]...)
	}
	for i := range pkgs {
		sort.Ints(pkgs[i].Dependencies)
	}
	data, err := json.Marshal(map[string]any{"packages": pkgs})
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	zw.Write(data)
	zw.Close()
	section := filepath.Join(app, "dep-v0.zlib")
	if err := os.WriteFile(section, z.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	audited = filepath.Join(app, "auditdemo-audited")
	run(objcopy, "--add-section", ".dep-v0="+section, plain, audited)
	return audited, plain
}

func TestRustAuditableBinary(t *testing.T) {
	audited, plain := rustAuditableBinary(t)
	root := t.TempDir()
	for dst, src := range map[string]string{"usr/local/bin/auditdemo": audited, "usr/bin/plain": plain} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, filepath.FromSlash(dst))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const loc = "usr/local/bin/auditdemo"
	// autocfg is a build dependency: not in the program, not reported.
	v := func(deb string) string { return debUpstream(debVersion(t, debFetch(t, deb))) }
	want := []Package{
		cargoPkg("auditdemo", "0.3.1", loc, false),
		cargoPkg("cfg-if", v("librust-cfg-if-dev"), loc, false),
		cargoPkg("itoa", v("librust-itoa-dev"), loc, false),
	}
	comparePackages(t, catalogTreeType(t, root, "cargo"), want)

	// Streamed a byte at a time, the same.
	b, _ := os.ReadFile(audited)
	info, ok, err := rustScanELF(iotest.OneByteReader(bytes.NewReader(b)))
	if err != nil || !ok || len(rustAuditPackages(info)) != 3 {
		t.Errorf("one byte at a time: %+v %v %v", info, ok, err)
	}
	// The same zlib stream appended to the plain binary, outside any
	// section, is not taken for audit data.
	p, _ := os.ReadFile(plain)
	z, _ := os.ReadFile(filepath.Join(filepath.Dir(audited), "dep-v0.zlib"))
	if _, ok, err := rustScanELF(bytes.NewReader(append(p, z...))); ok || err != nil {
		t.Errorf("stream outside a section: found %v, err %v", ok, err)
	}

	if diffs := compareWithSyft(t, root); len(diffs) > 0 {
		t.Errorf("differences with syft:\n%s", strings.Join(diffs, "\n"))
	}
}

// rustTestELF is a minimal little-endian ELF64 file: the header, then
// data at offset 64, then two section headers, the second covering data
// when inSection.
func rustTestELF(data []byte, inSection bool) []byte {
	b := make([]byte, 64, 64+len(data)+128)
	copy(b, "\x7fELF\x02\x01\x01")
	le := binary.LittleEndian
	le.PutUint64(b[40:], uint64(64+len(data))) // e_shoff
	le.PutUint16(b[58:], 64)                   // e_shentsize
	le.PutUint16(b[60:], 2)                    // e_shnum
	b = append(b, data...)
	sh := make([]byte, 128)
	if inSection {
		le.PutUint64(sh[64+24:], 64)                // sh_offset
		le.PutUint64(sh[64+32:], uint64(len(data))) // sh_size
	}
	return append(b, sh...)
}

func rustTestZlib(json string) []byte {
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	zw.Write([]byte(json))
	zw.Close()
	return z.Bytes()
}

func TestRustScanELFSynthetic(t *testing.T) {
	const js = `{"packages":[{"name":"app","version":"0.1.0","source":"local","dependencies":[1,2],"root":true},` +
		`{"name":"b","version":"1.0.0","source":"crates.io","kind":"build"},{"name":"r","version":"2.0.0","source":"crates.io"}]}`
	z := rustTestZlib(js)
	for _, tc := range []struct {
		name string
		file []byte
		want int
	}{
		{"in a section", rustTestELF(z, true), 2},
		{"not in a section", rustTestELF(z, false), 0},
		{"truncated stream", rustTestELF(z[:len(z)/2], true), 0},
		{"bad checksum", rustTestELF(append(append([]byte{}, z[:len(z)-1]...), z[len(z)-1]^1), true), 0},
		{"not ELF", append([]byte("MZ"), z...), 0},
	} {
		for _, r := range []io.Reader{bytes.NewReader(tc.file), iotest.OneByteReader(bytes.NewReader(tc.file)), iotest.HalfReader(bytes.NewReader(tc.file))} {
			info, ok, err := rustScanELF(r)
			if err != nil || ok != (tc.want > 0) || len(rustAuditPackages(info)) != tc.want {
				t.Errorf("%s: %d packages, ok %v, err %v; want %d", tc.name, len(rustAuditPackages(info)), ok, err, tc.want)
			}
		}
	}
	// After many false starts (zlib headers that inflate to something
	// else, or to nothing).
	junk := bytes.Repeat([]byte{0x78, 0xda, 0x4b, 0x4c, 0x78, 0x9c, 0x00}, 30000)
	file0 := rustTestELF(append(junk, z...), false)
	binary.LittleEndian.PutUint64(file0[64+len(junk)+len(z)+64+24:], uint64(64+len(junk)))
	if info, ok, _ := rustScanELF(bytes.NewReader(file0)); !ok || len(rustAuditPackages(info)) != 2 {
		t.Error("audit data after false starts not found")
	}
	// The audit data starting in the last bytes of a streaming window.
	pad := make([]byte, rustChunk-len(z)/3)
	file := rustTestELF(append(pad, z...), false)
	binary.LittleEndian.PutUint64(file[64+len(pad)+len(z)+64+24:], uint64(64+len(pad)))
	if _, ok, _ := rustScanELF(bytes.NewReader(file)); !ok {
		t.Error("audit data across a window boundary not found")
	}
	// Every zlib start followed by kilobytes of empty deflate blocks: each
	// trial reads at most rustTrialInput bytes.
	adv := bytes.Repeat(append([]byte{0x78, 0x01}, bytes.Repeat([]byte{0, 0, 0, 0xff, 0xff}, 400)...), 2000)
	start := time.Now()
	if _, ok, err := rustScanELF(bytes.NewReader(rustTestELF(adv, false))); ok || err != nil {
		t.Errorf("empty blocks: ok %v err %v", ok, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("empty blocks: %v", d)
	}
	// Streams that start like audit data and never end: captured and
	// decoded a bounded number of times, with work linear in each.
	long := rustTestZlib(`{"packages":[` + strings.Repeat(`{"name":"x","version":"1"},`, 200000))
	long = long[:len(long)-64]
	start = time.Now()
	if _, ok, err := rustScanELF(bytes.NewReader(rustTestELF(bytes.Repeat(long, 20), false))); ok || err != nil {
		t.Errorf("endless streams: ok %v err %v", ok, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("endless streams: %v", d)
	}
	// Inflating past the bound is refused.
	huge := rustTestELF(rustTestZlib(`{"packages":[`+strings.Repeat(" ", rustMaxJSON)+`]}`), true)
	if _, ok, err := rustScanELF(bytes.NewReader(huge)); ok || err != nil {
		t.Errorf("over the inflate bound: ok %v err %v", ok, err)
	}
}

func FuzzRustScanELF(f *testing.F) {
	z := rustTestZlib(`{"packages":[{"name":"a","version":"1","source":"crates.io","root":true}]}`)
	f.Add(rustTestELF(z, true))
	f.Add(rustTestELF(z, false))
	f.Add([]byte("\x7fELF"))
	f.Fuzz(func(t *testing.T, in []byte) {
		info, ok, err := rustScanELF(bytes.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		if !ok && len(info.Packages) > 0 {
			t.Fatal("packages without a result")
		}
	})
}
