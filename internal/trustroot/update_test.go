package trustroot

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tuf"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/testing/fakesigstore"
	"github.com/imgsign/imgsign/internal/trustroot/tuftest"
)

// TestMain points the cache at an empty directory: a developer's own
// `imgsign trust-root update` must not change what these tests see.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "trustroot-cache")
	if err != nil {
		panic(err)
	}
	os.Setenv(EnvCacheDir, dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fixture is a local TUF repository publishing a test Sigstore's trusted
// root, standing in for Sigstore's public-good repository: its root.json is
// the public-good TUF root for the test (useAnchor), and written to a file
// too. Named reads an empty cache directory.
type fixture struct {
	fs       *fakesigstore.Sigstore
	target   []byte // the trusted_root.json published
	repo     *tuftest.Repo
	mirror   string // what update fetches from: repo.URL
	tufRoot  string // the repository's root.json
	cacheDir string // CacheDir()
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{fs: fakesigstore.New(t)}
	f.target = f.fs.TrustedRootJSON(t) // its logs in map order: not the same bytes twice
	f.repo = tuftest.New(t, map[string][]byte{TargetName: f.target, "other.txt": []byte("not for imgsign")})
	f.mirror = f.repo.URL
	f.tufRoot = filepath.Join(t.TempDir(), "root.json")
	f.repo.WriteRoot(f.tufRoot)
	useAnchor(t, f.repo.RootJSON())
	t.Setenv(EnvCacheDir, t.TempDir())
	var err error
	if f.cacheDir, err = CacheDir(); err != nil {
		t.Fatal(err)
	}
	return f
}

// useAnchor makes anchor the public-good TUF root until t ends: the test
// hook that lets a local repository stand in for Sigstore's. Production
// code never sets publicGoodAnchor.
func useAnchor(t *testing.T, anchor []byte) {
	t.Helper()
	prev := publicGoodAnchor
	publicGoodAnchor = func() []byte { return anchor }
	t.Cleanup(func() { publicGoodAnchor = prev })
}

// useTime moves the clock TUF expiry is checked at until t ends.
func useTime(t *testing.T, now func() time.Time) {
	t.Helper()
	prev := timeNow
	timeNow = now
	t.Cleanup(func() { timeNow = prev })
}

// update updates the public-good root from the fixture's repository.
func (f *fixture) update(t *testing.T) (*UpdateResult, error) {
	t.Helper()
	return Update(context.Background(), UpdateRequest{MirrorURL: f.mirror})
}

// embeddedRoot is the snapshot built in, as Named shares it.
func embeddedRoot(t *testing.T) *root.TrustedRoot {
	t.Helper()
	tr, err := parseShared(publicGoodJSON)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func tufOf(md tuftest.Metadata) *tufMetadata {
	return &tufMetadata{Roots: md.Roots, Timestamp: md.Timestamp, Snapshot: md.Snapshot, Targets: md.Targets}
}

// cached reads the cache file's bytes ("" when there is none).
func (f *fixture) cached(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.cacheDir, cacheFile))
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func fulcioRoot(t *testing.T, tr *root.TrustedRoot) *x509.Certificate {
	t.Helper()
	cas := tr.FulcioCertificateAuthorities()
	if len(cas) != 1 {
		t.Fatalf("%d certificate authorities", len(cas))
	}
	return cas[0].(*root.FulcioCertificateAuthority).Root
}

func wantKind(t *testing.T, err error, kind errkind.Kind, text string) {
	t.Helper()
	if err == nil {
		t.Fatalf("succeeded, want a %s error containing %q", kind, text)
	}
	t.Logf("%s: %v", errkind.KindOf(err), err)
	if k := errkind.KindOf(err); k != kind || !strings.Contains(err.Error(), text) {
		t.Fatalf("%s error %q, want a %s error containing %q", k, err, kind, text)
	}
}

// Update fetches the trusted root through TUF (under the public-good TUF
// root, here the fixture's) and caches it; Named then uses it instead of
// the embedded snapshot, having verified it offline once.
func TestUpdate(t *testing.T) {
	f := newFixture(t)
	if info, err := Describe(PublicGood); err != nil || info.Source != SourceEmbedded || info.CacheProblem != "" {
		t.Fatalf("before any update: %+v, %v; want the embedded snapshot", info, err)
	}
	res, err := f.update(t)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || res.Source != SourceCached || res.Mirror != f.repo.URL || res.Path != filepath.Join(f.cacheDir, cacheFile) {
		t.Errorf("result %+v", res)
	}
	if res.TUFRoot != TUFRootPublicGood {
		t.Errorf("TUF root %q, want %q", res.TUFRoot, TUFRootPublicGood)
	}
	if d := time.Until(res.TUFExpires); d < tuftest.Validity-time.Hour || d > tuftest.Validity {
		t.Errorf("TUF metadata expires %v, want in %v", res.TUFExpires, tuftest.Validity)
	}
	if want := digest(f.target); res.SHA256 != want {
		t.Errorf("sha256 %s, want the target's %s", res.SHA256, want)
	}
	if time.Since(res.Updated) > time.Minute || res.NewestValidFrom.IsZero() {
		t.Errorf("updated %v, newest %v", res.Updated, res.NewestValidFrom)
	}
	kinds := map[string]int{}
	for _, a := range res.Authorities {
		kinds[a.Kind]++
		if a.Name == "" {
			t.Errorf("authority without a name: %+v", a)
		}
	}
	if kinds[KindFulcio] != 1 || kinds[KindRekor] != 2 || kinds[KindCTLog] != 1 || kinds[KindTSA] != 1 {
		t.Errorf("authorities %v", kinds)
	}
	if fi, err := os.Stat(f.cacheDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("cache directory: %v, %v; want mode 0700", fi, err)
	}

	runs := verifyRuns.Load()
	tr, err := Named(PublicGood)
	if err != nil {
		t.Fatal(err)
	}
	if !fulcioRoot(t, tr).Equal(f.fs.FulcioRoot()) {
		t.Error("Named(public-good) is not the root the TUF repository published")
	}
	if again, _ := Named(PublicGood); again != tr {
		t.Error("a second Named parsed the cached root again")
	}
	info, err := Describe(PublicGood)
	if err != nil || info.Source != SourceCached || info.SHA256 != res.SHA256 || info.Mirror != f.repo.URL || !info.Updated.Equal(res.Updated) ||
		info.TUFRoot != TUFRootPublicGood || !info.TUFExpires.Equal(res.TUFExpires) || info.CacheProblem != "" {
		t.Fatalf("Describe after update: %+v, %v", info, err)
	}
	if n := verifyRuns.Load() - runs; n != 1 {
		t.Errorf("the cached root was verified %d times for Named, Named and Describe; want once per process", n)
	}

	// The same target again: nothing changed.
	if res, err := f.update(t); err != nil || res.Changed {
		t.Fatalf("second update: %+v, %v; want unchanged", res, err)
	}
	// A new trusted root published: the cache follows.
	next := fakesigstore.New(t)
	f.repo.Publish(map[string][]byte{TargetName: next.TrustedRootJSON(t)})
	if res, err := f.update(t); err != nil || !res.Changed {
		t.Fatalf("update after publishing: %+v, %v; want changed", res, err)
	}
	if tr, err := Named(PublicGood); err != nil || !fulcioRoot(t, tr).Equal(next.FulcioRoot()) {
		t.Fatalf("Named after the new root: %v", err)
	}
}

// The cache record keeps the TUF target's bytes verbatim.
func TestUpdateCachesTargetVerbatim(t *testing.T) {
	f := newFixture(t)
	target := append([]byte("  \n"), f.fs.TrustedRootJSON(t)...)
	target = append(target, "\n\n"...)
	target = bytes.ReplaceAll(target, []byte(`"mediaType"`), []byte("\n\t\"mediaType\""))
	f.repo.Publish(map[string][]byte{TargetName: target})
	res, err := f.update(t)
	if err != nil {
		t.Fatal(err)
	}
	c, err := readCache(f.cacheDir, instances[0])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.rec.TrustedRoot, target) || res.SHA256 != digest(target) {
		t.Errorf("cached trusted root differs from the target")
	}
}

