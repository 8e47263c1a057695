package e2e

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// dctRepo is a DCT-signed repository on a real notary-server, populated
// with the notary CLI as docker users populated theirs: v1 signed with the
// targets key, v2 through the targets/releases delegation (`docker trust
// sign`), gone signed for a digest the registry no longer holds, and
// ci-only signed by a delegation whose key was removed afterwards.
type dctRepo struct {
	host, gun string
	notary    *testenv.Notary
	client    *testenv.NotaryClient
	d1, d2    v1.Hash
	rootID    string
}

func newDCTRepo(t *testing.T, host, repo string) *dctRepo {
	t.Helper()
	n := testenv.NotaryServer(t)
	c := n.Client(t)
	r := &dctRepo{host: host, gun: host + "/" + repo, notary: n, client: c}
	r.d1 = testenv.PushImage(t, host, repo, "v1")
	r.d2 = testenv.PushImage(t, host, repo, "v2")
	dCI := testenv.PushImage(t, host, repo, "ci-only")
	c.Init(t, r.gun)
	c.AddHash(t, r.gun, "v1", r.d1.String(), manifestSize(t, r.gun+":v1"))
	// A digest DCT signed that was since deleted (or never pushed here).
	c.AddHash(t, r.gun, "gone", "sha256:"+strings.Repeat("ab", 32), 1234)
	c.Publish(t, r.gun)
	c.AddDelegation(t, r.gun, "targets/releases")
	c.AddHash(t, r.gun, "v2", r.d2.String(), manifestSize(t, r.gun+":v2"), "targets/releases")
	c.Publish(t, r.gun)
	c.AddDelegation(t, r.gun, "targets/ci")
	c.AddHash(t, r.gun, "ci-only", dCI.String(), manifestSize(t, r.gun+":ci-only"), "targets/ci")
	c.Publish(t, r.gun)
	// The signer is removed (`docker trust signer remove`): what it signed
	// stays on the server but no longer verifies.
	c.RemoveDelegationKeys(t, r.gun, "targets/ci")
	r.rootID = c.RootKeyID(t, r.gun)
	return r
}

// server are the flags that reach the notary server with a fresh, empty
// trust dir, so that only the given pin establishes the root.
func (r *dctRepo) server(t *testing.T) []string {
	t.Helper()
	return []string{"--server", r.notary.URL, "--server-ca", r.notary.CAFile, "--trust-dir", t.TempDir()}
}

