package catalog

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/mod/module"
)

// Bounds of the Go binary cataloger.
const (
	// goBinMaxSize is the largest executable scanned; bigger ones are skipped
	// by Wants (the scan streams, so this bounds time, not memory).
	goBinMaxSize = 512 << 20
	// goBinMinSize skips files too small to be an executable with build info.
	goBinMinSize = 64
	// goBinWindow is the streaming window: the only buffer held while
	// searching for the build info magic.
	goBinWindow = 64 << 10
	// goBinMaxVersion bounds the Go version string ("go1.22.1 X:…").
	goBinMaxVersion = 1 << 10
	// goBinMaxModInfo bounds the modinfo string (main module, deps, build
	// settings: a few tens of KiB even for very large programs).
	goBinMaxModInfo = 4 << 20
	// goBinHeaderSize is the size of the build info header that starts with
	// the magic (see debug/buildinfo).
	goBinHeaderSize = 32
)

// goBuildInfoMagic starts the build info blob the Go linker writes into the
// data section of every Go executable.
var goBuildInfoMagic = []byte("\xff Go buildinf:")

// goBinaryCataloger reads the module build info the Go toolchain (1.18+)
// embeds in executables: main module, dependencies and the Go version.
type goBinaryCataloger struct{}

func (goBinaryCataloger) Name() string { return "go-binary" }

// Wants selects executable regular files of plausible size.
func (goBinaryCataloger) Wants(_ string, mode fs.FileMode, size int64) bool {
	return mode&0o111 != 0 && mode.IsRegular() && size >= goBinMinSize && size <= goBinMaxSize
}

// Catalog streams f looking for the build info blob; it never holds more than
// a 64 KiB window plus the (bounded) modinfo string.
func (goBinaryCataloger) Catalog(f File) ([]Package, error) {
	br := bufio.NewReaderSize(f.Content, goBinWindow)
	head, err := br.Peek(4)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	if !goBinExecutableMagic(head) {
		return nil, nil // scripts and data files marked executable
	}
	// The ELF header and program headers are at the start of the file,
	// inside the first window.
	head, err = br.Peek(goBinWindow)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	vers, mod, found, err := goBinScan(br, goBinELFDataOffset(head))
	if err != nil {
		return nil, fmt.Errorf("go build info in %s: %w", f.Path, err)
	}
	if !found {
		return nil, nil
	}
	pkgs, err := goBinPackages(vers, mod)
	if err != nil {
		return nil, fmt.Errorf("go build info in %s: %w", f.Path, err)
	}
	for i := range pkgs {
		pkgs[i].Location = f.Path
		pkgs[i].Layer = f.Layer
	}
	return pkgs, nil
}

// goBinExecutableMagic reports whether head starts like an executable format
// Go can produce: ELF, PE, Mach-O (thin or fat), XCOFF, Plan 9 a.out.
func goBinExecutableMagic(head []byte) bool {
	switch {
	case bytes.HasPrefix(head, []byte("\x7fELF")),
		bytes.HasPrefix(head, []byte("MZ")),
		bytes.HasPrefix(head, []byte("\xfe\xed\xfa")),
		len(head) >= 4 && bytes.HasPrefix(head[1:], []byte("\xfa\xed\xfe")),
		bytes.HasPrefix(head, []byte("\xca\xfe\xba\xbe")),
		bytes.HasPrefix(head, []byte("\xca\xfe\xba\xbf")),
		bytes.HasPrefix(head, []byte{0x01, 0xdf}),
		bytes.HasPrefix(head, []byte{0x01, 0xf7}):
		return true
	}
	if len(head) >= 4 {
		switch binary.BigEndian.Uint32(head) {
		case 0x1eb, 0x8a97, 0x647: // plan9obj Magic386, MagicAMD64, MagicARM
			return true
		}
	}
	return false
}