// A root rotation in the repository is followed from the anchor, and the
// cache keeps the rotated roots, so that Named verifies the cached copy from
// the anchor too; an anchor newer than some of them (a newer imgsign) skips
// those.
func TestUpdateFollowsRootRotation(t *testing.T) {
	f := newFixture(t)
	f.repo.RotateRoot()
	f.repo.RotateRoot()
	if _, err := f.update(t); err != nil {
		t.Fatal(err)
	}
	if !contains(f.repo.Requests(), "2.root.json") || !contains(f.repo.Requests(), "3.root.json") {
		t.Errorf("requests %v: 2.root.json or 3.root.json never fetched", f.repo.Requests())
	}
	c, err := readCache(f.cacheDir, instances[0])
	if err != nil || len(c.rec.TUF.Roots) != 2 {
		t.Fatalf("cache: %+v, %v; want the two rotated roots kept", c, err)
	}
	if info, err := Describe(PublicGood); err != nil || info.Source != SourceCached {
		t.Fatalf("Describe after a rotation: %+v, %v", info, err)
	}
	useAnchor(t, f.repo.Metadata().Roots[0]) // 2.root.json
	if info, err := Describe(PublicGood); err != nil || info.Source != SourceCached {
		t.Fatalf("Describe under a newer anchor: %+v, %v", info, err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// What a repository serves that does not verify is refused, and the copy
// cached before stays as it was.
func TestUpdateRefusesUnverifiedRepository(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(f *fixture)
		want   string
	}{
		// The TUF client keeps the target it verified, and only downloads
		// a new one: the mirror tampers with the next root published.
		{"target tampered, same length", func(f *fixture) {
			b := fakesigstore.New(t).TrustedRootJSON(t)
			f.repo.Publish(map[string][]byte{TargetName: b})
			f.repo.Tamper(TargetName, bytes.Replace(b, []byte("fulcio"), []byte("fulciX"), 1))
		}, "hash verification failed"},
		{"target tampered, longer", func(f *fixture) {
			b := fakesigstore.New(t).TrustedRootJSON(t)
			f.repo.Publish(map[string][]byte{TargetName: b})
			f.repo.Tamper(TargetName, append(b, ' '))
		}, "over the"},
		{"timestamp expired", func(f *fixture) { f.repo.ExpireTimestamp() }, "expired"},
		// A mirror serving another repository, signed by other keys, with
		// a trusted root of its own.
		{"another repository", func(f *fixture) {
			f.mirror = tuftest.New(t, map[string][]byte{TargetName: fakesigstore.New(t).TrustedRootJSON(t)}).URL
		}, "signatures"},
		{"a target that is not a trusted root", func(f *fixture) {
			f.repo.Publish(map[string][]byte{TargetName: []byte(`{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}`)})
		}, "is not a Sigstore trusted root"},
		{"a trusted root without a CA", func(f *fixture) {
			f.repo.Publish(map[string][]byte{TargetName: []byte(`{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`)})
		}, "lists no certificate authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if _, err := f.update(t); err != nil {
				t.Fatal(err)
			}
			before := f.cached(t)
			tc.break_(f)
			_, err := f.update(t)
			wantKind(t, err, errkind.Untrusted, tc.want)
			if after := f.cached(t); after != before {
				t.Error("a failed update changed the cached root")
			}
			if tr, err := Named(PublicGood); err != nil || !fulcioRoot(t, tr).Equal(f.fs.FulcioRoot()) {
				t.Errorf("Named after a failed update: %v; want the root cached before", err)
			}
		})
	}
}

