package provenance

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/statement"
)

func TestConvertV02(t *testing.T) {
	cases := []struct {
		name  string
		in    string
		paths map[string]any // path → want (decoded JSON value)
		gone  []string
	}{
		{
			name: "buildx min metadata: no buildConfig, no metadata",
			in:   `{"builder":{"id":""},"buildType":"https://mobyproject.org/buildkit@v1","materials":[{"uri":"pkg:docker/alpine@3.20?platform=linux%2Famd64","digest":{"sha256":"aa"}}],"invocation":{"configSource":{"entryPoint":"Dockerfile"},"parameters":{"frontend":"dockerfile.v0","locals":[{"name":"context"}]},"environment":{"platform":"linux/amd64"}}}`,
			paths: map[string]any{
				"buildDefinition.buildType":                            statement.BuildKitBuildTypeV1,
				"buildDefinition.externalParameters.configSource.path": "Dockerfile",
				"buildDefinition.externalParameters.request.frontend":  "dockerfile.v0",
				"buildDefinition.internalParameters.builderPlatform":   "linux/amd64",
				"buildDefinition.resolvedDependencies.0.digest.sha256": "aa",
				"runDetails.builder.id":                                "",
			},
			gone: []string{"runDetails.metadata", "buildDefinition.internalParameters.buildConfig"},
		},
		{
			name: "remote git context, spec spelling of buildInvocationId",
			in:   `{"builder":{"id":"https://ci.example/run/1"},"buildType":"https://mobyproject.org/buildkit@v1","invocation":{"configSource":{"uri":"https://github.com/acme/app.git#v1","digest":{"sha1":"4b22"},"entryPoint":"Dockerfile"},"parameters":{},"environment":{"platform":"linux/arm64","hostname":"bk-0"}},"metadata":{"buildInvocationId":"inv-1","https://mobyproject.org/buildkit@v1#hermetic":true,"reproducible":true,"completeness":{"parameters":false,"environment":true,"materials":true}}}`,
			paths: map[string]any{
				"buildDefinition.externalParameters.configSource.uri":            "https://github.com/acme/app.git#v1",
				"buildDefinition.externalParameters.configSource.digest.sha1":    "4b22",
				"buildDefinition.internalParameters.environment.hostname":        "bk-0",
				"runDetails.metadata.invocationId":                               "inv-1",
				"runDetails.metadata.buildkit_hermetic":                          true,
				"runDetails.metadata.buildkit_reproducible":                      true,
				"runDetails.metadata.buildkit_completeness.request":              false,
				"runDetails.metadata.buildkit_completeness.resolvedDependencies": true,
			},
		},
		{
			name: "another builder keeps its build type and shape",
			in:   `{"builder":{"id":"https://tekton.example/chains"},"buildType":"https://tekton.dev/attestations/chains/pipelinerun@v2","invocation":{"configSource":{"uri":"git+https://github.com/acme/app","digest":{"sha1":"4b22"},"entryPoint":"build.yaml"},"parameters":{"IMAGE":"ghcr.io/acme/app","COUNT":12345678901234567890},"environment":{"labels":{"team":"a&b"}}},"buildConfig":{"tasks":[]},"metadata":{"buildInvocationID":"run-7","buildStartedOn":"2026-11-20T10:00:00+02:00","completeness":{"parameters":true},"reproducible":false,"https://tekton.example#x":1}}`,
			paths: map[string]any{
				"buildDefinition.buildType":                                  "https://tekton.dev/attestations/chains/pipelinerun@v2",
				"buildDefinition.externalParameters.configSource.entryPoint": "build.yaml",
				"buildDefinition.externalParameters.parameters.IMAGE":        "ghcr.io/acme/app",
				"buildDefinition.internalParameters.environment.labels.team": "a&b",
				"buildDefinition.internalParameters.buildConfig.tasks":       []any{},
				"runDetails.metadata.invocationId":                           "run-7",
				"runDetails.metadata.startedOn":                              "2026-11-20T08:00:00Z",
				"runDetails.metadata.slsa02_completeness.parameters":         true,
				"runDetails.metadata.slsa02_reproducible":                    false,
				`runDetails.metadata["https://tekton.example#x"]`:            json.Number("1"),
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ConvertV02([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			b, err := p.MarshalIndent()
			if err != nil {
				t.Fatal(err)
			}
			var doc any
			if err := decodeJSON(b, &doc); err != nil {
				t.Fatal(err)
			}
			for path, want := range tc.paths {
				got, ok := lookup(doc, path)
				if !ok {
					t.Errorf("%s is missing", path)
					continue
				}
				gb, _ := json.Marshal(got)
				wb, _ := json.Marshal(want)
				if string(gb) != string(wb) {
					t.Errorf("%s = %s, want %s", path, gb, wb)
				}
			}
			for _, path := range tc.gone {
				if _, ok := lookup(doc, path); ok {
					t.Errorf("%s is present", path)
				}
			}
			// Large integers survive, and "&" is not HTML-escaped.
			if strings.Contains(tc.in, "12345678901234567890") && !strings.Contains(string(b), "12345678901234567890") {
				t.Error("a large integer was rounded")
			}
			if strings.Contains(string(b), `\u0026`) {
				t.Error(`"&" was escaped`)
			}
		})
	}
}

func TestConvertV02Errors(t *testing.T) {
	for _, in := range []string{`[]`, `{"builder":{"id":"x"}}`, `{"buildType":"x","metadata":{"buildStartedOn":"yesterday"}}`, `{"buildType":"x"} {}`} {
		if _, err := ConvertV02([]byte(in)); err == nil {
			t.Errorf("ConvertV02(%s) succeeded", in)
		}
	}
}

// buildx versions differ in how they store the provenance: an object, or
// base64 of one; and in min mode (its default) without buildConfig and
// metadata. All must work, the latter taking invocation and time from CI.
func TestBuildKitMetadataShapes(t *testing.T) {
	pred := `{"builder":{"id":""},"buildType":"https://mobyproject.org/buildkit@v1","materials":[],"invocation":{"configSource":{"entryPoint":"Dockerfile"},"parameters":{"frontend":"dockerfile.v0","args":{"build-arg:V":"1"}},"environment":{"platform":"linux/amd64"}}}`
	for name, md := range map[string]string{
		"object": `{"containerimage.digest":"sha256:1","buildx.build.provenance":` + pred + `}`,
		"base64": `{"containerimage.digest":"sha256:1","buildx.build.provenance":"` + base64.StdEncoding.EncodeToString([]byte(pred)) + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			p, err := Generate(context.Background(), Inputs{Env: MapEnv(githubPushEnv()), BuildKitMetadata: []byte(md), Now: fixedNow})
			if err != nil {
				t.Fatal(err)
			}
			if p.RunDetails.Metadata.InvocationID != "https://github.com/acme/app/actions/runs/9876543210/attempts/2" {
				t.Errorf("invocationId = %q, want the CI run", p.RunDetails.Metadata.InvocationID)
			}
			if !p.RunDetails.Metadata.FinishedOn.Equal(fixedNow()) {
				t.Errorf("finishedOn = %v, want Now", p.RunDetails.Metadata.FinishedOn)
			}
			if p.BuildDefinition.BuildType != statement.BuildKitBuildTypeV1 {
				t.Errorf("buildType = %q", p.BuildDefinition.BuildType)
			}
		})
	}
	// A metadata file without provenance (--provenance=false) gives CI facts only.
	p, err := Generate(context.Background(), Inputs{Env: MapEnv(githubPushEnv()), BuildKitMetadata: []byte(`{"containerimage.digest":"sha256:1","buildx.build.ref":"b/b0/r"}`), Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	if p.BuildDefinition.BuildType != statement.GitHubBuildType {
		t.Errorf("buildType = %q, want GitHub's", p.BuildDefinition.BuildType)
	}
}

// An attestation read from another image's index is refused.
func TestInIndexOfAnotherImage(t *testing.T) {
	a := provenanceFromIndex(t, buildIndex(t, indexFixtureV1))
	_, err := Generate(context.Background(), Inputs{Env: MapEnv(githubPushEnv()), InIndex: a, ImageDigest: "sha256:" + strings.Repeat("c", 64), Now: fixedNow})
	if err == nil || !strings.Contains(err.Error(), "not the image") {
		t.Fatalf("err = %v", err)
	}
	// The index digest itself is accepted (the user named the index).
	if _, err := Generate(context.Background(), Inputs{Env: MapEnv(githubPushEnv()), InIndex: a, ImageDigest: a.Index.String(), Now: fixedNow}); err != nil {
		t.Fatal(err)
	}
}

func TestNormalizeRepo(t *testing.T) {
	want := "github.com/acme/app"
	for _, in := range []string{
		"git+https://github.com/acme/app@refs/heads/main",
		"https://github.com/acme/app.git#refs/tags/v1",
		"https://GitHub.com/acme/app/",
		"git+https://x-access-token@github.com/acme/app.git",
		"github.com/acme/app",
	} {
		if got := normalizeRepo(in); got != want {
			t.Errorf("normalizeRepo(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParsePredicate: whatever a metadata file or an index holds, parsing
// and mode filtering return an error or a predicate, never panic.
func FuzzParsePredicate(f *testing.F) {
	for _, name := range []string{"buildkit-v02.metadata.json", "buildkit-v1.metadata.json"} {
		md, err := ParseBuildKitMetadata(readFixture(f, name))
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range md.Provenance {
			f.Add([]byte(p))
		}
	}
	f.Add([]byte(`{"buildDefinition":{"buildType":"x","externalParameters":{"request":{"args":[],"secrets":{}}}},"runDetails":{"metadata":{"buildkit_metadata":1}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parsePredicate(b, "")
		if err != nil {
			return
		}
		p.BuildDefinition.BuildType = statement.BuildKitBuildTypeV1
		_ = applyBuildKitMode(p, ModeMin)
		_, _ = p.MarshalIndent()
	})
}

// BuildKit's own statements are signable; a statement that names anything
// but its platform manifest, has a type BuildKit never emits, or provenance
// that claims the CI's source fields or another build type is not.
func TestSignable(t *testing.T) {
	for _, f := range []indexFixture{indexFixtureV01, indexFixtureV1} {
		atts, err := FromIndex(context.Background(), buildIndex(t, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range atts {
			if err := a.Signable(); err != nil {
				t.Errorf("BuildKit's own %s statement: %v", a.PredicateType, err)
			}
		}
	}

	platform := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}
	other := strings.Repeat("b", 64)
	one := []statementSubject{{Digest: map[string]string{"sha256": platform.Hex}}}
	v1Pred := func(edit string) json.RawMessage {
		return json.RawMessage(`{"buildDefinition": {"buildType": "` + statement.BuildKitBuildTypeV1 + `", "externalParameters": {"request": {}` + edit + `}, "internalParameters": {"builderPlatform": "linux/amd64"}}, "runDetails": {"builder": {"id": "x"}}}`)
	}
	spdx := json.RawMessage(`{"spdxVersion": "SPDX-2.3"}`)
	cases := []struct {
		name          string
		subjects      []statementSubject
		predicateType string
		predicate     json.RawMessage
		want          string // "" = signable
	}{
		{"SPDX about the platform", one, "https://spdx.dev/Document", spdx, ""},
		{"CycloneDX about the platform", one, "https://cyclonedx.org/bom", spdx, ""},
		{"v1 provenance", one, statement.SLSAProvenanceV1, v1Pred(""), ""},
		{"extra subject", append(one, statementSubject{Digest: map[string]string{"sha256": other}}), "https://spdx.dev/Document", spdx, "names 2 subjects"},
		{"the platform twice", append(one, one...), "https://spdx.dev/Document", spdx, "names 2 subjects"},
		{"no subject", nil, "https://spdx.dev/Document", spdx, "names 0 subjects"},
		{"second algorithm", []statementSubject{{Digest: map[string]string{"sha256": platform.Hex, "sha512": other + other}}}, "https://spdx.dev/Document", spdx, "sha512 digest"},
		{"another digest", []statementSubject{{Digest: map[string]string{"sha256": other}}}, "https://spdx.dev/Document", spdx, "not the platform manifest"},
		{"empty digest", []statementSubject{{Digest: map[string]string{}}}, "https://spdx.dev/Document", spdx, "no sha256 digest"},
		{"plain signature type", one, "https://sigstore.dev/cosign/sign/v1", json.RawMessage(`{}`), "not one BuildKit emits"},
		{"custom type", one, "https://example.com/anything", json.RawMessage(`{}`), "not one BuildKit emits"},
		{"v1 claims the workflow", one, statement.SLSAProvenanceV1, v1Pred(`, "workflow": {"repository": "https://github.com/acme/app"}`), "externalParameters.workflow"},
		{"v1 claims the generic source", one, statement.SLSAProvenanceV1, v1Pred(`, "source": {"repository": "https://github.com/acme/app"}`), "externalParameters.source"},
		{"v1 claims imgsign's fact sources", one, statement.SLSAProvenanceV1, json.RawMessage(`{"buildDefinition": {"buildType": "` + statement.BuildKitBuildTypeV1 + `", "externalParameters": {}, "internalParameters": {"imgsign.dev/factSources": {}}}}`), "internalParameters.imgsign.dev/factSources"},
		{"v1 claims GitHub's parameters", one, statement.SLSAProvenanceV1, json.RawMessage(`{"buildDefinition": {"buildType": "` + statement.BuildKitBuildTypeV1 + `", "externalParameters": {}, "internalParameters": {"github": {}}}}`), "internalParameters.github"},
		{"v1 with GitHub's build type", one, statement.SLSAProvenanceV1, json.RawMessage(`{"buildDefinition": {"buildType": "` + statement.GitHubBuildType + `", "externalParameters": {}}}`), "is not BuildKit's"},
		{"v1 with imgsign's generic build type", one, statement.SLSAProvenanceV1, json.RawMessage(`{"buildDefinition": {"buildType": "` + statement.GenericBuildType + `", "externalParameters": {}}}`), "is not BuildKit's"},
		{"v1 key spelled in another case", one, statement.SLSAProvenanceV1, json.RawMessage(`{"buildDefinition": {"buildType": "` + statement.GitHubBuildType + `"}, "BuildDefinition": {"buildType": "` + statement.BuildKitBuildTypeV1 + `"}}`), "is not BuildKit's"},
		{"v0.2 carrying v1 fields", one, statement.SLSAProvenanceV02, json.RawMessage(`{"buildType": "` + statement.BuildKitBuildTypeV02 + `", "buildDefinition": {"buildType": "` + statement.GitHubBuildType + `"}}`), "carries SLSA v1 fields"},
		{"v0.2 of another build type", one, statement.SLSAProvenanceV02, json.RawMessage(`{"buildType": "https://example.com/other"}`), "is not BuildKit's"},
		{"v0.2 without build type", one, statement.SLSAProvenanceV02, json.RawMessage(`{}`), "buildType is missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := &Attestation{Subject: platform, PredicateType: c.predicateType, Predicate: c.predicate, subjects: c.subjects}
			err := a.Signable()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("Signable() = %v, want nil", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("Signable() = %v, want an error containing %q", err, c.want)
			case err != nil:
				if k, _ := errkind.Of(err); k != errkind.Input {
					t.Errorf("kind %v, want input (exit 2)", k)
				}
			}
		})
	}
}

// The provenance generator takes from BuildKit only BuildKit's shape: a
// predicate in the index or the metadata file that claims the CI's source
// fields or another build type is refused, not merged and signed.
func TestGenerateRefusesForgedBuildKitSource(t *testing.T) {
	forged := json.RawMessage(`{"buildDefinition": {"buildType": "` + statement.GenericBuildType + `", "externalParameters": {"source": {"repository": "https://github.com/acme/app"}}}, "runDetails": {"builder": {"id": "https://x"}}}`)
	in := Inputs{Env: MapEnv(nil), BuilderID: "https://ci.example/job", Now: fixedNow,
		InIndex: &Attestation{Subject: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}, PredicateType: statement.SLSAProvenanceV1, Predicate: forged}}
	if _, err := Generate(context.Background(), in); err == nil || !strings.Contains(err.Error(), "is not BuildKit's") {
		t.Fatalf("index: err = %v", err)
	}
	md, _ := json.Marshal(map[string]any{"buildx.build.provenance": json.RawMessage(`{"buildDefinition": {"buildType": "` + statement.BuildKitBuildTypeV1 + `", "externalParameters": {"workflow": {"repository": "https://github.com/acme/app"}}}}`)})
	in = Inputs{Env: MapEnv(nil), BuilderID: "https://ci.example/job", Now: fixedNow, BuildKitMetadata: md}
	if _, err := Generate(context.Background(), in); err == nil || !strings.Contains(err.Error(), "externalParameters.workflow") {
		t.Fatalf("metadata file: err = %v", err)
	}
}