// goBinScan streams r for the Go ≥1.18 build info blob and returns its Go
// version and modinfo string (sentinels stripped, "" when the binary has no
// module info). found is false when there is no usable blob, which includes
// binaries from Go < 1.18 (pointer-based header, not readable without random
// access) and non-Go files.
//
// The magic is searched at any offset (the linker aligns it to 16 bytes in
// memory, which all Go output formats keep in the file, but nothing here
// depends on it). A candidate is accepted only when the inline header decodes
// to a plausible Go version, so the magic appearing as a string literal
// (programs importing debug/buildinfo contain it in rodata) is skipped.
//
// dataOff is the file offset where the writable data the linker puts the
// blob in starts (see goBinELFDataOffset), or -1 when unknown. A blob found
// before it lies in text or read-only data: an executable embedded in this
// one (go:embed), whose build info is not this binary's. It is kept only as
// a fallback, used when no blob is found from dataOff on.
//
// Only a goBinWindow buffer and modinfo strings (≤ goBinMaxModInfo; at most
// two at once) are ever held, and the magic straddling two reads is found
// because the last len(magic)-1 bytes of each window are kept.
func goBinScan(r io.Reader, dataOff int64) (vers, mod string, found bool, err error) {
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < goBinWindow {
		br = bufio.NewReaderSize(r, goBinWindow)
	}
	var pos int64 // stream offset of br's next byte
	discard := func(n int) error {
		k, err := br.Discard(n)
		pos += int64(k)
		return err
	}
	var fbVers, fbMod string // the first blob found before dataOff
	fbFound := false
	const flagsOffset, flagsVersionInl = 15, 0x2
	for {
		buf, perr := br.Peek(goBinWindow)
		if perr != nil && !errors.Is(perr, io.EOF) {
			return "", "", false, perr
		}
		i := goBinIndexMagic(buf)
		if i < 0 {
			if perr != nil { // EOF: the whole file was searched
				return fbVers, fbMod, fbFound, nil
			}
			// Keep a possible partial magic at the end of the window.
			if err := discard(len(buf) - (len(goBuildInfoMagic) - 1)); err != nil {
				return "", "", false, err
			}
			continue
		}
		if err := discard(i); err != nil {
			return "", "", false, err
		}
		// The window now starts at the magic; it holds the header and the
		// version string unless the file ends first.
		magicAt := pos
		hdr, perr := br.Peek(goBinWindow)
		if perr != nil && !errors.Is(perr, io.EOF) {
			return "", "", false, perr
		}
		v, mlen, skip, ok := goBinParseInlineHeader(hdr)
		early := magicAt < dataOff
		if !ok || hdr[flagsOffset]&flagsVersionInl == 0 ||
			// Before the data: keep only the first blob, and only one that
			// ends before the data does.
			early && (fbFound || goBinPastData(magicAt, dataOff, skip, mlen)) {
			// Pointer-format header (Go < 1.18), a stray copy of the magic
			// or an embedded blob not kept: search on after this byte.
			if err := discard(1); err != nil {
				return "", "", false, err
			}
			continue
		}
		if mlen > goBinMaxModInfo {
			if early {
				if err := discard(1); err != nil {
					return "", "", false, err
				}
				continue
			}
			return "", "", false, errLangTooLarge{"modinfo", goBinMaxModInfo}
		}
		// skip covers header, version and the modinfo length varint.
		if err := discard(skip); err != nil {
			return "", "", false, err
		}
		m := make([]byte, mlen)
		n, err := io.ReadFull(br, m)
		pos += int64(n)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				if early {
					return fbVers, fbMod, fbFound, nil
				}
				return "", "", false, errors.New("truncated build info")
			}
			return "", "", false, err
		}
		mod := string(m)
		if len(mod) >= 33 && mod[len(mod)-17] == '\n' {
			// Strip the 16-byte sentinels cmd/go frames modinfo with.
			mod = mod[16 : len(mod)-16]
		} else {
			mod = ""
		}
		if !early {
			return v, mod, true, nil
		}
		fbVers, fbMod, fbFound = v, mod, true
	}
}

