package verify

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/storage"
	"github.com/imgsign/imgsign/verify/conditions"
	"github.com/imgsign/imgsign/verify/policy"
)

// Each way a candidate or a requirement fails has its code, decided where
// it failed; a duplicate by a counted key is alsoSigned, never a rejection.
func TestEvaluateCodes(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	past := now.Add(-time.Hour)
	a := &policy.TrustedKey{Name: "a", ID: "id-a"}
	b := &policy.TrustedKey{Name: "b", ID: "id-b"}
	c := &policy.TrustedKey{Name: "c", ID: "id-c"}
	revoked := &policy.TrustedKey{Name: "a", ID: "id-a", RevokedAt: &past}
	sig := func(k *policy.TrustedKey) candidate {
		return candidate{referrer: "r-" + k.Name, key: k, keyID: k.ID, predicateType: statement.Signature, signedAt: now, timeSource: TimeSourceJudgedAt}
	}
	stamped := func(k *policy.TrustedKey) candidate {
		cd := sig(k)
		cd.signedAt, cd.timeSource = past, "rfc3161:corp-tsa"
		return cd
	}
	const slsa = "https://slsa.dev/provenance/v1"
	prov := func(k *policy.TrustedKey, builder string) candidate {
		return candidate{referrer: "p-" + k.Name, key: k, keyID: k.ID, predicateType: slsa, signedAt: now, timeSource: TimeSourceJudgedAt,
			statement: statement.FromDocument(map[string]any{"predicateType": slsa, "predicate": map[string]any{"builder": builder}})}
	}
	cond, err := conditions.Compile(`predicate.builder == "good"`)
	if err != nil {
		t.Fatal(err)
	}
	sigs := func(threshold int) requirement {
		return requirement{kind: "signatures", predicateType: statement.Signature, keys: []string{"a", "b"}, threshold: threshold}
	}
	att := requirement{kind: "attestation", predicateType: slsa, keys: []string{"a", "b"}, threshold: 1,
		conditions: []policy.Condition{{Expr: `predicate.builder == "good"`, Program: cond}}}
	cases := []struct {
		name      string
		rq        requirement
		cands     []candidate
		satisfied bool
		code      Code   // the requirement's
		rejected  []Code // the rejections'
		also      int
		summary   string
	}{
		{"pass with a duplicate", sigs(1), []candidate{sig(a), sig(a)}, true, "", nil, 1, "1 of 1 required distinct keys signed"},
		{"two keys and a duplicate", sigs(2), []candidate{sig(a), sig(b), sig(a)}, true, "", nil, 1, "2 of 2"},
		{"duplicate does not make a threshold", sigs(2), []candidate{sig(a), sig(a)}, false, CodeThresholdNotMet, nil, 1, "only 1 of 2"},
		{"nothing attached", sigs(1), nil, false, CodeNotSigned, nil, 0, "no signature found"},
		{"key outside the rule", sigs(1), []candidate{sig(c)}, false, CodeKeyNotInRule, []Code{CodeKeyNotInRule}, 0, "only 0 of 1"},
		{"revoked key", sigs(1), []candidate{sig(revoked)}, false, CodeRevoked, []Code{CodeRevoked}, 0, "only 0 of 1"},
		{"mixed reasons", sigs(1), []candidate{sig(revoked), sig(c)}, false, CodeThresholdNotMet, []Code{CodeRevoked, CodeKeyNotInRule}, 0, "only 0 of 1"},
		{"bad bundle", sigs(1), []candidate{{referrer: "x", err: codedf(CodeUntrustedKey, "signed by key id z")}, {referrer: "y", err: errors.New("junk")}}, false, CodeThresholdNotMet, []Code{CodeUntrustedKey, CodeMalformed}, 0, ""},
		{"timestamp required", requirement{kind: "signatures", predicateType: statement.Signature, keys: []string{"a"}, threshold: 1, requireTimestamp: true}, []candidate{sig(a)}, false, CodeTimestampRequired, []Code{CodeTimestampRequired}, 0, ""},
		{"timestamped", requirement{kind: "signatures", predicateType: statement.Signature, keys: []string{"a"}, threshold: 1, requireTimestamp: true}, []candidate{stamped(a)}, true, "", nil, 0, ""},
		{"condition failed", att, []candidate{prov(a, "evil")}, false, CodeConditionFailed, []Code{CodeConditionFailed}, 0,
			`condition failed: predicate.builder == "good" saw predicate.builder = "evil"`},
		{"condition met", att, []candidate{prov(a, "good")}, true, "", nil, 0, "1 of 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rr := evaluate(tc.rq, tc.cands, &policy.Policy{}, now, subjectInfo{})
			var got []Code
			for _, rj := range rr.Rejected {
				got = append(got, rj.Code)
			}
			if rr.Satisfied != tc.satisfied || rr.Code != tc.code || !slices.Equal(got, tc.rejected) || len(rr.AlsoSigned) != tc.also {
				t.Errorf("satisfied=%v code=%q rejected=%v also=%d, want %v %q %v %d (%s)", rr.Satisfied, rr.Code, got, len(rr.AlsoSigned), tc.satisfied, tc.code, tc.rejected, tc.also, rr.Summary)
			}
			if !strings.Contains(rr.Summary, tc.summary) {
				t.Errorf("summary %q lacks %q", rr.Summary, tc.summary)
			}
			for _, u := range slices.Concat(rr.Accepted, rr.AlsoSigned) {
				// signedAt is a trusted time or absent, never the clock.
				if (u.SignedAt != "") != strings.HasPrefix(u.TimeSource, timeSourceRFC3161) {
					t.Errorf("signedAt %q with timeSource %q", u.SignedAt, u.TimeSource)
				}
			}
		})
	}
}

