package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/keys"
	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/verify/policy"
)

func TestTagSignedAt(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	k := &policy.TrustedKey{Name: "a", ID: "id-a"}
	cand := func(signedAt string, tsa time.Time) candidate {
		ann := map[string]string{statement.TagAnnotation: "stable"}
		if signedAt != "" {
			ann[statement.SignedAtAnnotation] = signedAt
		}
		c := candidate{key: k, statement: tagStatement(t, ann), signedAt: now, timeSource: "current-time"}
		if !tsa.IsZero() {
			c.signedAt, c.timeSource = tsa, "rfc3161:tsa"
		}
		return c
	}
	for _, tc := range []struct {
		name     string
		c        candidate
		want     time.Time
		errorHas string
	}{
		{"none: signed before the time was recorded", cand("", time.Time{}), time.Time{}, ""},
		{"recorded", cand("2026-05-01T10:00:00.123456789Z", time.Time{}), time.Date(2026, 5, 1, 10, 0, 0, 123456789, time.UTC), ""},
		{"not a time", cand("soon", time.Time{}), time.Time{}, "is not an RFC 3339 time"},
		{"in the future", cand("2099-01-01T00:00:00Z", time.Time{}), time.Time{}, "is in the future"},
		{"after its own RFC 3161 time", cand("2026-05-02T00:00:00Z", time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)), time.Time{}, "after the signature's RFC 3161 time"},
		{"before its RFC 3161 time", cand("2026-05-01T00:00:00Z", time.Date(2026, 5, 1, 0, 0, 1, 0, time.UTC)), time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tagSignedAt(tc.c, tagDigest, now)
			if tc.errorHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errorHas) {
					t.Fatalf("err %v, want one saying %q", err, tc.errorHas)
				}
				return
			}
			if err != nil || !got.Equal(tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// A key's newest binding of the tag is reported; the binding time of a
// threshold is its threshold-th newest key time, so one key re-signing an
// old digest does not make the binding new.
func TestBindingTime(t *testing.T) {
	a := &policy.TrustedKey{Name: "a", ID: "id-a"}
	b := &policy.TrustedKey{Name: "b", ID: "id-b"}
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	at := func(day int) string { return time.Date(2026, 5, day, 0, 0, 0, 0, time.UTC).Format(time.RFC3339Nano) }
	signed := func(k *policy.TrustedKey, signedAt string) candidate {
		ann := map[string]string{statement.TagAnnotation: "stable"}
		if signedAt != "" {
			ann[statement.SignedAtAnnotation] = signedAt
		}
		return candidate{referrer: "r-" + k.Name + signedAt, key: k, keyID: k.ID, predicateType: statement.Signature, signedAt: now, timeSource: "current-time", statement: tagStatement(t, ann)}
	}
	rq := func(threshold int) requirement {
		return requirement{kind: "signatures", predicateType: statement.Signature, keys: []string{"a", "b"}, threshold: threshold, bindTag: true}
	}
	for _, tc := range []struct {
		name      string
		threshold int
		cands     []candidate
		want      string // "" = zero
	}{
		{"one key", 1, []candidate{signed(a, at(1))}, at(1)},
		{"a key's newest signature counts", 1, []candidate{signed(a, at(3)), signed(a, at(1))}, at(3)},
		{"without a signed time", 1, []candidate{signed(a, "")}, ""},
		{"threshold: the older of two keys", 2, []candidate{signed(a, at(9)), signed(b, at(2))}, at(2)},
		{"threshold: a key without a time makes it zero", 2, []candidate{signed(a, at(9)), signed(b, "")}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rr := evaluate(rq(tc.threshold), tc.cands, &policy.Policy{}, now, subjectInfo{digest: tagDigest, repository: "r.io/app", tag: "stable"})
			if !rr.Satisfied {
				t.Fatalf("not satisfied: %s %+v", rr.Summary, rr.Rejected)
			}
			got := bindingTime(rr, tc.threshold)
			if (tc.want == "" && !got.IsZero()) || (tc.want != "" && got.Format(time.RFC3339Nano) != tc.want) {
				t.Errorf("binding time %v, want %q", got, tc.want)
			}
		})
	}
}

// rollbackFixture is a repository where tag "stable" was signed for d1
// (also tagged v1) and then for d2 (tagged v2), one key at a time.
type rollbackFixture struct {
	host, repo string
	signers    map[string]sign.Signer
	policy     *policy.Policy
	count      *atomic.Int64
	client     *registry.Client
}

func newRollbackFixture(t *testing.T, threshold int) *rollbackFixture {
	t.Helper()
	f := &rollbackFixture{host: testenv.Registry(t, true).Addr, repo: "rb/app", signers: map[string]sign.Signer{}, count: &atomic.Int64{}}
	var keysYAML strings.Builder
	for _, n := range []string{"a", "b"} {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		s, err := keys.FromPrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := keys.EncodePublic(priv.Public())
		if err != nil {
			t.Fatal(err)
		}
		f.signers[n] = s
		fmt.Fprintf(&keysYAML, "  - name: %s\n    publicKey: |\n      %s\n", n, strings.ReplaceAll(strings.TrimSpace(string(pub)), "\n", "\n      "))
	}
	doc := fmt.Sprintf("version: 1\nkeys:\n%spolicies:\n  - name: p\n    scopes: [\"%s/**\"]\n    signatures:\n      keys: [a, b]\n      threshold: %d\n      bindTag: true\n", keysYAML.String(), f.host, threshold)
	p, err := policy.Parse([]byte(doc), "")
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	f.policy = p
	f.client = registry.New(registry.WithTransport(countingTransport{n: f.count, inner: remote.DefaultTransport}))
	return f
}

