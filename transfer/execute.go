package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/sync/errgroup"

	"github.com/imgsign/imgsign/internal/attachment"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/storage"
)

// StallTimeout cuts off a blob transfer through which no byte has passed
// for this long (a copy of a large image has no overall deadline).
var StallTimeout = 2 * time.Minute

// blobAttempts is how often one blob transfer is tried: a connection that
// breaks mid-blob is retried from the start, reopening the source.
const blobAttempts = 3

var blobBackoff = []time.Duration{time.Second, 3 * time.Second}

// executor writes the plan in dependency order: blobs, then manifests
// (each index after its children), then attachments level by level (their
// subjects first; on each subject referrers, then legacy tags), and the
// destination tags last, so that a copy cut short never leaves a tag
// naming an image whose signatures are not there yet.
type executor struct {
	*planner
	progress func(Progress)

	pmu  sync.Mutex
	prog Progress
}

func (x *executor) run(ctx context.Context) error {
	var blobs []*blobNode
	for _, b := range x.blobs {
		if !b.present {
			blobs = append(blobs, b)
			x.prog.Blobs++
			x.prog.Bytes += b.desc.Size
		}
	}
	// Largest first: the long transfers start early.
	sort.Slice(blobs, func(i, j int) bool { return blobs[i].desc.Size > blobs[j].desc.Size })
	var heights [][]*manifestNode
	for _, n := range x.imageNodes() {
		if n.present || n.raw == nil {
			continue
		}
		for len(heights) <= n.height {
			heights = append(heights, nil)
		}
		heights[n.height] = append(heights[n.height], n)
		x.prog.Manifests++
	}
	levels := map[int]map[string][]*attachmentNode{}
	maxDepth := 0
	for _, a := range x.atts {
		if a.rec.Status != StatusWouldCopy && a.rec.Status != StatusWouldMerge {
			continue
		}
		if levels[a.depth] == nil {
			levels[a.depth] = map[string][]*attachmentNode{}
		}
		s := a.subject.Digest.String()
		levels[a.depth][s] = append(levels[a.depth][s], a)
		maxDepth = max(maxDepth, a.depth)
		x.prog.Manifests++
	}
	for _, rt := range x.roots {
		if rt.tag != "" && rt.previous != rt.desc.Digest {
			x.prog.Manifests++
		}
	}
	x.report(0, 0, 0)

	if err := x.each(ctx, len(blobs), func(ctx context.Context, i int) error { return x.copyBlob(ctx, blobs[i]) }); err != nil {
		return err
	}
	for _, level := range heights {
		if err := x.each(ctx, len(level), func(ctx context.Context, i int) error {
			n := level[i]
			if err := x.dst.PutManifest(ctx, n.desc.Digest.String(), n.raw, n.desc.MediaType); err != nil {
				return err
			}
			n.written = true
			x.report(0, 0, 1)
			return nil
		}); err != nil {
			return err
		}
	}
	for depth := 1; depth <= maxDepth; depth++ {
		var groups [][]*attachmentNode
		for _, g := range levels[depth] {
			// Referrers before legacy tags; one subject's one at a time, as
			// each may rewrite the subject's shared referrers tag index.
			sort.SliceStable(g, func(i, j int) bool { return g[i].tag == "" && g[j].tag != "" })
			groups = append(groups, g)
		}
		if err := x.each(ctx, len(groups), func(ctx context.Context, i int) error {
			for _, a := range groups[i] {
				if err := x.writeAttachment(ctx, a); err != nil {
					return err
				}
				x.report(0, 0, 1)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	for _, rt := range x.roots {
		if err := x.tag(ctx, rt); err != nil {
			return err
		}
	}
	return nil
}

// each runs fn for 0..n-1, x.jobs at a time, stopping at the first error.
func (x *executor) each(ctx context.Context, n int, fn func(context.Context, int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(x.jobs)
	for i := 0; i < n; i++ {
		g.Go(func() error { return fn(gctx, i) })
	}
	return g.Wait()
}

func (x *executor) report(blobs int, bytes int64, manifests int) {
	if x.progress == nil {
		return
	}
	x.pmu.Lock()
	defer x.pmu.Unlock()
	x.prog.BlobsDone += blobs
	x.prog.BytesDone += bytes
	x.prog.ManifestsDone += manifests
	x.progress(x.prog)
}

// copyBlob mounts b from the source repository where the destination is
// on the same registry and can, and streams it otherwise, retrying a
// transfer that breaks from the start.
func (x *executor) copyBlob(ctx context.Context, b *blobNode) error {
	if m, ok := x.dst.(storage.BlobMounter); ok && x.src.Name().RegistryStr() == x.dst.Name().RegistryStr() {
		mounted, err := m.MountBlob(ctx, b.desc, x.src.Name())
		if err != nil {
			return err
		}
		if mounted {
			b.status = statusMounted
			x.report(1, b.desc.Size, 0)
			return nil
		}
	}
	for attempt := 0; ; attempt++ {
		sent, err := x.streamBlob(ctx, b)
		if err == nil {
			b.status = StatusCopied
			x.report(1, 0, 0)
			return nil
		}
		x.report(0, -sent, 0)
		if k := errkind.KindOf(err); k == errkind.Untrusted {
			// Bytes that do not match their digest: the source is broken
			// or tampered with; no retry will help.
			return errkind.Mark(errkind.Operational, fmt.Errorf("the source sent blob %s corrupted: %w", b.desc.Digest, err))
		}
		if attempt+1 >= blobAttempts {
			return fmt.Errorf("%w (tried %d times)", err, blobAttempts)
		}
		if !retryable(ctx, err) || !sleep(ctx, blobBackoff[min(attempt, len(blobBackoff)-1)]) {
			return err
		}
	}
}

// statusMounted is a blob's status when the registry mounted it.
const statusMounted Status = "mounted"

var errStalled = errors.New("stalled")

// streamBlob streams b from the source to the destination once, and
// returns how many bytes it read.
func (x *executor) streamBlob(ctx context.Context, b *blobNode) (int64, error) {
	bctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	rc, err := x.src.OpenBlob(bctx, b.desc)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	w := &watchedReader{r: rc, stall: time.AfterFunc(StallTimeout, func() { cancel(errStalled) }), onRead: func(n int) { x.report(0, int64(n), 0) }}
	defer w.stall.Stop()
	err = x.dst.PutBlobStream(bctx, b.desc, w)
	if err != nil && errors.Is(context.Cause(bctx), errStalled) {
		err = errkind.Operationalf("no data passed for %s (the source or destination stalled): %w", StallTimeout, err)
	}
	return w.n, err
}

// watchedReader counts what passes for the progress bar and restarts the
// stall timer on every read.
type watchedReader struct {
	r      io.Reader
	stall  *time.Timer
	onRead func(int)
	n      int64
}

func (w *watchedReader) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if n > 0 {
		w.stall.Reset(StallTimeout)
		w.n += int64(n)
		w.onRead(n)
	}
	return n, err
}

// Err is the source stream's own failure (a digest mismatch, a broken
// download), which the upload it fed reports in place of its own.
func (w *watchedReader) Err() error {
	if e, ok := w.r.(interface{ Err() error }); ok {
		return e.Err()
	}
	return nil
}

// Verifies passes on the source stream's check (storage.VerifyingReader),
// so the destination need not hash the bytes again; the zero descriptor
// when the source does not check, which matches no blob.
func (w *watchedReader) Verifies() v1.Descriptor {
	if v, ok := w.r.(storage.VerifyingReader); ok {
		return v.Verifies()
	}
	return v1.Descriptor{}
}

// retryable reports whether a failed blob transfer may succeed when tried
// again: an operational failure, not a refusal (4xx) or the run's end.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errkind.KindOf(err) != errkind.Operational {
		return false
	}
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode >= 400 && te.StatusCode < 500 &&
		te.StatusCode != http.StatusRequestTimeout && te.StatusCode != http.StatusTooManyRequests {
		return false
	}
	return true
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// writeAttachment writes one referrer (through the destination's referrers
// API or tag schema, whichever it has) or one cosign legacy tag.
func (x *executor) writeAttachment(ctx context.Context, a *attachmentNode) error {
	n := a.node
	if a.tag == "" {
		usedAPI, err := x.dst.PushReferrer(ctx, storage.Referrer{
			Manifest: n.raw,
			Subject:  a.subject.Digest,
			// What a listing carries for it (the tag schema's index needs it).
			Descriptor: v1.Descriptor{MediaType: n.desc.MediaType, ArtifactType: n.m.artifactType(),
				Digest: n.desc.Digest, Size: n.desc.Size, Annotations: n.m.Annotations},
		})
		if err != nil {
			return fmt.Errorf("referrer %s of %s: %w", n.desc.Digest, a.subject.Digest, err)
		}
		x.setAPI(usedAPI)
		a.rec.Status = StatusCopied
		return nil
	}
	// The destination's tag as it is now, not as the plan saw it: the
	// blobs took their time, and a signer may have written the tag since
	// (cosign signing the copy), whose signature writing the plan's view
	// would drop. (What a registry offers leaves a window of one request.)
	current, err := x.legacyNow(ctx, a.tag)
	if err != nil {
		return err
	}
	switch {
	case current == nil:
		if err := x.dst.PutManifest(ctx, a.tag, n.raw, n.desc.MediaType); err != nil {
			return fmt.Errorf("cosign legacy tag %s: %w", a.tag, err)
		}
		a.rec.Status = StatusCopied
		return nil
	case containsLayers(current, n.m):
		a.rec.Status = StatusExists
		return nil
	}
	a.merge = current
	raw, config, _, err := mergeLegacy(a.merge, n.m)
	if err != nil {
		return err
	}
	if _, err := x.dst.PutBlob(ctx, config); err != nil {
		return fmt.Errorf("cosign legacy tag %s: %w", a.tag, err)
	}
	if err := x.dst.PutManifest(ctx, a.tag, raw, a.merge.mediaType()); err != nil {
		return fmt.Errorf("cosign legacy tag %s: %w", a.tag, err)
	}
	a.rec.Status = StatusMerged
	return nil
}

// legacyNow reads the destination's cosign legacy tag; nil when it has none.
func (x *executor) legacyNow(ctx context.Context, tag string) (*manifest, error) {
	entries, err := attachment.FetchLegacy(ctx, x.dst, []string{tag})
	if err != nil {
		return nil, fmt.Errorf("cosign legacy tag %s at the destination: %w", tag, err)
	}
	for _, de := range entries {
		if de.Tag != tag {
			continue
		}
		raw, err := attachment.LegacyManifest(ctx, x.dst, de)
		if isNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return parseManifest(raw, de.Descriptor.MediaType, "the destination's cosign legacy tag "+tag)
	}
	return nil, nil
}

// tag points the destination tag at the copied image, unless it does.
func (x *executor) tag(ctx context.Context, rt *root) error {
	if rt.tag == "" || rt.previous == rt.desc.Digest {
		return nil
	}
	n := rt.node
	raw, mt := n.raw, n.desc.MediaType
	if raw == nil {
		var err error
		if raw, mt, err = x.src.Manifest(ctx, "", rt.desc.Digest); err != nil {
			return err
		}
	}
	if err := x.dst.PutManifest(ctx, rt.tag, raw, mt); err != nil {
		return fmt.Errorf("tag %s: %w", rt.tag, err)
	}
	x.report(0, 0, 1)
	return nil
}
