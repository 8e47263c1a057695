package verify

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"

	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/verify/conditions"
	"github.com/imgsign/imgsign/verify/policy"
)

// Attestation review: statements a trusted key signed that must still not
// count, through a bundle and a cosign legacy .att alike.

func reviewBundle(t *testing.T, k testKey, body []byte) []byte {
	t.Helper()
	raw, err := sign.Bundle(context.Background(), body, mustSigner(t, k), "")
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func reviewStmt(subject, rest string) string {
	return `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"example.com/app","digest":` + subject + `}],` + rest + `}`
}

// Signed statements that read differently to different parsers, or name
// the image by a digest spelled another way, count for neither path.
func TestAttestReviewAmbiguousStatements(t *testing.T) {
	k := newTestKey(t, "k", "ecdsa-p256")
	p := testPolicy(t, "example.com", []testKey{k}, []string{"k"}, 1, []string{"k"})
	v := New(nil, p)
	a, b := subjectA.Hex, subjectB.Hex
	pt := fmt.Sprintf(`"predicateType":%q`, statement.SLSAProvenanceV1)
	sub := fmt.Sprintf(`{"sha256":%q}`, a)
	cases := []struct {
		name, body string
		legacyOnly bool // sigstore-go's own parse already covers the bundle
	}{
		// Go keeps the last of duplicate keys, other verifiers the first:
		// a builder id, or the subject itself, would differ between them.
		{"duplicate predicate key", reviewStmt(sub, pt+`,"predicate":{"runDetails":{"builder":{"id":"https://evil/"}},"runDetails":{"builder":{"id":"https://ci.example/"}}}`), false},
		{"duplicate nested key", reviewStmt(sub, pt+`,"predicate":{"runDetails":{"builder":{"id":"https://evil/","id":"https://ci.example/"}}}`), false},
		{"duplicate key spelled with an escape", reviewStmt(sub, pt+`,"predicate":{"buildType":"x","\u0062uildType":"y"}`), false},
		{"duplicate digest, the image's last", reviewStmt(fmt.Sprintf(`{"sha256":%q,"sha256":%q}`, b, a), pt+`,"predicate":{}`), false},
		{"duplicate predicateType", reviewStmt(sub, fmt.Sprintf(`"predicateType":%q,"predicateType":%q,"predicate":{}`, statement.SPDX, statement.SLSAProvenanceV1)), false},
		{"predicate_type beside predicateType", reviewStmt(sub, fmt.Sprintf(`"predicate_type":%q,"predicateType":%q,"predicate":{}`, statement.SPDX, statement.SLSAProvenanceV1)), false},
		{"case-variant PredicateType", reviewStmt(sub, fmt.Sprintf(`"predicateType":%q,"PredicateType":%q,"predicate":{}`, statement.SPDX, statement.SLSAProvenanceV1)), false},
		{"case-variant Subject", reviewStmt(fmt.Sprintf(`{"sha256":%q}`, b), fmt.Sprintf(`"Subject":[{"digest":{"sha256":%q}}],`, a)+pt+`,"predicate":{}`), false},
		{"invalid UTF-8 in the predicate", reviewStmt(sub, pt+`,"predicate":{"a":"`+"\xff"+`"}`), false},
		{"digest in upper-case hex", reviewStmt(fmt.Sprintf(`{"sha256":%q}`, strings.ToUpper(a)), pt+`,"predicate":{}`), false},
		{"digest algorithm in upper case", reviewStmt(fmt.Sprintf(`{"SHA256":%q}`, a), pt+`,"predicate":{}`), false},
		{"the image by sha512 only", reviewStmt(fmt.Sprintf(`{"sha512":%q}`, strings.Repeat("a", 128)), pt+`,"predicate":{}`), false},
		// The legacy reader takes _type and predicateType from
		// encoding/json; only protojson knows the alias.
		{"predicate_type alias alone", reviewStmt(sub, fmt.Sprintf(`"predicate_type":%q,"predicate":{}`, statement.SLSAProvenanceV1)), true},
		{"_type of another format", `{"_type":"https://example.com/NotAStatement","subject":[{"digest":` + sub + `}],` + pt + `,"predicate":{}}`, true},
	}
	good := reviewStmt(sub, pt+`,"predicate":{}`)
	for _, c := range append(cases, struct {
		name, body string
		legacyOnly bool
	}{"control: well-formed", good, false}) {
		t.Run(c.name, func(t *testing.T) {
			cands := map[string]candidate{"legacy att": checkLegacyAttestation(envelope(t, k, []byte(c.body)), nil, subjectA, p, v.verifiers, v.now())}
			if !c.legacyOnly {
				cands["bundle"] = checkBundle(reviewBundle(t, k, []byte(c.body)), subjectA, p, v.verifiers, nil, v.now())
			}
			for where, cand := range cands {
				counts := cand.err == nil && cand.key != nil
				if want := c.body == good; counts != want {
					t.Errorf("%s: counts = %v (err %v), want %v", where, counts, cand.err, want)
				}
			}
		})
	}
}

// A certificate vouches for the workflow it was issued to, and that
// workflow writes its own predicate: provenance signed by a workflow of
// acme/sandbox (trusted by an org-wide identity) that claims acme/app as
// its source must not satisfy sourceRepository: acme/app. A key's
// statement is its holder's word, as before.
func TestAttestReviewCertificateBoundsSource(t *testing.T) {
	k := newTestKey(t, "k", "ecdsa-p256")
	p := testPolicy(t, "example.com", []testKey{k}, []string{"k"}, 1, []string{"k"})
	tk := p.Keys[0].Versions[0]
	pred := func(repo, ref string) *statement.Statement {
		return statement.FromDocument(map[string]any{
			"_type": statement.TypeV1, "predicateType": statement.SLSAProvenanceV1,
			"subject": []any{map[string]any{"digest": map[string]any{"sha256": subjectA.Hex}}},
			"predicate": map[string]any{"buildDefinition": map[string]any{
				"buildType":          statement.GitHubBuildType,
				"externalParameters": map[string]any{"workflow": map[string]any{"repository": repo, "ref": ref, "path": ".github/workflows/release.yml"}},
			}},
		})
	}
	var conds []policy.Condition
	for label, expr := range map[string]string{"sourceRepository": conditions.SourceRepository("github.com/acme/app"), "sourceRef": conditions.SourceRef("refs/heads/main")} {
		prg, err := conditions.Compile(expr)
		if err != nil {
			t.Fatal(err)
		}
		conds = append(conds, policy.Condition{Expr: expr, Label: label, Program: prg})
	}
	rq := requirement{kind: "attestation", predicateType: statement.SLSAProvenanceV1, keys: []string{"k"}, threshold: 1, conditions: conds}
	cert := func(repo, ref string) *certificate.Summary {
		return &certificate.Summary{Extensions: certificate.Extensions{SourceRepositoryURI: repo, SourceRepositoryRef: ref}}
	}
	const app, sandbox, main = "https://github.com/acme/app", "https://github.com/acme/sandbox", "refs/heads/main"
	cases := []struct {
		name string
		cert *certificate.Summary
		st   *statement.Statement
		want string // "" = counts
	}{
		{"key-signed, the key's word", nil, pred(app, main), ""},
		{"certificate of acme/app claiming acme/app", cert(app, main), pred(app, main), ""},
		{"certificate of acme/sandbox claiming acme/app", cert(sandbox, main), pred(app, main), "not the signing certificate's source repository"},
		{"certificate of another ref claiming main", cert(app, "refs/heads/dev"), pred(app, main), "not the signing certificate's source ref"},
		{"certificate with a repository but no ref", cert(app, ""), pred(app, main), "not the signing certificate's source ref"},
		{"repository differing only in case", cert("https://github.com/ACME/app", main), pred(app, main), "not the signing certificate's source repository"},
	}
	now := time.Now()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cand := candidate{key: tk, keyID: tk.ID, predicateType: statement.SLSAProvenanceV1, statement: c.st, signedAt: now, timeSource: TimeSourceJudgedAt, certificate: c.cert}
			rr := evaluate(rq, []candidate{cand}, p, now, subjectInfo{digest: subjectA.String(), repository: "example.com/app"})
			if c.want == "" {
				if len(rr.Accepted) != 1 {
					t.Fatalf("not accepted: %+v", rr.Rejected[0])
				}
				return
			}
			if len(rr.Accepted) != 0 || len(rr.Rejected) != 1 || rr.Rejected[0].Code != CodeConditionFailed || !strings.Contains(rr.Rejected[0].Reason, c.want) {
				t.Fatalf("accepted %d, rejected %+v; want %s with %q", len(rr.Accepted), rr.Rejected, CodeConditionFailed, c.want)
			}
		})
	}
}

