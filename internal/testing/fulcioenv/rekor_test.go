package fulcioenv_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/imgsign/imgsign/internal/testing/fulcioenv"
	"github.com/imgsign/imgsign/internal/testing/oidctest"
	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// TestKeylessWithRekor signs keyless as public-good Sigstore does today:
// Fulcio certificate, TSA timestamp and a Rekor v2 entry (inclusion proof
// and a checkpoint signed by the log), and verifies the bundle with the
// transparency log required.
func TestKeylessWithRekor(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Fulcio, Rekor and the timestamp authority; run make test")
	}
	tsaURL, tsaChain := testenv.TSA(t)
	rekor := fulcioenv.StartRekor(t)
	f := fulcioenv.Start(t, fulcioenv.WithTSA(tsaURL, tsaChain), fulcioenv.WithRekor(rekor))

	tr, err := root.NewTrustedRootFromPath(f.TrustedRootPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tr.RekorLogs()[hex.EncodeToString(rekor.LogID)]; !ok {
		t.Fatalf("the trusted root lacks the Rekor log %x", rekor.LogID)
	}
	sc, err := root.NewSigningConfigFromPath(f.SigningConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	logs, err := root.SelectServices(sc.RekorLogURLs(), sc.RekorLogURLsConfig(), sign.RekorAPIVersions, time.Now())
	if err != nil || len(logs) != 1 || logs[0].URL != rekor.URL || logs[0].MajorAPIVersion != 2 {
		t.Fatalf("signing config's Rekor logs: %+v, %v", logs, err)
	}

	var digests [][32]byte
	var bundles []*bundle.Bundle
	// Two entries: the second one's proof is in a larger tree.
	for i := range 2 {
		subject := []byte(fmt.Sprintf("image %d", i))
		digest := sha256.Sum256(subject)
		statement := fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"registry.example/acme/app","digest":{"sha256":%q}}],"predicateType":"https://example.com/test/v1","predicate":{}}`, hex.EncodeToString(digest[:]))
		keypair, err := sign.NewEphemeralKeypair(nil)
		if err != nil {
			t.Fatal(err)
		}
		pb, err := sign.Bundle(&sign.DSSEData{Data: []byte(statement), PayloadType: "application/vnd.in-toto+json"}, keypair, sign.BundleOptions{
			CertificateProvider:        sign.NewFulcio(&sign.FulcioOptions{BaseURL: f.URL}),
			CertificateProviderOptions: &sign.CertificateProviderOptions{IDToken: f.Token(t)},
			TimestampAuthorities:       []*sign.TimestampAuthority{sign.NewTimestampAuthority(&sign.TimestampAuthorityOptions{URL: tsaURL})},
			TransparencyLogs:           []sign.Transparency{sign.NewRekor(&sign.RekorOptions{BaseURL: logs[0].URL, Version: logs[0].MajorAPIVersion})},
			TrustedRoot:                tr,
			Context:                    context.Background(),
		})
		if err != nil {
			t.Fatalf("signing: %v\nRekor's log:\n%s", err, rekor.Logs())
		}
		b, err := bundle.NewBundle(pb)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := b.TlogEntries()
		if err != nil || len(entries) != 1 {
			t.Fatalf("tlog entries: %v, %v", entries, err)
		}
		if got := []byte(entries[0].LogKeyID()); !bytes.Equal(got, rekor.LogID) {
			t.Errorf("entry's log ID %x, want %x", got, rekor.LogID)
		}
		if got := entries[0].LogIndex(); got != int64(i) {
			t.Errorf("entry %d at log index %d", i, got)
		}
		digests = append(digests, digest)
		bundles = append(bundles, b)
	}

	w := oidctest.DefaultWorkflow()
	id, err := verify.NewShortCertificateIdentity(f.Issuer.URL(), "", "https://github.com/"+w.Repository+"/"+w.Workflow+"@"+w.Ref, "")
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.NewVerifier(tr, verify.WithTransparencyLog(1), verify.WithSignedTimestamps(1))
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range bundles {
		if _, err := v.Verify(b, verify.NewPolicy(verify.WithArtifactDigest("sha256", digests[i][:]), verify.WithCertificateIdentity(id))); err != nil {
			t.Fatalf("verifying bundle %d: %v", i, err)
		}
	}
	// Without the log in the trusted root the entries prove nothing.
	noLog, err := root.NewTrustedRoot(root.TrustedRootMediaType01, tr.FulcioCertificateAuthorities(), nil, tr.TimestampingAuthorities(), nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err = verify.NewVerifier(noLog, verify.WithTransparencyLog(1), verify.WithSignedTimestamps(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(bundles[0], verify.NewPolicy(verify.WithArtifactDigest("sha256", digests[0][:]), verify.WithCertificateIdentity(id))); err == nil {
		t.Fatal("verified a log entry against a trusted root without the log")
	}
	// The log wrote its checkpoint and tiles to its POSIX storage.
	if _, err := os.Stat(filepath.Join(rekor.Dir, "checkpoint")); err != nil {
		t.Errorf("no checkpoint in the log's storage: %v", err)
	}
}
