package conditions

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func statement(t *testing.T) map[string]any {
	t.Helper()
	pred, err := os.ReadFile("../../testdata/attest/slsa-github.json")
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(pred, &p); err != nil {
		t.Fatal(err)
	}
	return map[string]any{
		"predicateType": "https://slsa.dev/provenance/v1",
		"subject":       []any{map[string]any{"name": "r.example.com/app", "digest": map[string]any{"sha256": "ab"}}},
		"predicate":     p,
	}
}

func TestEval(t *testing.T) {
	in := Input{Statement: statement(t), Digest: "sha256:ab", Repository: "r.example.com/app"}
	cases := []struct {
		name   string
		expr   string
		ok     bool
		detail string
	}{
		{"builder prefix", `predicate.runDetails.builder.id.startsWith("https://github.com/acme/")`, true, ""},
		{"builder prefix fails and shows the value", `predicate.runDetails.builder.id.startsWith("https://github.com/evil/")`, false, `predicate.runDetails.builder.id = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"`},
		{"missing field", `predicate.runDetails.byproducts.size() > 0`, false, "is missing"},
		{"image and predicateType", `image.repository == "r.example.com/app" && predicateType.endsWith("/v1")`, true, ""},
		{"subject digest", `subject[0].digest.sha256 == image.digest.split(":")[1]`, true, ""},
		{"builderId field", BuilderID("https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"), true, ""},
		{"builderId field fails", BuilderID("https://github.com/acme/other"), false, "builder.id ="},
		{"sourceRepository with scheme", SourceRepository("https://github.com/acme/app"), true, ""},
		{"sourceRepository without scheme", SourceRepository("github.com/acme/app"), true, ""},
		{"sourceRepository other", SourceRepository("github.com/acme/other"), false, "resolvedDependencies"},
		{"sourceRepository prefix is not enough", SourceRepository("github.com/acme/ap"), false, "resolvedDependencies"},
		{"sourceRef glob", SourceRef("refs/heads/*"), true, ""},
		{"sourceRef tags only", SourceRef("refs/tags/v*"), false, "workflow.ref"},
		{"buildType", BuildType("https://actions.github.io/buildtypes/workflow/v1"), true, ""},
		{"buildType other", BuildType("https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1"), false, "buildType"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cond, err := Compile(c.expr)
			if err != nil {
				t.Fatalf("compile %s: %v", c.expr, err)
			}
			ok, detail := cond.Eval(in)
			if ok != c.ok || !strings.Contains(detail, c.detail) {
				t.Errorf("Eval = %v %q, want %v containing %q", ok, detail, c.ok, c.detail)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	for _, expr := range []string{
		`predicate.x ==`,         // syntax
		`undefinedVar == 1`,      // undeclared
		`predicateType + 1`,      // type error
		`"a string, not a bool"`, // wrong result type
	} {
		if _, err := Compile(expr); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("Compile(%q) = %v, want a one-line error", expr, err)
		}
	}
}

func FuzzCompileEval(f *testing.F) {
	f.Add(`predicate.a.b == "x"`)
	f.Add(`subject.exists(s, s.name.startsWith("r"))`)
	f.Fuzz(func(t *testing.T, expr string) {
		c, err := Compile(expr)
		if err != nil {
			return
		}
		c.Eval(Input{Statement: map[string]any{"predicate": map[string]any{"a": []any{1, "x"}}}})
	})
}
