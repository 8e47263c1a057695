package sbom

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/imgsign/imgsign/attest/sbom/catalog"
)

// entryKind is what a layer puts at a path, as far as squashing cares.
type entryKind uint8

const (
	kindDir      entryKind = iota + 1
	kindOther              // a file, symlink, hard link, device…: replaces a directory
	kindWhiteout           // .wh.NAME: deletes NAME from lower layers
)

const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// record is what one file of one layer declared.
type record struct {
	pkgs []catalog.Package
	os   *catalog.OSRelease
}

// layerResult is one layer's contribution, kept until all layers are read
// and squashed in order.
type layerResult struct {
	found map[string]record
	// entries and opaque are what this layer hides from the layers below;
	// nil for the bottom layer, which hides nothing.
	entries  map[string]entryKind
	opaque   map[string]bool
	warnings []Warning
	files    int
}

type walker struct {
	cats   []catalog.Cataloger
	cfg    *config
	prog   *progressState
	digest string
	track  bool

	lr     *layerResult
	wanted []catalog.Cataloger
}

func (w *walker) walk(ctx context.Context, l v1.Layer) (*layerResult, error) {
	w.lr = &layerResult{found: map[string]record{}}
	if w.track {
		w.lr.entries = map[string]entryKind{}
		w.lr.opaque = map[string]bool{}
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, fmt.Errorf("opening: %w", err)
	}
	cr := &countingReader{ctx: ctx, r: rc, prog: w.prog}
	// Three stages overlap: the registry read and its digest (raw), the
	// inflate, which is most of a scan's CPU time (ra), and tar parsing with
	// the catalogers (this goroutine).
	raw := newReadahead(cr)
	br := bufio.NewReaderSize(raw, 64<<10)
	var ra *readahead
	closeDec := func() {}
	defer func() {
		if ra != nil {
			ra.Stop()
		}
		raw.Stop()
		rc.Close() // unblocks a read the goroutines may be waiting on
		raw.Wait()
		if ra != nil {
			ra.Wait()
		}
		closeDec()
		cr.flush()
	}()
	dec, cd, err := decompressor(br)
	if err != nil {
		return nil, err
	}
	closeDec = cd
	ra = newReadahead(dec)
	if err := w.entries(tar.NewReader(ra)); err != nil {
		return nil, err
	}
	// Reading to the end lets gzip check its CRC and go-containerregistry
	// check the blob's digest: a layer that does not match its manifest is
	// an error, not a partial SBOM.
	if _, err := io.Copy(io.Discard, ra); err != nil {
		return nil, fmt.Errorf("verifying the layer to its end: %w", err)
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return nil, fmt.Errorf("verifying the layer to its end: %w", err)
	}
	cr.flush()
	w.prog.layerDone()
	return w.lr, nil
}

// decompressor sniffs the stream instead of trusting the media type: Docker
// and OCI media types are both common, and some registries mislabel
// uncompressed layers.
func decompressor(br *bufio.Reader) (io.Reader, func(), error) {
	magic, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("reading: %w", err)
	}
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return gz, func() { gz.Close() }, nil
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		// One decoder goroutine and a bounded window keep memory flat.
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(128<<20))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return zr, zr.Close, nil
	}
	return br, func() {}, nil
}

func (w *walker) entries(tr *tar.Reader) error {
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("tar: %w", err)
		}
		w.lr.files++
		p, ok := cleanPath(hdr.Name)
		if !ok {
			continue
		}
		dir, base := path.Split(p)
		if strings.HasPrefix(base, whiteoutPrefix) {
			if w.track {
				if base == whiteoutOpaque {
					w.lr.opaque[strings.TrimSuffix(dir, "/")] = true
				} else {
					w.lr.entries[dir+base[len(whiteoutPrefix):]] = kindWhiteout
				}
			}
			continue
		}
		// A path repeated within a layer: the later entry is what extracts.
		delete(w.lr.found, p)
		kind := kindOther
		if hdr.Typeflag == tar.TypeDir {
			kind = kindDir
		}
		if w.track {
			w.lr.entries[p] = kind
		}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // old writers still emit TypeRegA
			w.file(p, hdr, tr)
		case tar.TypeLink:
			w.hardlink(p, hdr)
		}
	}
}

// cleanPath makes a tar entry name relative to the root without a leading
// "./" or "/". Names escaping the root are not part of the filesystem.
func cleanPath(name string) (string, bool) {
	name = strings.TrimPrefix(name, "./")
	name = strings.TrimLeft(name, "/")
	if name == "" || name == "." {
		return "", false
	}
	p := path.Clean(name)
	if p == "." || p == ".." || strings.HasPrefix(p, "../") {
		return "", false
	}
	return p, true
}