// The first update fails the same way, and caches nothing.
func TestUpdateTamperedFirstTime(t *testing.T) {
	f := newFixture(t)
	f.repo.Tamper(TargetName, bytes.Replace(f.target, []byte("fulcio"), []byte("fulciX"), 1))
	_, err := f.update(t)
	wantKind(t, err, errkind.Untrusted, "does not verify")
	if f.cached(t) != "" {
		t.Error("a failed update cached a root")
	}
	if info, err := Describe(PublicGood); err != nil || info.Source != SourceEmbedded {
		t.Errorf("Describe: %+v, %v; want the embedded snapshot", info, err)
	}
}

func TestUpdateUnreachable(t *testing.T) {
	f := newFixture(t)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	_, err := Update(context.Background(), UpdateRequest{MirrorURL: closed.URL})
	wantKind(t, err, errkind.Operational, "TUF mirror "+closed.URL+" unreachable")

	notTUF := httptest.NewServer(http.NotFoundHandler())
	defer notTUF.Close()
	_, err = Update(context.Background(), UpdateRequest{MirrorURL: notTUF.URL})
	wantKind(t, err, errkind.Operational, "404")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Update(ctx, UpdateRequest{MirrorURL: f.repo.URL})
	wantKind(t, err, errkind.Operational, "context canceled")
	if f.cached(t) != "" {
		t.Error("a failed update cached a root")
	}
}

