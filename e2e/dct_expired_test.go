package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/testutils"

	"github.com/imgsign/imgsign/dct"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/statement"
)

// expiredTrustDir writes, into a Docker trust dir layout, a GUN's TUF
// metadata signed by Notary's own library — as `docker trust sign` left it
// in ~/.docker/trust — with tag signed into targets/releases and the
// timestamp expired long ago (DCT timestamps live 14 days; nobody re-signs
// once they stopped pushing). The notary server cannot produce expired
// metadata on demand, so this is built with the library it runs.
func expiredTrustDir(t *testing.T, gun, tag string, d v1.Hash, size int64) string {
	t.Helper()
	repo, cs, err := testutils.EmptyRepo(data.GUN(gun), "targets/releases")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := hex.DecodeString(d.Hex)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.AddTargets("targets/releases", data.Files{tag: {Length: size, Hashes: data.Hashes{"sha256": sum}}}); err != nil {
		t.Fatal(err)
	}
	meta, err := testutils.SignAndSerialize(repo)
	if err != nil {
		t.Fatal(err)
	}
	sw := testutils.NewMetadataSwizzler(data.GUN(gun), meta, cs)
	if err := sw.ExpireMetadata(data.CanonicalTimestampRole); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for role := range meta {
		b, err := sw.MetadataCache.GetSized(role.String(), -1)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "tuf", filepath.FromSlash(gun), "metadata", filepath.FromSlash(role.String())+".json")
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// manifestSize is what DCT records as a target's length.
func manifestSize(t testing.TB, ref string) int64 {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(r)
	if err != nil {
		t.Fatal(err)
	}
	return desc.Size
}

// dctPolicy requires the key's tag-bound signature and its DCT evidence
// attestation, with extra CEL conditions on the evidence.
func (e *env) dctPolicy(host string, conditions ...string) string {
	e.t.Helper()
	var b strings.Builder
	b.WriteString("version: 1\nkeys:\n  - name: k\n    publicKey: k.pub\npolicies:\n  - name: dct\n    scopes: [\"" + host + "/**\"]\n")
	b.WriteString("    signatures:\n      keys: [k]\n      threshold: 1\n      bindTag: true\n")
	b.WriteString("    attestations:\n      - type: " + statement.DCTEvidence + "\n        keys: [k]\n")
	if len(conditions) > 0 {
		b.WriteString("        conditions:\n")
		for _, c := range conditions {
			b.WriteString("          - '" + c + "'\n")
		}
	}
	return e.write("dct-trust.yaml", b.String())
}

// importPlan runs dct import --output json and decodes the plan it prints.
func (e *env) importPlan(args ...string) (*dct.Plan, testenv.Result) {
	e.t.Helper()
	r := e.run(append([]string{"dct", "import", "--output", "json"}, args...)...)
	var p dct.Plan
	if err := json.Unmarshal([]byte(r.Stdout), &p); err != nil {
		e.t.Fatalf("dct import --output json printed no plan (exit %d): %v\nstdout:\n%s\nstderr:\n%s", r.Code, err, r.Stdout, r.Stderr)
	}
	return &p, r
}

// Expired DCT metadata is refused as Notary refuses it, and imported with
// --allow-expired, which the evidence attestation records. Read offline
// from a trust dir alone — how teams keep their trust once the server is
// gone — whose cached root pins trust.
func TestDCTImportExpired(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	gun := host + "/dct/expired"
	d := testenv.PushImage(t, host, "dct/expired", "v1")
	trustDir := expiredTrustDir(t, gun, "v1", d, manifestSize(t, gun+":v1"))
	before := snapshotDir(t, trustDir)

	r := e.run("dct", "import", "--offline", "--trust-dir", trustDir, "--key", "k.key", gun)
	if r.Code != 1 || !strings.Contains(r.Stderr, "timestamp role expired") || !strings.Contains(r.Stderr, "--allow-expired") {
		t.Fatalf("expired metadata without --allow-expired: exit %d, want 1 naming the expiry and the flag\n%s", r.Code, r.Stderr)
	}

	p, r := e.importPlan("--offline", "--trust-dir", trustDir, "--key", "k.key", "--allow-expired", gun)
	if r.Code != 0 {
		t.Fatalf("--allow-expired: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if p.Pinning != "trust-dir" || len(p.Expired) != 1 || p.Expired[0].Role != "timestamp" {
		t.Errorf("pinning %q, expired %+v; want trust-dir, [timestamp]", p.Pinning, p.Expired)
	}
	if len(p.Entries) != 1 || !p.Entries[0].Import || p.Entries[0].Digest != d.String() || p.Entries[0].Role != "targets/releases" || p.Entries[0].Evidence == "" {
		t.Fatalf("plan entries %+v; want v1 → %s imported from targets/releases", p.Entries, d)
	}
	pol := e.dctPolicy(host, `predicate.allowExpired == true`, `predicate.expired.exists(x, x.role == "timestamp")`, `predicate.role == "targets/releases"`, `predicate.gun == "`+gun+`"`)
	if rep, r := e.verifyJSON(pol, gun+":v1"); r.Code != 0 {
		t.Fatalf("verify after import: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	} else if tags := rep.Images[0].Requirements[0].SignedTags; strings.Join(tags, ",") != "v1" {
		t.Errorf("signed tags %v, want [v1]", tags)
	}
	if after := snapshotDir(t, trustDir); after != before {
		t.Errorf("dct import changed the trust dir:\nbefore %s\nafter  %s", before, after)
	}
}

// snapshotDir lists every file under dir with its content's hash.
func snapshotDir(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() {
			b.WriteString(p + "/\n")
			return nil
		}
		c, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(c)
		b.WriteString(p + " " + hex.EncodeToString(sum[:]) + "\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