// A condition over a long list in a signed predicate — an SBOM the build
// wrote, say — fails in bounded time: cel-go's cost tracking is quadratic
// over such a comprehension, and the cost limit alone let one evaluation
// run for minutes. It never counts as true.
func TestAttestReviewConditionOverHugePredicateIsBounded(t *testing.T) {
	k := newTestKey(t, "k", "ecdsa-p256")
	p := testPolicy(t, "example.com", []testKey{k}, []string{"k"}, 1, []string{"k"})
	tk := p.Keys[0].Versions[0]
	deps := make([]any, 200_000)
	for i := range deps {
		deps[i] = strings.Repeat("x", 50)
	}
	st := statement.FromDocument(map[string]any{
		"_type": statement.TypeV1, "predicateType": statement.SLSAProvenanceV1,
		"subject":   []any{map[string]any{"digest": map[string]any{"sha256": subjectA.Hex}}},
		"predicate": map[string]any{"deps": deps},
	})
	const expr = `!predicate.deps.exists(d, d.startsWith("evil"))`
	prg, err := conditions.Compile(expr)
	if err != nil {
		t.Fatal(err)
	}
	rq := requirement{kind: "attestation", predicateType: statement.SLSAProvenanceV1, keys: []string{"k"}, threshold: 1,
		conditions: []policy.Condition{{Expr: expr, Program: prg}}}
	now := time.Now()
	cand := candidate{key: tk, keyID: tk.ID, predicateType: statement.SLSAProvenanceV1, statement: st, signedAt: now, timeSource: TimeSourceJudgedAt}
	start := time.Now()
	rr := evaluate(rq, []candidate{cand}, p, now, subjectInfo{digest: subjectA.String(), repository: "example.com/app"})
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("one condition took %s", took)
	}
	if len(rr.Accepted) != 0 || len(rr.Rejected) != 1 || rr.Rejected[0].Code != CodeConditionFailed {
		t.Fatalf("accepted %d, rejected %+v; want %s", len(rr.Accepted), rr.Rejected, CodeConditionFailed)
	}
	t.Log(rr.Rejected[0].Reason)
}

