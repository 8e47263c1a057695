package verify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"golang.org/x/sync/errgroup"

	"github.com/imgsign/imgsign/internal/attachment"
	"github.com/imgsign/imgsign/internal/refname"
	"github.com/imgsign/imgsign/internal/safetext"
	"github.com/imgsign/imgsign/storage"
)

// Tree is everything attached to an image, as found — nothing in it is
// verified; `imgsign verify` decides trust.
type Tree struct {
	Image        string       `json:"image"`
	Reference    string       `json:"reference"`
	Digest       string       `json:"digest"`
	ReferrersAPI bool         `json:"referrersApi"`
	Attachments  []*TreeEntry `json:"attachments"`
	// Children are the manifests of an index a runtime could run — the
	// list sign --recursive signs, attest covers per platform and verify's
	// compliance checks (storage.RunnableChildren).
	Children []*TreeChild `json:"children,omitempty"`
}

// TreeChild is one runnable manifest of an index.
type TreeChild struct {
	Digest string `json:"digest"`
	// Platform is as the index lists it; empty when it lists none.
	Platform string `json:"platform,omitempty"`
	// Index is the nested index that lists it, when not the image itself.
	Index string `json:"index,omitempty"`
}

// TreeEntry is one attachment.
type TreeEntry struct {
	Referrer      string   `json:"referrer"`
	ArtifactType  string   `json:"artifactType,omitempty"`
	PredicateType string   `json:"predicateType,omitempty"`
	KeyID         string   `json:"keyId,omitempty"`
	Created       string   `json:"created,omitempty"`
	Sources       []string `json:"sources"`
	Tag           string   `json:"tag,omitempty"`
	// Layers counts signatures in a cosign legacy tag manifest.
	Layers int `json:"layers,omitempty"`
	// Format is how a signature or attestation is stored and signed
	// (verify's Format* values); empty for anything else.
	Format string `json:"format,omitempty"`
	// Certificate is a Notary Project signature's signing certificate,
	// unverified.
	Certificate *X509Certificate `json:"certificate,omitempty"`
	// Identity is what a certificate-based bundle's certificate claims,
	// unverified: tree shows what is attached; verify decides what counts.
	Identity *CertIdentity `json:"identity,omitempty"`
	// LogEntries are the transparency-log entries a bundle carries,
	// unverified, as "<log index> at <integrated time>" ("checkpoint only"
	// for a Rekor v2 entry, which has no integrated time).
	LogEntries []string `json:"logEntries,omitempty"`
	Note       string   `json:"note,omitempty"`
}

