package verify

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/imgsign/imgsign/internal/attachment"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/refname"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/storage"
)

// Tag rollback (bindTag). A tag-bound signature records when it bound the
// tag (statement.SignedAtAnnotation, inside the signed statement); the newest
// binding of a tag wins, as DCT's snapshot and timestamp roles made the
// newest tag → digest mapping win. Only a time the signer signed can order
// bindings: an RFC 3161 timestamp can be obtained afresh for an old
// signature at any time, so it never makes a binding newer.
//
// The registry has no index of "every signature ever made for tag T", so
// verifying repo:T (resolved to D) looks at the other digests the repository
// can show: those of its other tags (one tag listing, one HEAD per tag) and,
// on registries without the referrers API, every digest that has
// attachments (their sha256-<hex> tags, no HEAD). A digest whose signatures
// bind T newer than D's, by enough trusted keys to satisfy the same rule,
// means T was moved back: D fails. A newer signature whose digest the
// repository no longer shows at all (untagged, referrers API only) cannot be
// found; nor can one an attacker with delete rights removed. Closing those
// needs a signed tag ledger, which imgsign does not keep.

// Bounds on the rollback search, so a repository with a huge tag list costs
// a known number of requests; past them verify stops with exit 3 rather than
// answer from a partial search.
const (
	maxRollbackTags    = 500 // tags resolved with a HEAD each
	maxRollbackDigests = 200 // digests whose signatures are listed
)

// tagSignedAt reads, when present, when a verified statement bound its tag
// (the SignedAtAnnotation of its subject about digest). A value that is not
// a time, or a time in the future or after the signature's trusted RFC 3161
// time, is refused: it would win every "newest" comparison.
func tagSignedAt(c candidate, digest string, now time.Time) (time.Time, error) {
	v, ok := c.statement.TagSignedAt(digest)
	if !ok {
		return time.Time{}, nil // signed before imgsign recorded the time
	}
	s, _ := v.(string)
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, codedf(CodeSignedTimeInvalid, "%s %s is not an RFC 3339 time", statement.SignedAtAnnotation, statement.QuoteValue(v))
	}
	if at.After(now.Add(clockSkew)) {
		return time.Time{}, codedf(CodeSignedTimeInvalid, "%s %s is in the future (more than %s ahead of %s): refused", statement.SignedAtAnnotation, at.UTC().Format(time.RFC3339), clockSkew, now.UTC().Format(time.RFC3339))
	}
	if isTrustedTime(c.timeSource) && at.After(c.signedAt.Add(clockSkew)) {
		return time.Time{}, codedf(CodeSignedTimeInvalid, "%s %s is after the signature's %s %s: refused", statement.SignedAtAnnotation, at.UTC().Format(time.RFC3339), trustedTimeName(c.timeSource), c.signedAt.UTC().Format(time.RFC3339))
	}
	return at, nil
}

// bindingTime is when a satisfied tag requirement's binding was last vouched
// for: the threshold-th newest of the counted keys' signing times, so one
// key re-signing an old digest does not outvote a threshold. Zero when fewer
// than threshold of them carry a signed time.
func bindingTime(rr *RequirementResult, threshold int) time.Time {
	var ts []time.Time
	for _, a := range rr.Accepted {
		t, err := time.Parse(time.RFC3339Nano, a.TagSignedAt)
		if err == nil {
			ts = append(ts, t)
		}
	}
	threshold = max(threshold, 1)
	if len(ts) < threshold {
		return time.Time{}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].After(ts[j]) })
	return ts[threshold-1]
}

// newerBinding is a trusted binding of the tag to another digest, newer
// than the one verified.
type newerBinding struct {
	digest string
	at     time.Time
}

