package transfer

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/imgsign/imgsign/internal/attachment"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/refname"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/storage"
)

// planner builds the graph of what a copy moves — manifests, blobs,
// attachments — and asks the destination what it holds already.
type planner struct {
	src  storage.Reader
	dst  storage.Writer
	jobs int
	only kindSet
	res  *Result

	// sem bounds the planner's requests in flight.
	sem chan struct{}

	mu        sync.Mutex
	roots     []*root
	manifests map[v1.Hash]*manifestNode // the images' manifests (and index referrers' children), by digest
	atts      []*attachmentNode
	attSeen   map[string]bool // by digest, or by tag for a legacy tag
	blobs     map[v1.Hash]*blobNode
	planned   int // manifests planned, against the limit
	maxPlan   int
	held      int64 // manifest bytes the plan keeps, against maxHeld
	maxHeld   int64
	api       *bool // how the destination stores referrers, once known
}

// manifestNode is one manifest in the graph.
type manifestNode struct {
	desc    v1.Descriptor
	raw     []byte // the source's bytes; nil for an image manifest the destination has
	m       *manifest
	present bool // at the destination before the copy
	// children are an index's manifests, each written before it; height is
	// 0 for an image manifest and 1 + the highest child's for an index.
	children []*manifestNode
	height   int
	written  bool

	ready chan struct{}
	err   error
}

// attachmentNode is a referrer or cosign legacy tag to copy.
type attachmentNode struct {
	rec     *Attachment
	subject v1.Descriptor
	node    *manifestNode // its manifest (raw always set)
	tag     string        // cosign legacy tag; "" for a referrer
	present bool
	// merge is the destination's manifest under the same legacy tag when it
	// lacks some of the source's layers: the copy adds them to it.
	merge *manifest
	depth int
}

type blobNode struct {
	desc    v1.Descriptor
	present bool
	status  Status // copied or mounted, once done
}