func TestImageCode(t *testing.T) {
	cases := []struct {
		err  error
		want Code
	}{
		{errkind.Inputf("bad reference"), CodeBadInput},
		{errkind.Operationalf("connection refused"), CodeRegistryError},
		{fmt.Errorf("resolving: %w", errkind.Mark(errkind.Input, &storage.NotFoundError{What: "manifest"})), CodeImageNotFound},
		{fmt.Errorf("listing: %w", registry.OverLimit("too many")), CodeLimitExceeded},
		{scopeError(errkind.Untrustedf("no policy scope matches")), CodeNoMatchingScope},
		{scopeError(errkind.Inputf("scopes tie")), CodeBadInput},
		{errkind.Untrustedf("image config: not JSON"), CodeUntrustedContent},
		{errors.New("unclassified"), CodeRegistryError},
	}
	for _, tc := range cases {
		if got := imageCode(tc.err); got != tc.want {
			t.Errorf("imageCode(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// The schema enumerates exactly the codes the code can produce: a code
// added here and not there fails validation of real output, and one left
// there after removal here would promise what never comes.
func TestSchemaListsEveryCode(t *testing.T) {
	raw, err := os.ReadFile("../schema/verify-result.v1.json")
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Defs struct {
			Code struct {
				Enum []Code `json:"enum"`
			} `json:"code"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(Codes)
	got := slices.Clone(s.Defs.Code.Enum)
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("schema codes %v\nverify.Codes  %v", got, want)
	}
	if len(slices.Compact(want)) != len(Codes) {
		t.Errorf("verify.Codes has duplicates: %v", Codes)
	}
}

// Text output shows a failure's code after its text, and a duplicate as an
// also-line that says why it did not count again.
func TestTextShowsCodes(t *testing.T) {
	rep := &Report{Images: []*ImageResult{{
		Image: "r.io/app:v1", Reference: "r.io/app@" + tagDigest, Verdict: VerdictFail, Enforced: true,
		Requirements: []*RequirementResult{
			{Kind: "signatures", Satisfied: false, Code: CodeRolledBack, Summary: "tag v1 was signed for a newer digest",
				Accepted:   []*KeyUse{{KeyName: "k", KeyID: "id-k", Referrer: "sha256:aa", SignedAt: "2026-06-01T00:00:00Z", TimeSource: "rfc3161:corp-tsa"}},
				AlsoSigned: []*KeyUse{{KeyName: "k", KeyID: "id-k", Referrer: "sha256:bb", TimeSource: TimeSourceJudgedAt}},
				Rejected:   []*Rejection{{Referrer: "sha256:cc", KeyID: "id-x", Code: CodeUntrustedKey, Reason: "signed by key id id-x"}}},
			{Kind: "attestation", PredicateType: "https://slsa.dev/provenance/v1", Satisfied: true, Summary: "1 of 1"},
		},
	}, {Image: "r.io/gone:v1", Verdict: VerdictError, Error: "manifest not found", ErrorCode: CodeImageNotFound}}}
	var b strings.Builder
	rep.WriteText(&b)
	out := b.String()
	for _, want := range []string{
		"✗ signatures: tag v1 was signed for a newer digest [rolled-back]\n",
		"ok   k (id-k) referrer sha256:aa, timestamped 2026-06-01T00:00:00Z by corp-tsa\n",
		"also k (id-k) referrer sha256:bb: key k already counted: a threshold counts distinct policy keys\n",
		"no   key id id-x referrer sha256:cc: signed by key id id-x [untrusted-key]\n",
		"✓ attestation https://slsa.dev/provenance/v1: 1 of 1\n",
		"error: manifest not found [image-not-found]\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
}

// docs/verify-output.md explains every code, in one table row each.
func TestDocsExplainEveryCode(t *testing.T) {
	raw, err := os.ReadFile("../docs/verify-output.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range Codes {
		if n := strings.Count(string(raw), "\n| `"+string(c)+"` |"); n != 1 {
			t.Errorf("docs/verify-output.md has %d rows for code %s, want 1", n, c)
		}
	}
}