// With no mirror and no TUF root given, Update asks Sigstore's public-good
// repository, anchored on the TUF root sigstore-go embeds.
func TestUpdateDefaults(t *testing.T) {
	t.Setenv(EnvCacheDir, t.TempDir())
	if !bytes.Equal(publicGoodAnchor(), tuf.DefaultRoot()) {
		t.Fatal("the public-good TUF root is not sigstore-go's embedded root.json")
	}
	var asked []string
	client := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		asked = append(asked, r.URL.String()+" "+r.Header.Get("User-Agent"))
		return nil, errors.New("offline")
	})}
	_, err := Update(context.Background(), UpdateRequest{HTTPClient: client, UserAgent: "imgsign/test"})
	wantKind(t, err, errkind.Operational, "TUF mirror https://tuf-repo-cdn.sigstore.dev unreachable")
	if len(asked) == 0 || !strings.HasPrefix(asked[0], "https://tuf-repo-cdn.sigstore.dev/") || !strings.HasSuffix(asked[0], ".root.json imgsign/test") {
		t.Errorf("requests %v", asked)
	}
	dir, _ := CacheDir()
	if _, err := os.Stat(filepath.Join(dir, "repositories", "tuf-repo-cdn.sigstore.dev", "root.json")); err != nil {
		t.Errorf("the TUF client's cache is not in the cache directory: %v", err)
	}
	// The TUF root it started from is sigstore-go's public-good root.
	got, _ := os.ReadFile(filepath.Join(dir, "repositories", "tuf-repo-cdn.sigstore.dev", "root.json"))
	if !bytes.Equal(got, tuf.DefaultRoot()) {
		t.Error("the TUF anchor is not sigstore-go's embedded public-good root.json")
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestUpdateBadInput(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unsigned := strings.Replace(string(f.repo.RootJSON()), `"sig": "`, `"sig": "00`, 1)
	notDir := write("file", "x")
	out := filepath.Join(dir, "trusted_root.json")
	for _, tc := range []struct {
		name string
		req  UpdateRequest
		want string
	}{
		{"ftp mirror", UpdateRequest{MirrorURL: "ftp://tuf.example.com"}, "expected an http(s) URL"},
		{"mirror without host", UpdateRequest{MirrorURL: "https:///metadata"}, "expected an http(s) URL"},
		{"mirror with credentials", UpdateRequest{MirrorURL: "https://u:secret@tuf.example.com"}, `"https://u:xxxxx@tuf.example.com": expected an http(s) URL`},
		{"missing TUF root", UpdateRequest{MirrorURL: f.repo.URL, TUFRootFile: filepath.Join(dir, "missing.json"), OutFile: out}, "cannot read TUF root"},
		{"not a TUF root", UpdateRequest{MirrorURL: f.repo.URL, TUFRootFile: write("tr.json", string(fakesigstore.New(t).TrustedRootJSON(t))), OutFile: out}, "is not a TUF root.json"},
		{"TUF root with a bad signature", UpdateRequest{MirrorURL: f.repo.URL, TUFRootFile: write("bad.json", unsigned), OutFile: out}, "is not signed by its own root keys"},
		{"TUF root without an output file", UpdateRequest{MirrorURL: f.repo.URL, TUFRootFile: f.tufRoot}, "never replaces the public-good trust root: give an output file (--out FILE)"},
		{"output file in a missing directory", UpdateRequest{MirrorURL: f.repo.URL, TUFRootFile: f.tufRoot, OutFile: filepath.Join(dir, "missing", "trusted_root.json")}, "writing"},
		{"cache directory under a file", UpdateRequest{MirrorURL: f.repo.URL, CacheDir: filepath.Join(notDir, "tuf")}, "cache directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Update(context.Background(), tc.req)
			wantKind(t, err, errkind.Input, tc.want)
		})
	}
	if f.cached(t) != "" {
		t.Error("bad input cached a root")
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("bad input wrote %s: %v", out, err)
	}
}

