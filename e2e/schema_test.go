package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/verify"
)

// The output contract: `verify --output json` validates against the
// published schema/verify-result.v1.json in every shape it takes (pass,
// fail, error, audit, bindTag with a trusted timestamp and a duplicate
// signature, an attestation with conditions and its predicate, a compliance
// check, several images at once), and the sample in docs/verify-output.md
// has exactly the fields real output has.
func TestVerifyOutputSchema(t *testing.T) {
	schema := compileReportSchema(t)
	host := testenv.Registry(t, true).Addr
	tsaURL, chain := testenv.TSA(t)
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	e.key("x", "ed25519") // not in the policy
	const review = "https://example.com/review/v1"
	pol := e.write("trust.yaml", `version: 1
keys:
  - name: k
    publicKey: k.pub
timestampAuthorities:
  - name: test-tsa
    certChain: `+chain+`
policies:
  - name: app
    scopes: ["`+host+`/app", "`+host+`/rolled"]
    signatures:
      keys: [k]
      bindTag: true
    attestations:
      - type: `+review+`
        keys: [k]
        conditions:
          - predicate.approved == true
  - name: audited
    scopes: ["`+host+`/audited"]
    mode: audit
    signatures:
      keys: [k]
    compliance:
      nonRootUser: true
`)
	approved := e.write("approved.json", `{"approved": true, "reviewer": "alice"}`)
	rejected := e.write("rejected.json", `{"approved": false, "reviewer": "mallory"}`)

	// app:v1 passes: two timestamped signatures by k (one counts, one is
	// alsoSigned) and an approved review.
	testenv.PushImage(t, host, "app", "v1")
	v1 := host + "/app:v1"
	e.must("sign", "--key", "k.key", "--tsa-url", tsaURL, v1)
	e.must("sign", "--key", "k.key", "--tsa-url", tsaURL, v1)
	e.must("attest", "predicate", "--key", "k.key", "--type", review, "--predicate", approved, v1)
	// app:v2 fails: signed by a key the policy does not list, and a review
	// whose condition fails.
	testenv.PushImage(t, host, "app", "v2")
	v2 := host + "/app:v2"
	e.must("sign", "--key", "x.key", v2)
	e.must("attest", "predicate", "--key", "k.key", "--type", review, "--predicate", rejected, v2)
	// audited:v1 fails under an audit rule: reported, not enforced.
	testenv.PushImage(t, host, "audited", "v1")
	audited := host + "/audited:v1"
	missing := host + "/app:missing"           // error: no such tag
	noScope := "registry.example.com/other:v1" // fail before any network

	runJSON := func(args ...string) (string, *verify.Report, int) {
		t.Helper()
		r := e.run(append([]string{"verify", "--policy", pol, "--output", "json"}, args...)...)
		var rep verify.Report
		if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
			t.Fatalf("verify %v: exit %d, no report: %v\n%s%s", args, r.Code, err, r.Stdout, r.Stderr)
		}
		if err := validate(schema, r.Stdout); err != nil {
			t.Errorf("verify %v: output does not match schema/verify-result.v1.json: %v\n%s", args, err, r.Stdout)
		}
		return r.Stdout, &rep, r.Code
	}

	t.Run("pass", func(t *testing.T) {
		_, rep, code := runJSON(v1)
		img := rep.Images[0]
		if code != 0 || img.Verdict != verify.VerdictPass {
			t.Fatalf("exit %d, verdict %s", code, img.Verdict)
		}
		sigs, att := img.Requirements[0], img.Requirements[1]
		if len(sigs.Accepted) != 1 || len(sigs.AlsoSigned) != 1 || len(sigs.Rejected) != 0 {
			t.Errorf("duplicate by k: accepted %d, alsoSigned %d, rejected %+v", len(sigs.Accepted), len(sigs.AlsoSigned), sigs.Rejected)
		}
		if a := sigs.Accepted[0]; a.TimeSource != "rfc3161:test-tsa" || a.SignedAt == "" || a.TagSignedAt == "" {
			t.Errorf("timestamped signature: %+v", a)
		}
		if a := att.Accepted[0]; a.TimeSource != verify.TimeSourceJudgedAt || a.SignedAt != "" || a.Predicate != nil {
			t.Errorf("untimestamped attestation without --show-predicates: %+v", a)
		}
		if img.JudgedAt == "" {
			t.Error("no judgedAt")
		}
	})
	t.Run("show predicates", func(t *testing.T) {
		_, rep, code := runJSON("--show-predicates", v1)
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		pred, _ := rep.Images[0].Requirements[1].Accepted[0].Predicate.(map[string]any)
		if pred["approved"] != true || pred["reviewer"] != "alice" {
			t.Errorf("predicate %v, want the signed review", rep.Images[0].Requirements[1].Accepted[0].Predicate)
		}
		if r := e.run("verify", "--policy", pol, "--show-predicates", v1); r.Code != 2 || !strings.Contains(r.Stderr, "--output json") {
			t.Errorf("--show-predicates with text output: exit %d\n%s", r.Code, r.Stderr)
		}
	})
	t.Run("fail", func(t *testing.T) {
		_, rep, code := runJSON(v2)
		img := rep.Images[0]
		if code != 1 || img.Verdict != verify.VerdictFail {
			t.Fatalf("exit %d, verdict %s", code, img.Verdict)
		}
		sigs, att := img.Requirements[0], img.Requirements[1]
		if sigs.Code != verify.CodeUntrustedKey || len(sigs.Rejected) != 1 || sigs.Rejected[0].Code != verify.CodeUntrustedKey {
			t.Errorf("signature by x: code %q, rejected %+v", sigs.Code, sigs.Rejected)
		}
		want := `condition failed: predicate.approved == true saw predicate.approved = false`
		if att.Code != verify.CodeConditionFailed || att.Summary != want {
			t.Errorf("review: code %q, summary %q, want %q", att.Code, att.Summary, want)
		}
	})
	t.Run("fail as text", func(t *testing.T) {
		r := e.run("verify", "--policy", pol, v2)
		for _, want := range []string{"[untrusted-key]", "✗ attestation " + review + ": condition failed: predicate.approved == true saw predicate.approved = false [condition-failed]"} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("text lacks %q:\n%s", want, r.Stdout)
			}
		}
	})
	t.Run("audit", func(t *testing.T) {
		_, rep, code := runJSON(audited)
		img := rep.Images[0]
		if code != 0 || img.Verdict != verify.VerdictFail || img.Enforced || img.Requirements[0].Code != verify.CodeNotSigned {
			t.Errorf("exit %d, verdict %s, enforced %v, code %q", code, img.Verdict, img.Enforced, img.Requirements[0].Code)
		}
		if c := img.Requirements[1]; c.Check != "nonRootUser" || c.Code != verify.CodeComplianceFailed {
			t.Errorf("compliance: %+v", c)
		}
	})
	t.Run("errors", func(t *testing.T) {
		_, rep, code := runJSON(missing, noScope)
		if code != 2 {
			t.Errorf("exit %d, want 2", code)
		}
		for i, want := range []verify.Code{verify.CodeImageNotFound, verify.CodeNoMatchingScope} {
			if got := rep.Images[i].ErrorCode; got != want {
				t.Errorf("%s: errorCode %q (%s), want %q", rep.Images[i].Image, got, rep.Images[i].Error, want)
			}
		}
	})

	t.Run("rolled back", func(t *testing.T) {
		// stable was signed for d1, then moved to d2 and signed again, then
		// moved back to d1.
		testenv.PushImage(t, host, "rolled", "r1")
		retag(t, host, "rolled", "r1", "stable")
		e.must("sign", "--key", "k.key", host+"/rolled:stable")
		testenv.PushImage(t, host, "rolled", "r2")
		retag(t, host, "rolled", "r2", "stable")
		e.must("sign", "--key", "k.key", host+"/rolled:stable")
		retag(t, host, "rolled", "r1", "stable")
		_, rep, code := runJSON(host + "/rolled:stable")
		sigs := rep.Images[0].Requirements[0]
		if code != 1 || sigs.Code != verify.CodeRolledBack || sigs.Rollback == nil {
			t.Errorf("exit %d, code %q, rollback %+v", code, sigs.Code, sigs.Rollback)
		}
		if r := e.run("verify", "--policy", pol, host+"/rolled:stable"); !strings.Contains(r.Stdout, "rolled back?") || !strings.Contains(r.Stdout, "[rolled-back]") {
			t.Errorf("text does not say rolled back with its code:\n%s", r.Stdout)
		}
	})

	// Every shape at once: what docs/verify-output.md shows.
	out, rep, code := runJSON("--show-predicates", v1, v2, audited, missing, noScope)
	if code != 2 || len(rep.Images) != 5 {
		t.Fatalf("multi-image: exit %d, %d images", code, len(rep.Images))
	}
	t.Run("docs sample", func(t *testing.T) {
		sample := docsSample(t)
		if err := validate(schema, sample); err != nil {
			t.Errorf("the docs sample does not match the schema: %v", err)
		}
		got, want := fieldPaths(t, sample), fieldPaths(t, out)
		if !slices.Equal(got, want) {
			t.Errorf("docs/verify-output.md sample fields differ from real output\nonly in docs:   %v\nonly in output: %v\nreal output:\n%s",
				onlyIn(got, want), onlyIn(want, got), out)
		}
	})
}