// ShowTree lists what is attached to image, including cosign legacy tags.
func ShowTree(ctx context.Context, c storage.Resolver, image string) (*Tree, error) {
	target, err := c.Resolve(ctx, image, false)
	if err != nil {
		return nil, err
	}
	repo, desc := target.Repo, target.Descriptor
	l, err := attachment.Discover(ctx, repo, desc, attachment.Options{LegacyTags: true})
	if err != nil {
		return nil, err
	}
	t := &Tree{Image: image, Digest: desc.Digest.String(), Reference: refname.DisplayReference(target.Reference().String()), ReferrersAPI: l.ReferrersAPI}
	t.Attachments = make([]*TreeEntry, len(l.Entries))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, e := range l.Entries {
		te := &TreeEntry{
			Referrer:      e.Descriptor.Digest.String(),
			ArtifactType:  e.Descriptor.ArtifactType,
			PredicateType: e.PredicateType(),
			Created:       e.Descriptor.Annotations[attachment.AnnotationCreated],
			Tag:           e.Tag,
		}
		for _, s := range e.Sources {
			te.Sources = append(te.Sources, string(s))
		}
		t.Attachments[i] = te
		g.Go(func() error {
			if e.Tag != "" {
				describeLegacy(gctx, repo, e, te)
				return nil
			}
			if attachment.IsNotarySignature(e.Descriptor) {
				describeNotary(gctx, repo, desc.Digest, e, te)
				return nil
			}
			if !attachment.IsBundle(e.Descriptor) {
				return nil
			}
			raw, err := attachment.FetchBundle(gctx, repo, desc.Digest, e)
			if err != nil {
				te.Note = "unreadable: " + oneLine(err)
				return nil
			}
			describeBundle(raw, te)
			return nil
		})
	}
	_ = g.Wait()
	// Registries list referrers in no particular order; show them oldest
	// first so two looks at the same image read the same.
	sort.SliceStable(t.Attachments, func(i, j int) bool {
		a, b := t.Attachments[i], t.Attachments[j]
		if a.Created != b.Created {
			return a.Created < b.Created
		}
		return a.Referrer < b.Referrer
	})
	bk, err := buildKitAttestations(ctx, repo, desc)
	if err != nil {
		return nil, err
	}
	t.Attachments = append(t.Attachments, bk...)
	children, err := target.Platforms(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range children {
		tc := &TreeChild{Digest: c.Descriptor.Digest.String()}
		if c.Platform != nil {
			tc.Platform = c.Platform.String()
		}
		if c.Index != desc.Digest {
			tc.Index = c.Index.String()
		}
		t.Children = append(t.Children, tc)
	}
	return t, nil
}

// buildKitAttestations lists the attestation manifests BuildKit stores
// inside an image index (unsigned in-toto statements, one manifest per
// platform): they are attachments too, just not referrers.
func buildKitAttestations(ctx context.Context, repo storage.Reader, desc v1.Descriptor) ([]*TreeEntry, error) {
	if desc.MediaType != types.OCIImageIndex && desc.MediaType != types.DockerManifestList {
		return nil, nil
	}
	raw, _, err := repo.Manifest(ctx, "", desc.Digest)
	if err != nil {
		return nil, err
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, nil
	}
	var out []*TreeEntry
	for _, m := range idx.Manifests {
		// An attestation-manifest annotation on a manifest with a real
		// platform is a runnable child, listed with the children.
		if !storage.IsAttestationManifest(m) {
			continue
		}
		te := &TreeEntry{
			Referrer:     m.Digest.String(),
			ArtifactType: "BuildKit attestation manifest (unsigned)",
			Sources:      []string{"buildkit-in-index"},
			Note:         "about platform manifest " + m.Annotations["vnd.docker.reference.digest"] + "; sign it with `imgsign attest buildkit`",
		}
		if mraw, _, err := repo.Manifest(ctx, "", m.Digest); err == nil {
			var am v1.Manifest
			if json.Unmarshal(mraw, &am) == nil {
				var pts []string
				for _, l := range am.Layers {
					if pt := l.Annotations["in-toto.io/predicate-type"]; pt != "" {
						pts = append(pts, pt)
					}
				}
				te.PredicateType = strings.Join(pts, ", ")
			}
		} else {
			te.Note = "unreadable: " + oneLine(err)
		}
		out = append(out, te)
	}
	return out, nil
}

func describeBundle(raw []byte, te *TreeEntry) {
	b, err := parseBundle(raw)
	if err != nil {
		te.Note = "not a valid Sigstore bundle: " + oneLine(err)
		return
	}
	te.Format = FormatSigstoreBundle
	te.KeyID = b.GetVerificationMaterial().GetPublicKey().GetHint()
	if hasCertificate(b) {
		if vc, err := b.VerificationContent(); err == nil {
			if cert := vc.Certificate(); cert != nil {
				if s, err := certificate.SummarizeCertificate(cert); err == nil {
					te.Identity = certIdentity(&s)
				}
			}
		}
	}
	te.LogEntries = logEntries(b, nil)
	env := b.GetDsseEnvelope()
	if env == nil {
		return
	}
	var st struct {
		PredicateType string `json:"predicateType"`
	}
	if json.Unmarshal(env.GetPayload(), &st) == nil && st.PredicateType != "" {
		te.PredicateType = st.PredicateType
	}
}

// describeNotary reads a Notary Project signature: its envelope format and
// the certificate it claims, unverified.
func describeNotary(ctx context.Context, repo storage.Reader, subject v1.Hash, e *attachment.Entry, te *TreeEntry) {
	te.ArtifactType = attachment.NotaryArtifactType
	env, err := attachment.FetchNotary(ctx, repo, subject, e)
	if err != nil {
		te.Note = "unreadable: " + oneLine(err)
		return
	}
	te.Format = notaryFormatName(env.MediaType)
	leaf := unverifiedLeaf(env)
	if leaf == nil {
		te.Note = "not a valid Notary Project envelope"
		return
	}
	sum := sha256.Sum256(leaf.Raw)
	te.Certificate = &X509Certificate{Subject: leaf.Subject.String(), Issuer: leaf.Issuer.String(),
		Thumbprint: "sha256:" + hex.EncodeToString(sum[:]), NotAfter: leaf.NotAfter.UTC().Format(time.RFC3339)}
}

// describeLegacy reads a cosign legacy .sig/.att manifest: one layer per
// signature, predicate types from .att payload layers where small.
func describeLegacy(ctx context.Context, repo storage.Reader, e *attachment.Entry, te *TreeEntry) {
	raw, err := attachment.LegacyManifest(ctx, repo, e)
	if err != nil {
		te.Note = "unreadable: " + oneLine(err)
		return
	}
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		te.Note = "not a manifest"
		return
	}
	te.Layers = len(m.Layers)
	switch {
	case strings.HasSuffix(e.Tag, ".sig"):
		te.ArtifactType = "cosign legacy signature"
		te.Format = FormatCosignSignature
	case strings.HasSuffix(e.Tag, ".att"):
		te.ArtifactType = "cosign legacy attestation"
		te.Format = FormatCosignAttestation
		var types []string
		for _, l := range m.Layers {
			if pt := l.Annotations["predicateType"]; pt != "" {
				types = append(types, pt)
			}
		}
		te.PredicateType = strings.Join(types, ", ")
	case strings.HasSuffix(e.Tag, ".sbom"):
		te.ArtifactType = "cosign legacy sbom"
	}
}