// The whole migration against a real Notary v1 server: pinned root, dry
// run, import, verify with bindTag, and the failures a migration meets.
func TestDCTImport(t *testing.T) {
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			r := newDCTRepo(t, host, "legacy/app")
			e := newEnv(t)
			e.key("k", "ecdsa-p256")
			img := r.gun

			t.Run("no pinned root without the TOFU flag", func(t *testing.T) {
				res := e.run(append([]string{"dct", "import", "--key", "k.key", img}, r.server(t)...)...)
				if res.Code != 2 || !strings.Contains(res.Stderr, "no pinned root") || !strings.Contains(res.Stderr, "--root-key-id") {
					t.Fatalf("exit %d, want 2 naming the missing pin and the flags\n%s", res.Code, res.Stderr)
				}
			})

			t.Run("dry run prints the plan and pushes nothing", func(t *testing.T) {
				p, res := e.importPlan(append([]string{"--dry-run", "--root-key-id", r.rootID, img}, r.server(t)...)...)
				if res.Code != 1 || !strings.Contains(res.Stderr, "1 of 3 tags") || !strings.Contains(res.Stderr, "--allow-partial") {
					t.Errorf("dry run with a missing digest: exit %d, want 1 naming the count and --allow-partial\n%s", res.Code, res.Stderr)
				}
				want := map[string]struct {
					digest, role string
					imp          bool
				}{
					"v1":   {r.d1.String(), "targets", true},
					"v2":   {r.d2.String(), "targets/releases", true},
					"gone": {"sha256:" + strings.Repeat("ab", 32), "targets", false},
				}
				if len(p.Entries) != len(want) {
					t.Fatalf("plan has %d tags, want %d: %+v", len(p.Entries), len(want), p.Entries)
				}
				for _, got := range p.Entries {
					w, ok := want[got.Tag]
					if !ok || got.Digest != w.digest || got.Role != w.role || got.Import != w.imp {
						t.Errorf("tag %s: digest %s role %s import %v; want %+v", got.Tag, got.Digest, got.Role, got.Import, w)
					}
					if got.Tag == "gone" && !strings.Contains(got.Reason, "no longer in") {
						t.Errorf("gone: reason %q", got.Reason)
					}
				}
				if len(p.Untrusted) != 1 || p.Untrusted[0].Tag != "ci-only" || p.Untrusted[0].Role != "targets/ci" {
					t.Errorf("untrusted %+v; want ci-only from targets/ci", p.Untrusted)
				}
				if p.Pinning != "key-id" || len(p.RootKeyIDs) != 1 || p.RootKeyIDs[0] != r.rootID {
					t.Errorf("pinning %q root %v; want key-id [%s]", p.Pinning, p.RootKeyIDs, r.rootID)
				}
				// The root's other ID (its bare public key's, as `notary key
				// list` shows it) pins it as well.
				p2, _ := e.importPlan(append([]string{"--dry-run", "--allow-partial", "--root-key-id", canonicalRootID(t, r), img}, r.server(t)...)...)
				if len(p2.Entries) != 3 || p2.Pinning != "key-id" || p2.RootKeyIDs[0] != r.rootID {
					t.Errorf("pinned by the canonical root key ID: pinning %q root %v, %d tags", p2.Pinning, p2.RootKeyIDs, len(p2.Entries))
				}
				tree := e.must("tree", "--output", "json", img+":v1").Stdout
				if strings.Contains(tree, "sigstore.dev/cosign/sign") || strings.Contains(tree, "dct-evidence") {
					t.Errorf("dry run pushed something:\n%s", tree)
				}
				text := e.run(append([]string{"dct", "import", "--dry-run", "--allow-partial", "--root-key-id", r.rootID, img}, r.server(t)...)...)
				for _, s := range []string{"plan (dry run, nothing pushed)", "v2\t" + r.d2.String() + "\ttargets/releases\twill import", "gone\t", "skipped: the signed manifest", "ci-only", "not trusted by DCT", "2 to import, 0 already imported, 1 cannot be carried over, 1 untrusted"} {
					if !strings.Contains(text.Stdout, s) {
						t.Errorf("dry-run text lacks %q:\n%s", s, text.Stdout)
					}
				}
				if text.Code != 0 {
					t.Errorf("--allow-partial dry run: exit %d\n%s", text.Code, text.Stderr)
				}
			})

			t.Run("root that does not match the pin", func(t *testing.T) {
				other := host + "/legacy/other"
				r.client.Init(t, other)
				otherID := r.client.RootKeyID(t, other)
				res := e.run(append([]string{"dct", "import", "--dry-run", "--root-key-id", otherID, img}, r.server(t)...)...)
				if res.Code != 1 || !strings.Contains(res.Stderr, "root of trust") {
					t.Fatalf("wrong pin: exit %d, want 1 rejecting the root\n%s", res.Code, res.Stderr)
				}
				// An explicit pin wins over the trust dir's cached root.
				res = e.run("dct", "import", "--dry-run", "--server", r.notary.URL, "--server-ca", r.notary.CAFile, "--trust-dir", r.client.TrustDir, "--root-key-id", otherID, img)
				if res.Code != 1 || !strings.Contains(res.Stderr, "root of trust") {
					t.Fatalf("cached root against a wrong pin: exit %d\n%s", res.Code, res.Stderr)
				}
			})

			t.Run("images moved to another repository", func(t *testing.T) {
				// DCT signed docker.io/acme/app; the images now live in the
				// test registry. Only v1 is asked for.
				hub := "docker.io/acme/app"
				r.client.Init(t, hub)
				r.client.AddHash(t, hub, "v1", r.d1.String(), manifestSize(t, r.gun+":v1"))
				r.client.AddHash(t, hub, "v2", r.d2.String(), manifestSize(t, r.gun+":v2"))
				r.client.Publish(t, hub)
				p, res := e.importPlan(append([]string{"--dry-run", "--repository", r.gun, "--tag", "v1", "--root-key-id", r.client.RootKeyID(t, hub), hub}, r.server(t)...)...)
				if res.Code != 0 || p.GUN != hub || p.Repository != r.gun || len(p.Entries) != 1 || p.Entries[0].Tag != "v1" || !p.Entries[0].Import || p.Entries[0].TagDigest != r.d1.String() {
					t.Fatalf("exit %d, plan %+v\n%s", res.Code, p, res.Stderr)
				}
				res = e.run(append([]string{"dct", "import", "--dry-run", "--repository", r.gun, "--tag", "v9", "--root-key-id", r.client.RootKeyID(t, hub), hub}, r.server(t)...)...)
				if res.Code != 2 || !strings.Contains(res.Stderr, "--tag v9") {
					t.Errorf("unknown --tag: exit %d, want 2\n%s", res.Code, res.Stderr)
				}
			})

			t.Run("tampered metadata", func(t *testing.T) {
				proxy := tamperingProxy(t, r.notary)
				res := e.run("dct", "import", "--dry-run", "--server", proxy, "--trust-dir", t.TempDir(), "--root-key-id", r.rootID, img)
				if res.Code != 1 || !strings.Contains(res.Stderr, "failed verification") {
					t.Fatalf("tampered targets.json: exit %d, want 1 rejecting it\n%s", res.Code, res.Stderr)
				}
				res = e.run("dct", "import", "--dry-run", "--allow-expired", "--server", proxy, "--trust-dir", t.TempDir(), "--root-key-id", r.rootID, img)
				if res.Code != 1 || !strings.Contains(res.Stderr, "failed verification") {
					t.Fatalf("tampered targets.json with --allow-expired: exit %d, want 1 rejecting it\n%s", res.Code, res.Stderr)
				}
			})

			t.Run("import, verify, tag moved", func(t *testing.T) {
				certFile := filepath.Join(t.TempDir(), "root.pem")
				if err := os.WriteFile(certFile, r.client.RootCertPEM(t, r.gun), 0o644); err != nil {
					t.Fatal(err)
				}
				p, res := e.importPlan(append([]string{"--key", "k.key", "--root-cert", certFile, img}, r.server(t)...)...)
				if res.Code != 1 {
					t.Fatalf("import with a missing digest: exit %d, want 1\n%s", res.Code, res.Stderr)
				}
				if p.Pinning != "certificate" {
					t.Errorf("pinning %q, want certificate", p.Pinning)
				}
				imported := 0
				for _, en := range p.Entries {
					if en.Signature != "" && en.Evidence != "" {
						imported++
					}
				}
				if imported != 2 {
					t.Fatalf("imported %d tags, want 2 (v1, v2): %+v", imported, p.Entries)
				}
				// A re-run finds what this key already carried over and
				// pushes nothing new.
				before := e.must("tree", img+":v1").Stdout
				p2, res := e.importPlan(append([]string{"--key", "k.key", "--allow-partial", "--root-key-id", r.rootID, img}, r.server(t)...)...)
				if res.Code != 0 {
					t.Fatalf("re-run: exit %d\n%s", res.Code, res.Stderr)
				}
				for _, en := range p2.Entries {
					if en.Tag != "gone" && (!en.AlreadyImported || en.Signature != "") {
						t.Errorf("re-run: %s already imported %v, signature %q; want found and not re-signed", en.Tag, en.AlreadyImported, en.Signature)
					}
				}
				if after := e.must("tree", img+":v1").Stdout; after != before {
					t.Errorf("re-run pushed to v1:\nbefore:\n%s\nafter:\n%s", before, after)
				}
				pol := e.dctPolicy(host, `predicate.gun == "`+r.gun+`"`, `predicate.root.pinning == "certificate"`, `predicate.root.keyIds == ["`+r.rootID+`"]`, `predicate.metadata.timestamp.version >= 1`)
				for _, tag := range []string{"v1", "v2"} {
					if _, res := e.verifyJSON(pol, img+":"+tag); res.Code != 0 {
						t.Fatalf("verify %s:%s after import: exit %d\n%s\n%s", img, tag, res.Code, res.Stdout, res.Stderr)
					}
				}
				// The evidence names the delegation and its key for v2.
				polRel := e.dctPolicy(host, `predicate.tag != "v2" || (predicate.role == "targets/releases" && predicate.signers.exists(s, s.role == "targets/releases" && size(s.keyIds) == 1))`)
				if _, res := e.verifyJSON(polRel, img+":v2"); res.Code != 0 {
					t.Fatalf("evidence of v2: exit %d\n%s", res.Code, res.Stdout)
				}
				// cosign accepts both: the tag-bound signature (checking the
				// binding with -a) and the evidence attestation.
				cosign := testenv.Tool(t, "cosign")
				for _, args := range [][]string{
					{"verify", "-a", "dev.imgsign.tag=v2"},
					{"verify-attestation", "--type", "https://imgsign.dev/attestations/dct-evidence/v1"},
				} {
					args = append(args, "--key", "k.pub", "--insecure-ignore-tlog", "--allow-insecure-registry", img+":v2")
					if res := testenv.Run(t, e.dir, nil, cosign, args...); res.Code != 0 {
						t.Errorf("cosign %s: exit %d\n%s", strings.Join(args, " "), res.Code, res.Stderr)
					}
				}
				// The example policy for migrated repositories passes too.
				ex, err := os.ReadFile(filepath.Join("..", "examples", "policies", "dct-migrated.yaml"))
				if err != nil {
					t.Fatal(err)
				}
				exPol := e.write("dct-migrated.yaml", strings.ReplaceAll(scopeRE.ReplaceAllString(string(ex), `"`+host+`/$2`), "keys/release.pub", "k.pub"))
				if res := e.run("verify", "--policy", exPol, img+":v1", img+":v2"); res.Code != 0 {
					t.Fatalf("verify with examples/policies/dct-migrated.yaml: exit %d\n%s", res.Code, res.Stdout)
				}
				// Moving v1 to v2's image after the import fails bindTag.
				retag(t, host, "legacy/app", "v2", "v1")
				res = e.run("verify", "--policy", pol, img+":v1")
				if res.Code != 1 || !strings.Contains(res.Stdout, "signed for tag v2, not v1") {
					t.Fatalf("verify of moved tag: exit %d, want 1 saying it is signed for v2\n%s", res.Code, res.Stdout)
				}
				// A dry run now reports the move.
				text := e.run("dct", "import", "--dry-run", "--allow-partial", "--server", r.notary.URL, "--server-ca", r.notary.CAFile, "--trust-dir", r.client.TrustDir, img)
				if !strings.Contains(text.Stdout, "tag v1 moved since DCT signed it") || !strings.Contains(text.Stdout, "root pinned by trust-dir") {
					t.Errorf("dry run after the move:\n%s\n%s", text.Stdout, text.Stderr)
				}
			})

			t.Run("offline from the trust dir", func(t *testing.T) {
				// After the server is gone: the cached metadata, pinned by
				// its cached root, is all that is read.
				p, res := e.importPlan("--dry-run", "--allow-partial", "--offline", "--trust-dir", r.client.TrustDir, img)
				if res.Code != 0 || p.Pinning != "trust-dir" || len(p.Entries) != 3 || len(p.Untrusted) != 1 {
					t.Fatalf("offline: exit %d, pinning %q, %d tags, %d untrusted\n%s", res.Code, p.Pinning, len(p.Entries), len(p.Untrusted), res.Stderr)
				}
			})

			t.Run("trust dir with a root from before a rotation", func(t *testing.T) {
				// The trust dir cached root.json version 1; the server's root
				// is at version 2 (the snapshot key moved to the server).
				// Notary walks 1 → 2, each signed by the keys before it.
				dir := t.TempDir()
				meta := filepath.Join(dir, "tuf", filepath.FromSlash(r.gun), "metadata")
				if err := os.MkdirAll(meta, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(meta, "root.json"), notaryGet(t, r.notary, r.gun, "1.root.json"), 0o600); err != nil {
					t.Fatal(err)
				}
				for _, extra := range [][]string{nil, {"--allow-expired"}} {
					p, res := e.importPlan(append([]string{"--dry-run", "--allow-partial", "--server", r.notary.URL, "--server-ca", r.notary.CAFile, "--trust-dir", dir, img}, extra...)...)
					if res.Code != 0 || p.Pinning != "trust-dir" || len(p.Entries) != 3 {
						t.Errorf("%v: exit %d, pinning %q, %d tags\n%s", extra, res.Code, p.Pinning, len(p.Entries), res.Stderr)
					}
				}
			})

			t.Run("trust on first use is explicit and loud", func(t *testing.T) {
				res := e.run(append([]string{"dct", "import", "--dry-run", "--allow-partial", "--insecure-trust-on-first-use", img}, r.server(t)...)...)
				if res.Code != 0 || !strings.Contains(res.Stderr, "WARNING: trusting on first use") || !strings.Contains(res.Stderr, r.rootID) || !strings.Contains(res.Stdout, "root pinned by tofu") {
					t.Fatalf("TOFU: exit %d\n%s\n%s", res.Code, res.Stdout, res.Stderr)
				}
			})
		})
	}
}

