// Package sign signs image digests: it builds the in-toto statement
// (package statement), wraps it in a DSSE envelope inside a Sigstore bundle v0.3 (sigstore-go), and pushes
// the bundle as an OCI 1.1 referrer of the image. Plain signatures and
// attestations share this path; only the predicate differs.
package sign

import (
	"context"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/imgsign/imgsign/internal/attachment"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/refname"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/storage"
)

// Signer is a key that can sign bundles. keys.Signer implements it.
type Signer interface {
	sgsign.Keypair
	ID() string
}

// Options are the optional parts of a signing run.
type Options struct {
	// Annotations go on the statement's subject (cosign's -a).
	Annotations map[string]string
	// Recursive also signs each platform manifest of an index.
	Recursive bool
	// Now is the clock (tests pin it).
	Now func() time.Time
	// TSAURL, when set, is an RFC 3161 timestamp authority's endpoint
	// (e.g. https://tsa.example.com/api/v1/timestamp); the timestamp over the
	// signature goes into the bundle, as cosign does.
	TSAURL string
	// NoTagBinding keeps the tag an image was given by out of the
	// signature (statement.TagAnnotation); signing by digest never records one.
	NoTagBinding bool

	// tagged also gives the referrer its per-referrer tag on registries
	// with the referrers API: a tag-bound signature must stay findable from
	// the tag list after the tag moves away from its digest, or verify's
	// rollback check could not see that the tag was signed for a newer one.
	tagged bool
}

// Attached is one pushed signature or attestation.
type Attached struct {
	Subject       string `json:"subject"`
	Referrer      string `json:"referrer"`
	PredicateType string `json:"predicateType"`
	KeyID         string `json:"keyId"`
	ReferrersAPI  bool   `json:"referrersApi"`
	// Format is "notary" for a Notary Project signature; empty for a
	// Sigstore bundle.
	Format string `json:"format,omitempty"`
	// Identity, for a keyless signature, is what its Fulcio certificate
	// names: the subject (SAN) and the OIDC issuer.
	Identity string `json:"identity,omitempty"`
	// LogEntries, for a keyless signature, are its transparency-log
	// entries: "<log index> at <integrated time>".
	LogEntries []string `json:"logEntries,omitempty"`
}

// Result is the outcome of signing one image.
type Result struct {
	Image  string `json:"image"`
	Digest string `json:"digest"`
	// Tag is the tag the signature binds (statement.TagAnnotation); empty when
	// signed by digest or with NoTagBinding.
	Tag      string     `json:"tag,omitempty"`
	Attached []Attached `json:"attached"`
}

// Image signs image (a tag or digest) with a plain signature.
func Image(ctx context.Context, c storage.Resolver, image string, s Signer, opts Options) (*Result, error) {
	t, err := c.Resolve(ctx, image, true)
	if err != nil {
		return nil, err
	}
	return Resolved(ctx, t, s, opts)
}

