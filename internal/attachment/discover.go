package attachment

import (
	"context"
	"errors"
	"regexp"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/storage"
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
	// TagsListed is true when discovery listed the subject's tags (always
	// on registries without the referrers API, and with LegacyTags): then
	// CosignTags is complete, and a legacy tag not in it does not exist.
	TagsListed bool
	// CosignTags are the cosign legacy tags (sha256-<hex>.sig/.att/.sbom)
	// the tag listing showed. They are in Entries only with LegacyTags; a
	// caller that did not ask can fetch them later with FetchLegacy at no
	// extra listing cost.
	CosignTags []string
}

// Options tunes discovery.
type Options struct {
	// LegacyTags also looks for cosign's .sig/.att/.sbom tags, which costs a
	// tag listing on registries with the referrers API.
	LegacyTags bool
}

// imgsignRefTag is the suffix of a per-referrer tag as registry.ReferrerTag
// writes it: "ref-" and the referrer digest's first 32 hex digits.
var imgsignRefTag = regexp.MustCompile(`^ref-[0-9a-f]{32}$`)

// Discover lists what is attached to subject. With the referrers API that is
// one request. Without it, the shared referrers tag index and a tag listing
// run in parallel, and the union is returned, so a referrer whose index update
// was lost to a concurrent writer is still found through its own tag.
//
// More than registry.MaxReferrers entries in all is a *registry.LimitError
// (exit 3), found before any manifest is fetched for them: callers never
// judge an image on part of what is attached to it.
func Discover(ctx context.Context, repo storage.Reader, subject v1.Descriptor, opts Options) (*Listing, error) {
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
	l.TagsListed = true

	prefix := registry.FallbackTag(subject.Digest) + "."
	var refTags, legacy []string
	for _, t := range tags {
		switch suffix := strings.TrimPrefix(t, prefix); {
		case strings.HasPrefix(suffix, "ref-"):
			refTags = append(refTags, t)
		case suffix == "sig" || suffix == "att" || suffix == "sbom":
			l.CosignTags = append(l.CosignTags, t)
			if opts.LegacyTags {
				legacy = append(legacy, t)
			}
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
	if n := len(l.Entries) + len(missing) + len(legacy); n > registry.MaxReferrers {
		return nil, tooMany(subject.Digest)
	}
	fetched := make([]*Entry, len(missing)+len(legacy))
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, t := range append(append([]string{}, missing...), legacy...) {
		g.Go(func() error {
			raw, mt, err := repo.Manifest(gctx, t, v1.Hash{})
			var nf *storage.NotFoundError
			if errors.As(err, &nf) {
				return nil // deleted between listing and fetching
			}
			if err != nil {
				return err
			}
			d := v1.Descriptor{MediaType: mt, Digest: registry.Digest(raw), Size: int64(len(raw))}
			e := &Entry{Descriptor: d, manifest: raw}
			if i < len(missing) && imgsignRefTag.MatchString(strings.TrimPrefix(t, prefix)) && t != registry.ReferrerTag(subject.Digest, d.Digest) {
				// A tag as imgsign writes it names the referrer it was
				// written for: pointing it elsewhere (a push, no delete
				// right needed) would hide that referrer — a newer tag
				// binding, a failing scan. Other .ref- tags are listed as
				// they are.
				return errkind.Untrustedf("tag %s names referrer %s…, but points at manifest %s: overwritten to hide it? (re-sign or re-attest, or delete the tag)", t, strings.TrimPrefix(t, prefix+"ref-"), d.Digest)
			}
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

func tooMany(subject v1.Hash) error {
	return registry.OverLimit("image %s has more than %d referrers (limit)", subject, registry.MaxReferrers)
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
func FetchBundle(ctx context.Context, repo storage.Reader, subject v1.Hash, e *Entry) ([]byte, error) {
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

// LegacyTag is the tag cosign's legacy layout uses for kind ("sig", "att",
// "sbom") of subject: sha256-<hex>.<kind>.
func LegacyTag(subject v1.Hash, kind string) string {
	return registry.FallbackTag(subject) + "." + kind
}

// FetchLegacy fetches cosign legacy tag manifests by tag, in parallel, as
// entries (Tag set, manifest kept for LegacyManifest). A tag that does not
// exist is skipped, so callers may ask for tags they only guess exist: one
// request each.
func FetchLegacy(ctx context.Context, repo storage.Reader, tags []string) ([]*Entry, error) {
	fetched := make([]*Entry, len(tags))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, t := range tags {
		g.Go(func() error {
			raw, mt, err := repo.Manifest(gctx, t, v1.Hash{})
			var nf *storage.NotFoundError
			if errors.As(err, &nf) {
				return nil
			}
			if err != nil {
				return err
			}
			d := v1.Descriptor{MediaType: mt, Digest: registry.Digest(raw), Size: int64(len(raw))}
			fetched[i] = &Entry{Descriptor: d, Sources: []Source{SourceCosignLegacy}, Tag: t, manifest: raw}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []*Entry
	for _, e := range fetched {
		if e != nil {
			out = append(out, e)
		}
	}
	return out, nil
}

// LegacyManifest returns the manifest of a legacy tag entry: the bytes
// discovery fetched (whose digest is the entry's), or a fetch by digest.
func LegacyManifest(ctx context.Context, repo storage.Reader, e *Entry) ([]byte, error) {
	if e.manifest != nil {
		return e.manifest, nil
	}
	raw, _, err := repo.Manifest(ctx, "", e.Descriptor.Digest)
	if err != nil {
		return nil, err
	}
	e.manifest = raw
	return raw, nil
}
