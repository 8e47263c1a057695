package dct

import (
	"context"
	"fmt"
	"time"

	"github.com/theupdateframework/notary/tuf/data"
	"golang.org/x/sync/errgroup"

	"github.com/imgsign/imgsign/attest"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/storage"
)

// Evidence is that predicate.
type Evidence struct {
	GUN string `json:"gun"`
	Tag string `json:"tag"`
	// Target is the TUF target exactly as Notary signed it.
	Target EvidenceTarget `json:"target"`
	// Role is the role docker pull trusted the tag from; Signers is every
	// verified role that signed it, with the key IDs whose signatures
	// verified.
	Role    string   `json:"role"`
	Signers []Signer `json:"signers"`
	// Root is the root of trust and how it was established.
	Root EvidenceRoot `json:"root"`
	// Metadata is the version and expiry of each top-level role read.
	Metadata map[string]RoleMeta `json:"metadata"`
	// Expired lists roles that had expired when read; AllowExpired says the
	// import was told to accept that.
	Expired      []ExpiredRole `json:"expired,omitempty"`
	AllowExpired bool          `json:"allowExpired"`
	Source       EvidenceSrc   `json:"source"`
	// TagDigestAtImport is what the registry's tag pointed to at import.
	TagDigestAtImport string    `json:"tagDigestAtImport,omitempty"`
	ImportedAt        time.Time `json:"importedAt"`
}

// EvidenceTarget is a TUF target: the manifest's hashes and length.
type EvidenceTarget struct {
	Name   string            `json:"name"`
	Length int64             `json:"length"`
	Hashes map[string]string `json:"hashes"`
}

// EvidenceRoot is the root of trust.
type EvidenceRoot struct {
	KeyIDs  []string `json:"keyIds"`
	Pinning string   `json:"pinning"`
}

// RoleMeta is one role's metadata version, expiry and verified signers.
type RoleMeta struct {
	Version int       `json:"version"`
	Expires time.Time `json:"expires"`
	KeyIDs  []string  `json:"keyIds,omitempty"`
}

// EvidenceSrc is where the metadata was read from.
type EvidenceSrc struct {
	Server   string `json:"server,omitempty"`
	TrustDir string `json:"trustDir,omitempty"`
}

func (m *Metadata) roleMeta() map[string]RoleMeta {
	out := map[string]RoleMeta{}
	add := func(role data.RoleName, common data.SignedCommon, sigs []data.Signature) {
		rm := RoleMeta{Version: common.Version, Expires: common.Expires.UTC()}
		for _, s := range sigs {
			if s.IsValid {
				rm.KeyIDs = append(rm.KeyIDs, s.KeyID)
			}
		}
		out[role.String()] = rm
	}
	r := m.Repo
	add(data.CanonicalRootRole, r.Root.Signed.SignedCommon, r.Root.Signatures)
	if t, ok := r.Targets[data.CanonicalTargetsRole]; ok {
		add(data.CanonicalTargetsRole, t.Signed.SignedCommon, t.Signatures)
	}
	if r.Snapshot != nil {
		add(data.CanonicalSnapshotRole, r.Snapshot.Signed.SignedCommon, r.Snapshot.Signatures)
	}
	if r.Timestamp != nil {
		add(data.CanonicalTimestampRole, r.Timestamp.Signed.SignedCommon, r.Timestamp.Signatures)
	}
	return out
}

// ImportOptions are the signing options of an import.
type ImportOptions struct {
	AllowExpired bool
	TSAURL       string
	Now          func() time.Time
}

// Import re-signs every entry marked for import: a signature binding the
// tag to the digest (as `imgsign sign repo:tag` does) and an attestation of
// the DCT evidence, both with s, both pushed as referrers of the digest.
// Tags are signed a few at a time (each is a handful of registry round
// trips, and a repository can have hundreds). The first failure stops the
// rest; entries done keep their results.
func Import(ctx context.Context, m *Metadata, repo *registry.Repo, entries []Entry, s sign.Signer, opts ImportOptions) error {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	meta := m.roleMeta()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i := range entries {
		e := &entries[i]
		if !e.Import {
			continue
		}
		g.Go(func() error {
			t := &storage.Target{Repo: repo, Descriptor: e.subject, Tag: e.Tag}
			res, err := sign.Resolved(gctx, t, s, sign.Options{TSAURL: opts.TSAURL})
			if err != nil {
				return fmt.Errorf("signing %s:%s (%s): %w", repo.Name(), e.Tag, e.Digest, err)
			}
			ev := Evidence{
				GUN: m.GUN, Tag: e.Tag,
				Target:   EvidenceTarget{Name: e.Tag, Length: e.Length, Hashes: e.Hashes},
				Role:     e.Role,
				Signers:  e.Signers,
				Root:     EvidenceRoot{KeyIDs: m.RootKeyIDs, Pinning: m.Pinning},
				Metadata: meta, Expired: m.Expired, AllowExpired: opts.AllowExpired,
				Source:            EvidenceSrc{Server: m.Server, TrustDir: m.TrustDir},
				TagDigestAtImport: e.TagDigest,
				ImportedAt:        now().UTC(),
			}
			att, err := attest.Push(gctx, t, statement.DCTEvidence, []attest.Subject{{Descriptor: e.subject, Predicate: ev}}, s,
				sign.Options{TSAURL: opts.TSAURL, Annotations: map[string]string{statement.TagAnnotation: e.Tag}})
			if err != nil {
				return fmt.Errorf("attaching the DCT evidence of %s:%s: %w", repo.Name(), e.Tag, err)
			}
			// Recorded only once both are pushed: a tag is imported or not.
			e.Signature, e.Evidence = res.Attached[0].Referrer, att[0].Referrer
			return nil
		})
	}
	return g.Wait()
}