// goBinPastData reports whether a blob at magicAt (before dataOff) whose
// header and version take skip bytes and whose modinfo takes mlen would end
// past dataOff: then it is no real blob, and reading it would consume data
// that may hold the real one.
func goBinPastData(magicAt, dataOff int64, skip int, mlen uint64) bool {
	room := uint64(dataOff - magicAt)
	return uint64(skip) > room || mlen > room-uint64(skip)
}

// goBinELFDataOffset returns the file offset of the first writable,
// non-executable loadable segment of an ELF file whose header and program
// headers are in head, or -1. The Go linker puts .go.buildinfo in that data
// (internal and external linking, PIE or not); text and read-only data come
// before it.
func goBinELFDataOffset(head []byte) int64 {
	if len(head) < 52 || !bytes.HasPrefix(head, []byte("\x7fELF")) {
		return -1
	}
	var bo binary.ByteOrder
	switch head[5] {
	case 1:
		bo = binary.LittleEndian
	case 2:
		bo = binary.BigEndian
	default:
		return -1
	}
	var phoff uint64
	var phentsize, phnum int
	is64 := false
	switch head[4] {
	case 1:
		phoff = uint64(bo.Uint32(head[28:]))
		phentsize, phnum = int(bo.Uint16(head[42:])), int(bo.Uint16(head[44:]))
		if phentsize < 32 {
			return -1
		}
	case 2:
		if len(head) < 64 {
			return -1
		}
		is64 = true
		phoff = bo.Uint64(head[32:])
		phentsize, phnum = int(bo.Uint16(head[54:])), int(bo.Uint16(head[56:]))
		if phentsize < 56 {
			return -1
		}
	default:
		return -1
	}
	if phoff > uint64(len(head)) || uint64(phnum)*uint64(phentsize) > uint64(len(head))-phoff {
		return -1 // program headers not at the start of the file
	}
	const ptLoad, pfX, pfW = 1, 0x1, 0x2
	best := int64(-1)
	for i := 0; i < phnum; i++ {
		ph := head[phoff+uint64(i*phentsize):]
		var typ, flags uint32
		var off, filesz uint64
		if is64 {
			typ, flags = bo.Uint32(ph[0:]), bo.Uint32(ph[4:])
			off, filesz = bo.Uint64(ph[8:]), bo.Uint64(ph[32:])
		} else {
			typ, flags = bo.Uint32(ph[0:]), bo.Uint32(ph[24:])
			off, filesz = uint64(bo.Uint32(ph[4:])), uint64(bo.Uint32(ph[16:]))
		}
		if typ != ptLoad || flags&(pfX|pfW) != pfW || filesz == 0 || off > 1<<62 {
			continue
		}
		if best < 0 || int64(off) < best {
			best = int64(off)
		}
	}
	return best
}

// goBinIndexMagic returns the offset of the first build info magic in buf,
// or -1. It searches for the magic without its first two bytes, "\xff ",
// which are common in machine code (several times faster than searching
// for the whole magic), then checks them. A tail found at offset 0 or 1 is
// not a match: its magic would start before the window, in bytes the
// previous window held whole.
func goBinIndexMagic(buf []byte) int {
	tail := goBuildInfoMagic[2:]
	for off := 0; ; {
		j := bytes.Index(buf[off:], tail)
		if j < 0 {
			return -1
		}
		j += off
		if j >= 2 && buf[j-2] == goBuildInfoMagic[0] && buf[j-1] == goBuildInfoMagic[1] {
			return j - 2
		}
		off = j + 1
	}
}

