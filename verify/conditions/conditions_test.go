package conditions

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func slsaStatement(t *testing.T) map[string]any {
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
	in := Input{Statement: slsaStatement(t), Digest: "sha256:ab", Repository: "r.example.com/app"}
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
		{"sourceRepository other", SourceRepository("github.com/acme/other"), false, `source.repository = "https://github.com/acme/app"`},
		{"sourceRepository prefix is not enough", SourceRepository("github.com/acme/ap"), false, "source.repository"},
		{"sourceRef glob", SourceRef("refs/heads/*"), true, ""},
		{"sourceRef tags only", SourceRef("refs/tags/v*"), false, `source.ref = "refs/heads/main" from predicate.buildDefinition.externalParameters.workflow.ref`},
		{"source in a plain condition", `source.from == "externalParameters.workflow"`, true, ""},
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

// The source conditions read the build's own source only: the workflow or
// source entry the builder records for its build type, never a resolved
// dependency the build listed, and both from the same entry.
func TestBuildSource(t *testing.T) {
	const (
		gh       = "https://actions.github.io/buildtypes/workflow/v1"
		buildkit = "https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md"
		generic  = "https://imgsign.dev/buildtypes/generic/v1"
	)
	dep := func(uri string) any { return map[string]any{"uri": uri, "digest": map[string]any{"sha1": "89ab"}} }
	stmt := func(predicateType, buildType string, external map[string]any, deps ...any) map[string]any {
		return map[string]any{"predicateType": predicateType, "predicate": map[string]any{"buildDefinition": map[string]any{
			"buildType": buildType, "externalParameters": external, "resolvedDependencies": deps}}}
	}
	workflow := func(repo, ref string) map[string]any {
		return map[string]any{"workflow": map[string]any{"repository": repo, "ref": ref, "path": ".github/workflows/release.yml"}}
	}
	v1 := "https://slsa.dev/provenance/v1"
	cases := []struct {
		name      string
		statement map[string]any
		exprs     []string
		ok        bool
		detail    string
	}{
		{"repository only in a dependency", stmt(v1, gh, workflow("https://github.com/acme/evil", "refs/heads/main"), dep("git+https://github.com/acme/app@refs/heads/main")),
			[]string{SourceRepository("github.com/acme/app")}, false, `source.repository = "https://github.com/acme/evil"`},
		{"ref only in a dependency", stmt(v1, gh, workflow("https://github.com/acme/app", "refs/heads/feature"), dep("git+https://github.com/other/lib@refs/tags/v9.0.0")),
			[]string{SourceRepository("github.com/acme/app"), SourceRef("refs/tags/v*")}, false, `source.ref = "refs/heads/feature"`},
		{"BuildKit's own provenance has no source", stmt(v1, buildkit, map[string]any{"request": map[string]any{}}, dep("git+https://github.com/acme/app@refs/tags/v1")),
			[]string{SourceRepository("github.com/acme/app")}, false, "source.repository is missing (buildType " + buildkit + " without externalParameters.workflow or source"},
		{"BuildKit's provenance with the CI's workflow merged in", stmt(v1, buildkit, workflow("https://github.com/acme/app", "refs/tags/v1.0.0")),
			[]string{SourceRepository("github.com/acme/app"), SourceRef("refs/tags/v*")}, true, ""},
		{"generic build with the caller's source", stmt(v1, generic, map[string]any{"source": map[string]any{"repository": "https://git.example.com/app.git", "ref": "refs/tags/v2"}}),
			[]string{SourceRepository("git.example.com/app"), SourceRef("refs/tags/v*")}, true, ""},
		{"generic build ignores a workflow entry", stmt(v1, generic, workflow("https://github.com/acme/app", "refs/tags/v1")),
			[]string{SourceRepository("github.com/acme/app")}, false, "without externalParameters.source"},
		{"unknown build type", stmt(v1, "https://example.com/any", workflow("https://github.com/acme/app", "refs/tags/v1")),
			[]string{SourceRepository("github.com/acme/app")}, false, "records no source imgsign can trust"},
		{"SLSA v0.2 has no source", stmt("https://slsa.dev/provenance/v0.2", gh, workflow("https://github.com/acme/app", "refs/tags/v1")),
			[]string{SourceRepository("github.com/acme/app")}, false, "read from SLSA provenance v1"},
		{"ref missing", stmt(v1, gh, map[string]any{"workflow": map[string]any{"repository": "https://github.com/acme/app"}}),
			[]string{SourceRef("refs/**")}, false, "source.ref is missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := Input{Statement: c.statement, Digest: "sha256:ab", Repository: "r.example.com/app"}
			ok, details := true, ""
			for _, e := range c.exprs {
				cond, err := Compile(e)
				if err != nil {
					t.Fatalf("compile %s: %v", e, err)
				}
				if o, d := cond.Eval(in); !o {
					ok, details = false, details+d+"; "
				}
			}
			if ok != c.ok || !strings.Contains(details, c.detail) {
				t.Errorf("conditions = %v %q, want %v containing %q", ok, details, c.ok, c.detail)
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