func (w *walker) file(p string, hdr *tar.Header, content io.Reader) {
	mode := fs.FileMode(hdr.Mode).Perm()
	if catalog.IsOSReleasePath(p) {
		o, err := catalog.ParseOSRelease(content)
		if err != nil {
			w.warn(p, "", err)
			return
		}
		w.lr.found[p] = record{os: &o}
		return
	}
	w.wanted = w.wanted[:0]
	for _, c := range w.cats {
		if c.Wants(p, mode, hdr.Size) {
			w.wanted = append(w.wanted, c)
		}
	}
	if len(w.wanted) == 0 {
		return
	}
	if hdr.Size > w.cfg.maxFileSize {
		w.warn(p, "", fmt.Errorf("%d bytes is over the %d-byte limit; not cataloged", hdr.Size, w.cfg.maxFileSize))
		return
	}
	f := catalog.File{Path: p, Size: hdr.Size, Mode: mode, Layer: w.digest, Content: content}
	var pkgs []catalog.Package
	if len(w.wanted) == 1 {
		got, err := safeCatalog(w.wanted[0], f)
		if err != nil {
			w.warn(p, w.wanted[0].Name(), err)
		}
		pkgs = got
	} else {
		pkgs = w.fanOut(f)
	}
	if len(pkgs) > 0 {
		w.lr.found[p] = record{pkgs: pkgs}
	}
}

