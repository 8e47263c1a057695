package verify

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"

	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/internal/testing/fakesigstore"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/verify/policy"
)

// newKeylessFixture is newFixture's image signed keyless by a workflow
// identity, with a policy trusting it under a trust root file.
func newKeylessFixture(tb testing.TB) *fixture {
	tb.Helper()
	host := testenv.Registry(tb, true).Addr
	d := testenv.PushImage(tb, host, "bench/keyless", "v1")
	fs := fakesigstore.New(tb)
	dir := tb.TempDir()
	fs.WriteTrustedRoot(tb, filepath.Join(dir, "root.json"))
	repo, err := name.NewRepository(host+"/bench/keyless", name.Insecure)
	if err != nil {
		tb.Fatal(err)
	}
	st, err := statement.About(repo, d, statement.Signature, map[string]any{}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	bundle := fs.DSSEBundle(tb, st, fakesigstore.Identity{Subject: ghWorkflow, Issuer: ghIssuer,
		Extensions: certificate.Extensions{SourceRepositoryURI: "https://github.com/acme/app", RunnerEnvironment: "github-hosted"}})
	rp, err := registry.New().Open(context.Background(), repo, true)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := sign.Push(context.Background(), rp, v1.Descriptor{MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: d}, statement.Signature, bundle, sign.Options{}); err != nil {
		tb.Fatal(err)
	}
	doc := `version: 1
trustRoots:
  - {name: ci, file: root.json}
identities:
  - name: release
    issuer: ` + ghIssuer + `
    subjectGlob: https://github.com/acme/app/.github/workflows/release.yml@refs/tags/*
    claims: {sourceRepository: "https://github.com/acme/app", runnerEnvironment: github-hosted}
    trustRoots: [ci]
policies:
  - name: p
    scopes: ["` + host + `/**"]
    signatures: {keys: [release]}
`
	p, err := policy.Parse([]byte(doc), dir)
	if err != nil {
		tb.Fatalf("policy: %v\n%s", err, doc)
	}
	n := &atomic.Int64{}
	return &fixture{image: host + "/bench/keyless:v1", policy: p, count: n, client: registry.New(registry.WithTransport(countingTransport{n: n, inner: remote.DefaultTransport}))}
}

// A keyless verify costs what a key verify does: a ping, a resolve, a
// referrers listing and the bundle; the certificate, log and timestamp
// checks are local.
func TestKeylessRequestBudget(t *testing.T) {
	f := newKeylessFixture(t)
	res := New(f.client, f.policy).Verify(context.Background(), f.image)
	if res.Verdict != VerdictPass {
		t.Fatalf("verdict %s: %s %+v", res.Verdict, res.Error, res.Requirements)
	}
	if got := f.count.Load(); got > 4 {
		t.Errorf("keyless verify made %d HTTP requests, budget is 4", got)
	}
}

func BenchmarkVerifyKeyless(b *testing.B) {
	f := newKeylessFixture(b)
	v := New(f.client, f.policy)
	f.count.Store(0)
	b.ResetTimer()
	for b.Loop() {
		if res := v.Verify(context.Background(), f.image); res.Verdict != VerdictPass {
			b.Fatalf("verdict %s", res.Verdict)
		}
	}
	b.ReportMetric(float64(f.count.Load())/float64(b.N), "requests/op")
}
