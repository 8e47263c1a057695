package catalog

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/adler32"
	"io"
	"io/fs"
	"strconv"
	"strings"
)

// Bounds of the Rust catalogers.
const (
	// rustMaxLock is the largest Cargo.lock read (Wants skips bigger ones).
	rustMaxLock = 16 << 20
	// rustMaxLine bounds one Cargo.lock line; longer ones are skipped.
	rustMaxLine = 64 << 10
	// rustMaxBinary is the largest executable searched for audit data.
	rustMaxBinary = 512 << 20
	// rustMinBinary skips files too small to be an ELF executable.
	rustMinBinary = 64
	// rustMaxSection bounds the compressed audit data captured, and
	// rustMaxJSON what it may inflate to.
	rustMaxSection = 4 << 20
	rustMaxJSON    = 8 << 20
	// rustMaxSectionHeaders bounds the ELF section header table captured.
	rustMaxSectionHeaders = 4 << 20
	// rustChunk is the streaming window; rustOverlap is kept from the
	// previous window so that a zlib stream starting near a window's end
	// can still be recognised.
	rustChunk   = 64 << 10
	rustOverlap = 4 << 10
	// rustMaxCaptures bounds how many streams that start like audit data
	// are captured and decoded in one file (a real executable has one).
	rustMaxCaptures = 4
)

// rustLockCataloger reads Cargo.lock files: every [[package]] is a crate.
// A package without "source" is a workspace member or path dependency; like
// syft it is reported with no purl, since a cargo purl names a crates.io
// crate.
type rustLockCataloger struct{}

func (rustLockCataloger) Name() string { return "rust-cargo-lock" }

func (rustLockCataloger) Wants(path string, _ fs.FileMode, size int64) bool {
	if size > rustMaxLock {
		return false
	}
	_, base := langSplitDir(path)
	return base == "Cargo.lock"
}

func (rustLockCataloger) Catalog(f File) ([]Package, error) {
	pkgs, err := rustParseLock(io.LimitReader(f.Content, rustMaxLock))
	if err != nil {
		return nil, fmt.Errorf("Cargo.lock %s: %w", f.Path, err)
	}
	for i := range pkgs {
		pkgs[i].Location, pkgs[i].Layer = f.Path, f.Layer
	}
	return pkgs, nil
}

// rustParseLock reads the [[package]] tables of a Cargo.lock (versions 1 to
// 4) line by line: "name", "version" and "source" are the only keys used,
// and Cargo writes each on one line as a basic string. Work is linear in the
// input.
func rustParseLock(r io.Reader) ([]Package, error) {
	br := bufio.NewReaderSize(r, 4096)
	var (
		pkgs                  []Package
		in                    bool
		name, version, source string
	)
	flush := func() {
		if in && name != "" && version != "" {
			p := Package{Name: name, Version: version, Type: "cargo"}
			if source != "" {
				p.PURL = langPURL("cargo", "", name, version)
			}
			pkgs = append(pkgs, p)
		}
		name, version, source = "", "", ""
	}
	for {
		line, tooLong, err := rubyReadLine(br)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		line = strings.TrimSpace(line)
		switch {
		case tooLong || line == "" || line[0] == '#':
		case line[0] == '[':
			flush()
			in = line == "[[package]]"
		case in:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				break
			}
			var dst *string
			switch strings.TrimSpace(k) {
			case "name":
				dst = &name
			case "version":
				dst = &version
			case "source":
				dst = &source
			}
			if dst != nil {
				if s, ok := rustTOMLString(strings.TrimSpace(v)); ok {
					*dst = s
				}
			}
		}
		if err != nil {
			flush()
			return pkgs, nil
		}
	}
}

