package trustroot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata/trustedmetadata"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/testing/fakesigstore"
	"github.com/imgsign/imgsign/internal/trustroot/tuftest"
)

// useGitHubAnchor makes anchor GitHub's TUF root until t ends, as useAnchor
// does for public-good's. Production code never sets githubAnchor.
func useGitHubAnchor(t *testing.T, anchor []byte) {
	t.Helper()
	prev := githubAnchor
	githubAnchor = func() []byte { return anchor }
	t.Cleanup(func() { githubAnchor = prev })
}

// ghFixture is a local TUF repository standing in for GitHub's
// (tuf-repo.github.com), anchored as the github instance's TUF root, beside
// the public-good fixture (another repository, another anchor) sharing its
// cache directory.
type ghFixture struct {
	*fixture // public-good
	gh       *fakesigstore.Sigstore
	ghTarget []byte
	ghRepo   *tuftest.Repo
}

func newGHFixture(t *testing.T) *ghFixture {
	t.Helper()
	f := &ghFixture{fixture: newFixture(t), gh: fakesigstore.New(t)}
	f.ghTarget = f.gh.TrustedRootJSON(t)
	f.ghRepo = tuftest.New(t, map[string][]byte{TargetName: f.ghTarget})
	useGitHubAnchor(t, f.ghRepo.RootJSON())
	return f
}

func (f *ghFixture) updateGitHub(t *testing.T) (*UpdateResult, error) {
	t.Helper()
	return Update(context.Background(), UpdateRequest{Instance: GitHub, MirrorURL: f.ghRepo.URL})
}

