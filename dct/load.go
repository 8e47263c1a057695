// Package dct carries trust over from Docker Content Trust (Notary v1): it
// reads and verifies a repository's TUF metadata with Notary's own client
// library, plans which tag → digest bindings can be re-signed with imgsign,
// and re-signs them with tag binding plus an attestation recording the DCT
// evidence each binding came from.
package dct

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/docker/go/canonical/json"
	"github.com/sirupsen/logrus"
	notaryclient "github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/cryptoservice"
	store "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/imgsign/imgsign/internal/boundedfile"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/registry"
)

// Source says where a GUN's TUF metadata comes from: a Notary server, a
// Docker trust directory (~/.docker/trust), or both — as docker did, the
// trust directory's cached root.json pins the root and its cached metadata
// stands in when the server is unreachable.
type Source struct {
	// GUN is the Globally Unique Name: the image repository as docker names
	// it, registry host included (docker.io/library/alpine).
	GUN string
	// Server is the Notary server URL; empty reads the trust dir only.
	Server string
	// ServerCA is a PEM file of CAs trusted for the server's TLS, on top of
	// the system pool.
	ServerCA string
	// TrustDir is a Docker/Notary trust directory; empty uses none. It is
	// only read, never written.
	TrustDir string
}

// Pin is how the root of trust is established.
type Pin struct {
	// KeyIDs are root key IDs: as root.json lists them (the certificate
	// key's ID) or the bare public key's (`notary key list`).
	KeyIDs []string
	// CertFiles are PEM root certificates; their key IDs are pinned.
	CertFiles []string
	// CAFile is a PEM CA bundle the root certificate must chain to.
	CAFile string
	// TrustOnFirstUse accepts whatever root the server serves when nothing
	// else pins it. Insecure: it is what the flag's name says.
	TrustOnFirstUse bool
}

// Metadata is a GUN's verified TUF repository and how trust in it was set up.
type Metadata struct {
	GUN  string
	Repo *tuf.Repo
	// Pinning is how the root was trusted: "trust-dir" (cached root.json),
	// "key-id", "certificate", "ca" or "tofu".
	Pinning string
	// RootKeyIDs are the root role's key IDs in the verified root.json.
	RootKeyIDs []string
	// Expired lists the roles whose metadata had expired when read; only
	// non-empty when loading allowed expired metadata.
	Expired []ExpiredRole
	// Unverified are delegations the snapshot lists whose metadata did not
	// verify (unknown key, threshold not met, expired): Notary ignored them
	// and so does the import, but the plan reports what they claimed.
	Unverified []UnverifiedRole
	Server     string
	TrustDir   string
}

// ExpiredRole is one role whose metadata was past its expiry when read.
type ExpiredRole struct {
	Role    string    `json:"role"`
	Expires time.Time `json:"expires"`
}

// UnverifiedRole is a delegation Notary would not trust, with the targets
// its (unverified) metadata claims.
type UnverifiedRole struct {
	Role    string
	Reason  string
	Targets data.Files
}

// DefaultTrustDir is where docker keeps its trust data.
func DefaultTrustDir() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "trust")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".docker", "trust")
}

// DefaultServer is the Notary server docker used for gun: notary.docker.io
// for Docker Hub, the registry host itself otherwise; DOCKER_CONTENT_TRUST_SERVER
// overrides both, as it did for docker.
func DefaultServer(gun string) string {
	if s := os.Getenv("DOCKER_CONTENT_TRUST_SERVER"); s != "" {
		return s
	}
	host, _, _ := strings.Cut(gun, "/")
	if host == "docker.io" || host == "index.docker.io" {
		return "https://notary.docker.io"
	}
	return "https://" + host
}

