// Package tuftest serves a TUF repository for tests, laid out as Sigstore's
// (tuf-repo-cdn.sigstore.dev): consistent snapshots, N.root.json,
// N.snapshot.json, N.targets.json, timestamp.json, and targets under
// targets/<sha256>.<name>. It is generated with go-tuf's metadata package and
// ed25519 keys, one per top-level role, and served by httptest on 127.0.0.1.
// Methods change the repository the way a maintainer, or an attacker, would.
package tuftest

import (
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Validity is how long the metadata the repository signs is valid.
const Validity = 7 * 24 * time.Hour

// Repo is one TUF repository being served. Its methods are safe for
// concurrent use with the requests it serves.
type Repo struct {
	// URL is the repository's base URL (http://127.0.0.1:port).
	URL string

	t        testing.TB
	mu       sync.Mutex
	keys     map[string]ed25519.PrivateKey // by role
	oldRoot  ed25519.PrivateKey            // the root key before RotateRoot, which signs the new root too
	root     *metadata.Metadata[metadata.RootType]
	targets  *metadata.Metadata[metadata.TargetsType]
	snapshot *metadata.Metadata[metadata.SnapshotType]
	stamp    *metadata.Metadata[metadata.TimestampType]
	files    map[string][]byte // by URL path, without the leading slash
	anchor   []byte            // 1.root.json
	requests []string
}

// New starts a repository publishing targets (name → content), version 1 of
// every role. It stops when t ends.
func New(t testing.TB, targets map[string][]byte) *Repo {
	t.Helper()
	r := &Repo{t: t, keys: map[string]ed25519.PrivateKey{}, files: map[string][]byte{}}
	expires := time.Now().Add(Validity).UTC()
	r.root = metadata.Root(expires)
	for _, role := range []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP} {
		r.keys[role] = r.newKey(role)
	}
	r.signRoot()
	r.anchor = r.files["1.root.json"]
	r.targets = metadata.Targets(expires)
	r.snapshot = metadata.Snapshot(expires)
	r.stamp = metadata.Timestamp(expires)
	r.targets.Signed.Version, r.snapshot.Signed.Version, r.stamp.Signed.Version = 0, 0, 0
	r.publish(targets, expires)

	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// RootJSON is the repository's first root.json: the trust anchor a client
// starts from.
func (r *Repo) RootJSON() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.anchor...)
}

// WriteRoot writes RootJSON to path.
func (r *Repo) WriteRoot(path string) {
	r.t.Helper()
	if err := os.WriteFile(path, r.RootJSON(), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// Metadata is a repository's signed metadata as a client that followed it
// from RootJSON would hold it.
type Metadata struct {
	// Roots are N.root.json for every version after the first, in order.
	Roots                        [][]byte
	Timestamp, Snapshot, Targets []byte
}

// Metadata is the metadata published now.
func (r *Repo) Metadata() Metadata {
	r.mu.Lock()
	defer r.mu.Unlock()
	var md Metadata
	for v := int64(2); v <= r.root.Signed.Version; v++ {
		md.Roots = append(md.Roots, r.files[fmt.Sprintf("%d.root.json", v)])
	}
	md.Timestamp = r.files["timestamp.json"]
	md.Snapshot = r.files[fmt.Sprintf("%d.snapshot.json", r.snapshot.Signed.Version)]
	md.Targets = r.files[fmt.Sprintf("%d.targets.json", r.targets.Signed.Version)]
	return md
}

// Publish makes the next version of targets (replacing every target),
// snapshot and timestamp.
func (r *Repo) Publish(targets map[string][]byte) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.publish(targets, time.Now().Add(Validity).UTC())
}

// Tamper serves data for the published target name without re-signing
// anything: what a compromised mirror or CDN could do.
func (r *Repo) Tamper(name string, data []byte) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	tf := r.targets.Signed.Targets[name]
	if tf == nil {
		r.t.Fatalf("tuftest: no target %q", name)
	}
	r.files["targets/"+hex.EncodeToString(tf.Hashes["sha256"])+"."+name] = data
}

// ExpireTimestamp signs a new timestamp that expired an hour ago: a
// repository nobody refreshes, or a freeze attack replaying old metadata.
func (r *Repo) ExpireTimestamp() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stamp.Signed.Version++
	r.stamp.Signed.Expires = time.Now().Add(-time.Hour).UTC()
	r.sign(r.stamp, metadata.TIMESTAMP)
	r.files["timestamp.json"] = r.bytes(r.stamp)
}