// fanOut streams one file to several catalogers at once through pipes, so
// that no cataloger's appetite makes the walker buffer the file. A cataloger
// that stops reading early is simply no longer fed.
func (w *walker) fanOut(f catalog.File) []catalog.Package {
	cats := w.wanted
	type out struct {
		pkgs []catalog.Package
		err  error
	}
	outs := make([]out, len(cats))
	pws := make([]*io.PipeWriter, len(cats))
	var wg sync.WaitGroup
	for i, c := range cats {
		pr, pw := io.Pipe()
		pws[i] = pw
		wg.Add(1)
		go func() {
			defer wg.Done()
			ff := f
			ff.Content = pr
			outs[i].pkgs, outs[i].err = safeCatalog(c, ff)
			pr.CloseWithError(errCatalogerDone)
		}()
	}
	buf := make([]byte, 64<<10)
	live := len(pws)
	var readErr error
	for live > 0 {
		n, err := f.Content.Read(buf)
		if n > 0 {
			for i, pw := range pws {
				if pw == nil {
					continue
				}
				if _, werr := pw.Write(buf[:n]); werr != nil {
					pws[i] = nil
					live--
				}
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
	}
	for _, pw := range pws {
		if pw != nil {
			pw.CloseWithError(readErr)
		}
	}
	wg.Wait()
	var pkgs []catalog.Package
	for i, o := range outs {
		if o.err != nil {
			w.warn(f.Path, cats[i].Name(), o.err)
		}
		pkgs = append(pkgs, o.pkgs...)
	}
	return pkgs
}

var errCatalogerDone = errors.New("cataloger finished reading")

// safeCatalog keeps a cataloger's panic on one odd file from ending the scan.
func safeCatalog(c catalog.Cataloger, f catalog.File) (pkgs []catalog.Package, err error) {
	defer func() {
		if r := recover(); r != nil {
			pkgs, err = nil, fmt.Errorf("cataloger panicked: %v", r)
		}
	}()
	return c.Catalog(f)
}

// hardlink catalogs a hard link from what its target in the same layer
// declared: the content is the same file. Targets in lower layers are not
// followed (their results are another layer's, already squashed apart).
func (w *walker) hardlink(p string, hdr *tar.Header) {
	target, ok := cleanPath(hdr.Linkname)
	if !ok {
		return
	}
	r, ok := w.lr.found[target]
	if !ok {
		return
	}
	cp := record{os: r.os}
	for _, pk := range r.pkgs {
		pk.Location = p
		cp.pkgs = append(cp.pkgs, pk)
	}
	w.lr.found[p] = cp
}

func (w *walker) warn(p, cat string, err error) {
	w.lr.warnings = append(w.lr.warnings, Warning{Path: p, Layer: w.digest, Cataloger: cat, Message: err.Error()})
}

// countingReader reports compressed bytes to the progress state and stops a
// scan whose context is done (go-containerregistry's remote layers read
// with the context they were fetched with, not ours).
type countingReader struct {
	ctx     context.Context
	r       io.Reader
	prog    *progressState
	pending int64
}

const progressStep = 512 << 10

func (c *countingReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	c.pending += int64(n)
	if c.pending >= progressStep {
		c.flush()
	}
	return n, err
}

func (c *countingReader) flush() {
	if c.pending > 0 {
		c.prog.add(c.pending)
		c.pending = 0
	}
}

// progressState aggregates progress across layers read in parallel.
type progressState struct {
	mu    sync.Mutex
	fn    func(Progress)
	p     Progress
	total int64
}

func newProgressState(fn func(Progress), layers int) *progressState {
	return &progressState{fn: fn, p: Progress{Layers: layers}}
}

func (s *progressState) add(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.p.BytesDone += n
	s.report()
}

func (s *progressState) layerDone() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.p.LayersDone++
	s.report()
}

// report is called with mu held (or before any layer goroutine starts).
func (s *progressState) report() {
	if s.fn == nil {
		return
	}
	s.p.Bytes = s.total
	s.fn(s.p)
}

// readahead reads its source on its own goroutine into a few large
// buffers, so that the stages of a layer's single pass — registry read and
// digest, inflate, tar parsing and cataloging — run on different cores.
// Memory is bounded by the buffers, whatever the layer size.
type readahead struct {
	full   chan []byte
	free   chan []byte
	done   chan struct{}
	exited chan struct{}
	errc   chan error
	buf    []byte // the buffer being consumed, whole
	off    int
	pos    int64
	err    error
	stop   sync.Once
}

const (
	raBufSize = 512 << 10
	raBufs    = 4
)

var errStopped = errors.New("layer read stopped")

func newReadahead(r io.Reader) *readahead {
	ra := &readahead{
		full:   make(chan []byte, raBufs),
		free:   make(chan []byte, raBufs),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
		errc:   make(chan error, 1),
	}
	for range raBufs {
		ra.free <- make([]byte, raBufSize)
	}
	go func() {
		var err error
		defer func() {
			// The error goes out before full closes, so a reader that
			// sees full closed always finds it.
			ra.errc <- err
			close(ra.full)
			close(ra.exited)
		}()
		for {
			var buf []byte
			select {
			case buf = <-ra.free:
			case <-ra.done:
				err = errStopped
				return
			}
			n, rerr := io.ReadFull(r, buf[:cap(buf)])
			if n > 0 {
				select {
				case ra.full <- buf[:n]:
				case <-ra.done:
					err = errStopped
					return
				}
			}
			if rerr != nil {
				if errors.Is(rerr, io.ErrUnexpectedEOF) {
					rerr = io.EOF
				}
				err = rerr
				return
			}
		}
	}()
	return ra
}

// fill makes the current buffer non-empty, or returns the source's error.
func (ra *readahead) fill() error {
	for ra.off == len(ra.buf) {
		if ra.buf != nil {
			ra.free <- ra.buf[:cap(ra.buf)]
			ra.buf, ra.off = nil, 0
		}
		if ra.err != nil {
			return ra.err
		}
		buf, ok := <-ra.full
		if !ok {
			ra.err = <-ra.errc
			return ra.err
		}
		ra.buf = buf
	}
	return nil
}

func (ra *readahead) Read(p []byte) (int, error) {
	if err := ra.fill(); err != nil {
		return 0, err
	}
	n := copy(p, ra.buf[ra.off:])
	ra.off += n
	ra.pos += int64(n)
	return n, nil
}

// Seek skips forward without copying: archive/tar seeks over the contents
// of the files no cataloger wants, which is most of a layer. Only relative
// forward seeks are supported; a seek past the end stops at the end and
// leaves the error to the next Read, as tar expects of a lazy Seek.
func (ra *readahead) Seek(offset int64, whence int) (int64, error) {
	if whence != io.SeekCurrent || offset < 0 {
		return ra.pos, errors.New("readahead: only forward relative seeks")
	}
	for offset > 0 {
		if ra.fill() != nil {
			break
		}
		n := min(offset, int64(len(ra.buf)-ra.off))
		ra.off += int(n)
		ra.pos += n
		offset -= n
	}
	return ra.pos, nil
}

// Stop asks the reading goroutine to end; Wait waits until it has.
// Between the two the caller closes the source so a blocked read returns.
func (ra *readahead) Stop() { ra.stop.Do(func() { close(ra.done) }) }

func (ra *readahead) Wait() { <-ra.exited }
