package verify

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/verify/policy"
)

const tagDigest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"

// tagStatement is the statement statement.About builds for tagDigest
// with the given annotations: what checkBundle hands evaluate.
func tagStatement(t *testing.T, ann map[string]string) *statement.Statement {
	t.Helper()
	repo, _ := name.NewRepository("r.io/app")
	h, _ := v1.NewHash(tagDigest)
	raw, err := statement.About(repo, h, statement.Signature, map[string]any{}, ann)
	if err != nil {
		t.Fatal(err)
	}
	st, err := statement.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestEvaluateBindTag(t *testing.T) {
	a := &policy.TrustedKey{Name: "a", ID: "id-a"}
	b := &policy.TrustedKey{Name: "b", ID: "id-b"}
	now := time.Now()
	signed := func(k *policy.TrustedKey, tag string) candidate {
		ann := map[string]string{"env": "prod"}
		if tag != "" {
			ann[statement.TagAnnotation] = tag
		}
		return candidate{referrer: "r-" + k.Name + "-" + tag, key: k, keyID: k.ID, predicateType: statement.Signature, signedAt: now, statement: tagStatement(t, ann)}
	}
	rq := func(threshold int, bind bool) requirement {
		return requirement{kind: "signatures", predicateType: statement.Signature, keys: []string{"a", "b"}, threshold: threshold, bindTag: bind}
	}
	cases := []struct {
		name       string
		rq         requirement
		tag        string // requested; "" = by digest
		cands      []candidate
		satisfied  bool
		signedTags string
		reason     string // in a rejection
		summary    string
	}{
		{"tag matches", rq(1, true), "v1", []candidate{signed(a, "v1")}, true, "v1", "", "signed for tag v1"},
		{"tag moved here from a digest signed for v2", rq(1, true), "v1", []candidate{signed(a, "v2")}, false, "v2",
			"signed for tag v2, not v1 — the tag v1 was moved to this digest?", "this digest is signed for tag v2"},
		{"no tag in the signature", rq(1, true), "v1", []candidate{signed(a, "")}, false, "",
			"signature binds no tag", "no trusted signature binds tag v1"},
		{"one of several signatures names the tag", rq(1, true), "latest", []candidate{signed(a, "v1"), signed(a, "latest")}, true, "latest,v1", "signed for tag v1, not latest", ""},
		{"threshold counts only signatures for the tag", rq(2, true), "v1", []candidate{signed(a, "v1"), signed(b, "v2")}, false, "",
			"signed for tag v2, not v1", "this digest is signed for tag v2"},
		{"threshold met for the tag", rq(2, true), "v1", []candidate{signed(a, "v1"), signed(b, "v1")}, true, "v1", "", "2 of 2"},
		{"same key twice for the tag counts once", rq(2, true), "v1", []candidate{signed(a, "v1"), signed(a, "v1")}, false, "", "", "only 1 of 2"},
		{"by digest: not rejected for the tag, tags reported", rq(1, true), "", []candidate{signed(a, "v1"), signed(b, "latest"), signed(b, "")}, true, "latest,v1", "", ""},
		{"by digest: tags under the threshold are not reported", rq(2, true), "", []candidate{signed(a, "v1"), signed(b, "v1"), signed(a, "v2")}, true, "v1", "", ""},
		{"without bindTag the tag is not checked", rq(1, false), "v1", []candidate{signed(a, "v2")}, true, "", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rr := evaluate(tc.rq, tc.cands, &policy.Policy{}, now, subjectInfo{digest: tagDigest, repository: "r.io/app", tag: tc.tag})
			if rr.Satisfied != tc.satisfied {
				t.Errorf("satisfied=%v, want %v: %s %+v", rr.Satisfied, tc.satisfied, rr.Summary, rr.Rejected)
			}
			if got := strings.Join(rr.SignedTags, ","); got != tc.signedTags {
				t.Errorf("signed tags %q, want %q", got, tc.signedTags)
			}
			if tc.reason != "" {
				found := false
				for _, rj := range rr.Rejected {
					found = found || strings.Contains(rj.Reason, tc.reason)
				}
				if !found {
					t.Errorf("no rejection says %q: %+v", tc.reason, rr.Rejected)
				}
			}
			if !strings.Contains(rr.Summary, tc.summary) {
				t.Errorf("summary %q lacks %q", rr.Summary, tc.summary)
			}
		})
	}
}

func TestTextTags(t *testing.T) {
	var b strings.Builder
	(&Report{Images: []*ImageResult{{Image: "r.io/app@" + tagDigest, Reference: "r.io/app@" + tagDigest, Verdict: VerdictPass, Enforced: true,
		Requirements: []*RequirementResult{{Kind: "signatures", Satisfied: true, BindTag: true, SignedTags: []string{"latest", "v1"}, Summary: "1 of 1"}}}}}).WriteText(&b)
	if !strings.Contains(b.String(), "tags: latest, v1") {
		t.Errorf("text lacks the tags line:\n%s", b.String())
	}
}