// Load reads gun's TUF metadata and verifies it as the Notary client does:
// signatures and thresholds on every role, hashes and lengths from snapshot
// and timestamp, version rollback, the root pinned by the trust dir's cached
// root.json or by pin. Expired metadata fails unless allowExpired, in which
// case it is loaded and listed in Metadata.Expired.
//
// ctx bounds the requests to the Notary server: Notary's client takes no
// context, so it reaches them through the transport.
func Load(ctx context.Context, src Source, pin Pin, allowExpired bool) (*Metadata, error) {
	// Notary's client logs through logrus' global logger; its warnings (say,
	// "using cached timestamp") surface as structured findings instead.
	logrus.SetOutput(io.Discard)
	gun := data.GUN(src.GUN)
	if src.GUN == "" {
		return nil, errkind.Inputf("no GUN given: name the repository as docker did, e.g. docker.io/myorg/app")
	}
	seed, err := readTrustDir(src.TrustDir, gun)
	if err != nil {
		return nil, err
	}
	_, cachedRoot := seed[data.CanonicalRootRole]
	cache := store.NewMemoryStore(seed)
	// Offline, the trust dir stands in for the server too, so Notary's
	// client treats it exactly like a server that serves those files: a
	// delegation whose cached copy no longer verifies is skipped as online,
	// instead of being re-fetched from a server that is not there.
	var remote store.RemoteStore = trustDirServer{store.NewMemoryStore(seed), src.TrustDir}
	if src.Server != "" {
		rt, err := serverTransport(ctx, src)
		if err != nil {
			return nil, err
		}
		if remote, err = store.NewNotaryServerStore(strings.TrimSuffix(src.Server, "/"), gun, rt); err != nil {
			return nil, errkind.Inputf("notary server URL %q: %w", src.Server, err)
		}
	} else if !cachedRoot {
		return nil, errkind.Inputf("no trust data for %s in the trust dir %q (read offline): point --trust-dir at the Docker trust dir that holds it, or drop --offline", src.GUN, src.TrustDir)
	}

	pinConfig, pinning, pinnedIDs, err := pinConfig(src.GUN, pin, cachedRoot)
	if err != nil {
		return nil, err
	}
	if pinning == "tofu" && !tlsOrLoopback(src.Server) {
		// Signed metadata survives plain HTTP; a root trusted on first use
		// does not: anyone on the path could serve their own.
		return nil, errkind.Inputf("--insecure-trust-on-first-use over plain HTTP (%s) is refused: use https, or pin the root", src.Server)
	}
	if len(pinnedIDs) > 0 {
		pinnedIDs = rootIDsFor(pinnedIDs, cache, remote)
		pinConfig.Certs[src.GUN] = pinnedIDs
	}
	opts := notaryclient.TUFLoadOptions{GUN: gun, TrustPinning: pinConfig, CryptoService: cryptoservice.EmptyService, Cache: cache, RemoteStore: remote}
	var repo *tuf.Repo
	if allowExpired {
		repo, err = loadAllowingExpired(opts)
	} else if repo, _, err = notaryclient.LoadTUFRepo(opts); err != nil {
		// The client reports expired cached metadata as whatever the
		// fallback fetch then hit ("client is offline"); when the metadata
		// verifies but for its expiry, say that.
		if lenient, lerr := loadAllowingExpired(opts); lerr == nil {
			if exp := expiredRoles(lenient, time.Now()); len(exp) > 0 {
				err = signed.ErrExpired{Role: data.RoleName(exp[0].Role), Expired: exp[0].Expires.Format(time.RFC3339)}
			}
		}
	}
	if err != nil {
		return nil, classify(src, err)
	}
	md := &Metadata{GUN: src.GUN, Repo: repo, Pinning: pinning, Server: src.Server, TrustDir: src.TrustDir}
	md.RootKeyIDs = append(md.RootKeyIDs, repo.Root.Signed.Roles[data.CanonicalRootRole].KeyIDs...)
	sort.Strings(md.RootKeyIDs)
	// Notary checks a pin only on a root it has no cached one for; with
	// the trust dir's root as the anchor (which keeps its rollback checks),
	// the root it ended up with is held to the pin here, by Notary's rules.
	if pinning != "trust-dir" && pinning != "tofu" {
		final, err := repo.Root.ToSigned()
		if err == nil {
			_, err = trustpinning.ValidateRoot(nil, final, gun, pinConfig)
		}
		if err != nil {
			return nil, errkind.Untrustedf("root of trust for %s rejected: %w — it has key IDs %s; check the pinned root key ID/certificate/CA, or whether the trust dir holds another repository's root", src.GUN, err, strings.Join(md.RootKeyIDs, ", "))
		}
	}
	md.Expired = expiredRoles(repo, time.Now())
	md.Unverified = unverifiedDelegations(repo, cache, remote)
	return md, nil
}

