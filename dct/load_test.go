package dct

import (
	"context"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/docker/go/canonical/json"
	store "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/testutils"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/testing/testenv"
)

const testGUN = "registry.example.com/team/app"

var (
	digestV0 = strings.Repeat("0a", 32)
	digestV1 = strings.Repeat("1b", 32)
)

// signedRepo is a GUN's metadata signed by Notary's own library: v0 in
// targets, v1 in the targets/releases delegation.
func signedRepo(t *testing.T) (*testutils.MetadataSwizzler, string) {
	t.Helper()
	return signedRepoWith(t, map[data.RoleName]map[string]string{
		data.CanonicalTargetsRole: {"v0": digestV0},
		"targets/releases":        {"v1": digestV1},
	})
}

// signedRepoWith signs, with Notary's own library, metadata in which each
// role (delegations created as needed) lists the given tag → hex digests.
func signedRepoWith(t *testing.T, targets map[data.RoleName]map[string]string) (*testutils.MetadataSwizzler, string) {
	t.Helper()
	var delegations []data.RoleName
	for role := range targets {
		if role != data.CanonicalTargetsRole {
			delegations = append(delegations, role)
		}
	}
	repo, cs, err := testutils.EmptyRepo(testGUN, delegations...)
	if err != nil {
		t.Fatal(err)
	}
	for role, tags := range targets {
		files := data.Files{}
		for tag, d := range tags {
			sum, _ := hex.DecodeString(d)
			files[tag] = data.FileMeta{Length: 100, Hashes: data.Hashes{"sha256": sum}}
		}
		if _, err := repo.AddTargets(role, files); err != nil {
			t.Fatal(err)
		}
	}
	meta, err := testutils.SignAndSerialize(repo)
	if err != nil {
		t.Fatal(err)
	}
	var s data.Signed
	if err := json.Unmarshal(meta[data.CanonicalRootRole], &s); err != nil {
		t.Fatal(err)
	}
	root, err := data.RootFromSigned(&s)
	if err != nil {
		t.Fatal(err)
	}
	return testutils.NewMetadataSwizzler(testGUN, meta, cs), root.Signed.Roles[data.CanonicalRootRole].KeyIDs[0]
}

// serve answers Notary's metadata paths from meta, as notary-server does.
func serve(t *testing.T, meta store.MetadataStore) string {
	t.Helper()
	prefix := "/v2/" + testGUN + "/_trust/tuf/"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, prefix)
		if !ok {
			w.WriteHeader(http.StatusOK) // the /v2/ ping
			return
		}
		// Serve a role's current bytes whatever checksum the client asks
		// for, as a compromised server would: the checksum must catch it.
		role := consistentName.ReplaceAllString(strings.TrimSuffix(name, ".json"), "")
		b, err := meta.GetSized(role, store.NoSizeLimit)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

var consistentName = regexp.MustCompile(`\.[0-9a-f]{64}$`)