// rustTOMLString reads a TOML basic or literal string standing alone
// (an optional trailing comment is ignored).
func rustTOMLString(v string) (string, bool) {
	if strings.HasPrefix(v, "'") {
		if j := strings.IndexByte(v[1:], '\''); j >= 0 {
			return v[1 : 1+j], true
		}
		return "", false
	}
	if !strings.HasPrefix(v, `"`) {
		return "", false
	}
	for j := 1; j < len(v); j++ {
		switch v[j] {
		case '\\':
			j++
		case '"':
			s, err := strconv.Unquote(v[:j+1])
			return s, err == nil
		}
	}
	return "", false
}

// rustAuditCataloger reads the dependency list that cargo auditable
// (https://github.com/rust-secure-code/cargo-auditable) embeds in ELF
// executables: a ".dep-v0" section holding zlib-compressed JSON
// {"packages":[{"name","version","source","kind","dependencies","root"},…]}.
// Runtime packages are reported, build-time ones ("kind":"build") are not,
// as syft does.
//
// The section header table that names sections is at the end of an ELF
// file, after the data, and the walker streams files once: so the file is
// scanned for a zlib stream that inflates to {"packages":[ (the JSON
// cargo auditable writes), that stream is captured (bounded), and the
// section header table, captured when the stream reaches it, must have a
// section starting exactly there. Nothing else of the file is held.
type rustAuditCataloger struct{}

func (rustAuditCataloger) Name() string { return "rust-audit-binary" }

func (rustAuditCataloger) Wants(_ string, mode fs.FileMode, size int64) bool {
	return mode&0o111 != 0 && mode.IsRegular() && size >= rustMinBinary && size <= rustMaxBinary
}

func (rustAuditCataloger) Catalog(f File) ([]Package, error) {
	info, found, err := rustScanELF(f.Content)
	if err != nil {
		return nil, fmt.Errorf("cargo auditable data in %s: %w", f.Path, err)
	}
	if !found {
		return nil, nil
	}
	pkgs := rustAuditPackages(info)
	for i := range pkgs {
		pkgs[i].Location, pkgs[i].Layer = f.Path, f.Layer
	}
	return pkgs, nil
}

// rustAuditInfo is cargo auditable's JSON (auditable-serde's VersionInfo).
type rustAuditInfo struct {
	Packages []struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		Source  string `json:"source"`
		Kind    string `json:"kind"`
	} `json:"packages"`
}

func rustAuditPackages(info rustAuditInfo) []Package {
	var pkgs []Package
	for _, p := range info.Packages {
		if p.Kind != "" && p.Kind != "runtime" {
			continue
		}
		if p.Name == "" || p.Version == "" {
			continue
		}
		pkgs = append(pkgs, Package{
			Name: p.Name, Version: p.Version, Type: "cargo",
			PURL: langPURL("cargo", "", p.Name, p.Version),
		})
	}
	return langDedup(pkgs)
}

// rustELFHeader is what the scan needs of an ELF file header.
type rustELFHeader struct {
	class64 bool
	order   binary.ByteOrder
	shoff   uint64
	shentsz uint64
	shnum   uint64
}

func rustParseELFHeader(h []byte) (rustELFHeader, bool) {
	if len(h) < 64 || string(h[:4]) != "\x7fELF" {
		return rustELFHeader{}, false
	}
	var e rustELFHeader
	switch h[5] {
	case 1:
		e.order = binary.LittleEndian
	case 2:
		e.order = binary.BigEndian
	default:
		return rustELFHeader{}, false
	}
	switch h[4] {
	case 1:
		e.shoff = uint64(e.order.Uint32(h[32:]))
		e.shentsz = uint64(e.order.Uint16(h[46:]))
		e.shnum = uint64(e.order.Uint16(h[48:]))
		if e.shentsz < 40 {
			return rustELFHeader{}, false
		}
	case 2:
		e.class64 = true
		e.shoff = e.order.Uint64(h[40:])
		e.shentsz = uint64(e.order.Uint16(h[58:]))
		e.shnum = uint64(e.order.Uint16(h[60:]))
		if e.shentsz < 64 {
			return rustELFHeader{}, false
		}
	default:
		return rustELFHeader{}, false
	}
	return e, true
}