// canonicalRootID is the ID of the root's bare public key, which the notary
// CLI prints and names the private key file by.
func canonicalRootID(t *testing.T, r *dctRepo) string {
	t.Helper()
	block, _ := pem.Decode(r.client.RootCertPEM(t, r.gun))
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	id, err := utils.CanonicalKeyID(utils.CertToKey(cert))
	if err != nil || id == r.rootID {
		t.Fatalf("canonical root key ID %q (err %v) should differ from %s", id, err, r.rootID)
	}
	return id
}

// tamperingProxy serves the notary server's API over loopback HTTP and
// changes one byte of every targets.json it passes on (the expiry, so the
// JSON still parses and only the signature and checksum catch it).
func tamperingProxy(t *testing.T, n *testenv.Notary) string {
	t.Helper()
	rp := n.ReverseProxy(t)
	rp.ModifyResponse = func(resp *http.Response) error {
		base := resp.Request.URL.Path[strings.LastIndex(resp.Request.URL.Path, "/")+1:]
		if !strings.HasPrefix(base, "targets.") || !strings.Contains(resp.Request.URL.Path, "/_trust/tuf/targets") {
			return nil
		}
		return editBody(resp, func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"expires":"20`), []byte(`"expires":"21`), 1)
		})
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL
}

// examples/dct/migrate.sh migrates a list of repositories: one that cannot
// be carried over whole is held back (and the script fails) unless
// ALLOW_PARTIAL=1; every imported tag then verifies under the policy.
func TestDCTMigrateExample(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	r := newDCTRepo(t, host, "legacy/app")
	tools := host + "/legacy/tools"
	d := testenv.PushImage(t, host, "legacy/tools", "1.0")
	r.client.Init(t, tools)
	r.client.AddHash(t, tools, "1.0", d.String(), manifestSize(t, tools+":1.0"))
	r.client.Publish(t, tools)

	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	pol := e.bindTagPolicy(host)
	repos := e.write("repos.txt", "# GUN ROOT_KEY_ID\n"+r.gun+" "+r.rootID+"\n\n"+tools+" -\n")
	script, err := filepath.Abs(filepath.Join("..", "examples", "dct", "migrate.sh"))
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"IMGSIGN=" + e.bin, "IMGSIGN_PASSWORD=" + passphrase,
		"DCT_FLAGS=--server " + r.notary.URL + " --server-ca " + r.notary.CAFile + " --trust-dir " + r.client.TrustDir}

	res := testenv.Run(t, e.dir, env, script, repos, "k.key", pol)
	if res.Code != 1 || !strings.Contains(res.Stderr, "!! "+r.gun+": not imported") || !strings.Contains(res.Stdout, "1.0\t"+d.String()+"\ttargets\timported") {
		t.Fatalf("without ALLOW_PARTIAL: exit %d, want 1 holding back %s and importing %s\n%s\n%s", res.Code, r.gun, tools, res.Stdout, res.Stderr)
	}
	res = testenv.Run(t, e.dir, append(env, "ALLOW_PARTIAL=1"), script, repos, "k.key", pol)
	if res.Code != 0 || strings.Count(res.Stdout, "\timported (") != 2 || !strings.Contains(res.Stdout, "1.0\t"+d.String()+"\ttargets\talready imported") {
		t.Fatalf("with ALLOW_PARTIAL=1: exit %d, want 0 with v1 and v2 imported, 1.0 already\n%s\n%s", res.Code, res.Stdout, res.Stderr)
	}
	for _, img := range []string{r.gun + ":v1", r.gun + ":v2", tools + ":1.0"} {
		e.must("verify", "--policy", pol, img)
	}
}

// A root certificate issued by the organisation's CA is pinned by the CA
// (--root-ca); another CA is refused.
func TestDCTImportCAPin(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	n := testenv.NotaryServer(t)
	c := n.Client(t)
	gun := host + "/pki/app"
	d := testenv.PushImage(t, host, "pki/app", "v1")
	ca := c.InitWithCA(t, gun)
	c.AddHash(t, gun, "v1", d.String(), manifestSize(t, gun+":v1"))
	c.Publish(t, gun)
	otherCA := n.Client(t).InitWithCA(t, host+"/pki/other")

	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	server := []string{"--server", n.URL, "--server-ca", n.CAFile, "--trust-dir", t.TempDir()}
	p, res := e.importPlan(append([]string{"--key", "k.key", "--root-ca", ca, gun}, server...)...)
	if res.Code != 0 || p.Pinning != "ca" || len(p.Entries) != 1 || p.Entries[0].Signature == "" {
		t.Fatalf("--root-ca: exit %d, pinning %q, %+v\n%s", res.Code, p.Pinning, p.Entries, res.Stderr)
	}
	e.must("verify", "--policy", e.bindTagPolicy(host), gun+":v1")
	res = e.run(append([]string{"dct", "import", "--dry-run", "--root-ca", otherCA, gun}, server...)...)
	if res.Code != 1 || !strings.Contains(res.Stderr, "root of trust") {
		t.Fatalf("another CA: exit %d, want 1 rejecting the root\n%s", res.Code, res.Stderr)
	}
	// The trust dir's cached root does not stand in for the CA pin.
	res = e.run("dct", "import", "--dry-run", "--root-ca", otherCA, "--offline", "--trust-dir", c.TrustDir, gun)
	if res.Code != 1 || !strings.Contains(res.Stderr, "root of trust") {
		t.Fatalf("another CA with the root cached: exit %d, want 1\n%s", res.Code, res.Stderr)
	}
}

// Bad input to dct import: one line naming the problem, the documented
// exit code, nothing pushed.
func TestDCTImportBadInput(t *testing.T) {
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	gun := "127.0.0.1:5000/team/app"
	noCA := e.write("not-a-ca.pem", "not a certificate\n")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"GUN with a tag", []string{"--dry-run", "--offline", gun + ":v1"}, 2, "without tag or digest"},
		{"two GUNs", []string{"--dry-run", gun, gun}, 2, "GUN"}, // the usage error names the one argument it takes
		{"no key", []string{gun}, 2, "--key is required"},
		{"key file missing", []string{"--key", "missing.key", gun}, 2, "missing.key"},
		{"offline without trust data", []string{"--dry-run", "--offline", "--trust-dir", e.dir, gun}, 2, "no trust data for " + gun},
		{"root certificate missing", []string{"--dry-run", "--root-cert", "nope.pem", "--server", "https://127.0.0.1:1", gun}, 2, "root certificate"},
		{"server CA not PEM", []string{"--dry-run", "--root-key-id", "ab", "--server", "https://127.0.0.1:1", "--server-ca", noCA, gun}, 2, "no PEM certificates"},
		{"server unreachable", []string{"--dry-run", "--root-key-id", "ab", "--server", "http://" + testenv.FreeAddr(t), gun}, 3, "check --server"},
		{"bad output format", []string{"--dry-run", "--output", "yaml", gun}, 2, "--output"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.run(append([]string{"dct", "import"}, tc.args...)...)
			if r.Code != tc.code || !strings.Contains(r.Stderr, tc.want) || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
				t.Errorf("exit %d, want %d with one line containing %q:\n%s", r.Code, tc.code, tc.want, r.Stderr)
			}
		})
	}
}

// The Notary server asks for a token the way notary.docker.io does (a
// registry-style bearer challenge); dct import gets it with the docker
// credentials of the GUN's registry and the scope repository:<GUN>:pull, as
// docker did.
func TestDCTImportTokenAuth(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	r := newDCTRepo(t, host, "legacy/app")
	const user, pass, token = "ci-bot", "s3cret", "notary-token-for-test"
	var scopes []string
	var mu sync.Mutex
	// The token endpoint is served on the gate's own host:port, since
	// go-containerregistry (rightly) refuses token realms on other private
	// addresses; Docker Hub's realm is https://auth.docker.io/token.
	issue := func(w http.ResponseWriter, req *http.Request) {
		u, p, ok := req.BasicAuth()
		mu.Lock()
		scopes = append(scopes, req.URL.Query().Get("scope"))
		mu.Unlock()
		if !ok || u != user || p != pass || req.URL.Query().Get("service") != "notary-test" {
			http.Error(w, `{"details":"incorrect username or password"}`, http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, `{"token":%q}`, token)
	}
	rp := r.notary.ReverseProxy(t)
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/token" {
			issue(w, req)
			return
		}
		if req.Header.Get("Authorization") != "Bearer "+token {
			w.Header().Set("WWW-Authenticate", `Bearer realm="http://`+req.Host+`/token",service="notary-test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
			return
		}
		rp.ServeHTTP(w, req)
	}))
	t.Cleanup(gate.Close)

	e := newEnv(t)
	args := []string{"dct", "import", "--dry-run", "--allow-partial", "--root-key-id", r.rootID, "--server", gate.URL, "--trust-dir", t.TempDir(), r.gun}
	res := e.run(args...)
	if res.Code != 3 || !strings.Contains(res.Stderr, "docker login "+host) {
		t.Fatalf("without credentials: exit %d, want 3 saying to docker login %s\n%s", res.Code, host, res.Stderr)
	}

	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	if err := os.MkdirAll(filepath.Join(e.dir, ".docker"), 0o700); err != nil {
		t.Fatal(err)
	}
	e.write(".docker/config.json", `{"auths":{"`+host+`":{"auth":"`+auth+`"}}}`)
	res = e.run(args...)
	if res.Code != 0 || !strings.Contains(res.Stdout, "2 to import") {
		t.Fatalf("with the registry's credentials: exit %d\n%s\n%s", res.Code, res.Stdout, res.Stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := "repository:" + r.gun + ":pull"; !slices.Contains(scopes, want) {
		t.Errorf("token scopes asked for %v, want %q", scopes, want)
	}
}

// notaryGet fetches one metadata file of gun from the notary server.
func notaryGet(t *testing.T, n *testenv.Notary, gun, file string) []byte {
	t.Helper()
	c := &http.Client{Transport: n.Transport(t)}
	resp, err := c.Get(n.URL + "/v2/" + gun + "/_trust/tuf/" + file)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", file, resp.StatusCode, err)
	}
	return b
}
