package sbom

import (
	"context"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgsign/imgsign/attest"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/storage"
)

// This file is where SBOMs meet an image in a registry: `imgsign sbom` and
// `attest sbom` scan the image, or each platform of an index, and encode
// one document per scanned manifest. The image is a resolved target;
// platformsOf and readImage below are the only places that read it.

// PredicateType is the in-toto predicate type of an SBOM format: spdx (or
// spdxjson, cosign's name) or cyclonedx.
func PredicateType(format string) (string, error) {
	switch format {
	case "spdx", "spdxjson":
		return statement.SPDX, nil
	case "cyclonedx":
		return statement.CycloneDX, nil
	}
	return "", errkind.Inputf("--format must be spdx or cyclonedx, not %q", format)
}

// ImageRequest is how to describe an image.
type ImageRequest struct {
	// Format is the document format, as PredicateType takes it.
	Format string
	// ToolVersion is imgsign's version, named as the document's creator.
	ToolVersion string
	// Now gives each document's creation time; nil means time.Now. It is
	// recorded in UTC.
	Now func() time.Time
	// ScanOptions go to every Scan (WithProgress, say).
	ScanOptions []Option
	// Warn is told, as each scan ends, what it could not catalog; nil
	// drops the warnings.
	Warn func(Warning)
}

// Document is the SBOM of one scanned manifest.
type Document struct {
	// Descriptor is the manifest scanned.
	Descriptor v1.Descriptor
	// Also are further manifests the document is about: the index, for a
	// platform of one.
	Also []v1.Descriptor
	// Platform is "os/arch[/variant]" from the image's config; "" when the
	// config names no OS.
	Platform string
	// JSON is the encoded document.
	JSON []byte
}

// ImageSBOM is the SBOMs of an image: one document for a single image, one
// per platform for an index.
type ImageSBOM struct {
	// Image is the manifest the reference named.
	Image     v1.Descriptor
	Documents []Document
}

// ScanImage scans the image t, or each platform of an index, layer by layer
// as the registry streams them, and encodes one document per scanned
// manifest, in platform order.
func ScanImage(ctx context.Context, t *storage.Target, req ImageRequest) (*ImageSBOM, error) {
	if _, err := PredicateType(req.Format); err != nil {
		return nil, err
	}
	now := time.Now
	if req.Now != nil {
		now = req.Now
	}
	platforms, err := platformsOf(ctx, t)
	if err != nil {
		return nil, err
	}
	// A single image is its own subject; an index is described through its
	// platforms, each document about the platform and the index.
	jobs := []Document{{Descriptor: t.Descriptor}}
	if len(platforms) > 0 {
		jobs = nil
		for _, p := range platforms {
			jobs = append(jobs, Document{Descriptor: p, Also: []v1.Descriptor{t.Descriptor}})
		}
	}
	out := &ImageSBOM{Image: t.Descriptor}
	for _, doc := range jobs {
		img, err := readImage(ctx, t, doc.Descriptor.Digest)
		if err != nil {
			return nil, err
		}
		if cf, err := img.ConfigFile(); err == nil && cf.OS != "" {
			doc.Platform = cf.OS + "/" + cf.Architecture
			if cf.Variant != "" {
				doc.Platform += "/" + cf.Variant
			}
		}
		res, err := Scan(ctx, img, Default(), req.ScanOptions...)
		if err != nil {
			return nil, fmt.Errorf("scanning %s: %w", doc.Descriptor.Digest, err)
		}
		if req.Warn != nil {
			for _, w := range res.Warnings {
				req.Warn(w)
			}
		}
		subj := Subject{Name: t.Repo.Name().Name(), Digest: doc.Descriptor.Digest.String(), Platform: doc.Platform}
		enc := []EncodeOption{Created(now().UTC()), ToolVersion(req.ToolVersion)}
		if req.Format == "cyclonedx" {
			doc.JSON, err = CycloneDX(res, subj, enc...)
		} else {
			doc.JSON, err = SPDX(res, subj, enc...)
		}
		if err != nil {
			return nil, err
		}
		out.Documents = append(out.Documents, doc)
	}
	return out, nil
}

// ForPlatform returns the document of platform ("os/arch[/variant]", as
// Document.Platform; the last one when an index lists it twice), or the
// first document when platform is "".
func (s *ImageSBOM) ForPlatform(platform string) (Document, error) {
	if platform == "" {
		return s.Documents[0], nil
	}
	var pick *Document
	for i := range s.Documents {
		if s.Documents[i].Platform == platform {
			pick = &s.Documents[i]
		}
	}
	if pick == nil {
		return Document{}, errkind.Inputf("%s has no platform %s", s.Image.Digest, platform)
	}
	return *pick, nil
}

// Subjects are the documents as what to attest: each document about its
// manifest and the manifests in Also.
func (s *ImageSBOM) Subjects() ([]attest.Subject, error) {
	var out []attest.Subject
	for _, d := range s.Documents {
		pred, err := attest.ParsePredicate(d.JSON)
		if err != nil {
			return nil, err
		}
		out = append(out, attest.Subject{Descriptor: d.Descriptor, Predicate: pred, Also: d.Also})
	}
	return out, nil
}

// platformsOf lists the platform manifests of t a runtime could run: none
// for a single image.
func platformsOf(ctx context.Context, t *storage.Target) ([]v1.Descriptor, error) {
	children, err := t.Platforms(ctx)
	if err != nil {
		return nil, err
	}
	return storage.Descriptors(children), nil
}

// readImage reads the image manifest d of t's repository lazily: config
// and layers are fetched (and digest-checked) as Scan reads them, layers
// streamed. Its error says "reading image" and has the kind of the
// registry's failure.
func readImage(ctx context.Context, t *storage.Target, d v1.Hash) (v1.Image, error) {
	return t.Repo.Image(ctx, d)
}