// wantNoGitHub: Named(github) fails closed, with the one line saying what
// to do and, when a cached copy is there, why it is not used (want).
func wantNoGitHub(t *testing.T, want string) {
	t.Helper()
	tr, err := Named(GitHub)
	if tr != nil {
		t.Fatalf("Named(github) returned a root (CA %s)", fulcioRoot(t, tr).Subject)
	}
	wantKind(t, err, errkind.Input, want)
	for _, w := range []string{"no verified github trust root", "imgsign trust-root update github", "gh attestation trusted-root"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
	info, err := Describe(GitHub)
	if err != nil || info.Source != SourceNone || info.Root != nil || len(info.Authorities) != 0 {
		t.Fatalf("Describe(github): %+v, %v; want no root", info, err)
	}
	if want != "there is no cached copy" && !strings.Contains(info.CacheProblem, want) {
		t.Errorf("Describe(github) problem %q, want %q", info.CacheProblem, want)
	}
}

// The GitHub TUF root built in is the GitHub CLI's, and a TUF root
// (signed by a threshold of its own root keys): go-tuf loads it.
func TestGitHubAnchorEmbedded(t *testing.T) {
	sum := sha256.Sum256(githubTUFRoot)
	if got := hex.EncodeToString(sum[:]); got != "98cba97be9075bc98b2322de3de85fbd1b70ec7392991dfd2f53d215bede1a8d" {
		t.Errorf("github-tuf-root.json sha256 %s: not the GitHub CLI v2.83.0's (update README.md if it was refreshed)", got)
	}
	tm, err := trustedmetadata.New(githubAnchor())
	if err != nil {
		t.Fatal(err)
	}
	if tm.Root.Signed.Version < 1 {
		t.Errorf("version %d", tm.Root.Signed.Version)
	}
	if got := Names(); !slices.Equal(got, []string{GitHub, PublicGood}) {
		t.Errorf("Names() = %v", got)
	}
	in, err := lookup(GitHub)
	if err != nil || in.snapshot != nil || in.mirror != "https://tuf-repo.github.com" {
		t.Errorf("github instance %+v, %v: want no snapshot, GitHub's mirror", in, err)
	}
}

// With no cache, github fails closed: GitHub's root is not embedded, and
// nothing stands in for it.
func TestGitHubNoCache(t *testing.T) {
	t.Setenv(EnvCacheDir, t.TempDir())
	wantNoGitHub(t, "there is no cached copy")
	// No cache directory at all (no home directory): the same.
	t.Setenv(EnvCacheDir, "")
	t.Setenv("HOME", "")
	t.Setenv("XDG_CACHE_HOME", "")
	wantNoGitHub(t, "there is no cached copy")
}

// update github fetches GitHub's trusted root through its TUF repository,
// under GitHub's TUF root, into github.json; Named(github) then uses it,
// offline; public-good is untouched, and the two repositories' TUF client
// metadata are kept apart.
func TestUpdateGitHub(t *testing.T) {
	f := newGHFixture(t)
	wantNoGitHub(t, "there is no cached copy")
	res, err := f.updateGitHub(t)
	if err != nil {
		t.Fatal(err)
	}
	if res.Name != GitHub || res.Source != SourceCached || res.TUFRoot != TUFRootGitHub || res.Mirror != f.ghRepo.URL ||
		res.Path != filepath.Join(f.cacheDir, "github.json") || !res.Changed || res.SHA256 != digest(f.ghTarget) {
		t.Errorf("result %+v", res)
	}
	requests := len(f.ghRepo.Requests())
	tr, err := Named(GitHub)
	if err != nil {
		t.Fatal(err)
	}
	if !fulcioRoot(t, tr).Equal(f.gh.FulcioRoot()) {
		t.Error("Named(github) is not the root GitHub's repository published")
	}
	info, err := Describe(GitHub)
	if err != nil || info.Source != SourceCached || info.TUFRoot != TUFRootGitHub || info.SHA256 != res.SHA256 || info.CacheProblem != "" || len(info.Authorities) == 0 {
		t.Fatalf("Describe(github): %+v, %v", info, err)
	}
	if n := len(f.ghRepo.Requests()); n != requests {
		t.Errorf("Named and Describe went online: %v", f.ghRepo.Requests()[requests:])
	}
	// public-good: still the embedded snapshot, nothing cached for it.
	if tr, err := Named(PublicGood); err != nil || tr != embeddedRoot(t) || f.cached(t) != "" {
		t.Errorf("public-good after update github: %v, cached %q", err, f.cached(t))
	}
	if _, err := os.Stat(filepath.Join(f.cacheDir, "github", "repositories", tufURLDir(f.ghRepo.URL), "timestamp.json")); err != nil {
		t.Errorf("github's TUF client metadata: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.cacheDir, "repositories")); !os.IsNotExist(err) {
		t.Errorf("update github wrote the public-good TUF client directory: %v", err)
	}
	// And public-good updates beside it, each its own.
	if _, err := f.update(t); err != nil {
		t.Fatal(err)
	}
	pg, err := Named(PublicGood)
	if err != nil || !fulcioRoot(t, pg).Equal(f.fs.FulcioRoot()) {
		t.Fatalf("Named(public-good): %v", err)
	}
	if gh, err := Named(GitHub); err != nil || !fulcioRoot(t, gh).Equal(f.gh.FulcioRoot()) {
		t.Fatalf("Named(github) after update public-good: %v", err)
	}
	if res, err := f.updateGitHub(t); err != nil || res.Changed {
		t.Errorf("second update github: %+v, %v; want unchanged", res, err)
	}
}

// A record verified under one instance's TUF root never counts as the
// other's: a public-good record copied into github.json, or a github one
// into public-good.json, is refused, whether it keeps its tufRoot or claims
// the other's (then its metadata does not verify under that anchor).
func TestCrossInstanceRecords(t *testing.T) {
	f := newGHFixture(t)
	if _, err := f.update(t); err != nil {
		t.Fatal(err)
	}
	if _, err := f.updateGitHub(t); err != nil {
		t.Fatal(err)
	}
	pgPath, ghPath := filepath.Join(f.cacheDir, cacheFile), filepath.Join(f.cacheDir, "github.json")
	pgRec, ghRec := readFile(t, pgPath), readFile(t, ghPath)
	relabel := func(data []byte, label string) []byte {
		var rec cacheRecord
		if err := json.Unmarshal(data, &rec); err != nil {
			t.Fatal(err)
		}
		rec.TUFRoot = label
		out, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"public-good record as is", pgRec, "was verified under another TUF root (public-good (embedded))"},
		{"public-good record relabelled", relabel(pgRec, TUFRootGitHub), "does not verify under the github TUF root"},
		{"public-good record without a label", relabel(pgRec, ""), "was verified under another TUF root ()"},
	} {
		t.Run("github.json: "+tc.name, func(t *testing.T) {
			writeFile(t, ghPath, tc.data)
			wantNoGitHub(t, tc.want)
			if tr, err := Named(PublicGood); err != nil || !fulcioRoot(t, tr).Equal(f.fs.FulcioRoot()) {
				t.Errorf("public-good: %v", err)
			}
		})
	}
	writeFile(t, ghPath, ghRec)
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"github record as is", ghRec, "was verified under another TUF root (github (embedded))"},
		{"github record relabelled", relabel(ghRec, TUFRootPublicGood), "does not verify under the public-good TUF root"},
		{"github record without a label", relabel(ghRec, ""), "does not verify under the public-good TUF root"},
	} {
		t.Run("public-good.json: "+tc.name, func(t *testing.T) {
			writeFile(t, pgPath, tc.data)
			wantEmbedded(t, f.fixture, tc.want)
			if tr, err := Named(GitHub); err != nil || !fulcioRoot(t, tr).Equal(f.gh.FulcioRoot()) {
				t.Errorf("github: %v", err)
			}
		})
	}
}