// sign signs host/repo:tag with key k as if at day d of May 2026.
func (f *rollbackFixture) sign(t *testing.T, k, tag string, day int) {
	t.Helper()
	at := time.Date(2026, 5, day, 0, 0, 0, 0, time.UTC)
	if _, err := sign.Image(context.Background(), registry.New(), f.host+"/"+f.repo+":"+tag, f.signers[k], sign.Options{Now: func() time.Time { return at }}); err != nil {
		t.Fatal(err)
	}
}

func (f *rollbackFixture) retag(t *testing.T, from, to string) {
	t.Helper()
	src, _ := name.ParseReference(f.host + "/" + f.repo + ":" + from)
	desc, err := remote.Get(src)
	if err != nil {
		t.Fatal(err)
	}
	dst, _ := name.NewTag(f.host + "/" + f.repo + ":" + to)
	if err := remote.Tag(dst, desc); err != nil {
		t.Fatal(err)
	}
}

func (f *rollbackFixture) verify(t *testing.T, ref string) *ImageResult {
	t.Helper()
	f.count.Store(0)
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	return New(f.client, f.policy, WithClock(func() time.Time { return now })).Verify(context.Background(), f.host+"/"+f.repo+ref)
}

func TestVerifyTagRollback(t *testing.T) {
	t.Run("one key: the newest binding wins", func(t *testing.T) {
		f := newRollbackFixture(t, 1)
		testenv.PushImage(t, f.host, f.repo, "v1")
		f.retag(t, "v1", "stable")
		f.sign(t, "a", "stable", 1)
		d2 := testenv.PushImage(t, f.host, f.repo, "v2")
		f.retag(t, "v2", "stable")
		f.sign(t, "a", "stable", 2)
		if res := f.verify(t, ":stable"); res.Verdict != VerdictPass {
			t.Fatalf("stable on the newest digest: %s %+v", res.Verdict, res.Requirements)
		}
		f.retag(t, "v1", "stable")
		res := f.verify(t, ":stable")
		if res.Verdict != VerdictFail || res.ExitCode != 1 {
			t.Fatalf("rolled-back stable: verdict %s exit %d, want fail 1", res.Verdict, res.ExitCode)
		}
		rq := res.Requirements[0]
		if rq.Rollback == nil || rq.Rollback.NewerDigest != d2.String() || !strings.Contains(rq.Summary, "tag stable was signed for a newer digest "+d2.String()+" at 2026-05-02T00:00:00Z; this digest's signature for it is older") {
			t.Errorf("rollback %+v, summary %q", rq.Rollback, rq.Summary)
		}
		// Re-signing the old digest for the tag is how a deliberate
		// rollback is made: then it is the newest.
		f.sign(t, "a", "stable", 3)
		if res := f.verify(t, ":stable"); res.Verdict != VerdictPass {
			t.Fatalf("re-signed stable: %s %+v", res.Verdict, res.Requirements[0])
		}
		// By digest there is no tag to roll back: no search.
		if res := f.verify(t, "@"+d2.String()); res.Verdict != VerdictPass || f.count.Load() > 4 {
			t.Errorf("by digest: %s after %d requests", res.Verdict, f.count.Load())
		}
	})
	t.Run("threshold: one key re-signing the old digest does not outvote two", func(t *testing.T) {
		f := newRollbackFixture(t, 2)
		testenv.PushImage(t, f.host, f.repo, "v1")
		f.retag(t, "v1", "stable")
		f.sign(t, "a", "stable", 1)
		f.sign(t, "b", "stable", 1)
		testenv.PushImage(t, f.host, f.repo, "v2")
		f.retag(t, "v2", "stable")
		f.sign(t, "a", "stable", 2)
		f.sign(t, "b", "stable", 3)
		f.retag(t, "v1", "stable")
		f.sign(t, "a", "stable", 4) // only a vouches for d1 again
		if res := f.verify(t, ":stable"); res.Verdict != VerdictFail || res.Requirements[0].Rollback == nil {
			t.Fatalf("verdict %s: %+v", res.Verdict, res.Requirements[0])
		}
	})
	t.Run("a newer binding short of the threshold does not count", func(t *testing.T) {
		f := newRollbackFixture(t, 2)
		testenv.PushImage(t, f.host, f.repo, "v1")
		f.retag(t, "v1", "stable")
		f.sign(t, "a", "stable", 1)
		f.sign(t, "b", "stable", 1)
		testenv.PushImage(t, f.host, f.repo, "v2")
		f.retag(t, "v2", "stable")
		f.sign(t, "a", "stable", 2) // the second key has not signed d2 yet
		f.retag(t, "v1", "stable")
		if res := f.verify(t, ":stable"); res.Verdict != VerdictPass {
			t.Fatalf("verdict %s: %+v", res.Verdict, res.Requirements[0])
		}
	})
}

// The rollback search costs one tag listing, a HEAD per other tag and a
// referrers listing per other digest, plus the signatures it fetches — and
// nothing when the tag did not pass or the image was given by digest.
func TestTagRollbackRequestBudget(t *testing.T) {
	f := newRollbackFixture(t, 1)
	testenv.PushImage(t, f.host, f.repo, "stable")
	f.sign(t, "a", "stable", 1)
	for i := range 5 {
		testenv.PushImage(t, f.host, f.repo, fmt.Sprintf("old%d", i)) // unsigned
	}
	if res := f.verify(t, ":stable"); res.Verdict != VerdictPass {
		t.Fatalf("verdict %s: %+v", res.Verdict, res.Requirements)
	}
	// 4 for the verdict, 1 tag list, 5 HEADs, 5 referrers listings.
	if got := f.count.Load(); got > 15 {
		t.Errorf("verify with bindTag made %d requests, budget 15", got)
	}
}