// goBinParseInlineHeader decodes the Go ≥1.18 header at the start of hdr:
// magic, ptrSize, flags, padding to 32 bytes, then a varint-prefixed version
// string and the varint length of the modinfo string. It returns the
// version, the modinfo length and the offset just past that length; ok is
// false when hdr does not hold a plausible inline header.
func goBinParseInlineHeader(hdr []byte) (vers string, modLen uint64, skip int, ok bool) {
	if len(hdr) < goBinHeaderSize || !bytes.HasPrefix(hdr, goBuildInfoMagic) {
		return "", 0, 0, false
	}
	p := hdr[goBinHeaderSize:]
	vlen, n := binary.Uvarint(p)
	if n <= 0 || vlen == 0 || vlen > goBinMaxVersion || uint64(len(p)-n) < vlen {
		return "", 0, 0, false
	}
	v := p[n : n+int(vlen)]
	if !goBinPlausibleVersion(v) {
		return "", 0, 0, false
	}
	mlen, m := binary.Uvarint(p[n+int(vlen):])
	if m <= 0 {
		return "", 0, 0, false
	}
	return string(v), mlen, goBinHeaderSize + n + int(vlen) + m, true
}

// goBinPlausibleVersion accepts runtime.Version() forms: "go1.22.1",
// "go1.21.0 X:loopvar", "devel go1.23-abcdef Tue …".
func goBinPlausibleVersion(v []byte) bool {
	if !bytes.HasPrefix(v, []byte("go")) && !bytes.HasPrefix(v, []byte("devel")) {
		return false
	}
	for _, c := range v {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// goBinPackages turns the Go version and modinfo of one binary into
// packages: the main module (unless built outside a module), every dependency
// and the standard library. Packages carry GOARCH from the build settings.
func goBinPackages(goVersion, mod string) ([]Package, error) {
	bi := &debug.BuildInfo{}
	if mod != "" {
		var err error
		bi, err = debug.ParseBuildInfo(mod)
		if err != nil {
			return nil, err
		}
	}
	var arch string
	for _, s := range bi.Settings {
		if s.Key == "GOARCH" {
			arch = s.Value
		}
	}
	var pkgs []Package
	add := func(path, version string) {
		pkgs = append(pkgs, Package{
			Name:    path,
			Version: version,
			Type:    "golang",
			PURL:    goBinPURL(path, version),
			Arch:    arch,
		})
	}
	main := bi.Main
	deps := bi.Deps
	if main.Path == "" && bi.Path != "" && bi.Path != "command-line-arguments" {
		// Module information without a main module (built with -mod=vendor
		// from GOPATH, or by hand): as syft does, the one dependency at
		// (devel) is the main module, else the main package's path is.
		main, deps = goBinMainFromDeps(bi)
	}
	if p := main.Path; p != "" && p != "command-line-arguments" {
		add(p, goBinMainVersion(main, bi.Settings))
		// The build settings say how the binary was built (toolchain
		// flags, tags, cgo, target, VCS revision): kept on the main module,
		// as syft keeps them in its metadata.
		for _, s := range bi.Settings {
			pkgs[len(pkgs)-1].Properties = append(pkgs[len(pkgs)-1].Properties, Property{Name: "go.build:" + s.Key, Value: s.Value})
		}
	}
	for _, d := range deps {
		if d == nil || d.Path == "" {
			continue
		}
		path, version := d.Path, d.Version
		if r := d.Replace; r != nil && r.Path != "" && !goBinLocalPath(r.Path) {
			// A module replacement: the code is the replacement's. A
			// replacement by a local directory has no module identity of its
			// own, so the required module's path and version are kept.
			path, version = r.Path, r.Version
		}
		add(path, version)
	}
	if sv := goBinStdlibVersion(goVersion); sv != "" {
		add("stdlib", sv)
	}
	return langDedup(pkgs), nil
}

// goBinStdlibVersion extracts the toolchain version from runtime.Version()
// output ("go1.22.1 X:loopvar" → "1.22.1"), in the form the Go
// vulnerability database, OSV and Grype match and syft puts in its purl
// (pkg:golang/stdlib@1.22.1): without the "go" prefix, GOEXPERIMENT suffixes
// and "devel".
func goBinStdlibVersion(v string) string {
	for f := range strings.FieldsSeq(v) {
		if rest, ok := strings.CutPrefix(f, "go"); ok && rest != "" {
			return rest
		}
	}
	return ""
}

// goBinDevel is the version the go command gives a main module built from
// its source directory rather than downloaded at a version.
const goBinDevel = "(devel)"

// goBinMainFromDeps picks the main module of build info that lists none.
func goBinMainFromDeps(bi *debug.BuildInfo) (debug.Module, []*debug.Module) {
	at := -1
	for i, d := range bi.Deps {
		if d != nil && d.Version == goBinDevel {
			if at >= 0 {
				at = -2
				break
			}
			at = i
		}
	}
	if at >= 0 {
		deps := append(append([]*debug.Module{}, bi.Deps[:at]...), bi.Deps[at+1:]...)
		return *bi.Deps[at], deps
	}
	return debug.Module{Path: bi.Path, Version: goBinDevel}, bi.Deps
}

// goBinVersionFlags are syft's patterns for a version set with -ldflags -X
// (main.version=1.2.3, MODULE/internal/build.Version=v1.2.3, main.gitTag=…).
var goBinVersionFlags = []string{
	`\.[a-zA-Z0-9]*([rR]elease)?([gG]it)?([bB]uild)?[vV]er(sion)?=(\S+/)*(?P<version>v?\d+.\d+.\d+[-\w]*(?:\.[-\w]+)*)`,
	`\.[a-zA-Z0-9]*([tT]ag)=(\S+/)*(?P<version>v?\d+.\d+.\d+[-\w]*(?:\.[-\w]+)*)`,
}

// goBinMainVersion is the main module's version. A main module built from
// source says "(devel)"; like syft, its version is then the one -ldflags -X
// set, else the pseudo-version of the VCS revision and time the go command
// stamped (v0.0.0-20240102150405-abcdef123456), else empty: "(devel)" is no
// version a vulnerability database can match.
func goBinMainVersion(m debug.Module, settings []debug.BuildSetting) string {
	if m.Version != goBinDevel {
		return m.Version
	}
	var ldflags, rev, vcsTime string
	for _, s := range settings {
		switch s.Key {
		case "-ldflags":
			ldflags = s.Value
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			vcsTime = s.Value
		}
	}
	if ldflags != "" {
		for _, pat := range goBinVersionFlags {
			re, err := regexp.Compile(`(main|` + regexp.QuoteMeta(m.Path) + `/[^\s]*)` + pat)
			if err != nil {
				continue
			}
			if sm := re.FindStringSubmatch(ldflags); sm != nil {
				v := sm[re.SubexpIndex("version")]
				if !strings.HasPrefix(v, "v") {
					v = "v" + v
				}
				return v
			}
		}
	}
	if rev != "" && vcsTime != "" {
		ts, _ := time.Parse(time.RFC3339, vcsTime)
		if len(rev) >= 12 {
			rev = rev[:12]
		}
		return module.PseudoVersion("", "", ts, rev)
	}
	return ""
}

// goBinLocalPath reports whether a replacement path is a directory (as in
// go.mod's "=> ../fork") rather than a module path.
func goBinLocalPath(p string) bool {
	return strings.HasPrefix(p, "./") || strings.HasPrefix(p, "../") ||
		strings.HasPrefix(p, "/") || p == "." || p == ".." ||
		strings.HasPrefix(p, `.\`) || strings.HasPrefix(p, `..\`) ||
		(len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/'))
}

// goBinPURL builds pkg:golang/MODULE@VERSION. The module path's case is kept:
// Go module paths are case-sensitive (the module proxy escapes upper case),
// and syft, Go's vulnerability database and deps.dev all keep it, although
// the purl type text says to lower-case (purl-spec issue #308).
func goBinPURL(path, version string) string {
	ns, name := langSplitDir(path)
	return langPURL("golang", ns, name, version)
}
