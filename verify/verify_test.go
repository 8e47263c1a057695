package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/keys"
	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/verify/policy"
)

// fixture is a registry holding one image signed by a fresh key, and a
// policy trusting that key.
type fixture struct {
	image  string
	policy *policy.Policy
	count  *atomic.Int64
	client *registry.Client
}

// countingTransport counts HTTP exchanges, so request budgets are asserted
// as numbers, not timings. A connection that never got an HTTP response (the
// TLS probe go-containerregistry makes before falling back to plain HTTP on
// loopback) is not a request the registry served.
type countingTransport struct {
	n     *atomic.Int64
	inner http.RoundTripper
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.inner.RoundTrip(r)
	if err == nil {
		c.n.Add(1)
	}
	return resp, err
}

func newFixture(tb testing.TB, keyExtra string) *fixture {
	tb.Helper()
	host := testenv.Registry(tb, true).Addr
	testenv.PushImage(tb, host, "bench/app", "v1")
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := keys.FromPrivateKey(priv)
	if err != nil {
		tb.Fatal(err)
	}
	pubPEM, err := keys.EncodePublic(priv.Public())
	if err != nil {
		tb.Fatal(err)
	}
	image := host + "/bench/app:v1"
	if _, err := sign.Image(context.Background(), registry.New(), image, s, sign.Options{}); err != nil {
		tb.Fatal(err)
	}
	indented := "      " + strings.ReplaceAll(strings.TrimSpace(string(pubPEM)), "\n", "\n      ")
	doc := fmt.Sprintf("version: 1\nkeys:\n  - name: k\n    publicKey: |\n%s\n%spolicies:\n  - name: p\n    scopes: [\"%s/**\"]\n    signatures:\n      keys: [k]\n", indented, keyExtra, host)
	p, err := policy.Parse([]byte(doc), "")
	if err != nil {
		tb.Fatalf("policy: %v\n%s", err, doc)
	}
	n := &atomic.Int64{}
	return &fixture{image: image, policy: p, count: n, client: registry.New(registry.WithTransport(countingTransport{n: n, inner: remote.DefaultTransport}))}
}

// From a tag to a verdict costs a ping, a resolve, a referrers listing and
// the bundle: four requests.
func TestVerifyRequestBudget(t *testing.T) {
	f := newFixture(t, "")
	res := New(f.client, f.policy).Verify(context.Background(), f.image)
	if res.Verdict != VerdictPass {
		t.Fatalf("verdict %s: %+v", res.Verdict, res)
	}
	if got := f.count.Load(); got > 4 {
		t.Errorf("verify made %d HTTP requests, budget is 4", got)
	}
}

// Validity is judged at the signature's time; the clock decides here.
func TestVerifyKeyWindowAtClock(t *testing.T) {
	f := newFixture(t, "    validFrom: 2026-01-01T00:00:00Z\n    validUntil: 2027-01-01T00:00:00Z\n")
	cases := []struct {
		at      string
		verdict string
		reason  error
	}{
		{"2025-12-31T23:59:59Z", VerdictFail, policy.ErrKeyNotYetValid},
		{"2026-06-01T00:00:00Z", VerdictPass, nil},
		{"2027-01-01T00:00:00Z", VerdictFail, policy.ErrKeyExpired},
	}
	for _, c := range cases {
		t.Run(c.at, func(t *testing.T) {
			at, _ := time.Parse(time.RFC3339, c.at)
			res := New(f.client, f.policy, WithClock(func() time.Time { return at })).Verify(context.Background(), f.image)
			if res.Verdict != c.verdict {
				t.Fatalf("verdict %s, want %s: %+v", res.Verdict, c.verdict, res.Requirements[0])
			}
			if c.reason != nil {
				rj := res.Requirements[0].Rejected
				if len(rj) != 1 || !strings.Contains(rj[0].Reason, map[error]string{policy.ErrKeyNotYetValid: "not valid before", policy.ErrKeyExpired: "expired"}[c.reason]) {
					t.Errorf("rejection %+v does not say %v", rj, c.reason)
				}
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	a := &policy.TrustedKey{Name: "a", ID: "id-a"}
	b := &policy.TrustedKey{Name: "b", ID: "id-b"}
	c := &policy.TrustedKey{Name: "c", ID: "id-c"}
	now := time.Now()
	ok := func(k *policy.TrustedKey) candidate {
		return candidate{referrer: "r-" + k.Name, key: k, keyID: k.ID, predicateType: statement.Signature, signedAt: now}
	}
	rq := requirement{kind: "signatures", predicateType: statement.Signature, keys: []string{"a", "b"}, threshold: 2}
	cases := []struct {
		name      string
		cands     []candidate
		satisfied bool
		accepted  int
		rejected  int
	}{
		{"two distinct keys", []candidate{ok(a), ok(b)}, true, 2, 0},
		{"same key twice counts once", []candidate{ok(a), ok(a)}, false, 1, 0}, // the second is alsoSigned
		{"key outside the rule", []candidate{ok(a), ok(c)}, false, 1, 1},
		{"failed bundle", []candidate{ok(a), {referrer: "bad", err: errors.New("broken")}}, false, 1, 1},
		{"failed bundle claimed for another type is not shown", []candidate{ok(a), ok(b), {referrer: "x", claimedType: "https://slsa.dev/provenance/v1", err: errors.New("broken")}}, true, 2, 0},
		{"other predicate types are ignored", []candidate{ok(a), ok(b), {referrer: "att", key: c, predicateType: "https://slsa.dev/provenance/v1"}}, true, 2, 0},
		{"nothing", nil, false, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rr := evaluate(rq, tc.cands, &policy.Policy{}, now, subjectInfo{})
			if rr.Satisfied != tc.satisfied || len(rr.Accepted) != tc.accepted || len(rr.Rejected) != tc.rejected {
				t.Errorf("satisfied=%v accepted=%d rejected=%d, want %v %d %d (%s)", rr.Satisfied, len(rr.Accepted), len(rr.Rejected), tc.satisfied, tc.accepted, tc.rejected, rr.Summary)
			}
		})
	}
}

// BenchmarkVerify measures verify from a tag against an in-process registry
// with the referrers API and reports HTTP requests per verification.
func BenchmarkVerify(b *testing.B) {
	f := newFixture(b, "")
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