// classify turns Notary's errors into imgsign's kinds with the fix named.
func classify(src Source, err error) error {
	var expired signed.ErrExpired
	var notExist notaryclient.ErrRepositoryNotExist
	var netErr store.NetworkError
	var unavailable store.ErrServerUnavailable
	var offline store.ErrOffline
	var rootErr *trustpinning.ErrValidationFail
	var rotation *trustpinning.ErrRootRotationFail
	switch {
	case errors.As(err, &expired):
		return errkind.Untrustedf("TUF metadata of %s: %s role expired at %s; Notary refuses it — pass --allow-expired to import it anyway (the expiry is recorded in each evidence attestation)", src.GUN, expired.Role, expired.Expired)
	case errors.As(err, &notExist):
		return errkind.Inputf("%s has no trust data on %s: check the GUN (docker names it with the registry host, e.g. docker.io/library/alpine)", src.GUN, where(src))
	case errors.As(err, &rootErr), errors.As(err, &rotation):
		return errkind.Untrustedf("root of trust for %s rejected: %w — check the pinned root key ID/certificate", src.GUN, err)
	case errors.As(err, &unavailable) && strings.Contains(unavailable.Error(), "401"):
		host, _, _ := strings.Cut(src.GUN, "/")
		return errkind.Operationalf("reading TUF metadata of %s from %s: the server refused the credentials (log in with `docker login %s`; the Notary server is asked for a token with that registry's credentials)", src.GUN, where(src), host)
	case errors.As(err, &netErr), errors.As(err, &unavailable), errors.As(err, &offline):
		return errkind.Operationalf("reading TUF metadata of %s from %s: %w — check --server and --server-ca, or read a trust dir with --offline", src.GUN, where(src), err)
	default:
		// Bad signatures, thresholds, checksums, lengths (the server sending
		// more than was signed), rolled-back versions, unparsable JSON.
		return errkind.Untrustedf("TUF metadata of %s failed verification (tampered or corrupted): %w", src.GUN, err)
	}
}

func where(src Source) string {
	if src.Server != "" {
		return src.Server
	}
	return "trust dir " + src.TrustDir
}

func tlsOrLoopback(server string) bool {
	u, err := url.Parse(server)
	if err != nil {
		return false
	}
	if u.Scheme == "https" {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback())
}

// trustDirServer serves a trust dir's metadata the way a Notary server
// would serve it, for reading offline.
type trustDirServer struct {
	*store.MemoryStore
	dir string
}

func (s trustDirServer) Location() string { return "trust dir " + s.dir }

func (trustDirServer) GetKey(data.RoleName) ([]byte, error) { return nil, store.ErrOffline{} }

func (trustDirServer) RotateKey(data.RoleName) ([]byte, error) { return nil, store.ErrOffline{} }

// readTrustDir reads the GUN's cached metadata from a Docker trust dir,
// role name → bytes, so Notary's update logic can use it from memory
// without ever writing to the directory.
func readTrustDir(dir string, gun data.GUN) (map[data.RoleName][]byte, error) {
	seed := map[data.RoleName][]byte{}
	if dir == "" {
		return seed, nil
	}
	meta := filepath.Join(dir, "tuf", filepath.FromSlash(gun.String()), "metadata")
	err := filepath.WalkDir(meta, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".json") {
			return nil
		}
		rel, err := filepath.Rel(meta, p)
		if err != nil {
			return err
		}
		// Notary's own bound on one metadata file.
		b, err := boundedfile.Read(p, 100<<20)
		if err != nil {
			return err
		}
		seed[data.RoleName(strings.TrimSuffix(filepath.ToSlash(rel), ".json"))] = b
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, errkind.Inputf("reading trust dir %s: %w", meta, err)
	}
	return seed, nil
}