// builderId names the CI only where the CI wrote it: BuildKit writes
// builder.id from the build's own builder-id attribute, so BuildKit's
// provenance as signed unchanged by attest buildkit cannot satisfy it;
// provenance imgsign assembled (statement.FactsSourceKey) and other build
// types can.
func TestAttestReviewBuilderIDNotFromTheBuild(t *testing.T) {
	k := newTestKey(t, "k", "ecdsa-p256")
	p := testPolicy(t, "example.com", []testKey{k}, []string{"k"}, 1, []string{"k"})
	tk := p.Keys[0].Versions[0]
	const release = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
	expr := conditions.BuilderID(release)
	prg, err := conditions.Compile(expr)
	if err != nil {
		t.Fatal(err)
	}
	rq := requirement{kind: "attestation", predicateType: statement.SLSAProvenanceV1, keys: []string{"k"}, threshold: 1,
		conditions: []policy.Condition{{Expr: expr, Label: "builderId: " + release, Program: prg}}}
	prov := func(bd map[string]any) *statement.Statement {
		pred := map[string]any{"runDetails": map[string]any{"builder": map[string]any{"id": release}}}
		if bd != nil {
			pred["buildDefinition"] = bd
		}
		return statement.FromDocument(map[string]any{
			"_type": statement.TypeV1, "predicateType": statement.SLSAProvenanceV1,
			"subject":   []any{map[string]any{"digest": map[string]any{"sha256": subjectA.Hex}}},
			"predicate": pred,
		})
	}
	bk := func(internal any) map[string]any {
		bd := map[string]any{"buildType": statement.BuildKitBuildTypeV1, "externalParameters": map[string]any{"request": map[string]any{"frontend": "dockerfile.v0"}}}
		if internal != nil {
			bd["internalParameters"] = internal
		}
		return bd
	}
	cases := []struct {
		name  string
		st    *statement.Statement
		count bool
	}{
		{"BuildKit's own, builder id from the build", prov(bk(map[string]any{"builderPlatform": "linux/amd64"})), false},
		{"BuildKit's own without internalParameters", prov(bk(nil)), false},
		{"BuildKit's with internalParameters not an object", prov(bk("imgsign.dev/factsSource")), false},
		{"assembled by imgsign from BuildKit's", prov(bk(map[string]any{statement.FactsSourceKey: "verified-oidc"})), true},
		{"GitHub's workflow build type", prov(map[string]any{"buildType": statement.GitHubBuildType}), true},
		{"no buildDefinition", prov(nil), true},
	}
	now := time.Now()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cand := candidate{key: tk, keyID: tk.ID, predicateType: statement.SLSAProvenanceV1, statement: c.st, signedAt: now, timeSource: TimeSourceJudgedAt}
			rr := evaluate(rq, []candidate{cand}, p, now, subjectInfo{digest: subjectA.String(), repository: "example.com/app"})
			if got := len(rr.Accepted) == 1; got != c.count {
				t.Fatalf("counts = %v, want %v (rejected %+v)", got, c.count, rr.Rejected)
			}
			if !c.count && rr.Rejected[0].Code != CodeConditionFailed {
				t.Fatalf("code %s, want %s", rr.Rejected[0].Code, CodeConditionFailed)
			}
		})
	}
}