// Resolved signs an image already resolved to t; t.Tag, unless empty or
// opts.NoTagBinding, is bound to t's digest (dct import binds the tag Notary
// signed, not the one the registry serves now).
func Resolved(ctx context.Context, t *storage.Target, s Signer, opts Options) (*Result, error) {
	repo, err := t.Writer()
	if err != nil {
		return nil, err
	}
	subjects, err := subjectsOf(ctx, t, opts.Recursive)
	if err != nil {
		return nil, err
	}
	for _, k := range []string{statement.TagAnnotation, statement.SignedAtAnnotation} {
		if _, ok := opts.Annotations[k]; ok {
			return nil, errkind.Inputf("annotation %s is reserved: sign by tag to record the tag and when it was bound (see --no-tag-binding)", k)
		}
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	res := &Result{Image: refname.DisplayReference(t.Reference().String()), Digest: t.Descriptor.Digest.String()}
	if t.Tag != "" && !opts.NoTagBinding {
		res.Tag = t.Tag
	}
	for i, subj := range subjects {
		ann := opts.Annotations
		// The tag names the index (or image) it resolved to, so only that
		// statement binds it; a platform manifest is never what a tag names.
		if i == 0 && res.Tag != "" {
			ann = make(map[string]string, len(opts.Annotations)+2)
			for k, v := range opts.Annotations {
				ann[k] = v
			}
			ann[statement.TagAnnotation] = res.Tag
			ann[statement.SignedAtAnnotation] = now().UTC().Format(time.RFC3339Nano)
		}
		stmt, err := statement.About(repo.Name(), subj.Digest, statement.Signature, map[string]any{}, ann)
		if err != nil {
			return nil, err
		}
		o := opts
		o.tagged = i == 0 && res.Tag != ""
		a, err := Attach(ctx, repo, subj, statement.Signature, stmt, s, o)
		if err != nil {
			return nil, err
		}
		res.Attached = append(res.Attached, a)
	}
	return res, nil
}

// subjectsOf is what signing t signs: its manifest and, with recursive,
// each platform manifest of an index.
func subjectsOf(ctx context.Context, t *storage.Target, recursive bool) ([]v1.Descriptor, error) {
	subjects := []v1.Descriptor{t.Descriptor}
	if recursive {
		children, err := t.Platforms(ctx)
		if err != nil {
			return nil, err
		}
		subjects = append(subjects, storage.Descriptors(children)...)
	}
	return subjects, nil
}

// Attach signs statement into a bundle and pushes it as a referrer of subject.
func Attach(ctx context.Context, repo storage.Writer, subject v1.Descriptor, predicateType string, stmt []byte, s Signer, opts Options) (Attached, error) {
	bundle, err := Bundle(ctx, stmt, s, opts.TSAURL)
	if err != nil {
		return Attached{}, fmt.Errorf("signing %s with key %s: %w", subject.Digest, s.ID(), err)
	}
	a, err := Push(ctx, repo, subject, predicateType, bundle, opts)
	a.KeyID = s.ID()
	if _, ok := s.(*Keyless); ok {
		a.Identity, a.LogEntries = describeKeyless(bundle)
	}
	return a, err
}

// Bundle signs an in-toto statement: a DSSE envelope in a Sigstore bundle
// v0.3 whose verification material is the key's hint, as cosign v3 writes it,
// with an RFC 3161 timestamp over the signature when tsaURL is set. A
// Keyless signer's bundle carries its Fulcio certificate instead, and the
// timestamps and log entries of its own services.
func Bundle(ctx context.Context, stmt []byte, s Signer, tsaURL string) ([]byte, error) {
	content := &sgsign.DSSEData{Data: stmt, PayloadType: statement.PayloadType}
	if k, ok := s.(*Keyless); ok {
		// Its own services, --tsa-url among them (NewKeyless).
		pb, err := k.bundle(ctx, content)
		if err != nil {
			return nil, err
		}
		return marshalBundle(pb)
	}
	pb, err := sgsign.Bundle(content, s, sgsign.BundleOptions{Context: ctx})
	if err != nil {
		return nil, err
	}
	if tsaURL != "" {
		// Asked for here rather than through sigstore-go's bundle options so
		// a TSA outage is told apart from a signing failure.
		sig := pb.GetDsseEnvelope().GetSignatures()[0].GetSig()
		ta := sgsign.NewTimestampAuthority(&sgsign.TimestampAuthorityOptions{URL: tsaURL, Timeout: 30 * time.Second, Retries: 2})
		ts, err := ta.GetTimestamp(ctx, sig)
		if err != nil {
			return nil, errkind.Operationalf("getting an RFC 3161 timestamp from %s: %w", tsaURL, err)
		}
		pb.VerificationMaterial.TimestampVerificationData = &protobundle.TimestampVerificationData{
			Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: ts}},
		}
	}
	return marshalBundle(pb)
}

func marshalBundle(pb *protobundle.Bundle) ([]byte, error) {
	b, err := protojson.Marshal(pb)
	if err != nil {
		return nil, fmt.Errorf("encoding bundle: %w", err)
	}
	return b, nil
}

// Push uploads a bundle and its referrer manifest for subject.
func Push(ctx context.Context, repo storage.Writer, subject v1.Descriptor, predicateType string, bundle []byte, opts Options) (Attached, error) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	a := Attached{Subject: subject.Digest.String(), PredicateType: predicateType}
	if _, err := repo.PutBlob(ctx, attachment.EmptyJSON); err != nil {
		return a, fmt.Errorf("pushing signature of %s: %w", subject.Digest, err)
	}
	bdesc, err := repo.PutBlob(ctx, bundle)
	if err != nil {
		return a, fmt.Errorf("pushing signature of %s: %w", subject.Digest, err)
	}
	ref, err := attachment.NewReferrer(subject, bdesc, predicateType, now())
	if err != nil {
		return a, err
	}
	return pushReferrer(ctx, repo, subject, ref, a, opts.tagged)
}

// pushReferrer pushes a referrer manifest whose blobs are in place, and
// with tagged its per-referrer tag on a registry with the referrers API.
func pushReferrer(ctx context.Context, repo storage.Writer, subject v1.Descriptor, ref storage.Referrer, a Attached, tagged bool) (Attached, error) {
	var err error
	a.ReferrersAPI, err = repo.PushReferrer(ctx, ref)
	if err != nil {
		return a, fmt.Errorf("pushing signature of %s: %w", subject.Digest, err)
	}
	if tagged && a.ReferrersAPI {
		if err := repo.PutManifest(ctx, registry.ReferrerTag(subject.Digest, ref.Descriptor.Digest), ref.Manifest, ref.Descriptor.MediaType); err != nil {
			return a, fmt.Errorf("tagging signature of %s: %w", subject.Digest, err)
		}
	}
	a.Referrer = ref.Descriptor.Digest.String()
	return a, nil
}