// pinConfig builds Notary's trust pinning from pin. Without any pin and
// without a cached root it refuses, unless trust on first use was asked for.
func pinConfig(gun string, pin Pin, cachedRoot bool) (trustpinning.TrustPinConfig, string, []string, error) {
	cfg := trustpinning.TrustPinConfig{DisableTOFU: !pin.TrustOnFirstUse}
	ids := append([]string(nil), pin.KeyIDs...)
	for _, f := range pin.CertFiles {
		id, err := certKeyID(f)
		if err != nil {
			return cfg, "", nil, err
		}
		ids = append(ids, id)
	}
	pinning := ""
	switch {
	case len(ids) > 0:
		cfg.Certs = map[string][]string{gun: ids}
		pinning = "key-id"
		if len(pin.CertFiles) > 0 {
			pinning = "certificate"
		}
	case pin.CAFile != "":
		if _, err := os.Stat(pin.CAFile); err != nil {
			return cfg, "", nil, errkind.Inputf("root CA file: %w", err)
		}
		cfg.CA = map[string]string{gun: pin.CAFile}
		pinning = "ca"
	case cachedRoot:
		pinning = "trust-dir"
	case pin.TrustOnFirstUse:
		pinning = "tofu"
	default:
		return cfg, "", nil, errkind.Inputf("no pinned root for %s: give --root-key-id (the root key ID `docker trust inspect` or `notary key list` shows), --root-cert or --root-ca, or a --trust-dir that already holds its root.json; --insecure-trust-on-first-use trusts whatever root the server serves", gun)
	}
	return cfg, pinning, ids, nil
}