// A tampered or damaged github.json is refused, and with no snapshot to
// fall back to, Named(github) fails saying why.
func TestGitHubCacheTampered(t *testing.T) {
	f := newGHFixture(t)
	if _, err := f.updateGitHub(t); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(f.cacheDir, "github.json")
	good := readFile(t, path)
	var rec cacheRecord
	if err := json.Unmarshal(good, &rec); err != nil {
		t.Fatal(err)
	}
	// The attacker's root in GitHub's place, with its sha256: the TUF
	// metadata lists another target.
	evil := fakesigstore.New(t).TrustedRootJSON(t)
	swapped := rec
	swapped.TrustedRoot, swapped.SHA256 = evil, digest(evil)
	// With TUF metadata of the attacker's own repository.
	theirs := tuftest.New(t, map[string][]byte{TargetName: evil})
	withTheirs := swapped
	withTheirs.TUF = tufOf(theirs.Metadata())
	noTUF := swapped
	noTUF.TUF = nil
	for _, tc := range []struct {
		name string
		rec  any
		want string
	}{
		{"another root, its sha256", swapped, "it is not the trusted_root.json its TUF targets.json lists"},
		{"another root and repository", withTheirs, "does not verify under the github TUF root"},
		{"no TUF metadata", noTUF, "holds no TUF metadata"},
		{"damaged", `{"sha256": "`, "is damaged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, ok := tc.rec.(string)
			if !ok {
				b, err := json.Marshal(tc.rec)
				if err != nil {
					t.Fatal(err)
				}
				data = string(b)
			}
			writeFile(t, path, []byte(data))
			wantNoGitHub(t, tc.want)
		})
	}
	writeFile(t, path, good)
	if _, err := Named(GitHub); err != nil {
		t.Fatalf("the record update wrote, put back: %v", err)
	}
}

// Expired metadata is not used: past it, github has no root until the next
// update.
func TestGitHubCacheExpired(t *testing.T) {
	f := newGHFixture(t)
	res, err := f.updateGitHub(t)
	if err != nil {
		t.Fatal(err)
	}
	useTime(t, func() time.Time { return res.TUFExpires.Add(time.Minute) })
	wantNoGitHub(t, "is out of date: its TUF root.json expired")
}

// update github verifies the repository under GitHub's TUF root: a mirror
// signed by anyone else (here the public-good stand-in, or GitHub's own
// stand-in serving a tampered target) is refused and nothing is cached.
// An instance with --tuf-root, or an unknown one, is bad input.
func TestUpdateGitHubRefused(t *testing.T) {
	f := newGHFixture(t)
	_, err := Update(context.Background(), UpdateRequest{Instance: GitHub, MirrorURL: f.mirror})
	wantKind(t, err, errkind.Untrusted, "does not verify")
	if !strings.Contains(err.Error(), "the cached github trust root is unchanged") {
		t.Errorf("error %q does not say the github root is unchanged", err)
	}
	f.ghRepo.Publish(map[string][]byte{TargetName: f.gh.TrustedRootJSON(t)})
	f.ghRepo.Tamper(TargetName, fakesigstore.New(t).TrustedRootJSON(t))
	_, err = f.updateGitHub(t)
	wantKind(t, err, errkind.Untrusted, "does not verify")
	if _, err := os.Stat(filepath.Join(f.cacheDir, "github.json")); !os.IsNotExist(err) {
		t.Fatalf("a refused update cached github.json: %v", err)
	}
	wantNoGitHub(t, "there is no cached copy")

	_, err = Update(context.Background(), UpdateRequest{Instance: GitHub, MirrorURL: f.ghRepo.URL, TUFRootFile: f.tufRoot, OutFile: filepath.Join(t.TempDir(), "out.json")})
	wantKind(t, err, errkind.Input, "give one or the other")
	_, err = Update(context.Background(), UpdateRequest{Instance: "gitlab", MirrorURL: f.ghRepo.URL})
	wantKind(t, err, errkind.Input, `unknown Sigstore trust root "gitlab": imgsign knows github, public-good`)
}

// Without --mirror, update github goes to GitHub's repository.
func TestUpdateGitHubDefaultMirror(t *testing.T) {
	t.Setenv(EnvCacheDir, t.TempDir())
	var asked []string
	client := roundTripper(func(r *http.Request) (*http.Response, error) {
		asked = append(asked, r.URL.String())
		return nil, errors.New("no network here")
	})
	_, err := Update(context.Background(), UpdateRequest{Instance: GitHub, HTTPClient: &http.Client{Transport: client}})
	wantKind(t, err, errkind.Operational, "TUF mirror https://tuf-repo.github.com unreachable")
	if len(asked) == 0 || !strings.HasPrefix(asked[0], "https://tuf-repo.github.com/") {
		t.Errorf("requests %v", asked)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