// Load verifies as Notary does and says what is wrong with hostile or
// stale metadata in the error kind the CLI turns into an exit code.
func TestLoad(t *testing.T) {
	for _, tc := range []struct {
		name         string
		swizzle      func(*testutils.MetadataSwizzler) error
		pin          func(rootID string) Pin
		server       func(t *testing.T, meta store.MetadataStore) string
		allowExpired bool
		wantKind     errkind.Kind // 0: success
		wantErr      string
		check        func(t *testing.T, md *Metadata)
	}{
		{name: "valid", check: func(t *testing.T, md *Metadata) {
			entries, untrusted, err := md.Trusted(nil)
			if err != nil || len(entries) != 2 || len(untrusted) != 0 {
				t.Fatalf("entries %+v untrusted %+v err %v", entries, untrusted, err)
			}
			if entries[0].Tag != "v0" || entries[0].Role != "targets" || entries[0].Digest != "sha256:"+digestV0 ||
				entries[1].Tag != "v1" || entries[1].Role != "targets/releases" || entries[1].Digest != "sha256:"+digestV1 {
				t.Errorf("entries %+v", entries)
			}
			if md.Pinning != "key-id" || len(md.Expired) != 0 {
				t.Errorf("pinning %q expired %v", md.Pinning, md.Expired)
			}
		}},
		{name: "targets signature invalid", swizzle: func(s *testutils.MetadataSwizzler) error {
			return s.InvalidateMetadataSignatures(data.CanonicalTargetsRole)
		}, wantKind: errkind.Untrusted, wantErr: "TUF metadata of " + testGUN},
		{name: "snapshot signed by an unknown key", swizzle: func(s *testutils.MetadataSwizzler) error {
			return s.SignMetadataWithInvalidKey(data.CanonicalSnapshotRole)
		}, wantKind: errkind.Untrusted, wantErr: "TUF metadata of " + testGUN},
		{name: "timestamp not JSON", swizzle: func(s *testutils.MetadataSwizzler) error {
			return s.SetInvalidJSON(data.CanonicalTimestampRole)
		}, wantKind: errkind.Untrusted, wantErr: "TUF metadata of " + testGUN},
		{name: "targets changed after snapshot", swizzle: func(s *testutils.MetadataSwizzler) error {
			return s.AddExtraSpace(data.CanonicalTargetsRole)
		}, wantKind: errkind.Untrusted, wantErr: "TUF metadata of " + testGUN},
		{name: "delegation signed by an unknown key", swizzle: func(s *testutils.MetadataSwizzler) error {
			if err := s.SignMetadataWithInvalidKey("targets/releases"); err != nil {
				return err
			}
			if err := s.UpdateSnapshotHashes("targets/releases"); err != nil {
				return err
			}
			return s.UpdateTimestampHash()
		}, check: func(t *testing.T, md *Metadata) {
			entries, untrusted, err := md.Trusted(nil)
			if err != nil || len(entries) != 1 || entries[0].Tag != "v0" {
				t.Fatalf("entries %+v err %v; want only v0", entries, err)
			}
			if len(untrusted) != 1 || untrusted[0].Tag != "v1" || untrusted[0].Role != "targets/releases" || untrusted[0].Digest != "sha256:"+digestV1 {
				t.Errorf("untrusted %+v; want v1 from targets/releases", untrusted)
			}
		}},
		{name: "expired timestamp", swizzle: func(s *testutils.MetadataSwizzler) error {
			return s.ExpireMetadata(data.CanonicalTimestampRole)
		}, wantKind: errkind.Untrusted, wantErr: "timestamp role expired"},
		{name: "expired targets allowed", swizzle: func(s *testutils.MetadataSwizzler) error {
			if err := s.ExpireMetadata(data.CanonicalTargetsRole); err != nil {
				return err
			}
			if err := s.UpdateSnapshotHashes(data.CanonicalTargetsRole); err != nil {
				return err
			}
			return s.UpdateTimestampHash()
		}, allowExpired: true, check: func(t *testing.T, md *Metadata) {
			if len(md.Expired) != 1 || md.Expired[0].Role != "targets" {
				t.Errorf("expired %+v; want targets", md.Expired)
			}
			if entries, _, _ := md.Trusted(nil); len(entries) != 2 {
				t.Errorf("entries %+v; want v0 and v1", entries)
			}
		}},
		{name: "wrong pin", pin: func(string) Pin { return Pin{KeyIDs: []string{strings.Repeat("ff", 32)}} },
			wantKind: errkind.Untrusted, wantErr: "root of trust"},
		{name: "wrong pin, expired allowed", pin: func(string) Pin { return Pin{KeyIDs: []string{strings.Repeat("ff", 32)}} },
			allowExpired: true, wantKind: errkind.Untrusted, wantErr: "root of trust"},
		{name: "no pin", pin: func(string) Pin { return Pin{} }, wantKind: errkind.Input, wantErr: "no pinned root"},
		{name: "trust on first use", pin: func(string) Pin { return Pin{TrustOnFirstUse: true} }, check: func(t *testing.T, md *Metadata) {
			if md.Pinning != "tofu" {
				t.Errorf("pinning %q", md.Pinning)
			}
		}},
		{name: "unknown GUN", server: func(t *testing.T, _ store.MetadataStore) string {
			return serve(t, store.NewMemoryStore(nil))
		}, wantKind: errkind.Input, wantErr: "has no trust data"},
		{name: "server unreachable", server: func(t *testing.T, _ store.MetadataStore) string { return "http://" + testenv.FreeAddr(t) },
			wantKind: errkind.Operational, wantErr: "reading TUF metadata"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sw, rootID := signedRepo(t)
			if tc.swizzle != nil {
				if err := tc.swizzle(sw); err != nil {
					t.Fatal(err)
				}
			}
			url := ""
			if tc.server != nil {
				url = tc.server(t, sw.MetadataCache)
			} else {
				url = serve(t, sw.MetadataCache)
			}
			pin := Pin{KeyIDs: []string{rootID}}
			if tc.pin != nil {
				pin = tc.pin(rootID)
			}
			md, err := Load(context.Background(), Source{GUN: testGUN, Server: url, TrustDir: t.TempDir()}, pin, tc.allowExpired)
			if tc.wantKind == 0 {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if tc.check != nil {
					tc.check(t, md)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load succeeded; want %v error containing %q", tc.wantKind, tc.wantErr)
			}
			t.Logf("error: %v", err)
			if k, _ := errkind.Of(err); k != tc.wantKind || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q (kind %v); want kind %v containing %q", err, k, tc.wantKind, tc.wantErr)
			}
		})
	}
}