// rustSectionAt reports whether the section header table has a section
// whose file offset is off.
func (e rustELFHeader) sectionAt(table []byte, off uint64) bool {
	for i := uint64(0); i+1 <= e.shnum && (i+1)*e.shentsz <= uint64(len(table)); i++ {
		sh := table[i*e.shentsz:]
		var shOff uint64
		if e.class64 {
			shOff = e.order.Uint64(sh[24:])
		} else {
			shOff = uint64(e.order.Uint32(sh[16:]))
		}
		if shOff == off {
			return true
		}
	}
	return false
}

// rustAuditPrefix is how cargo auditable's JSON starts (serde_json writes
// it compact).
var rustAuditPrefix = []byte(`{"packages":[`)

// rustScanELF streams an ELF file once and returns the audit data it
// embeds, if any (see rustAuditCataloger).
func rustScanELF(r io.Reader) (rustAuditInfo, bool, error) {
	br := bufio.NewReaderSize(r, rustChunk)
	head, err := br.Peek(64)
	if err != nil {
		return rustAuditInfo{}, false, nil // too short: not an executable
	}
	e, ok := rustParseELFHeader(head)
	if !ok || e.shoff == 0 || e.shnum == 0 || e.shnum*e.shentsz > rustMaxSectionHeaders {
		return rustAuditInfo{}, false, nil
	}
	shEnd := e.shoff + e.shnum*e.shentsz

	var (
		buf      = make([]byte, 0, rustOverlap+rustChunk)
		bufStart uint64 // file offset of buf[0]
		scanned  uint64 // file offset up to which candidates were tried
		capture  []byte // the zlib stream being captured
		capOff   uint64
		capping  bool
		shdrs    []byte
		found    []uint64 // offsets of captured, decoded candidates
		infos    []rustAuditInfo
		trial    = rustTrial{budget: rustTrialBudget}
		captures int // streams captured so far
		tried    int // capture length at the last decode attempt
	)
	// tryCapture decodes what was captured; capturing goes on while the
	// stream is incomplete and under its bound. Decoding is retried only
	// when the capture has doubled, so the work stays linear in it.
	tryCapture := func(eof bool) {
		full := eof || len(capture) >= rustMaxSection
		if !full && tried > 0 && len(capture) < 2*tried {
			return
		}
		tried = len(capture)
		info, st := rustDecode(capture)
		if st == rustIncomplete && !full {
			return
		}
		if st == rustDecoded {
			found = append(found, capOff)
			infos = append(infos, info)
		}
		capping, capture, tried = false, nil, 0
	}
	for {
		// Keep the overlap, then read the next chunk.
		if len(buf) > rustOverlap {
			drop := len(buf) - rustOverlap
			bufStart += uint64(drop)
			buf = append(buf[:0], buf[drop:]...)
		}
		n, rerr := io.ReadFull(br, buf[len(buf):cap(buf)])
		chunk := buf[len(buf) : len(buf)+n]
		buf = buf[:len(buf)+n]
		end := bufStart + uint64(len(buf))
		if rerr != nil && !errors.Is(rerr, io.EOF) && !errors.Is(rerr, io.ErrUnexpectedEOF) {
			return rustAuditInfo{}, false, rerr
		}
		eof := rerr != nil

		if capping {
			capture = append(capture, chunk[:min(len(chunk), rustMaxSection-len(capture))]...)
			tryCapture(eof)
		}
		// Capture the section header table as it streams past.
		if end > e.shoff && bufStart < shEnd {
			lo := max(e.shoff, bufStart, end-uint64(n))
			hi := min(shEnd, end)
			if lo < hi && uint64(len(shdrs)) == lo-e.shoff {
				shdrs = append(shdrs, buf[lo-bufStart:hi-bufStart]...)
			}
		}
		// Try candidates that have at least rustOverlap bytes after them
		// (or the rest of the file).
		limit := end
		if !eof {
			limit = end - min(end, rustOverlap)
		}
		scanned = max(scanned, bufStart)
		for !capping && scanned < limit && captures < rustMaxCaptures {
			from := scanned - bufStart
			i := bytes.IndexByte(buf[from:limit-bufStart], 0x78)
			if i < 0 {
				scanned = limit
				break
			}
			pos := from + uint64(i)
			scanned = bufStart + pos + 1
			if pos+1 >= uint64(len(buf)) || !rustZlibFlag(buf[pos+1]) {
				continue
			}
			if !trial.startsAudit(buf[pos+2:]) {
				continue
			}
			capping, capOff = true, bufStart+pos
			captures++
			capture = append(capture[:0], buf[pos:min(uint64(len(buf)), pos+rustMaxSection)]...)
			tryCapture(eof)
			if capping {
				scanned = end // the capture holds the rest of this window
			}
		}
		if eof {
			break
		}
	}
	if uint64(len(shdrs)) != shEnd-e.shoff {
		return rustAuditInfo{}, false, nil
	}
	for i, off := range found {
		if e.sectionAt(shdrs, off) {
			return infos[i], true, nil
		}
	}
	return rustAuditInfo{}, false, nil
}

