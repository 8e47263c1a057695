package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/storage"
)

// Digest returns the sha256 digest of b.
func Digest(b []byte) v1.Hash {
	sum := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

// PutBlob uploads b unless the registry already has it.
func (r *Repo) PutBlob(ctx context.Context, b []byte) (v1.Descriptor, error) {
	d := Digest(b)
	desc := v1.Descriptor{Digest: d, Size: int64(len(b))}
	resp, err := r.do(ctx, http.MethodHead, r.url("/blobs/"+d.String(), nil), nil, nil)
	if err != nil {
		return desc, err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return desc, nil
	}
	resp, err = r.do(ctx, http.MethodPost, r.url("/blobs/uploads/", nil), nil, nil)
	if err != nil {
		return desc, err
	}
	if err := checkAndClose(resp, http.StatusAccepted); err != nil {
		return desc, classify(ctx, fmt.Errorf("starting upload of %s: %w", d, err), r.name.RegistryStr())
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.Header.Get("Location") == "" {
		return desc, errkind.Operationalf("registry %s gave no usable upload location", r.name.RegistryStr())
	}
	u := (&url.URL{Scheme: r.scheme, Host: r.name.RegistryStr()}).ResolveReference(loc)
	q := u.Query()
	q.Set("digest", d.String())
	u.RawQuery = q.Encode()
	resp, err = r.do(ctx, http.MethodPut, u.String(), http.Header{"Content-Type": {"application/octet-stream"}}, b)
	if err != nil {
		return desc, err
	}
	if err := checkAndClose(resp, http.StatusCreated, http.StatusOK, http.StatusAccepted); err != nil {
		return desc, classify(ctx, fmt.Errorf("uploading %s: %w", d, err), r.name.RegistryStr())
	}
	return desc, nil
}

// checkAndClose returns the registry's error for a response without one of
// the expected codes, then closes the body. The error body must be read
// before closing: transport.CheckError turns it into a *transport.Error,
// which carries the status code classify needs (401/403 → docker login).
func checkAndClose(resp *http.Response, codes ...int) error {
	err := transport.CheckError(resp, codes...)
	resp.Body.Close()
	return err
}

// PutManifest stores a manifest under identifier (a tag or its digest).
func (r *Repo) PutManifest(ctx context.Context, identifier string, raw []byte, mt types.MediaType) error {
	resp, err := r.do(ctx, http.MethodPut, r.url("/manifests/"+identifier, nil), http.Header{"Content-Type": {string(mt)}}, raw)
	if err != nil {
		return err
	}
	if err := checkAndClose(resp, http.StatusCreated, http.StatusOK, http.StatusAccepted); err != nil {
		return classify(ctx, fmt.Errorf("storing manifest %s: %w", identifier, err), r.name.RegistryStr())
	}
	return nil
}

// referrerTagHex is how many hex digits of the referrer digest a ReferrerTag carries.
const referrerTagHex = 32

// ReferrerTag is the per-referrer tag imgsign writes on registries without the
// referrers API: sha256-<subject hex>.ref-<referrer hex prefix>. Each writer
// owns its tag, so no concurrent write can remove another's, and discovery
// lists tags with the sha256-<subject hex> prefix to find every referrer even
// when the shared referrers index lost an update.
func ReferrerTag(subject, referrer v1.Hash) string {
	// A well-formed digest has at least 64 hex digits; a malformed one must
	// not panic.
	return FallbackTag(subject) + ".ref-" + referrer.Hex[:min(len(referrer.Hex), referrerTagHex)]
}

// PushReferrer stores a referrer manifest whose blobs are already uploaded.
// On registries with the referrers API the registry indexes it; otherwise it
// is tagged with its own ReferrerTag and added to the shared referrers tag
// index, re-checking the index after writing because other writers do the
// same read-modify-write and the last one wins.
func (r *Repo) PushReferrer(ctx context.Context, ref storage.Referrer) (usedAPI bool, err error) {
	d := ref.Descriptor.Digest
	if err := r.PutManifest(ctx, d.String(), ref.Manifest, ref.Descriptor.MediaType); err != nil {
		return false, err
	}
	supported, err := r.SupportsReferrers(ctx, ref.Subject)
	if err != nil {
		return false, err
	}
	if supported {
		return true, nil
	}
	if err := r.PutManifest(ctx, ReferrerTag(ref.Subject, d), ref.Manifest, ref.Descriptor.MediaType); err != nil {
		return false, err
	}
	return false, r.addToFallbackIndex(ctx, ref)
}

// addToFallbackIndex adds ref to the subject's referrers tag index and keeps
// re-adding it while later writers' updates drop it. The per-referrer tag
// already guarantees discovery; this keeps the shared index complete for other
// tools (cosign, oras) that only read the index.
func (r *Repo) addToFallbackIndex(ctx context.Context, ref storage.Referrer) error {
	const rounds = 6
	for round := 0; round < rounds; round++ {
		descs, err := r.FallbackIndex(ctx, ref.Subject)
		if err != nil {
			return err
		}
		if !containsDigest(descs, ref.Descriptor.Digest) {
			descs = append(descs, ref.Descriptor)
			sort.Slice(descs, func(i, j int) bool { return descs[i].Digest.String() < descs[j].Digest.String() })
			raw, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: descs})
			if err != nil {
				return err
			}
			if err := r.PutManifest(ctx, FallbackTag(ref.Subject), raw, types.OCIImageIndex); err != nil {
				return err
			}
		} else if round > 0 {
			return nil
		}
		// Give concurrent writers time to land their update, then check ours survived.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(50+rand.IntN(150)) * time.Millisecond):
		}
	}
	return nil
}

func containsDigest(descs []v1.Descriptor, d v1.Hash) bool {
	for _, x := range descs {
		if x.Digest == d {
			return true
		}
	}
	return false
}

var _ storage.Writer = (*Repo)(nil)
