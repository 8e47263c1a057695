package dct

import (
	"encoding/json"
	"errors"
	"fmt"

	notaryclient "github.com/theupdateframework/notary/client"
	store "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
)

// loadAllowingExpired walks the same update Notary's client does (root,
// timestamp, snapshot, targets, then the delegation tree parent-first) with
// the same builder, so every signature, threshold, checksum and version is
// checked exactly as Notary checks it — except that expired metadata is
// accepted; Load reports it. The client library offers no such switch
// (DCT's 14-day timestamps have long expired for many repositories).
func loadAllowingExpired(o notaryclient.TUFLoadOptions) (*tuf.Repo, error) {
	const allowExpired = true
	root := data.CanonicalRootRole
	var b tuf.RepoBuilder
	if raw, err := o.Cache.GetSized(root.String(), store.NoSizeLimit); err == nil {
		// The cached root is the pin, as in Notary's bootstrap; a newer
		// root on the server is reached through every version in between.
		if b, err = rootFromCached(o, raw); err != nil {
			return nil, err
		}
	} else {
		raw, err := o.RemoteStore.GetSized(root.String(), store.NoSizeLimit)
		if err != nil {
			return nil, notFoundAsNotExist(o, err)
		}
		b = tuf.NewRepoBuilder(o.GUN, o.CryptoService, o.TrustPinning)
		if err := b.Load(root, raw, 1, allowExpired); err != nil {
			return nil, err
		}
	}

	// The timestamp is always fetched fresh; the cache only stands in when
	// the server cannot be reached.
	ts := b.GetConsistentInfo(data.CanonicalTimestampRole)
	raw, err := o.RemoteStore.GetSized(ts.ConsistentName(), ts.Length())
	if isUnreachable(err) {
		raw, err = o.Cache.GetSized(ts.RoleName.String(), ts.Length())
	}
	if err != nil {
		return nil, notFoundAsNotExist(o, err)
	}
	if err := b.Load(ts.RoleName, raw, cachedVersion(o, ts.RoleName), allowExpired); err != nil {
		return nil, err
	}
	if _, err := loadCacheThenRemote(o, b, b.GetConsistentInfo(data.CanonicalSnapshotRole)); err != nil {
		return nil, err
	}

	queue := []data.DelegationRole{{BaseRole: data.BaseRole{Name: data.CanonicalTargetsRole}, Paths: []string{""}}}
	for len(queue) > 0 {
		role := queue[0]
		queue = queue[1:]
		ci := b.GetConsistentInfo(role.Name)
		if !ci.ChecksumKnown() {
			continue // not in the snapshot: nothing signed there
		}
		raw, err := loadCacheThenRemote(o, b, ci)
		var threshold signed.ErrRoleThreshold
		switch {
		case err == nil:
		case errors.As(err, &threshold) && role.Name != data.CanonicalTargetsRole:
			continue // Notary skips a delegation that does not verify; Load reports it
		default:
			return nil, err
		}
		// Loading succeeded, so the bytes parse (as in Notary's client).
		var t data.SignedTargets
		if err := json.Unmarshal(raw, &t); err != nil {
			return nil, err
		}
		queue = append(t.GetValidDelegations(role), queue...)
	}
	repo, _, err := b.Finish()
	return repo, err
}

// rootFromCached returns a builder holding the newest root the server has
// that the cached root leads to: each version from the cached one up must
// be signed by the keys of the one before (Notary's rotation rule, checked
// by its builder). Without a server, or without a newer root, the cached
// root it is.
func rootFromCached(o notaryclient.TUFLoadOptions, cached []byte) (tuf.RepoBuilder, error) {
	root := data.CanonicalRootRole
	b := tuf.NewRepoBuilder(o.GUN, o.CryptoService, trustpinning.TrustPinConfig{})
	if err := b.Load(root, cached, 1, true); err != nil {
		return nil, err
	}
	current := b.GetLoadedVersion(root)
	latest, err := o.RemoteStore.GetSized(root.String(), store.NoSizeLimit)
	if err != nil {
		return b, nil // offline, or no newer root to be had
	}
	newest, err := parseRoot(latest)
	if err != nil {
		return nil, err
	}
	v := newest.Signed.Version
	if v <= current {
		return b, nil
	}
	nb := tuf.NewRepoBuilder(o.GUN, o.CryptoService, trustpinning.TrustPinConfig{})
	if err := nb.LoadRootForUpdate(cached, current, false); err != nil {
		return nil, err
	}
	for i := current + 1; i < v; i++ {
		raw, err := o.RemoteStore.GetSized(fmt.Sprintf("%d.%s", i, root), store.NoSizeLimit)
		if err != nil {
			return nil, err
		}
		if err := nb.LoadRootForUpdate(raw, i, false); err != nil {
			return nil, err
		}
	}
	if err := nb.LoadRootForUpdate(latest, v, true); err != nil {
		return nil, err
	}
	return nb, nil
}

// loadCacheThenRemote loads a role the cache holds a valid copy of, else
// the server's, as Notary's client does for snapshot and targets.
func loadCacheThenRemote(o notaryclient.TUFLoadOptions, b tuf.RepoBuilder, ci tuf.ConsistentInfo) ([]byte, error) {
	if raw, err := o.Cache.GetSized(ci.RoleName.String(), ci.Length()); err == nil {
		if err := b.Load(ci.RoleName, raw, 1, true); err == nil {
			return raw, nil
		}
	}
	raw, err := o.RemoteStore.GetSized(ci.ConsistentName(), ci.Length())
	if err != nil {
		return nil, err
	}
	return raw, b.Load(ci.RoleName, raw, cachedVersion(o, ci.RoleName), true)
}

// cachedVersion is the version of role the cache holds (1 without one):
// what the server sends must not be older, as in Notary's client, even
// though expiry is waived — an expired version can be replayed, an older
// one than already seen is a rollback.
func cachedVersion(o notaryclient.TUFLoadOptions, role data.RoleName) int {
	raw, err := o.Cache.GetSized(role.String(), store.NoSizeLimit)
	if err != nil {
		return 1
	}
	var s struct {
		Signed data.SignedCommon `json:"signed"`
	}
	if json.Unmarshal(raw, &s) != nil || s.Signed.Version < 1 {
		return 1
	}
	return s.Signed.Version
}

func isUnreachable(err error) bool {
	switch err.(type) {
	case store.ErrServerUnavailable, store.ErrOffline, store.NetworkError, store.ErrMetaNotFound:
		return true
	}
	return false
}

func notFoundAsNotExist(o notaryclient.TUFLoadOptions, err error) error {
	if _, ok := err.(store.ErrMetaNotFound); ok {
		return notaryclient.ErrRepositoryNotExist{}
	}
	return err
}
