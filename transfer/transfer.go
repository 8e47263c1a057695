// Package transfer copies images between stores with everything attached
// to them: an index with every platform manifest, each blob once, and every
// referrer recursively (signatures, attestations, SBOMs, cosign legacy
// tags), digests unchanged so every signature still verifies at the
// destination. A copy is planned (what the source has, what the
// destination already holds), then executed in dependency order so that an
// interrupted copy never shows a tag without its signatures, and a re-run
// copies only what is missing.
package transfer

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/refname"
	"github.com/imgsign/imgsign/storage"
)

// Limits on what a source may make a copy plan, beyond the storage and
// discovery bounds (manifest size, referrers per image, index width and
// nesting). Past them the copy stops with exit 3: a partial copy could
// leave behind the signature that matters.
const (
	// MaxReferrerDepth bounds referrers of referrers followed: a signature
	// of an SBOM attached to an image is depth 2.
	MaxReferrerDepth = 4
	// MaxManifestsPerImage bounds the manifests one image brings (its
	// platforms, referrers and theirs, legacy tags).
	MaxManifestsPerImage = 10000
	// MaxManifestBytesPerImage bounds the manifest bytes one image's plan
	// holds in memory until they are written: without it a source serving
	// MaxManifestsPerImage manifests of the largest size could make the
	// copy hold 40 GB.
	MaxManifestBytesPerImage = 256 << 20
	// MaxManifestBytesPerCopy bounds the manifest bytes one copy's plan
	// holds, whatever the number of images: copy --all-tags plans every
	// tag before writing any, and a repository may list 100,000 tags.
	MaxManifestBytesPerCopy = 1 << 30
	// DefaultJobs is how many transfers run at once.
	DefaultJobs = 4
	// MaxJobs bounds --jobs.
	MaxJobs = 32
)

// Request is one copy.
type Request struct {
	// Source is an image reference (tag or digest); with AllTags, a repository.
	Source string
	// Destination is a repository, or repository:tag (or @digest, which
	// must be the source's). Given as a repository, the source's tag is used;
	// a source named by digest is copied without a tag.
	Destination string
	// AllTags copies every tag of the Source repository to the
	// Destination repository (tags of the referrers tag schema and cosign's
	// legacy tags come as attachments of what they are attached to).
	AllTags bool
	// Platform (os/arch[/variant]) copies only that platform's manifest of
	// an index, and what is attached to it.
	Platform string
	// Only copies only attachments of these kinds (nil: every kind).
	Only []Kind
	// DryRun plans and reports, writing nothing.
	DryRun bool
	// Jobs is how many transfers run at once (DefaultJobs when 0).
	Jobs int
	// Progress, when set, hears how far the transfer is.
	Progress func(Progress)
}

// Progress is how far a copy is: blobs and their bytes, and manifests
// (images, referrers, tags) written.
type Progress struct {
	Blobs, BlobsDone         int
	Bytes, BytesDone         int64
	Manifests, ManifestsDone int
}

// Status says what a copy did with one thing.
type Status string

const (
	StatusCopied     Status = "copied"
	StatusMerged     Status = "merged"      // a cosign legacy tag the destination had: the source's layers added
	StatusExists     Status = "exists"      // already at the destination
	StatusSkipped    Status = "skipped"     // left out (Reason says why)
	StatusWouldCopy  Status = "would-copy"  // dry run
	StatusWouldMerge Status = "would-merge" // dry run
)

// Result is what a copy did, or with DryRun would do.
type Result struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
	DryRun      bool   `json:"dryRun"`
	// Only is the --only filter, empty for every kind.
	Only   []Kind   `json:"only,omitempty"`
	Images []*Image `json:"images"`
	// Attachments are the signatures, attestations, SBOMs and other
	// referrers found, referrers of referrers included (Depth > 1).
	Attachments []*Attachment `json:"attachments"`
	Blobs       BlobCount     `json:"blobs"`
	Manifests   Count         `json:"manifests"`
	// DestinationReferrersAPI says how the destination stores referrers:
	// true for the OCI referrers API, false for the referrers tag schema;
	// absent when nothing told.
	DestinationReferrersAPI *bool    `json:"destinationReferrersApi,omitempty"`
	Notes                   []string `json:"notes,omitempty"`
}

