package dct

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	notaryclient "github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/tuf/data"
	"golang.org/x/sync/errgroup"

	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/storage"
)

// releasesRole is the delegation `docker trust sign` publishes to. docker
// pull (docker/cli getTrustedPullTargets) asks Notary for the tag in
// targets/releases first, then in the targets tree, and takes the entry only
// if it is targets/releases' or targets' own: an entry Notary finds first in
// any other delegation (targets/ci, targets/releases/x) is refused.
const releasesRole data.RoleName = "targets/releases"

// pullTrusts says whether docker pull takes a tag from role's entry.
func pullTrusts(role data.RoleName) bool {
	return role == releasesRole || role == data.CanonicalTargetsRole
}

// Signer is one verified role that signed a tag, and what it signed.
type Signer struct {
	Role    string    `json:"role"`
	KeyIDs  []string  `json:"keyIds"`
	Version int       `json:"version"`
	Expires time.Time `json:"expires"`
	Digest  string    `json:"digest"`
}

// Entry is one tag in the plan: what DCT trusted and what the registry holds.
type Entry struct {
	Tag    string            `json:"tag"`
	Digest string            `json:"digest"`
	Length int64             `json:"length"`
	Hashes map[string]string `json:"hashes"`
	// Role is the role docker pull took the tag from.
	Role    string   `json:"role"`
	Signers []Signer `json:"signers"`
	// DigestPresent: the registry still holds the signed manifest.
	DigestPresent bool `json:"digestPresent"`
	// TagDigest is what the tag points to in the registry now; empty when
	// the tag is gone.
	TagDigest string `json:"tagDigest,omitempty"`
	// Import is whether the binding gets re-signed; Reason says why not.
	Import bool   `json:"import"`
	Reason string `json:"reason,omitempty"`
	// AlreadyImported: an earlier run with the same key carried it over.
	AlreadyImported bool `json:"alreadyImported,omitempty"`
	// Warnings are mismatches that do not stop the import.
	Warnings []string `json:"warnings,omitempty"`
	// Result, after a real import: what was pushed.
	Signature string `json:"signature,omitempty"`
	Evidence  string `json:"evidence,omitempty"`

	subject v1.Descriptor // the registry's descriptor of Digest
}

// Untrusted is a tag docker pull never trusted — only an unverified
// delegation claims it, or only delegations docker pull ignores sign it —
// so it is reported and not imported.
type Untrusted struct {
	Tag    string `json:"tag"`
	Digest string `json:"digest,omitempty"`
	Role   string `json:"role"`
	Reason string `json:"reason"`
}

// Plan is what an import does, worked out before anything is pushed.
type Plan struct {
	GUN        string        `json:"gun"`
	Repository string        `json:"repository"`
	Pinning    string        `json:"rootPinning"`
	RootKeyIDs []string      `json:"rootKeyIds"`
	Expired    []ExpiredRole `json:"expired,omitempty"`
	Entries    []Entry       `json:"tags"`
	Untrusted  []Untrusted   `json:"untrusted,omitempty"`
}

// Trusted returns every tag → digest docker pull trusted under
// DOCKER_CONTENT_TRUST=1 — targets/releases' entry, else top-level targets'
// — with every verified role that signed the tag, and the tags it did not
// trust with the reason. tags, when not empty, limits the result to those
// tags.
func (m *Metadata) Trusted(tags []string) ([]Entry, []Untrusted, error) {
	r := notaryclient.NewReadOnly(m.Repo)
	list, err := r.ListTargets(releasesRole, data.CanonicalTargetsRole)
	if err != nil {
		return nil, nil, fmt.Errorf("listing the targets of %s: %w", m.GUN, err)
	}
	all, err := r.GetAllTargetMetadataByName("")
	var none notaryclient.ErrNoSuchTarget
	if err != nil && !errors.As(err, &none) {
		return nil, nil, fmt.Errorf("listing the signers of %s: %w", m.GUN, err)
	}
	signers := map[string][]Signer{}
	for _, t := range all {
		// A delegation may list names outside the paths delegated to it;
		// Notary ignores those entries, and they sign nothing here either.
		if t.Role.CheckPaths(t.Target.Name) {
			signers[t.Target.Name] = append(signers[t.Target.Name], m.signer(t))
		}
	}
	want := map[string]bool{}
	for _, t := range tags {
		want[t] = true
	}
	var out []Entry
	var untrusted []Untrusted
	seen := map[string]bool{}
	for _, t := range list {
		if len(want) > 0 && !want[t.Name] {
			continue
		}
		seen[t.Name] = true
		if !pullTrusts(t.Role) {
			x := Untrusted{Tag: t.Name, Role: t.Role.String(), Reason: notPulledReason(t.Role, signers[t.Name])}
			if h, ok := t.Hashes["sha256"]; ok {
				x.Digest = "sha256:" + hex.EncodeToString(h)
			}
			untrusted = append(untrusted, x)
			continue
		}
		e := Entry{Tag: t.Name, Length: t.Length, Hashes: hexHashes(t.Hashes), Role: t.Role.String(), Signers: signers[t.Name]}
		sort.Slice(e.Signers, func(i, j int) bool { return e.Signers[i].Role < e.Signers[j].Role })
		if h, ok := t.Hashes["sha256"]; ok && len(h) == 32 {
			e.Digest = "sha256:" + hex.EncodeToString(h)
		} else {
			e.Reason = "DCT signed it without a sha256 hash, so it names no image digest"
		}
		for _, s := range e.Signers {
			if s.Digest != e.Digest {
				e.Warnings = append(e.Warnings, fmt.Sprintf("%s signs this tag as %s; docker pull used %s's %s", s.Role, s.Digest, e.Role, e.Digest))
			}
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tag < out[j].Tag })
	for _, u := range m.Unverified {
		for name, meta := range u.Targets {
			if seen[name] || (len(want) > 0 && !want[name]) {
				continue
			}
			x := Untrusted{Tag: name, Role: u.Role, Reason: u.Reason}
			if h, ok := meta.Hashes["sha256"]; ok {
				x.Digest = "sha256:" + hex.EncodeToString(h)
			}
			untrusted = append(untrusted, x)
		}
	}
	sort.Slice(untrusted, func(i, j int) bool { return untrusted[i].Tag < untrusted[j].Tag })
	return out, untrusted, nil
}