// tagRoots lists the source repository's tags, other than attachment tags,
// and resolves each once.
func tagRoots(ctx context.Context, src storage.Reader, jobs int) ([]*root, error) {
	tags, err := src.Tags(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, t := range tags {
		// A registry's tag list is the source's word: anything but a tag
		// ("../../other/manifests/latest") would go into the destination's
		// URL path as it is, which a registry or proxy that resolves dot
		// segments writes into another repository. No tag is copied then.
		if !refname.ValidTag(t) {
			return nil, errkind.Untrustedf("the source lists %q as a tag of %s, but it is not one: refusing to copy any (its name would be written into the destination's paths)", t, refname.DisplayReference(src.Name().String()))
		}
		// The tags the referrers tag schema, imgsign's per-referrer tags
		// and cosign's legacy layout write come with what they are
		// attached to, never as images of their own.
		if _, attached := refname.AttachedTo(t); !attached {
			names = append(names, t)
		}
	}
	sort.Strings(names)
	roots := make([]*root, len(names))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	for i, t := range names {
		g.Go(func() error {
			ref := src.Name().Tag(t)
			d, err := src.Resolve(gctx, ref)
			if isNotFound(err) {
				return nil // deleted since the listing
			}
			if err != nil {
				return err
			}
			roots[i] = &root{source: refname.DisplayReference(ref.String()), desc: d, tag: t}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []*root
	for _, r := range roots {
		if r != nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// pickPlatform narrows rt to the manifest of platform: a child of an
// index, or a single image whose config says it is for that platform.
func (p *planner) pickPlatform(ctx context.Context, rt *root, platform *v1.Platform) error {
	if !isIndexType(rt.desc.MediaType) {
		raw, mt, err := p.src.Manifest(ctx, "", rt.desc.Digest)
		if err != nil {
			return err
		}
		m, err := parseManifest(raw, mt, "image "+rt.source)
		if err != nil {
			return err
		}
		if m.isIndex() {
			// An index type, whatever the manifest's own mediaType field
			// says: isIndex reads its shape, and a field naming no index
			// type ("application/x-…") fed back here recursed until the
			// stack overflowed. Once: the branch below never comes back.
			rt.desc.MediaType = types.OCIImageIndex
			return p.pickPlatform(ctx, rt, platform)
		}
		if m.Config == nil {
			return errkind.Inputf("--platform %s: %s has no image config to tell its platform", platform, rt.source)
		}
		cfgRaw, err := p.src.Blob(ctx, *m.Config, registry.MaxManifestBytes)
		if err != nil {
			return err
		}
		var cfg v1.ConfigFile
		if err := json.Unmarshal(cfgRaw, &cfg); err != nil {
			return errkind.Untrustedf("image config of %s: %w", rt.source, err)
		}
		have := v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
		if have.OS == "" || have.Architecture == "" {
			return errkind.Inputf("--platform %s: %s is a single image whose config names no platform", platform, rt.source)
		}
		if !have.Satisfies(*platform) {
			return errkind.Inputf("--platform %s: %s is a single image for %s", platform, rt.source, have)
		}
		return nil
	}
	children, err := storage.RunnableChildren(ctx, p.src, rt.desc)
	if err != nil {
		return err
	}
	var avail []string
	for _, c := range children {
		if c.Platform != nil && c.Platform.Satisfies(*platform) {
			index := rt.desc.Digest
			rt.desc = c.Descriptor
			p.note("--platform %s: copying %s's %s manifest %s only; signatures and attestations of the index %s sign the index, which is not copied, and are left behind", platform, rt.source, c.Platform, c.Descriptor.Digest, index)
			if bk := p.buildKitAttestationFor(ctx, index, c.Descriptor.Digest); bk != "" {
				p.note("--platform %s: BuildKit's attestation manifest %s for it lives inside the index and is left behind", platform, bk)
			}
			return nil
		}
		avail = append(avail, c.Label())
	}
	return errkind.Inputf("--platform %s: %s has no manifest for it (it has: %s)", platform, rt.source, strings.Join(avail, ", "))
}

// buildKitAttestationFor finds the attestation manifest BuildKit stored in
// index for child, if any.
func (p *planner) buildKitAttestationFor(ctx context.Context, index, child v1.Hash) string {
	raw, mt, err := p.src.Manifest(ctx, "", index)
	if err != nil {
		return ""
	}
	m, err := parseManifest(raw, mt, "index")
	if err != nil {
		return ""
	}
	for _, d := range m.Manifests {
		if storage.IsAttestationManifest(d) && d.Annotations["vnd.docker.reference.digest"] == child.String() {
			return d.Digest.String()
		}
	}
	return ""
}

func (p *planner) note(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.res.Notes = append(p.res.Notes, fmt.Sprintf(format, args...))
}

func (p *planner) setAPI(api bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.api == nil {
		p.api = &api
	}
}

// acquire takes one of the planner's request slots until release.
func (p *planner) acquire(ctx context.Context) error {
	select {
	case p.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *planner) release() { <-p.sem }

// plan builds the graph for roots: their manifests, what is attached to
// each level by level, the blobs all of them name, and where the
// destination tags point now.
func (p *planner) plan(ctx context.Context, roots []*root) error {
	p.sem = make(chan struct{}, p.jobs)
	p.manifests = map[v1.Hash]*manifestNode{}
	p.attSeen = map[string]bool{}
	p.blobs = map[v1.Hash]*blobNode{}
	p.roots = roots
	p.maxPlan = MaxManifestsPerImage * len(roots)
	// Per image, and for the whole copy: --all-tags plans every tag before
	// writing any, and a bound that grew with the tag count (100,000 tags ×
	// 256 MiB) bounded nothing.
	p.maxHeld = maxHeldPerImage * int64(min(len(roots), heldImagesPerCopy))

	g, gctx := errgroup.WithContext(ctx)
	for _, rt := range roots {
		g.Go(func() error {
			n, err := p.expand(gctx, rt.desc, 0)
			if err != nil {
				return err
			}
			rt.node = n
			if rt.tag == "" {
				return nil
			}
			if err := p.acquire(gctx); err != nil {
				return err
			}
			defer p.release()
			d, err := p.dst.Resolve(gctx, p.dst.Name().Tag(rt.tag))
			switch {
			case isNotFound(err):
			case err != nil:
				return err
			default:
				rt.previous = d.Digest
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}

	// Level 1 is what is attached to the images' manifests (every platform
	// manifest of an index, BuildKit's attestation manifests included).
	var subjects []subject
	for _, n := range p.imageNodes() {
		subjects = append(subjects, subject{desc: n.desc, present: n.present})
	}
	for depth := 1; len(subjects) > 0; depth++ {
		next, err := p.attachLevel(ctx, subjects, depth)
		if err != nil {
			return err
		}
		subjects = next
	}
	return p.planBlobs(ctx)
}

// imageNodes are the manifests of the images' graphs, in digest order.
func (p *planner) imageNodes() []*manifestNode {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*manifestNode, 0, len(p.manifests))
	for _, n := range p.manifests {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].desc.Digest.String() < out[j].desc.Digest.String() })
	return out
}

func (p *planner) count(what string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.planned++
	if p.planned > p.maxPlan {
		return registry.OverLimit("copying %s means more than %d manifests per image (limit)", what, MaxManifestsPerImage)
	}
	return nil
}

// maxHeldPerImage is MaxManifestBytesPerImage (a variable for tests).
var maxHeldPerImage int64 = MaxManifestBytesPerImage

// heldImagesPerCopy is how many images' worth of manifest bytes
// (MaxManifestBytesPerImage each) one copy's plan may hold at most,
// however many tags --all-tags brings: MaxManifestBytesPerCopy.
const heldImagesPerCopy = int(MaxManifestBytesPerCopy / MaxManifestBytesPerImage)

// hold counts a manifest the plan keeps until it is written against the
// bound on their bytes: each is within the size a manifest may have, but
// thousands of them are not within memory.
func (p *planner) hold(raw []byte, what string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.held += int64(len(raw))
	if p.held > p.maxHeld {
		if len(p.roots) > heldImagesPerCopy {
			return registry.OverLimit("copying %s means holding more than %d MiB of manifests for the %d images of one copy (limit): copy fewer tags at once (by tag, not --all-tags)", what, p.maxHeld>>20, len(p.roots))
		}
		return registry.OverLimit("copying %s means holding more than %d MiB of manifests per image (limit)", what, maxHeldPerImage>>20)
	}
	return nil
}

// expand adds the manifest d and, for an index, its manifests to the
// graph, once each however many indexes list them. The destination is
// asked for each; one it has needs no blobs, but an index's children are
// still visited for what is attached to them.
func (p *planner) expand(ctx context.Context, d v1.Descriptor, nesting int) (*manifestNode, error) {
	p.mu.Lock()
	if n, ok := p.manifests[d.Digest]; ok {
		p.mu.Unlock()
		select {
		case <-n.ready:
			return n, n.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	n := &manifestNode{desc: d, ready: make(chan struct{})}
	p.manifests[d.Digest] = n
	p.mu.Unlock()
	n.err = p.fill(ctx, n, nesting)
	close(n.ready)
	return n, n.err
}

func (p *planner) fill(ctx context.Context, n *manifestNode, nesting int) error {
	d := n.desc
	if err := p.count(d.Digest.String()); err != nil {
		return err
	}
	if err := p.acquire(ctx); err != nil {
		return err
	}
	present, err := p.dst.HasManifest(ctx, d.Digest)
	if err == nil && !(present && isManifestType(d.MediaType)) {
		n.raw, n.desc.MediaType, err = p.src.Manifest(ctx, "", d.Digest)
	}
	p.release()
	if isNotFound(err) {
		return errkind.Inputf("the source lists manifest %s but does not have it (a partial mirror? copy one platform with --platform)", d.Digest)
	}
	if err != nil {
		return err
	}
	n.present = present
	if n.raw == nil {
		n.desc.MediaType = d.MediaType
		return nil
	}
	if err := p.hold(n.raw, d.Digest.String()); err != nil {
		return err
	}
	m, err := parseManifest(n.raw, n.desc.MediaType, "manifest "+d.Digest.String())
	if err != nil {
		return err
	}
	n.m = m
	n.desc.MediaType = m.mediaType()
	n.desc.Size = int64(len(n.raw))
	if !m.isIndex() {
		return nil
	}
	if nesting >= storage.MaxIndexNesting {
		return registry.OverLimit("image index %s nests indexes more than %d levels deep (limit)", d.Digest, storage.MaxIndexNesting)
	}
	n.children = make([]*manifestNode, len(m.Manifests))
	g, gctx := errgroup.WithContext(ctx)
	for i, c := range m.Manifests {
		g.Go(func() error {
			cn, err := p.expand(gctx, v1.Descriptor{MediaType: c.MediaType, Digest: c.Digest, Size: c.Size}, nesting+1)
			n.children[i] = cn
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, c := range n.children {
		n.height = max(n.height, c.height+1)
	}
	return nil
}

// subject is a manifest whose attachments are looked for.
type subject struct {
	desc v1.Descriptor
	// present: the destination held it before the copy, so it may hold
	// attachments of it too (otherwise it cannot, and is not asked).
	present bool
}

// attachLevel finds what is attached to subjects (depth 1: to the images)
// at the source, and, for subjects the destination has, what it has of
// them. It returns the subjects of the next level: the attachments to copy.
func (p *planner) attachLevel(ctx context.Context, subjects []subject, depth int) ([]subject, error) {
	var mu sync.Mutex
	var next []subject
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(p.jobs)
	for _, s := range subjects {
		g.Go(func() error {
			srcL, dstL, err := p.discover(gctx, s)
			if err != nil {
				return err
			}
			if len(srcL.Entries) > 0 && depth > MaxReferrerDepth {
				return registry.OverLimit("referrers of %s nest more than %d levels deep below the image (limit)", s.desc.Digest, MaxReferrerDepth)
			}
			found := make([]*attachmentNode, len(srcL.Entries))
			eg, ectx := errgroup.WithContext(gctx)
			eg.SetLimit(p.jobs)
			for i, e := range srcL.Entries {
				eg.Go(func() error {
					a, err := p.attachment(ectx, s, e, dstL, depth)
					found[i] = a
					return err
				})
			}
			if err := eg.Wait(); err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for _, a := range found {
				if a != nil && a.rec.Status != StatusSkipped {
					next = append(next, subject{desc: a.node.desc, present: a.present})
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return next, nil
}

// discover lists what is attached to s at the source and, when the
// destination has s, there too: both ends with cosign's legacy tags.
func (p *planner) discover(ctx context.Context, s subject) (srcL, dstL *attachment.Listing, err error) {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		srcL, err = attachment.Discover(gctx, p.src, s.desc, attachment.Options{LegacyTags: true})
		return err
	})
	if s.present {
		g.Go(func() error {
			var err error
			if dstL, err = attachment.Discover(gctx, p.dst, s.desc, attachment.Options{LegacyTags: true}); err == nil {
				p.setAPI(dstL.ReferrersAPI)
			}
			return err
		})
	}
	return srcL, dstL, g.Wait()
}

// attachment plans one entry the source lists for s: what kind it is,
// whether --only keeps it, whether the destination has it (a referrer the
// destination lists for s, a legacy tag holding every layer of the
// source's), and its manifest and blobs when it is to be copied.
func (p *planner) attachment(ctx context.Context, s subject, e *attachment.Entry, dstL *attachment.Listing, depth int) (*attachmentNode, error) {
	// Once per subject: a referrer listed under another subject too (a
	// tag schema index can list anything) must not shadow the real one.
	key := s.desc.Digest.String() + " " + e.Descriptor.Digest.String()
	if e.Tag != "" {
		key = "tag:" + e.Tag
	}
	p.mu.Lock()
	dup := p.attSeen[key]
	p.attSeen[key] = true
	p.mu.Unlock()
	if dup {
		return nil, nil
	}
	if err := p.count(key); err != nil {
		return nil, err
	}
	rec := &Attachment{Digest: e.Descriptor.Digest.String(), Subject: s.desc.Digest.String(), Tag: e.Tag, Depth: depth}
	a := &attachmentNode{rec: rec, subject: s.desc, tag: e.Tag, depth: depth}
	p.mu.Lock()
	p.atts = append(p.atts, a)
	p.mu.Unlock()

	// A referrer the destination lists already needs no fetch, unless
	// --only must tell its kind: the listing's annotations name it well
	// enough for the report.
	if e.Tag == "" && listedAt(dstL, e) && (p.only == nil || depth > 1) {
		rec.ArtifactType = e.Descriptor.ArtifactType
		rec.Kind, rec.PredicateType = referrerKind(&manifest{ArtifactType: e.Descriptor.ArtifactType, Annotations: e.Descriptor.Annotations}, func() []byte { return nil })
		a.node = &manifestNode{desc: e.Descriptor}
		a.present, rec.Status = true, StatusExists
		return a, nil
	}
	// Fetched by discovery for a tag; by digest, checked, otherwise.
	raw, err := attachment.LegacyManifest(ctx, p.src, e)
	if isNotFound(err) {
		rec.Status, rec.Reason = StatusSkipped, "listed by the source but gone when fetched"
		return a, nil
	}
	if err != nil {
		return nil, err
	}
	if err := p.hold(raw, key); err != nil {
		return nil, err
	}
	what := "referrer " + rec.Digest + " of " + rec.Subject
	if e.Tag != "" {
		what = "cosign legacy tag " + e.Tag
	}
	m, err := parseManifest(raw, e.Descriptor.MediaType, what)
	if err != nil {
		return nil, err
	}
	a.node = &manifestNode{desc: v1.Descriptor{MediaType: m.mediaType(), Digest: e.Descriptor.Digest, Size: int64(len(raw))}, raw: raw, m: m}
	if e.Tag != "" {
		rec.Kind = legacyKind(e.Tag)
		if len(m.Layers) > 0 {
			rec.PredicateType = m.Layers[0].Annotations["predicateType"]
		}
	} else {
		if m.Subject == nil || m.Subject.Digest != s.desc.Digest {
			rec.Status, rec.Reason = StatusSkipped, "listed as a referrer of "+rec.Subject+" but its subject field names another manifest"
			return a, nil
		}
		rec.ArtifactType = m.artifactType()
		rec.Kind, rec.PredicateType = referrerKind(m, func() []byte { return p.bundle(ctx, m) })
	}
	if depth == 1 && !p.only.keeps(rec.Kind) {
		rec.Status, rec.Reason = StatusSkipped, "not among --only "+p.only.String()
		return a, nil
	}

	if e.Tag != "" {
		if err := p.legacyAtDestination(ctx, a, dstL); err != nil {
			return nil, err
		}
	} else {
		a.present = listedAt(dstL, e)
	}
	if a.present {
		rec.Status = StatusExists
		return a, nil
	}
	if a.merge != nil {
		rec.Status = StatusWouldMerge
	} else {
		rec.Status = StatusWouldCopy
	}
	if m.isIndex() {
		// An index referrer: its manifests are written before it, like an image's.
		a.node.children = make([]*manifestNode, len(m.Manifests))
		for i, c := range m.Manifests {
			cn, err := p.expand(ctx, v1.Descriptor{MediaType: c.MediaType, Digest: c.Digest, Size: c.Size}, 1)
			if err != nil {
				return nil, err
			}
			a.node.children[i] = cn
		}
	}
	return a, nil
}

// listedAt reports whether the destination's listing l has the referrer
// e: through its referrers API, or on the tag schema in the shared index —
// not only under imgsign's per-referrer tag, which other tools do not read
// (a copy cut short between the two writes is finished).
func listedAt(l *attachment.Listing, e *attachment.Entry) bool {
	if l == nil {
		return false
	}
	for _, de := range l.Entries {
		if de.Descriptor.Digest == e.Descriptor.Digest && de.Tag == "" &&
			(l.ReferrersAPI || hasSource(de.Sources, attachment.SourceReferrersTag)) {
			return true
		}
	}
	return false
}

// legacyAtDestination compares a cosign legacy tag with the destination's
// tag of the same name: present when it holds every layer of the source's,
// merged into otherwise, so that no signature either side has is lost.
func (p *planner) legacyAtDestination(ctx context.Context, a *attachmentNode, dstL *attachment.Listing) error {
	var entries []*attachment.Entry
	if dstL != nil {
		entries = dstL.Entries
	} else {
		// The destination lacks the image, but a legacy tag is only a
		// name: it may hold signatures copied on their own. One GET.
		var err error
		if entries, err = attachment.FetchLegacy(ctx, p.dst, []string{a.tag}); err != nil {
			return err
		}
	}
	for _, de := range entries {
		if de.Tag != a.tag {
			continue
		}
		raw, err := attachment.LegacyManifest(ctx, p.dst, de)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		dm, err := parseManifest(raw, de.Descriptor.MediaType, "the destination's cosign legacy tag "+a.tag)
		if err != nil {
			return err
		}
		if containsLayers(dm, a.node.m) {
			a.present = true
			return nil
		}
		a.merge = dm
		return nil
	}
	return nil
}

// bundle fetches the one Sigstore bundle layer of a referrer, for telling
// its kind; nil when unreadable.
func (p *planner) bundle(ctx context.Context, m *manifest) []byte {
	if len(m.Layers) != 1 {
		return nil
	}
	if err := p.acquire(ctx); err != nil {
		return nil
	}
	defer p.release()
	b, err := p.src.Blob(ctx, m.Layers[0], registry.MaxBundleBytes)
	if err != nil {
		return nil
	}
	return b
}

func hasSource(ss []attachment.Source, s attachment.Source) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// planBlobs collects the blobs of every manifest to be written, each once,
// and asks the destination which it has.
func (p *planner) planBlobs(ctx context.Context) error {
	var nodes []*manifestNode
	for _, n := range p.imageNodes() {
		if !n.present {
			nodes = append(nodes, n)
		}
	}
	for _, a := range p.atts {
		if a.rec.Status == StatusWouldCopy || a.rec.Status == StatusWouldMerge {
			nodes = append(nodes, a.node)
		}
	}
	var order []*blobNode
	for _, n := range nodes {
		if n.m == nil {
			continue
		}
		for _, d := range n.m.blobs() {
			if _, ok := p.blobs[d.Digest]; !ok {
				b := &blobNode{desc: v1.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}}
				p.blobs[d.Digest] = b
				order = append(order, b)
			}
		}
		for _, l := range n.m.Layers {
			if foreign(l) {
				p.note("layer %s of %s is non-distributable (%s): left where its URLs point, not copied", l.Digest, n.desc.Digest, l.MediaType)
			}
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(p.jobs)
	for _, b := range order {
		g.Go(func() error {
			ok, err := p.dst.HasBlob(gctx, b.desc.Digest)
			b.present = ok
			return err
		})
	}
	return g.Wait()
}

// probeReferrersAPI asks the destination, for a dry run's report, how it
// would store referrers, when the plan has not learnt it and there are
// referrers to copy.
func (p *planner) probeReferrersAPI(ctx context.Context) {
	if p.api != nil || len(p.roots) == 0 {
		return
	}
	for _, a := range p.atts {
		if a.tag == "" && a.rec.Status == StatusWouldCopy {
			if _, supported, err := p.dst.Referrers(ctx, p.roots[0].desc.Digest); err == nil {
				p.setAPI(supported)
			}
			return
		}
	}
}