// A certificate's workflow bounds the builder its provenance may name:
// a workflow of acme/sandbox, trusted by an org-wide identity, writes
// builder.id itself and could name acme/app's release workflow. A builder
// id naming a GitHub workflow counts only when it is the certificate's
// signing workflow or the workflow its build ran (a reusable workflow's
// caller); a key's statement, a certificate naming no workflow and a
// builder id that names no workflow (GitHub's hosted runner) are as before.
func TestAttestReviewCertificateBoundsBuilderID(t *testing.T) {
	k := newTestKey(t, "k", "ecdsa-p256")
	p := testPolicy(t, "example.com", []testKey{k}, []string{"k"}, 1, []string{"k"})
	tk := p.Keys[0].Versions[0]
	const (
		release = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
		sandbox = "https://github.com/acme/sandbox/.github/workflows/release.yml@refs/heads/main"
		shared  = "https://github.com/acme/.github/.github/workflows/attest.yml@refs/tags/v1"
		hosted  = "https://github.com/actions/runner/github-hosted"
	)
	prov := func(builder string) *statement.Statement {
		return statement.FromDocument(map[string]any{
			"_type": statement.TypeV1, "predicateType": statement.SLSAProvenanceV1,
			"subject": []any{map[string]any{"digest": map[string]any{"sha256": subjectA.Hex}}},
			"predicate": map[string]any{"buildDefinition": map[string]any{"buildType": statement.GitHubBuildType},
				"runDetails": map[string]any{"builder": map[string]any{"id": builder}}},
		})
	}
	cert := func(signer, config string) *certificate.Summary {
		return &certificate.Summary{Extensions: certificate.Extensions{BuildSignerURI: signer, BuildConfigURI: config}}
	}
	cases := []struct {
		name      string
		builderID string // the rule's builderId, and the predicate's builder.id
		cert      *certificate.Summary
		count     bool
	}{
		{"key-signed, the key's word", release, nil, true},
		{"certificate of the release workflow", release, cert(release, release), true},
		{"reusable workflow called by the release workflow", release, cert(shared, release), true},
		{"certificate of acme/sandbox naming acme/app's workflow", release, cert(sandbox, sandbox), false},
		{"reusable workflow called by another repository's workflow", release, cert(shared, sandbox), false},
		{"certificate naming only its signing workflow, another", release, cert(sandbox, ""), false},
		{"release workflow at another ref", release, cert(strings.Replace(release, "refs/heads/main", "refs/heads/dev", 1), strings.Replace(release, "refs/heads/main", "refs/heads/dev", 1)), false},
		{"certificate naming no workflow (an e-mail identity)", release, cert("", ""), true},
		{"builder id naming no workflow: GitHub's hosted runner", hosted, cert(sandbox, sandbox), true},
	}
	now := time.Now()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			expr := conditions.BuilderID(c.builderID)
			prg, err := conditions.Compile(expr)
			if err != nil {
				t.Fatal(err)
			}
			rq := requirement{kind: "attestation", predicateType: statement.SLSAProvenanceV1, keys: []string{"k"}, threshold: 1,
				conditions: []policy.Condition{{Expr: expr, Label: "builderId: " + c.builderID, Program: prg}}}
			cand := candidate{key: tk, keyID: tk.ID, predicateType: statement.SLSAProvenanceV1, statement: prov(c.builderID), signedAt: now, timeSource: TimeSourceJudgedAt, certificate: c.cert}
			rr := evaluate(rq, []candidate{cand}, p, now, subjectInfo{digest: subjectA.String(), repository: "example.com/app"})
			if got := len(rr.Accepted) == 1; got != c.count {
				t.Fatalf("counts = %v, want %v (rejected %+v)", got, c.count, rr.Rejected)
			}
			if !c.count && !strings.Contains(rr.Rejected[0].Reason, "signer.buildSignerURI") {
				t.Errorf("the refusal does not show the certificate's workflows: %s", rr.Rejected[0].Reason)
			}
		})
	}
}