// WriteText prints the tree for a person. Everything in it came from the
// registry unverified, so every string goes through safetext.
func (t *Tree) WriteText(w io.Writer) {
	api := "referrers API"
	if !t.ReferrersAPI {
		api = "referrers tag schema (registry has no referrers API)"
	}
	safetext.Fprintf(w, "%s\n  via %s, %d attached\n", t.Reference, api, len(t.Attachments))
	if len(t.Children) > 0 {
		safetext.Fprintf(w, "  %d runnable manifests (what sign --recursive signs and compliance checks):\n", len(t.Children))
		for _, c := range t.Children {
			platform := c.Platform
			if platform == "" {
				platform = "no platform in the index"
			}
			if c.Index != "" {
				platform += ", in nested index " + c.Index
			}
			safetext.Fprintf(w, "    %s  %s\n", c.Digest, platform)
		}
	}
	for i, a := range t.Attachments {
		branch := "├──"
		if i == len(t.Attachments)-1 {
			branch = "└──"
		}
		kind := a.PredicateType
		if kind == "" {
			kind = a.ArtifactType
		}
		safetext.Fprintf(w, "%s %s %s\n", branch, a.Referrer, kind)
		pad := "│   "
		if i == len(t.Attachments)-1 {
			pad = "    "
		}
		if a.PredicateType != "" && a.ArtifactType != "" && !strings.HasPrefix(a.ArtifactType, "application/") {
			safetext.Fprintf(w, "%s kind:    %s\n", pad, a.ArtifactType)
		}
		if a.Format != "" {
			safetext.Fprintf(w, "%s format:  %s\n", pad, a.Format)
		}
		if a.KeyID != "" {
			safetext.Fprintf(w, "%s key id:  %s\n", pad, a.KeyID)
		}
		if c := a.Certificate; c != nil {
			safetext.Fprintf(w, "%s certificate (unverified): %s, issuer %s, %s\n", pad, c.Subject, c.Issuer, c.Thumbprint)
		}
		if id := a.Identity; id != nil {
			safetext.Fprintf(w, "%s certificate (unverified): %s, issuer %s%s\n", pad, id.Subject, id.Issuer, claims(id))
		}
		for _, e := range a.LogEntries {
			safetext.Fprintf(w, "%s log entry (unverified): %s\n", pad, e)
		}
		if a.Created != "" {
			safetext.Fprintf(w, "%s created: %s\n", pad, a.Created)
		}
		if a.Tag != "" {
			safetext.Fprintf(w, "%s tag:     %s (%d signature layers)\n", pad, a.Tag, a.Layers)
		}
		safetext.Fprintf(w, "%s found:   %s\n", pad, strings.Join(a.Sources, ", "))
		if a.Note != "" {
			safetext.Fprintf(w, "%s note:    %s\n", pad, a.Note)
		}
	}
}