// Trust on first use needs a channel nobody else can answer on.
func TestTOFUOverPlainHTTP(t *testing.T) {
	_, err := Load(context.Background(), Source{GUN: testGUN, Server: "http://notary.example.com", TrustDir: t.TempDir()}, Pin{TrustOnFirstUse: true}, false)
	if k, _ := errkind.Of(err); k != errkind.Input || !strings.Contains(err.Error(), "plain HTTP") {
		t.Errorf("TOFU over plain HTTP: %v (kind %v), want a bad-input refusal", err, k)
	}
}

func TestDefaultServer(t *testing.T) {
	for _, tc := range []struct{ gun, env, want string }{
		{"docker.io/library/alpine", "", "https://notary.docker.io"},
		{"index.docker.io/acme/app", "", "https://notary.docker.io"},
		{"registry.example.com/team/app", "", "https://registry.example.com"},
		{"localhost:5000/app", "", "https://localhost:5000"},
		{"docker.io/acme/app", "https://notary.internal:4443", "https://notary.internal:4443"},
	} {
		t.Setenv("DOCKER_CONTENT_TRUST_SERVER", tc.env)
		if got := DefaultServer(tc.gun); got != tc.want {
			t.Errorf("DefaultServer(%q) with env %q = %q, want %q", tc.gun, tc.env, got, tc.want)
		}
	}
}