// rustZlibFlag reports whether b is a zlib FLG byte following CMF 0x78
// (deflate, 32 KiB window) with no preset dictionary.
func rustZlibFlag(b byte) bool {
	return (0x78*256+int(b))%31 == 0 && b&0x20 == 0
}

// rustTrial inflates the first bytes of candidate streams, reusing one
// decompressor. Each trial reads at most rustTrialInput bytes, and all
// trials of one file at most rustTrialBudget: in a real executable a false
// start fails within a few bytes, and a file crafted to make every trial
// read far is searched no further once the budget is spent.
type rustTrial struct {
	fr     io.ReadCloser
	out    [16]byte
	budget int
}

const (
	rustTrialInput  = 1 << 10
	rustTrialBudget = 64 << 20
)

func (t *rustTrial) startsAudit(deflated []byte) bool {
	if t.budget <= 0 {
		return false
	}
	src := bytes.NewReader(deflated[:min(len(deflated), rustTrialInput)])
	if t.fr == nil {
		t.fr = flate.NewReader(src)
	} else if err := t.fr.(flate.Resetter).Reset(src, nil); err != nil {
		return false
	}
	n, _ := io.ReadFull(t.fr, t.out[:len(rustAuditPrefix)])
	t.budget -= int(src.Size()) - src.Len()
	return n == len(rustAuditPrefix) && bytes.Equal(t.out[:n], rustAuditPrefix)
}

// Outcomes of rustDecode.
const (
	rustBad = iota
	rustIncomplete
	rustDecoded
)

// rustDecode inflates a captured zlib stream (bounded), checks its Adler-32
// and parses the JSON. It says rustIncomplete when the stream is cut short.
func rustDecode(z []byte) (rustAuditInfo, int) {
	if len(z) < 2 {
		return rustAuditInfo{}, rustIncomplete
	}
	src := bytes.NewReader(z[2:])
	fr := flate.NewReader(src)
	defer fr.Close()
	data, err := io.ReadAll(io.LimitReader(fr, rustMaxJSON+1))
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return rustAuditInfo{}, rustIncomplete
	}
	if err != nil || len(data) > rustMaxJSON {
		return rustAuditInfo{}, rustBad
	}
	// The Adler-32 of the data follows the deflate stream.
	var sum [4]byte
	if _, err := io.ReadFull(src, sum[:]); err != nil {
		return rustAuditInfo{}, rustIncomplete
	}
	if binary.BigEndian.Uint32(sum[:]) != adler32.Checksum(data) {
		return rustAuditInfo{}, rustBad
	}
	var info rustAuditInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return rustAuditInfo{}, rustBad
	}
	return info, rustDecoded
}
