// Package sbom generates software bills of materials for container images by
// reading their layers the way a container runtime stacks them, and encodes
// them as SPDX 2.3 or CycloneDX 1.6 JSON.
//
// Scan streams each layer once — decompressing on the fly, never extracting
// to disk, never holding a layer in memory — and offers every regular file
// to the catalogers (package catalog) that want it. What a cataloger finds is
// kept per path and per layer; after the walk, results whose file a later
// layer deleted (whiteout, opaque directory) or replaced are dropped, so the
// bill of materials describes the squashed filesystem the container sees.
package sbom

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/imgsign/imgsign/attest/sbom/catalog"
	"github.com/imgsign/imgsign/internal/errkind"
)

// DefaultMaxFileSize is the largest file offered to catalogers unless
// WithMaxFileSize says otherwise. Package metadata is small; the large files
// catalogers read (Go binaries, jars) stream and stay far below this.
const DefaultMaxFileSize = 1 << 30

// Result is what an image's squashed filesystem declares.
type Result struct {
	// OS is the image's os-release (etc/os-release, else usr/lib/os-release),
	// nil when it has none.
	OS *catalog.OSRelease `json:"os,omitempty"`
	// Packages are sorted by type, name, version and location.
	Packages []catalog.Package `json:"packages"`
	// Layers are the image's layers, bottom first.
	Layers []Layer `json:"layers"`
	// Warnings are files that should have parsed and did not, or were too
	// large to read; the scan carries on past them.
	Warnings []Warning `json:"warnings,omitempty"`
}

// Layer describes one layer of the scanned image.
type Layer struct {
	Digest string `json:"digest"`
	// Size is the compressed size; Files the number of tar entries.
	Size  int64 `json:"size"`
	Files int   `json:"files"`
}

// Warning is a file the scan could not catalog.
type Warning struct {
	Path      string `json:"path"`
	Layer     string `json:"layer"`
	Cataloger string `json:"cataloger,omitempty"`
	Message   string `json:"message"`
}

func (w Warning) String() string {
	if w.Cataloger != "" {
		return fmt.Sprintf("%s (layer %s, %s): %s", w.Path, w.Layer, w.Cataloger, w.Message)
	}
	return fmt.Sprintf("%s (layer %s): %s", w.Path, w.Layer, w.Message)
}

// Progress reports how far a scan is. Bytes are compressed layer bytes as
// they come from the registry or disk, so they match the image's size.
type Progress struct {
	Layers, LayersDone int
	Bytes, BytesDone   int64
}

// Option configures Scan.
type Option func(*config)

type config struct {
	progress    func(Progress)
	concurrency int
	maxFileSize int64
}

// WithProgress calls fn as layers are read (at most every few hundred
// kilobytes, and once per finished layer). fn is called from one goroutine
// at a time.
func WithProgress(fn func(Progress)) Option { return func(c *config) { c.progress = fn } }

// WithConcurrency reads up to n layers at once (each still in one streaming
// pass). n <= 0 means GOMAXPROCS. Results do not depend on n.
func WithConcurrency(n int) Option { return func(c *config) { c.concurrency = n } }

// WithMaxFileSize skips, with a warning, files larger than n bytes that a
// cataloger wants.
func WithMaxFileSize(n int64) Option { return func(c *config) { c.maxFileSize = n } }

// Default returns the catalogers imgsign runs: OS package databases (dpkg,
// apk, rpm) and language ecosystems (Go binaries, Python, npm, Java).
func Default() []catalog.Cataloger {
	return append(catalog.OSPackages(), catalog.Language()...)
}

// Scan reads img's layers and returns the packages its squashed filesystem
// declares. Errors reading a layer (registry, corrupt compression or tar,
// digest mismatch) fail the scan and are errkind.Operational; errors of one
// cataloger on one file become warnings. Layers are read in parallel, so
// catalogers must be safe for concurrent use (stateless ones are).
func Scan(ctx context.Context, img v1.Image, catalogers []catalog.Cataloger, opts ...Option) (*Result, error) {
	cfg := config{maxFileSize: DefaultMaxFileSize}
	for _, o := range opts {
		o(&cfg)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, operational(fmt.Errorf("listing image layers: %w", err))
	}
	n := cfg.concurrency
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	n = min(n, len(layers))

	res := &Result{Layers: make([]Layer, len(layers))}
	prog := newProgressState(cfg.progress, len(layers))
	for i, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return nil, operational(fmt.Errorf("layer %d: digest: %w", i, err))
		}
		sz, err := l.Size()
		if err != nil {
			return nil, operational(fmt.Errorf("layer %d (%s): size: %w", i, d, err))
		}
		res.Layers[i] = Layer{Digest: d.String(), Size: sz}
		prog.total += sz
	}
	prog.report()

	// Layers are independent until the squash, so they are read in
	// parallel, each in its own single streaming pass.
	results := make([]*layerResult, len(layers))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(n, 1))
	for i, l := range layers {
		g.Go(func() error {
			w := &walker{cats: catalogers, cfg: &cfg, prog: prog, digest: res.Layers[i].Digest, track: i > 0}
			lr, err := w.walk(gctx, l)
			if err != nil {
				return operational(fmt.Errorf("reading layer %d (%s): %w", i, res.Layers[i].Digest, err))
			}
			results[i] = lr
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for i, lr := range results {
		res.Layers[i].Files = lr.files
	}
	squash(res, results)
	return res, nil
}

// operational marks a failure to read the image as the registry's (or the
// image's) fault, exit code 3, unless something below already classified
// it or the caller cancelled.
func operational(err error) error {
	if _, ok := errkind.Of(err); ok || errors.Is(err, context.Canceled) {
		return err
	}
	return errkind.Mark(errkind.Operational, err)
}

// sortPackages orders packages deterministically for output and tests.
func sortPackages(pkgs []catalog.Package) {
	sort.SliceStable(pkgs, func(i, j int) bool {
		a, b := pkgs[i], pkgs[j]
		switch {
		case a.Type != b.Type:
			return a.Type < b.Type
		case a.Name != b.Name:
			return a.Name < b.Name
		case a.Version != b.Version:
			return a.Version < b.Version
		case a.Location != b.Location:
			return a.Location < b.Location
		case a.PURL != b.PURL:
			return a.PURL < b.PURL
		}
		return a.Layer < b.Layer
	})
}