// A server that sends older metadata than the trust dir already holds is
// rolling it back: refused with and without --allow-expired.
func TestLoadRollback(t *testing.T) {
	for _, allowExpired := range []bool{false, true} {
		sw, rootID := signedRepo(t)
		old := store.NewMemoryStore(nil)
		for _, role := range sw.Roles {
			b, err := sw.MetadataCache.GetSized(role.String(), store.NoSizeLimit)
			if err != nil {
				t.Fatal(err)
			}
			if err := old.Set(role.String(), b); err != nil {
				t.Fatal(err)
			}
		}
		// The trust dir saw a later targets version (and its snapshot and
		// timestamp); the server still serves the earlier one.
		for _, step := range []func() error{
			func() error { return sw.OffsetMetadataVersion(data.CanonicalTargetsRole, 1) },
			func() error { return sw.UpdateSnapshotHashes(data.CanonicalTargetsRole) },
			func() error { return sw.OffsetMetadataVersion(data.CanonicalSnapshotRole, 1) },
			func() error { return sw.UpdateTimestampHash() },
			func() error { return sw.OffsetMetadataVersion(data.CanonicalTimestampRole, 1) },
		} {
			if err := step(); err != nil {
				t.Fatal(err)
			}
		}
		dir := t.TempDir()
		for _, role := range sw.Roles {
			b, err := sw.MetadataCache.GetSized(role.String(), store.NoSizeLimit)
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "tuf", filepath.FromSlash(testGUN), "metadata", filepath.FromSlash(role.String())+".json")
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		_, err := Load(context.Background(), Source{GUN: testGUN, Server: serve(t, old), TrustDir: dir}, Pin{KeyIDs: []string{rootID}}, allowExpired)
		if k, _ := errkind.Of(err); err == nil || k != errkind.Untrusted {
			t.Errorf("allowExpired=%v: rolled-back metadata loaded (err %v)", allowExpired, err)
		} else {
			t.Logf("allowExpired=%v: %v", allowExpired, err)
		}
	}
}

// Trusted takes a tag only where docker pull with DOCKER_CONTENT_TRUST=1
// took it (docker/cli getTrustedPullTargets): the entry Notary finds first
// in targets/releases, then in the targets tree, and only if that entry is
// targets/releases' or targets' own. A tag that other verified delegations
// alone sign (targets/ci), or that docker finds first in one, is untrusted.
func TestTrustedRoles(t *testing.T) {
	d := func(b string) string { return strings.Repeat(b, 32) }
	sw, rootID := signedRepoWith(t, map[data.RoleName]map[string]string{
		data.CanonicalTargetsRole: {"top": d("01"), "shadowed": d("02")},
		"targets/releases":        {"rel": d("03")},
		"targets/ci":              {"top": d("04"), "rel": d("05"), "ci-only": d("06")},
		"targets/releases/sub":    {"sub-only": d("07"), "shadowed": d("08")},
	})
	md, err := Load(context.Background(), Source{GUN: testGUN, Server: serve(t, sw.MetadataCache), TrustDir: t.TempDir()}, Pin{KeyIDs: []string{rootID}}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		tags    []string
		trusted map[string]string // tag → role
		// untrusted: tag → reason substring
		untrusted map[string]string
	}{
		{name: "all", trusted: map[string]string{"top": "targets", "rel": "targets/releases"}, untrusted: map[string]string{
			"ci-only":  "only in delegation targets/ci, which docker pull does not trust",
			"sub-only": "only in delegation targets/releases/sub, which docker pull does not trust",
			"shadowed": "docker pull finds it first in delegation targets/releases/sub, which it does not trust",
		}},
		{name: "asked for a ci tag", tags: []string{"ci-only"}, untrusted: map[string]string{"ci-only": "targets/ci"}},
		{name: "asked for a trusted tag", tags: []string{"rel"}, trusted: map[string]string{"rel": "targets/releases"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entries, untrusted, err := md.Trusted(tc.tags)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, e := range entries {
				got[e.Tag] = e.Role
			}
			if len(got) != len(tc.trusted) {
				t.Errorf("trusted %v; want %v", got, tc.trusted)
			}
			for tag, role := range tc.trusted {
				if got[tag] != role {
					t.Errorf("tag %s from %q; want %q (trusted: %v)", tag, got[tag], role, got)
				}
			}
			if len(untrusted) != len(tc.untrusted) {
				t.Errorf("untrusted %+v; want %v", untrusted, tc.untrusted)
			}
			for _, u := range untrusted {
				if want, ok := tc.untrusted[u.Tag]; !ok || !strings.Contains(u.Reason, want) || u.Digest == "" {
					t.Errorf("untrusted %+v; want reason containing %q", u, want)
				}
			}
		})
	}
}