// rootIDsFor adds to pinned the root.json key IDs of root keys pinned by
// their canonical ID — the ID of the bare public key, which `notary key
// list` and the trust dir's private key file names show — since Notary's
// pinning matches only the IDs root.json lists (certificate keys). The
// served root is only read here to map IDs; Notary then verifies it against
// the pin as usual, and a certificate can only map to a pinned canonical ID
// if it holds that very public key.
func rootIDsFor(pinned []string, cache store.MetadataStore, remote store.RemoteStore) []string {
	raw, err := cache.GetSized(data.CanonicalRootRole.String(), store.NoSizeLimit)
	if err != nil {
		if raw, err = remote.GetSized(data.CanonicalRootRole.String(), store.NoSizeLimit); err != nil {
			return pinned // Notary's own fetch reports the problem
		}
	}
	root, err := parseRoot(raw)
	if err != nil {
		return pinned
	}
	out := append([]string(nil), pinned...)
	for _, id := range root.Signed.Roles[data.CanonicalRootRole].KeyIDs {
		k, ok := root.Signed.Keys[id]
		if !ok {
			continue
		}
		if canon, err := utils.CanonicalKeyID(k); err == nil && slices.Contains(pinned, canon) && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// parseRoot reads root.json bytes without verifying them.
func parseRoot(raw []byte) (*data.SignedRoot, error) {
	var s data.Signed
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	return data.RootFromSigned(&s)
}

// certKeyID is the TUF key ID Notary gives a root certificate in root.json.
func certKeyID(file string) (string, error) {
	b, err := boundedfile.Read(file, 1<<20)
	if err != nil {
		return "", errkind.Inputf("root certificate: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", errkind.Inputf("root certificate %s: not a PEM CERTIFICATE", file)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", errkind.Inputf("root certificate %s: %w", file, err)
	}
	return utils.CertToKey(cert).ID(), nil
}

// serverTransport trusts the system CAs plus src.ServerCA and authenticates
// to the server the way docker did (see auth.go).
func serverTransport(ctx context.Context, src Source) (http.RoundTripper, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if src.ServerCA != "" {
		b, err := boundedfile.Read(src.ServerCA, 4<<20)
		if err != nil {
			return nil, errkind.Inputf("notary server CA: %w", err)
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, errkind.Inputf("notary server CA %s: no PEM certificates in it", src.ServerCA)
		}
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	base.ResponseHeaderTimeout = registry.ResponseHeaderTimeout
	return authTransport(ctx, src, &deadlineTransport{ctx: ctx, base: base, timeout: registry.RequestTimeout}), nil
}

// deadlineTransport bounds each request to the Notary server, body
// included, as imgsign bounds registry reads: Notary's client takes no
// context, and a server that accepts the connection and never answers (or
// trickles its answer) held dct import forever. Once the server has not
// answered, later requests (Notary's client asks again for what it could
// not get) fail at once instead of waiting as long again.
type deadlineTransport struct {
	// ctx is Load's: cancelling it ends every request.
	ctx     context.Context
	base    http.RoundTripper
	timeout time.Duration
	silent  atomic.Pointer[error]
}

func (d *deadlineTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := d.silent.Load(); err != nil {
		return nil, *err
	}
	ctx, cancelTimeout := context.WithTimeout(req.Context(), d.timeout)
	stop := context.AfterFunc(d.ctx, cancelTimeout)
	cancel := func() { stop(); cancelTimeout() }
	resp, err := d.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		var ne net.Error
		switch {
		case d.ctx.Err() != nil:
			return nil, fmt.Errorf("Notary server %s: %w", req.URL.Host, d.ctx.Err())
		case ctx.Err() == context.DeadlineExceeded:
			err = errkind.Operationalf("Notary server %s did not answer within %s", req.URL.Host, d.timeout)
		case errors.As(err, &ne) && ne.Timeout():
			err = errkind.Operationalf("Notary server %s did not answer within %s: %w", req.URL.Host, registry.ResponseHeaderTimeout, err)
		default:
			return nil, err
		}
		d.silent.Store(&err)
		return nil, err
	}
	resp.Body = registry.CancelOnClose(resp.Body, cancel)
	return resp, nil
}

func expiredRoles(repo *tuf.Repo, now time.Time) []ExpiredRole {
	var out []ExpiredRole
	add := func(role string, exp time.Time) {
		if exp.Before(now) {
			out = append(out, ExpiredRole{Role: role, Expires: exp.UTC()})
		}
	}
	add(data.CanonicalRootRole.String(), repo.Root.Signed.Expires)
	if repo.Timestamp != nil {
		add(data.CanonicalTimestampRole.String(), repo.Timestamp.Signed.Expires)
	}
	if repo.Snapshot != nil {
		add(data.CanonicalSnapshotRole.String(), repo.Snapshot.Signed.Expires)
	}
	for _, r := range sortedRoles(repo) {
		add(r.String(), repo.Targets[r].Signed.Expires)
	}
	return out
}

func sortedRoles(repo *tuf.Repo) []data.RoleName {
	var roles []data.RoleName
	for r := range repo.Targets {
		roles = append(roles, r)
	}
	sort.Slice(roles, func(i, j int) bool { return roles[i] < roles[j] })
	return roles
}

// unverifiedDelegations finds delegations the snapshot lists that did not
// load — Notary drops a delegation whose signatures do not verify against
// the keys its parent delegates to — and reads what they claim, unverified,
// so the plan can say which tags were signed by an unknown key.
func unverifiedDelegations(repo *tuf.Repo, cache store.MetadataStore, remote store.RemoteStore) []UnverifiedRole {
	if repo.Snapshot == nil {
		return nil
	}
	var out []UnverifiedRole
	var names []string
	for name := range repo.Snapshot.Signed.Meta {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		role := data.RoleName(name)
		if !data.IsDelegation(role) {
			continue
		}
		if _, ok := repo.Targets[role]; ok {
			continue
		}
		u := UnverifiedRole{Role: name, Reason: "its signatures do not verify against the keys delegated to it (a removed or unknown signer)"}
		raw, err := remote.GetSized(name, store.NoSizeLimit)
		if err != nil {
			raw, err = cache.GetSized(name, store.NoSizeLimit)
		}
		if err == nil {
			var s data.Signed
			if json.Unmarshal(raw, &s) == nil && s.Signed != nil {
				var t data.Targets
				if json.Unmarshal(*s.Signed, &t) == nil {
					u.Targets = t.Targets
					if t.Expires.Before(time.Now()) {
						u.Reason = fmt.Sprintf("it expired at %s", t.Expires.UTC().Format(time.RFC3339))
					}
				}
			}
		}
		out = append(out, u)
	}
	return out
}