// notPulledReason says why docker pull refused a tag Notary found first in
// role, a delegation other than targets/releases and targets.
func notPulledReason(role data.RoleName, signers []Signer) string {
	var roles []string
	for _, s := range signers {
		if pullTrusts(data.RoleName(s.Role)) {
			// targets/releases or targets signs it too, but Notary's walk
			// reaches role first (a delegation under targets/releases), and
			// docker pull refuses the tag rather than look further.
			return fmt.Sprintf("docker pull finds it first in delegation %s, which it does not trust, and refuses it (although %s signs it too)", role, s.Role)
		}
		if !slices.Contains(roles, s.Role) {
			roles = append(roles, s.Role)
		}
	}
	if len(roles) > 1 {
		sort.Strings(roles)
		return fmt.Sprintf("only in delegations %s, which docker pull does not trust", strings.Join(roles, ", "))
	}
	return fmt.Sprintf("only in delegation %s, which docker pull does not trust", role)
}

func (m *Metadata) signer(t notaryclient.TargetSignedStruct) Signer {
	s := Signer{Role: t.Role.Name.String()}
	if h, ok := t.Target.Hashes["sha256"]; ok {
		s.Digest = "sha256:" + hex.EncodeToString(h)
	}
	for _, sig := range t.Signatures {
		if sig.IsValid {
			s.KeyIDs = append(s.KeyIDs, sig.KeyID)
		}
	}
	sort.Strings(s.KeyIDs)
	if tg, ok := m.Repo.Targets[t.Role.Name]; ok {
		s.Version, s.Expires = tg.Signed.Version, tg.Signed.Expires.UTC()
	}
	return s
}

func hexHashes(h data.Hashes) map[string]string {
	out := make(map[string]string, len(h))
	for alg, b := range h {
		out[alg] = hex.EncodeToString(b)
	}
	return out
}

// Check fills in, for every entry, whether repo still holds the digest and
// where the tag points now, and decides what gets imported. Lookups run in
// parallel: one HEAD per tag, two when the tag moved or is gone.
func Check(ctx context.Context, repo *registry.Repo, entries []Entry) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range entries {
		e := &entries[i]
		if e.Digest == "" {
			continue
		}
		g.Go(func() error {
			d, err := v1.NewHash(e.Digest)
			if err != nil {
				e.Reason = fmt.Sprintf("DCT's digest %s is malformed", e.Digest)
				return nil
			}
			// Notary can sign any target name; docker only ever signed tags.
			if _, err := name.NewTag(repo.Name().String()+":"+e.Tag, name.StrictValidation); err != nil {
				e.Reason = fmt.Sprintf("DCT target %q is not an image tag", e.Tag)
				return nil
			}
			// The tag first: where it still points at the signed digest (the
			// usual case), that one HEAD also shows the digest is there.
			var nf *storage.NotFoundError
			desc, err := repo.Resolve(gctx, repo.Name().Tag(e.Tag))
			switch {
			case err == nil:
				e.TagDigest = desc.Digest.String()
			case errors.As(err, &nf):
			default:
				return fmt.Errorf("resolving %s:%s: %w", repo.Name(), e.Tag, err)
			}
			if e.TagDigest != e.Digest {
				desc, err = repo.Resolve(gctx, repo.Name().Digest(d.String()))
			}
			switch {
			case err == nil:
				// The length is DCT's (signed), not the registry's word.
				desc.Size = e.Length
				e.DigestPresent, e.subject = true, desc
			case errors.As(err, &nf):
			default:
				return fmt.Errorf("checking %s@%s: %w", repo.Name(), e.Digest, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i := range entries {
		e := &entries[i]
		switch {
		case e.Reason != "":
		case !e.DigestPresent:
			e.Reason = fmt.Sprintf("the signed manifest %s is no longer in %s", e.Digest, repo.Name())
		default:
			e.Import = true
			switch e.TagDigest {
			case e.Digest:
			case "":
				e.Warnings = append(e.Warnings, fmt.Sprintf("tag %s no longer exists in %s; the binding is imported, but %s:%s will not verify until the tag points to %s again", e.Tag, repo.Name(), repo.Name(), e.Tag, e.Digest))
			default:
				e.Warnings = append(e.Warnings, fmt.Sprintf("tag %s moved since DCT signed it: it now points to %s, which DCT did not sign for it; the binding to %s is imported, but verifying %s:%s will fail until the tag is restored or the new digest is signed", e.Tag, e.TagDigest, e.Digest, repo.Name(), e.Tag))
			}
		}
	}
	return nil
}

// Partial reports whether a tag DCT trusted cannot be carried over.
func (p *Plan) Partial() bool {
	for _, e := range p.Entries {
		if !e.Import && !e.AlreadyImported {
			return true
		}
	}
	return false
}