// Image is one image copied: its source, where it went, and whether its tag
// moved.
type Image struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
	Digest      string `json:"digest"`
	MediaType   string `json:"mediaType"`
	// Platforms counts the manifests of an index a runtime could pick
	// (BuildKit's attestation manifests, which come too, are not counted).
	Platforms int    `json:"platforms,omitempty"`
	Status    Status `json:"status"`
	// Tag is the destination tag written (or already there); empty for a
	// copy by digest.
	Tag string `json:"tag,omitempty"`
	// PreviousDigest is what the destination tag named before, when the
	// copy moved it.
	PreviousDigest string `json:"previousDigest,omitempty"`
}

// Attachment is one thing attached to an image (or to another attachment).
type Attachment struct {
	Kind          Kind   `json:"kind"`
	Digest        string `json:"digest"`
	Subject       string `json:"subject"`
	ArtifactType  string `json:"artifactType,omitempty"`
	PredicateType string `json:"predicateType,omitempty"`
	// Tag is the cosign legacy tag (sha256-<hex>.sig/.att/.sbom) it lives under.
	Tag    string `json:"tag,omitempty"`
	Depth  int    `json:"depth"`
	Status Status `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// Count counts manifests (images, platform manifests, referrers, tags).
type Count struct {
	Copied int `json:"copied"`
	Exists int `json:"exists"`
}

// BlobCount counts blobs and the bytes that travelled.
type BlobCount struct {
	Copied  int   `json:"copied"`
	Mounted int   `json:"mounted"`
	Exists  int   `json:"exists"`
	Bytes   int64 `json:"bytes"`
}

// Copy copies what req names from one repository of store to another. The
// result says what was copied, found already there or skipped; on error it
// is nil and nothing the copy wrote is undone: re-running resumes.
//
// A copy passes no verdict on an image, so it never exits 1: content that
// is malformed or does not match its digest, at either end, is trouble
// with that registry or layout (exit 3), as copy's help says.
func Copy(ctx context.Context, store storage.Store, req Request) (*Result, error) {
	res, err := copyImages(ctx, store, req)
	if errkind.KindOf(err) == errkind.Untrusted {
		return nil, errkind.Mark(errkind.Operational, err)
	}
	return res, err
}

func copyImages(ctx context.Context, store storage.Store, req Request) (*Result, error) {
	jobs := req.Jobs
	if jobs == 0 {
		jobs = DefaultJobs
	}
	if jobs < 1 || jobs > MaxJobs {
		return nil, errkind.Inputf("--jobs must be between 1 and %d, not %d", MaxJobs, jobs)
	}
	var platform *v1.Platform
	if req.Platform != "" {
		p, err := v1.ParsePlatform(req.Platform)
		if err != nil || p.OS == "" || p.Architecture == "" {
			return nil, errkind.Inputf("--platform %q: expected os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8", req.Platform)
		}
		platform = p
	}
	srcRepo, srcRef, dstRepo, dstTag, dstDigest, err := parseEnds(store, req)
	if err != nil {
		return nil, err
	}

	var src storage.Reader
	var roots []*root
	if req.AllTags {
		r, err := store.OpenRepository(ctx, srcRepo, false)
		if err != nil {
			return nil, err
		}
		src = r
		if roots, err = tagRoots(ctx, src, jobs); err != nil {
			return nil, err
		}
		if len(roots) == 0 {
			return nil, errkind.Inputf("repository %s has no tags to copy", srcRepo)
		}
	} else {
		t, err := store.ResolveReference(ctx, srcRef, false)
		if err != nil {
			return nil, err
		}
		src = t.Repo
		rt := &root{source: refname.DisplayReference(srcRef.String()), desc: t.Descriptor, tag: t.Tag}
		switch {
		case dstTag != "":
			rt.tag = dstTag
		case dstDigest != "":
			rt.tag = ""
		}
		roots = []*root{rt}
	}

	dst, err := store.OpenRepository(ctx, dstRepo, !req.DryRun)
	if err != nil {
		return nil, err
	}
	p := &planner{src: src, dst: dst, jobs: jobs, only: newKindSet(req.Only), res: &Result{
		Source: req.Source, Destination: req.Destination, DryRun: req.DryRun, Only: req.Only,
	}}
	if platform != nil {
		for _, rt := range roots {
			if err := p.pickPlatform(ctx, rt, platform); err != nil {
				return nil, err
			}
		}
	}
	if dstDigest != "" && roots[0].desc.Digest.String() != dstDigest {
		return nil, errkind.Inputf("destination %s names digest %s, but the source is %s: name the destination by repository or tag", req.Destination, dstDigest, roots[0].desc.Digest)
	}
	if err := p.plan(ctx, roots); err != nil {
		return nil, err
	}
	if req.DryRun {
		p.probeReferrersAPI(ctx)
		return p.report(), nil
	}
	x := &executor{planner: p, progress: req.Progress}
	if err := x.run(ctx); err != nil {
		return nil, fmt.Errorf("copying %s to %s: %w (re-run the same command to resume: what was copied stays)", req.Source, refname.DisplayReference(dstRepo.String()), err)
	}
	return p.report(), nil
}

// root is one image to copy: the source manifest and the destination tag.
type root struct {
	source string // as named, for the report
	desc   v1.Descriptor
	tag    string // destination tag; "" copies by digest
	node   *manifestNode
	// previous is the digest the destination tag named before the copy.
	previous v1.Hash
}

// parseEnds reads SRC and DST: the source repository and reference, and the
// destination repository with its tag or digest (neither: the source's).
func parseEnds(store storage.Store, req Request) (srcRepo name.Repository, srcRef name.Reference, dstRepo name.Repository, dstTag, dstDigest string, err error) {
	if req.AllTags {
		if hasTagOrDigest(req.Source) || hasTagOrDigest(req.Destination) {
			err = errkind.Inputf("--all-tags copies whole repositories: name SRC and DST without a tag or digest")
			return
		}
		if srcRepo, err = parseRepository(store, req.Source); err != nil {
			return
		}
		if dstRepo, err = parseRepository(store, req.Destination); err != nil {
			return
		}
		if srcRepo.String() == dstRepo.String() {
			err = errkind.Inputf("SRC and DST are the same repository (%s): nothing to copy", srcRepo)
		}
		return
	}
	if srcRef, err = store.ParseReference(req.Source); err != nil {
		return
	}
	srcRepo = srcRef.Context()
	if hasTagOrDigest(req.Destination) {
		var d name.Reference
		if d, err = store.ParseReference(req.Destination); err != nil {
			return
		}
		dstRepo = d.Context()
		switch d := d.(type) {
		case name.Tag:
			dstTag = d.TagStr()
		case name.Digest:
			dstDigest = d.DigestStr()
		}
	} else if dstRepo, err = parseRepository(store, req.Destination); err != nil {
		return
	}
	if srcRepo.String() == dstRepo.String() {
		srcTag := ""
		if t, ok := srcRef.(name.Tag); ok {
			srcTag = t.TagStr()
		}
		if dstTag == "" || dstTag == srcTag {
			err = errkind.Inputf("SRC and DST are the same (%s): nothing to copy (name another repository, or another tag to retag)", srcRef)
		}
	}
	return
}

// hasTagOrDigest reports whether an image reference names a tag or digest
// (a colon after the last slash, or an @).
func hasTagOrDigest(s string) bool {
	return strings.Contains(s, "@") || strings.Contains(s[strings.LastIndex(s, "/")+1:], ":")
}

// parseRepository parses a repository with the store's checks (plain HTTP
// only where allowed, path rules), by way of a reference with a tag.
func parseRepository(store storage.Store, s string) (name.Repository, error) {
	if s == "" {
		return name.Repository{}, errkind.Inputf("empty repository name")
	}
	ref, err := store.ParseReference(s + ":" + name.DefaultTag)
	if err != nil {
		return name.Repository{}, err
	}
	return ref.Context(), nil
}

// isNotFound reports whether err says a manifest or blob is not there.
func isNotFound(err error) bool {
	var nf *storage.NotFoundError
	return errors.As(err, &nf)
}
