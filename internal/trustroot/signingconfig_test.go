package trustroot

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A trust-root update also caches the signing config the repository
// publishes, verified with the same TUF metadata, and keyless signing then
// uses it; a cached signing config that was changed makes the whole cache
// unusable (the embedded root and config are used), and without an update
// the embedded config is used.
func TestUpdateCachesSigningConfig(t *testing.T) {
	f := newFixture(t)
	if sc, err := PublicGoodSigningConfig(); err != nil || sc.FulcioCertificateAuthorityURLs()[0].URL != "https://fulcio.sigstore.dev" {
		t.Fatalf("before any update: %v, %v; want the embedded config", sc, err)
	}
	published := []byte(`{"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
  "caUrls": [{"url": "https://fulcio.example.test", "majorApiVersion": 1, "validFor": {"start": "2024-01-01T00:00:00Z"}}],
  "tsaUrls": [{"url": "https://tsa.example.test/api/v1/timestamp", "majorApiVersion": 1, "validFor": {"start": "2024-01-01T00:00:00Z"}}],
  "rekorTlogConfig": {"selector": "ANY"}, "tsaConfig": {"selector": "ANY"}}`)
	f.repo.Publish(map[string][]byte{TargetName: f.target, SigningConfigTarget: published})
	if _, err := f.update(t); err != nil {
		t.Fatal(err)
	}
	sc, err := PublicGoodSigningConfig()
	if err != nil || sc.FulcioCertificateAuthorityURLs()[0].URL != "https://fulcio.example.test" {
		t.Fatalf("after the update: %v, %v; want the published config", sc, err)
	}

	// The cached config changed by someone else: nothing of the cache is used.
	path := filepath.Join(f.cacheDir, cacheFile)
	var rec cacheRecord
	if err := json.Unmarshal([]byte(f.cached(t)), &rec); err != nil {
		t.Fatal(err)
	}
	rec.SigningConfig = bytes.Replace(rec.SigningConfig, []byte("fulcio.example.test"), []byte("fulcio.attacker.test"), 1)
	changed, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, changed, 0o644); err != nil {
		t.Fatal(err)
	}
	if sc, err := PublicGoodSigningConfig(); err != nil || sc.FulcioCertificateAuthorityURLs()[0].URL != "https://fulcio.sigstore.dev" {
		t.Fatalf("with a changed cached config: %v, %v; want the embedded config", sc, err)
	}
	if info, err := Describe(PublicGood); err != nil || info.Source != SourceEmbedded || !strings.Contains(info.CacheProblem, SigningConfigTarget) {
		t.Errorf("Describe: %+v, %v; want the embedded root and a problem naming %s", info, err, SigningConfigTarget)
	}
}
