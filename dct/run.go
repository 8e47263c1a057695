package dct

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/internal/safetext"
	"github.com/imgsign/imgsign/sign"
)

// Request is one import of a GUN's Docker Content Trust: where its TUF
// metadata comes from, how its root is pinned, which tags, where they live
// now and the key that re-signs them. Errors name the flags of
// `imgsign dct import`, which is what fills it in.
type Request struct {
	// GUN is the repository docker signed, registry host included, without
	// tag or digest (docker.io/acme/app); a trailing slash is ignored.
	GUN string
	// Repository is the image repository the tags live in now, if not the
	// GUN (after moving registries, say).
	Repository string

	// Server is the Notary server URL; "" means DefaultServer(GUN).
	Server string
	// Offline reads the trust dir only, never a Notary server.
	Offline bool
	// ServerCA is a PEM file of CAs trusted for the server's TLS.
	ServerCA string
	// TrustDir is the Docker trust dir; "" means DefaultTrustDir().
	TrustDir string
	// Pin is how the root of trust is established.
	Pin Pin
	// AllowExpired imports from expired TUF metadata, recording the expiry
	// in each evidence attestation.
	AllowExpired bool

	// Tags limits the import to these tags. Each must be one the metadata
	// signs, and naming one docker pull never trusted fails the import.
	Tags []string
	// DryRun works out the plan and pushes nothing.
	DryRun bool
	// AllowPartial accepts that some trusted tags cannot be carried over.
	AllowPartial bool

	// Client reaches the registry the tags live in. It should not note an
	// assumed tag: the names it parses are repositories.
	Client *registry.Client
	// Signer loads the signing key; nil only for a dry run, where a key
	// just finds the tags it already imported. It is called once the
	// request is checked and before any Notary request, so a wrong
	// passphrase costs no round trip.
	Signer func(context.Context) (sign.Signer, error)
	// KeyName names the key in errors (keys.DescribeRef of its reference).
	KeyName string
	// TSAURL is an RFC 3161 timestamp authority for the new signatures.
	TSAURL string
	// Warn is told, as they arise, what the user must hear even if the
	// import fails later (a root trusted on first use); nil drops them.
	Warn func(msg string)
}

// Run imports a GUN: it loads and verifies the TUF metadata, works out the
// plan (the tags docker pull trusted, checked against the registry, minus
// those this key already imported), and unless DryRun signs each tag's
// binding and attaches the DCT evidence.
//
// Once the plan is made it is returned even with an error, so that it can
// be shown: the error is then the import's failure, a Tags entry DCT did
// not trust, or (without AllowPartial) trusted tags that cannot be carried
// over. Entries of a real import carry what was pushed.
func Run(ctx context.Context, req Request) (*Plan, error) {
	if !req.DryRun && req.Signer == nil {
		return nil, errkind.Inputf("dct import: --key is required to sign (or use --dry-run)")
	}
	gun := strings.TrimSuffix(req.GUN, "/")
	if _, err := name.NewRepository(gun, name.StrictValidation); err != nil {
		return nil, errkind.Inputf("GUN %q: %v — a GUN is the repository docker signed, registry host included, without tag or digest (docker.io/acme/app)", gun, err)
	}
	src := Source{GUN: gun, ServerCA: req.ServerCA, TrustDir: req.TrustDir}
	if src.TrustDir == "" {
		src.TrustDir = DefaultTrustDir()
	}
	if !req.Offline {
		src.Server = req.Server
		if src.Server == "" {
			src.Server = DefaultServer(gun)
		}
	}
	var s sign.Signer
	if req.Signer != nil {
		var err error
		if s, err = req.Signer(ctx); err != nil {
			return nil, err
		}
	}
	md, err := Load(ctx, src, req.Pin, req.AllowExpired)
	if err != nil {
		return nil, err
	}
	if md.Pinning == "tofu" && req.Warn != nil {
		req.Warn(fmt.Sprintf("trusting on first use the root of %s served by %s (key IDs %s); nothing pinned it — check these IDs with the repository's owners", gun, src.Server, strings.Join(md.RootKeyIDs, ", ")))
	}
	entries, untrusted, err := md.Trusted(req.Tags)
	if err != nil {
		return nil, err
	}
	for _, tag := range req.Tags {
		found := slices.ContainsFunc(entries, func(e Entry) bool { return e.Tag == tag }) ||
			slices.ContainsFunc(untrusted, func(u Untrusted) bool { return u.Tag == tag })
		if !found {
			return nil, errkind.Inputf("--tag %s: %s's Docker Content Trust metadata signs no such tag", tag, gun)
		}
	}
	repoName := req.Repository
	if repoName == "" {
		repoName = gun
	}
	repo, err := openRepository(ctx, req.Client, repoName, !req.DryRun)
	if err != nil {
		return nil, err
	}
	if err := Check(ctx, repo, entries); err != nil {
		return nil, err
	}
	if s != nil {
		pub, err := s.GetPublicKeyPem()
		if err != nil {
			return nil, fmt.Errorf("public key of %s: %w", req.KeyName, err)
		}
		if err := MarkImported(ctx, req.Client, repo, entries, pub); err != nil {
			return nil, err
		}
	}
	plan := &Plan{GUN: gun, Repository: repo.Name().String(), Pinning: md.Pinning, RootKeyIDs: md.RootKeyIDs, Expired: md.Expired, Entries: entries, Untrusted: untrusted}
	if !req.DryRun {
		if err := Import(ctx, md, repo, plan.Entries, s, ImportOptions{AllowExpired: req.AllowExpired, TSAURL: req.TSAURL}); err != nil {
			return plan, err
		}
	}
	// A tag asked for by name that docker pull never trusted is a failure,
	// not a quiet "0 imported": a script naming its tags must not go on as
	// if they were carried over.
	for _, u := range plan.Untrusted {
		if slices.Contains(req.Tags, u.Tag) {
			return plan, errkind.Untrustedf("--tag %s: Docker Content Trust did not trust it for %s (%s); nothing was imported for it — sign that digest anew with `imgsign sign` if it is meant to be trusted", safetext.Quote(u.Tag), gun, u.Reason)
		}
	}
	if plan.Partial() && !req.AllowPartial {
		n := 0
		for _, e := range plan.Entries {
			if !e.Import && !e.AlreadyImported {
				n++
			}
		}
		return plan, errkind.Untrustedf("%d of %d tags Docker Content Trust trusted for %s cannot be carried over (see above); --allow-partial accepts that", n, len(plan.Entries), gun)
	}
	return plan, nil
}

// openRepository opens the repository the tags live in, for pushing unless
// only reading.
func openRepository(ctx context.Context, c *registry.Client, repository string, push bool) (*registry.Repo, error) {
	ref, err := c.ParseReference(repository)
	if err != nil {
		return nil, err
	}
	return c.Open(ctx, ref.Context(), push)
}