// RotateRoot publishes the next root.json with a new root key, signed by
// the old and the new one, and re-signs the other roles' metadata under it.
func (r *Repo) RotateRoot() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.keys[metadata.ROOT]
	oldKey, err := metadata.KeyFromPublicKey(old.Public())
	if err != nil {
		r.t.Fatal(err)
	}
	oldID, err := oldKey.ID()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.root.Signed.RevokeKey(oldID, metadata.ROOT); err != nil {
		r.t.Fatal(err)
	}
	r.keys[metadata.ROOT] = r.newKey(metadata.ROOT)
	r.root.Signed.Version++
	r.oldRoot = old
	r.signRoot()
	r.oldRoot = nil
	r.publish(r.current(), time.Now().Add(Validity).UTC())
}

// Requests are the URL paths requested so far, in order.
func (r *Repo) Requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.requests...)
}

func (r *Repo) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	path := strings.TrimPrefix(req.URL.Path, "/")
	r.requests = append(r.requests, path)
	data, ok := r.files[path]
	r.mu.Unlock()
	if !ok || req.Method != http.MethodGet {
		http.NotFound(w, req)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(data)
}

// newKey makes an ed25519 key and lists it for role in root.json.
func (r *Repo) newKey(role string) ed25519.PrivateKey {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		r.t.Fatal(err)
	}
	key, err := metadata.KeyFromPublicKey(priv.Public())
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.root.Signed.AddKey(key, role); err != nil {
		r.t.Fatal(err)
	}
	return priv
}

func (r *Repo) signRoot() {
	r.root.ClearSignatures()
	for _, k := range []ed25519.PrivateKey{r.oldRoot, r.keys[metadata.ROOT]} {
		if k == nil {
			continue
		}
		signer, err := signature.LoadSigner(k, crypto.Hash(0))
		if err != nil {
			r.t.Fatal(err)
		}
		if _, err := r.root.Sign(signer); err != nil {
			r.t.Fatal(err)
		}
	}
	r.files[fmt.Sprintf("%d.root.json", r.root.Signed.Version)] = r.bytes(r.root)
}

// publish signs the next targets, snapshot and timestamp, and serves the
// targets under their hash-prefixed names.
func (r *Repo) publish(targets map[string][]byte, expires time.Time) {
	r.targets.Signed.Version++
	r.targets.Signed.Expires = expires
	r.targets.Signed.Targets = map[string]*metadata.TargetFiles{}
	for name, data := range targets {
		tf, err := metadata.TargetFile().FromBytes(name, data, "sha256")
		if err != nil {
			r.t.Fatal(err)
		}
		r.targets.Signed.Targets[name] = tf
		sum := sha256.Sum256(data)
		r.files["targets/"+hex.EncodeToString(sum[:])+"."+name] = data
	}
	r.sign(r.targets, metadata.TARGETS)
	r.files[fmt.Sprintf("%d.targets.json", r.targets.Signed.Version)] = r.bytes(r.targets)

	r.snapshot.Signed.Version++
	r.snapshot.Signed.Expires = expires
	r.snapshot.Signed.Meta = map[string]*metadata.MetaFiles{"targets.json": metadata.MetaFile(r.targets.Signed.Version)}
	r.sign(r.snapshot, metadata.SNAPSHOT)
	r.files[fmt.Sprintf("%d.snapshot.json", r.snapshot.Signed.Version)] = r.bytes(r.snapshot)

	r.stamp.Signed.Version++
	r.stamp.Signed.Expires = expires
	r.stamp.Signed.Meta = map[string]*metadata.MetaFiles{"snapshot.json": metadata.MetaFile(r.snapshot.Signed.Version)}
	r.sign(r.stamp, metadata.TIMESTAMP)
	r.files["timestamp.json"] = r.bytes(r.stamp)
}

// current are the targets published now, by name.
func (r *Repo) current() map[string][]byte {
	out := map[string][]byte{}
	for name, tf := range r.targets.Signed.Targets {
		out[name] = r.files["targets/"+hex.EncodeToString(tf.Hashes["sha256"])+"."+name]
	}
	return out
}

type signable interface {
	ClearSignatures()
	Sign(signature.Signer) (*metadata.Signature, error)
}

func (r *Repo) sign(md signable, role string) {
	md.ClearSignatures()
	signer, err := signature.LoadSigner(r.keys[role], crypto.Hash(0))
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := md.Sign(signer); err != nil {
		r.t.Fatal(err)
	}
}

type marshaler interface {
	ToBytes(pretty bool) ([]byte, error)
}

func (r *Repo) bytes(md marshaler) []byte {
	b, err := md.ToBytes(true)
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}
