package attachment

import (
	"context"
	"errors"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/imgsign/imgsign/internal/registry"
)

// Source says where discovery found an entry.
type Source string

const (
	SourceReferrersAPI Source = "referrers-api"
	SourceReferrersTag Source = "referrers-tag" // the shared sha256-<hex> index
	SourceReferrerTag  Source = "referrer-tag"  // imgsign's per-referrer tag
	SourceCosignLegacy Source = "cosign-legacy" // cosign's sha256-<hex>.sig/.att/.sbom tags
)

// Entry is one thing attached to an image.
type Entry struct {
	Descriptor v1.Descriptor
	Sources    []Source
	// Tag is set for entries only reachable by tag (cosign legacy tags).
	Tag string
	// manifest is the referrer manifest when discovery already fetched it.
	manifest []byte
}

// PredicateType is the predicate type the referrer claims in its annotations.
// It only decides what to fetch; the verified statement has the last word.
func (e *Entry) PredicateType() string { return e.Descriptor.Annotations[AnnotationPredicateType] }

// Listing is everything discovery found for one subject.
type Listing struct {
	Subject      v1.Descriptor
	ReferrersAPI bool
	Entries      []*Entry
}

// Options tunes discovery.
type Options struct {
	// LegacyTags also looks for cosign's .sig/.att/.sbom tags, which costs a
	// tag listing on registries with the referrers API.
	LegacyTags bool
}

// Discover lists what is attached to subject. With the referrers API that is
// one request. Without it, the shared referrers tag index and a tag listing
// run in parallel, and the union is returned, so a referrer whose index update
// was lost to a concurrent writer is still found through its own tag.
func Discover(ctx context.Context, repo *registry.Repo, subject v1.Descriptor, opts Options) (*Listing, error) {
	l := &Listing{Subject: subject}
	descs, supported, err := repo.Referrers(ctx, subject.Digest)
	if err != nil {
		return nil, err
	}
	l.ReferrersAPI = supported
	byDigest := map[v1.Hash]*Entry{}
	add := func(d v1.Descriptor, src Source) *Entry {
		if e, ok := byDigest[d.Digest]; ok {
			if !hasSource(e.Sources, src) {
				e.Sources = append(e.Sources, src)
			}
			return e
		}
		e := &Entry{Descriptor: d, Sources: []Source{src}}
		byDigest[d.Digest] = e
		l.Entries = append(l.Entries, e)
		return e
	}
	if supported {
		for _, d := range descs {
			add(d, SourceReferrersAPI)
		}
		if !opts.LegacyTags {
			sortEntries(l.Entries)
			return l, nil
		}
	}

	var index []v1.Descriptor
	var tags []string
	g, gctx := errgroup.WithContext(ctx)
	if !supported {
		g.Go(func() error {
			var err error
			index, err = repo.FallbackIndex(gctx, subject.Digest)
			return err
		})
	}
	g.Go(func() error {
		var err error
		tags, err = repo.TagsWithPrefix(gctx, registry.FallbackTag(subject.Digest)+".")
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, d := range index {
		add(d, SourceReferrersTag)
	}

	prefix := registry.FallbackTag(subject.Digest) + "."
	var refTags, legacy []string
	for _, t := range tags {
		switch suffix := strings.TrimPrefix(t, prefix); {
		case strings.HasPrefix(suffix, "ref-"):
			refTags = append(refTags, t)
		case opts.LegacyTags && (suffix == "sig" || suffix == "att" || suffix == "sbom"):
			legacy = append(legacy, t)
		}
	}
	// A per-referrer tag already covered by an index entry needs no request.
	var missing []string
	for _, t := range refTags {
		found := false
		for d := range byDigest {
			// Only the exact tag imgsign writes for d covers it: a prefix test
			// would let a tag such as ".ref-" or ".ref-a" match anything.
			if t == registry.ReferrerTag(subject.Digest, d) {
				byDigest[d].Sources = appendSource(byDigest[d].Sources, SourceReferrerTag)
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, t)
		}
	}
	fetched := make([]*Entry, len(missing)+len(legacy))
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, t := range append(append([]string{}, missing...), legacy...) {
		g.Go(func() error {
			raw, mt, err := repo.Manifest(gctx, t, v1.Hash{})
			var nf *registry.NotFoundError
			if errors.As(err, &nf) {
				return nil // deleted between listing and fetching
			}
			if err != nil {
				return err
			}
			d := v1.Descriptor{MediaType: mt, Digest: registry.Digest(raw), Size: int64(len(raw))}
			e := &Entry{Descriptor: d, manifest: raw}
			if i < len(missing) {
				e.Sources = []Source{SourceReferrerTag}
				if m, _, err := ParseBundleReferrer(raw, subject.Digest); err == nil {
					e.Descriptor.ArtifactType = m.ArtifactType
					e.Descriptor.Annotations = m.Annotations
				}
			} else {
				e.Sources = []Source{SourceCosignLegacy}
				e.Tag = t
			}
			fetched[i] = e
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, e := range fetched {
		if e == nil {
			continue
		}
		if old, ok := byDigest[e.Descriptor.Digest]; ok {
			old.Sources = appendSource(old.Sources, e.Sources[0])
			continue
		}
		byDigest[e.Descriptor.Digest] = e
		l.Entries = append(l.Entries, e)
	}
	sortEntries(l.Entries)
	return l, nil
}

// sortEntries orders entries oldest first by their creation annotation, the
// same whichever way they were discovered (registries list in any order).
func sortEntries(es []*Entry) {
	sort.SliceStable(es, func(i, j int) bool {
		return es[i].Descriptor.Annotations[AnnotationCreated] < es[j].Descriptor.Annotations[AnnotationCreated]
	})
}

func hasSource(ss []Source, s Source) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func appendSource(ss []Source, s Source) []Source {
	if hasSource(ss, s) {
		return ss
	}
	return append(ss, s)
}

// FetchBundle returns the bundle bytes an entry carries, checked against
// their digests. When the listing's annotations name the bundle digest the
// manifest is skipped; the bundle itself proves what it signs.
func FetchBundle(ctx context.Context, repo *registry.Repo, subject v1.Hash, e *Entry) ([]byte, error) {
	if e.manifest == nil {
		if dg, ok := e.Descriptor.Annotations[AnnotationBundleDigest]; ok {
			if h, err := v1.NewHash(dg); err == nil {
				return repo.Blob(ctx, v1.Descriptor{Digest: h}, registry.MaxBundleBytes)
			}
		}
		raw, _, err := repo.Manifest(ctx, "", e.Descriptor.Digest)
		if err != nil {
			return nil, err
		}
		e.manifest = raw
	}
	_, layer, err := ParseBundleReferrer(e.manifest, subject)
	if err != nil {
		return nil, err
	}
	return repo.Blob(ctx, layer, registry.MaxBundleBytes)
}