// A damaged cached copy is never used: Named falls back to the embedded
// snapshot, and Describe says why.
func TestDamagedCacheFallsBack(t *testing.T) {
	f := newFixture(t)
	if _, err := f.update(t); err != nil {
		t.Fatal(err)
	}
	embedded := embeddedRoot(t)
	good := f.cached(t)
	path := filepath.Join(f.cacheDir, cacheFile)
	var rec cacheRecord
	if err := json.Unmarshal([]byte(good), &rec); err != nil {
		t.Fatal(err)
	}
	rec.TrustedRoot = bytes.Replace(rec.TrustedRoot, []byte("fulcio"), []byte("fulciX"), 1)
	changed, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, data, want string
	}{
		{"truncated", good[:len(good)/2], "is damaged"},
		{"a byte changed", string(changed), "sha256"},
		{"digest matches, no TUF metadata", `{"sha256": "` + digest([]byte(`{}`)) + `", "trustedRoot": "e30="}`, "holds no TUF metadata"},
		{"trusted root not base64", `{"sha256": "", "trustedRoot": {}}`, "is damaged"},
		{"no trusted root", `{"sha256": ""}`, "no trustedRoot"},
		{"empty", "", "is damaged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(tc.data), 0o644); err != nil {
				t.Fatal(err)
			}
			tr, err := Named(PublicGood)
			if err != nil {
				t.Fatal(err)
			}
			if tr != embedded {
				t.Error("Named did not fall back to the embedded snapshot")
			}
			info, err := Describe(PublicGood)
			if err != nil || info.Source != SourceEmbedded || !strings.Contains(info.CacheProblem, tc.want) || !strings.Contains(info.CacheProblem, path) {
				t.Errorf("Describe: source %q, problem %q, %v; want embedded, a problem containing %q and the path", info.Source, info.CacheProblem, err, tc.want)
			}
		})
	}
	// An update repairs it.
	if _, err := f.update(t); err != nil {
		t.Fatal(err)
	}
	if info, err := Describe(PublicGood); err != nil || info.Source != SourceCached || info.CacheProblem != "" {
		t.Errorf("after the update: %+v, %v", info, err)
	}
}

// The embedded snapshot, described: names and validity of its authorities.
func TestDescribeEmbedded(t *testing.T) {
	t.Setenv(EnvCacheDir, t.TempDir())
	info, err := Describe(PublicGood)
	if err != nil {
		t.Fatal(err)
	}
	if info.Source != SourceEmbedded || info.Path != "" || info.SHA256 != "4364d7724c04cc912ce2a6c45ed2610e8d8d1c4dc857fb500292738d4d9c8d2c" {
		t.Errorf("info %+v", info)
	}
	var names []string
	for _, a := range info.Authorities {
		names = append(names, a.Kind+" "+a.Name)
	}
	all := strings.Join(names, "\n")
	for _, w := range []string{"certificate authority https://fulcio.sigstore.dev", "transparency log https://rekor.sigstore.dev", "timestamp authority"} {
		if !strings.Contains(all, w) {
			t.Errorf("authorities lack %q:\n%s", w, all)
		}
	}
	if info.Authorities[0].Kind != KindFulcio || info.NewestValidFrom.Before(info.Authorities[0].ValidFrom) {
		t.Errorf("authorities not in order, or newest %v wrong", info.NewestValidFrom)
	}
	if _, err := Describe("gitlab"); errkind.KindOf(err) != errkind.Input {
		t.Errorf("Describe(gitlab): %v", err)
	}
}

func TestCacheDir(t *testing.T) {
	t.Setenv(EnvCacheDir, "/var/cache/imgsign")
	if d, err := CacheDir(); err != nil || d != "/var/cache/imgsign/tuf" {
		t.Errorf("CacheDir = %q, %v", d, err)
	}
	if runtime.GOOS != "linux" {
		return
	}
	t.Setenv(EnvCacheDir, "")
	t.Setenv("XDG_CACHE_HOME", "/home/u/.xdg-cache")
	if d, err := CacheDir(); err != nil || d != "/home/u/.xdg-cache/imgsign/tuf" {
		t.Errorf("CacheDir = %q, %v", d, err)
	}
}