var reportSchema struct {
	once   sync.Once
	schema *jsonschema.Schema
}

// checkReportSchema fails t unless out, a verify --output json document,
// validates against the published schema: every e2e test that reads the
// JSON output checks the contract too.
func checkReportSchema(t *testing.T, out string) {
	t.Helper()
	reportSchema.once.Do(func() { reportSchema.schema = compileReportSchema(t) })
	if reportSchema.schema == nil {
		t.Fatal("schema/verify-result.v1.json did not compile")
	}
	if err := validate(reportSchema.schema, out); err != nil {
		t.Errorf("verify --output json does not match schema/verify-result.v1.json: %v\n%s", err, out)
	}
}

// compileReportSchema compiles the published schema with a real JSON
// Schema (draft 2020-12) validator, formats asserted.
func compileReportSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "schema", "verify-result.v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(verify.ReportSchema, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(verify.ReportSchema)
	if err != nil {
		t.Fatalf("schema/verify-result.v1.json: %v", err)
	}
	return s
}

func validate(s *jsonschema.Schema, doc string) error {
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
	if err != nil {
		return err
	}
	return s.Validate(inst)
}

// docsSample is the JSON block after the sample marker in the docs page.
func docsSample(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "docs", "verify-output.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- sample: real output, checked by e2e/schema_test.go -->\\s*```json\n(.*?)\n```").FindSubmatch(raw)
	if m == nil {
		t.Fatal("docs/verify-output.md has no sample block after its marker")
	}
	return string(m[1])
}

// fieldPaths lists every object key path in a JSON document, array
// elements merged ("images[].requirements[].code"). A predicate's own
// fields are whatever was signed, so paths stop there.
func fieldPaths(t *testing.T, doc string) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, doc)
	}
	set := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				p := prefix + "." + k
				set[p] = true
				if k != "predicate" {
					walk(p, c)
				}
			}
		case []any:
			for _, c := range x {
				walk(prefix+"[]", c)
			}
		}
	}
	walk("", v)
	var out []string
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// onlyIn is what a has and b lacks.
func onlyIn(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