// checkRollback fails rr, satisfied for img.tag, when the repository shows
// another digest whose signatures bind img.tag more recently.
func (v *Verifier) checkRollback(ctx context.Context, repo storage.Reader, referrersAPI bool, rq requirement, rr *RequirementResult, img subjectInfo, now time.Time) error {
	mine := bindingTime(rr, rq.threshold)
	digests, err := rollbackCandidates(ctx, repo, referrersAPI, img, v.jobs)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var newest *newerBinding
	needed := map[string]bool{statement.Signature: true}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(v.jobs/2, 1)) // fetchAndCheck runs its own v.jobs per digest
	for _, d := range digests {
		g.Go(func() error {
			l, err := attachment.Discover(gctx, repo, v1.Descriptor{Digest: d}, attachment.Options{})
			if err != nil {
				return fmt.Errorf("checking tag %s for rollback: listing signatures of %s: %w", img.tag, d, err)
			}
			cands, err := v.fetchAndCheck(gctx, repo, v1.Descriptor{Digest: d}, l, needed, x509Signers(v.policy, []requirement{rq}))
			if err != nil {
				return fmt.Errorf("checking tag %s for rollback: %w", img.tag, err)
			}
			other := evaluate(rq, cands, v.policy, now, subjectInfo{digest: d.String(), repository: img.repository, canonical: img.canonical, tag: img.tag})
			if !other.Satisfied {
				return nil
			}
			at := bindingTime(other, rq.threshold)
			if !at.After(mine) {
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			if newest == nil || at.After(newest.at) {
				newest = &newerBinding{digest: d.String(), at: at}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if newest == nil {
		return nil
	}
	rr.Satisfied, rr.Code = false, CodeRolledBack
	rr.Rollback = &Rollback{Tag: img.tag, NewerDigest: newest.digest, NewerSignedAt: newest.at.UTC().Format(time.RFC3339Nano)}
	older := "this digest's signature for it is older"
	if mine.IsZero() {
		older = "this digest's signatures for it carry no signed time (made before imgsign recorded one), so they lose to any that do"
	} else {
		rr.Rollback.SignedAt = mine.UTC().Format(time.RFC3339Nano)
		older += " (" + mine.UTC().Format(time.RFC3339) + ")"
	}
	rr.Summary = fmt.Sprintf("tag %s was signed for a newer digest %s at %s; %s — rolled back? (sign %s:%s again if this digest is meant to be %s now)",
		img.tag, newest.digest, newest.at.UTC().Format(time.RFC3339), older, img.signAs(), img.tag, img.tag)
	return nil
}

// rollbackCandidates are the digests other than img's that the repository
// shows and that could carry a signature for img.tag.
func rollbackCandidates(ctx context.Context, repo storage.Reader, referrersAPI bool, img subjectInfo, jobs int) ([]v1.Hash, error) {
	tags, err := repo.TagsWithPrefix(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("checking tag %s for rollback: %w", img.tag, err)
	}
	seen := map[v1.Hash]bool{}
	var digests []v1.Hash
	add := func(d v1.Hash) {
		if d.String() != img.digest && !seen[d] {
			seen[d] = true
			digests = append(digests, d)
		}
	}
	var plain []string
	for _, t := range tags {
		if hex, ok := refname.AttachedTo(t); ok {
			add(v1.Hash{Algorithm: "sha256", Hex: hex})
			continue
		}
		// Without the referrers API every signed digest has a sha256-<hex>
		// tag, so other tags need no HEAD: what they name is listed above
		// or carries no signature. The requested tag itself names img's
		// digest, unless it was given beside a digest (repo:tag@sha256:…):
		// then it may name a newer one.
		// A listed name that is not a tag is never put into a request path.
		if referrersAPI && (t != img.tag || img.pinned) && refname.ValidTag(t) {
			plain = append(plain, t)
		}
	}
	if len(plain) > maxRollbackTags {
		return nil, coded(CodeLimitExceeded, errkind.Operationalf("checking tag %s for rollback: %s has %d other tags, more than the %d verify resolves (verify by digest, or prune old tags)", img.tag, repo.Name(), len(plain), maxRollbackTags))
	}
	resolved := make([]v1.Hash, len(plain))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	for i, t := range plain {
		g.Go(func() error {
			desc, err := repo.Resolve(gctx, repo.Name().Tag(t))
			var nf *storage.NotFoundError
			if errors.As(err, &nf) {
				return nil // deleted since the listing
			}
			if err != nil {
				return fmt.Errorf("checking tag %s for rollback: %w", img.tag, err)
			}
			resolved[i] = desc.Digest
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, d := range resolved {
		if d.Hex != "" {
			add(d)
		}
	}
	if len(digests) > maxRollbackDigests {
		return nil, coded(CodeLimitExceeded, errkind.Operationalf("checking tag %s for rollback: %s shows %d other digests, more than the %d verify checks (verify by digest, or prune old tags and signatures)", img.tag, repo.Name(), len(digests), maxRollbackDigests))
	}
	return digests, nil
}

func isRFC3161(timeSource string) bool { return strings.HasPrefix(timeSource, timeSourceRFC3161) }

// isTrustedTime reports whether a time source is one a third party vouched
// for: an RFC 3161 timestamp, a transparency log's integrated time, or a
// Notary Project signing authority's signing time.
func isTrustedTime(timeSource string) bool {
	return isRFC3161(timeSource) || strings.HasPrefix(timeSource, timeSourceTlog) || strings.HasPrefix(timeSource, timeSourceSigningAuthority)
}
