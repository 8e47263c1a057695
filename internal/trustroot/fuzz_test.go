package trustroot

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/imgsign/imgsign/internal/testing/fakesigstore"
	"github.com/imgsign/imgsign/internal/trustroot/tuftest"
)

// FuzzVerifyCache feeds cache records — a file anyone who can write the
// cache directory controls — to the check Named relies on. The seed is a
// record that verifies under a test TUF repository's root. Whatever the
// fuzzer makes of it: nothing verifies under the TUF roots built into
// imgsign (only Sigstore's or GitHub's keys could sign one that does), and
// what verifies under the test root holds exactly the trusted_root.json
// that repository published.
func FuzzVerifyCache(f *testing.F) {
	target := fakesigstore.New(f).TrustedRootJSON(f)
	repo := tuftest.New(f, map[string][]byte{TargetName: target})
	anchor := repo.RootJSON()
	rec := cacheRecord{Mirror: repo.URL, TUFRoot: TUFRootPublicGood, Updated: time.Now(), SHA256: digest(target),
		TrustedRoot: target, TUF: tufOf(repo.Metadata())}
	seed, err := json.Marshal(rec)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Now()
	pg, gh := instances[0], instances[1]
	if _, err := verifyCache("seed", seed, pg, anchor, now); err != nil {
		f.Fatalf("the seed does not verify under its own TUF root: %v", err)
	}
	f.Add(seed)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"trustedRoot":"e30=","sha256":"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, in := range []*instance{pg, gh} {
			for _, builtIn := range [][]byte{publicGoodAnchor(), githubAnchor()} {
				if _, err := verifyCache("cache", data, in, builtIn, now); err == nil {
					t.Fatalf("a fuzzed record verified as %s under a TUF root built into imgsign", in.name)
				}
			}
		}
		c, err := verifyCache("cache", data, pg, anchor, now)
		if err == nil && !bytes.Equal(c.rec.TrustedRoot, target) {
			t.Fatalf("a record verified with a trusted root its repository did not publish:\n%s", c.rec.TrustedRoot)
		}
		if err == nil && c.root == nil {
			t.Fatal("verified with no root")
		}
	})
}

// FuzzFileRoots reads any file as a trusted root (a trusted_root.json, or
// JSON lines of them): an error or roots, never a panic, and JSON lines
// only of two or more roots, every one parsed.
func FuzzFileRoots(f *testing.F) {
	f.Add(publicGoodJSON)
	var line bytes.Buffer
	if err := json.Compact(&line, publicGoodJSON); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(line.String() + "\n" + line.String() + "\n"))
	f.Add([]byte(line.String() + "\r\n{}\r\n"))
	f.Add([]byte("\n\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "root.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		all, lines, err := FileRoots(path)
		if err != nil {
			return
		}
		if all == nil {
			t.Fatal("no root and no error")
		}
		if lines != nil && len(lines) < 2 {
			t.Fatalf("JSON lines of %d roots", len(lines))
		}
		for i, l := range lines {
			if l == nil {
				t.Fatalf("line %d has no root", i+1)
			}
		}
	})
}
