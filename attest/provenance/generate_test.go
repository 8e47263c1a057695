package provenance

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	slsa1 "github.com/in-toto/attestation/go/predicates/provenance/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/imgsign/imgsign/internal/errkind"
)

var update = flag.Bool("update", false, "rewrite testdata/provenance/*.golden.json from the current output")

const testdata = "../../testdata/provenance"

// fixedNow is when the tests pretend imgsign runs: a minute after the
// fixture builds finished.
func fixedNow() time.Time { return time.Date(2026, 11, 20, 10, 17, 5, 0, time.UTC) }

const (
	pushSHA  = "8f2c1e0b5d4a3f6e7c9b1a2d3e4f5a6b7c8d9e0f"
	mergeSHA = "3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f"
)

// Secrets a CI job commonly has in its environment; none may ever reach a
// predicate.
var secretEnv = map[string]string{
	"NPM_TOKEN":             "npm_s3cr3tNPMtokenValue0123456789",
	"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYs3cr3tKEY",
	"IMGSIGN_PASSWORD":      "correct horse battery staple s3cr3t",
}

func withSecrets(env map[string]string) map[string]string {
	out := maps.Clone(env)
	maps.Copy(out, secretEnv)
	return out
}

// githubPushEnv is what a GitHub-hosted runner sets for a push to main.
func githubPushEnv() map[string]string {
	return withSecrets(map[string]string{
		"CI":                         "true",
		"GITHUB_ACTIONS":             "true",
		"GITHUB_SERVER_URL":          "https://github.com",
		"GITHUB_API_URL":             "https://api.github.com",
		"GITHUB_REPOSITORY":          "acme/app",
		"GITHUB_REPOSITORY_ID":       "612345678",
		"GITHUB_REPOSITORY_OWNER":    "acme",
		"GITHUB_REPOSITORY_OWNER_ID": "98765432",
		"GITHUB_REF":                 "refs/heads/main",
		"GITHUB_REF_NAME":            "main",
		"GITHUB_REF_TYPE":            "branch",
		"GITHUB_SHA":                 pushSHA,
		"GITHUB_WORKFLOW":            "release",
		"GITHUB_WORKFLOW_REF":        "acme/app/.github/workflows/release.yml@refs/heads/main",
		"GITHUB_WORKFLOW_SHA":        pushSHA,
		"GITHUB_EVENT_NAME":          "push",
		"GITHUB_EVENT_PATH":          "/home/runner/work/_temp/_github_workflow/event.json",
		"GITHUB_RUN_ID":              "9876543210",
		"GITHUB_RUN_NUMBER":          "412",
		"GITHUB_RUN_ATTEMPT":         "2",
		"GITHUB_JOB":                 "image",
		"GITHUB_ACTOR":               "octocat",
		"GITHUB_HEAD_REF":            "",
		"GITHUB_BASE_REF":            "",
		"RUNNER_ENVIRONMENT":         "github-hosted",
		"RUNNER_OS":                  "Linux",
		"RUNNER_ARCH":                "X64",
	})
}

// githubTagEnv is a push of tag v1.4.2.
func githubTagEnv() map[string]string {
	env := githubPushEnv()
	env["GITHUB_REF"] = "refs/tags/v1.4.2"
	env["GITHUB_REF_NAME"] = "v1.4.2"
	env["GITHUB_REF_TYPE"] = "tag"
	env["GITHUB_WORKFLOW_REF"] = "acme/app/.github/workflows/release.yml@refs/tags/v1.4.2"
	return env
}

// githubPullRequestEnv is a pull_request run: GitHub checks out the merge
// commit of the PR into its base on refs/pull/N/merge.
func githubPullRequestEnv() map[string]string {
	env := githubPushEnv()
	env["GITHUB_EVENT_NAME"] = "pull_request"
	env["GITHUB_REF"] = "refs/pull/42/merge"
	env["GITHUB_REF_NAME"] = "42/merge"
	env["GITHUB_SHA"] = mergeSHA
	env["GITHUB_WORKFLOW_REF"] = "acme/app/.github/workflows/ci.yml@refs/pull/42/merge"
	env["GITHUB_WORKFLOW_SHA"] = mergeSHA
	env["GITHUB_HEAD_REF"] = "feature/faster-start"
	env["GITHUB_BASE_REF"] = "main"
	env["GITHUB_RUN_ATTEMPT"] = "1"
	return env
}

// gitlabEnv is a GitLab CI job on a branch pipeline of a self-managed
// instance.
func gitlabEnv() map[string]string {
	return withSecrets(map[string]string{
		"CI":                      "true",
		"GITLAB_CI":               "true",
		"CI_SERVER_URL":           "https://gitlab.example.com",
		"CI_SERVER_VERSION":       "17.5.1",
		"CI_PROJECT_URL":          "https://gitlab.example.com/platform/app",
		"CI_PROJECT_PATH":         "platform/app",
		"CI_PROJECT_ID":           "4242",
		"CI_PROJECT_NAMESPACE_ID": "77",
		"CI_COMMIT_SHA":           pushSHA,
		"CI_COMMIT_BRANCH":        "main",
		"CI_COMMIT_REF_NAME":      "main",
		"CI_COMMIT_REF_PROTECTED": "true",
		"CI_PIPELINE_SOURCE":      "push",
		"CI_PIPELINE_ID":          "1234567",
		"CI_JOB_ID":               "7654321",
		"CI_JOB_NAME":             "build-image",
		"CI_JOB_URL":              "https://gitlab.example.com/platform/app/-/jobs/7654321",
		"CI_JOB_STARTED_AT":       "2026-11-20T10:14:30Z",
		"CI_CONFIG_PATH":          ".gitlab-ci.yml",
		"CI_RUNNER_ID":            "31",
		"CI_RUNNER_DESCRIPTION":   "docker-runner-2",
		"CI_RUNNER_TAGS":          `["docker", "linux"]`,
		"CI_JOB_TOKEN":            "glcbt-s3cr3tJobTokenValue",
		"CI_REGISTRY_PASSWORD":    "glcbt-s3cr3tRegistryPassword",
	})
}

// gitlabMergeRequestEnv is a merged-results pipeline for MR !17.
func gitlabMergeRequestEnv() map[string]string {
	env := gitlabEnv()
	delete(env, "CI_COMMIT_BRANCH")
	env["CI_COMMIT_REF_NAME"] = "feature/x"
	env["CI_COMMIT_REF_PROTECTED"] = "false"
	env["CI_COMMIT_SHA"] = mergeSHA
	env["CI_PIPELINE_SOURCE"] = "merge_request_event"
	env["CI_MERGE_REQUEST_IID"] = "17"
	env["CI_MERGE_REQUEST_EVENT_TYPE"] = "merged_result"
	env["CI_MERGE_REQUEST_SOURCE_BRANCH_NAME"] = "feature/x"
	env["CI_MERGE_REQUEST_TARGET_BRANCH_NAME"] = "main"
	return env
}

// localEnv is a developer machine or an unknown CI.
func localEnv() map[string]string {
	return withSecrets(map[string]string{"HOME": "/home/dev", "USER": "dev"})
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeJWT is an unsigned-looking token carrying claims: enough for
// ParseClaimsUnverified, which never checks signatures.
func fakeJWT(t *testing.T, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "test"}) + "." + enc(claims) + ".c2lnbmF0dXJl"
}

type staticTokens struct {
	token    string
	audience string // the audience asked for, recorded
}

func (s *staticTokens) Token(_ context.Context, audience string) (string, error) {
	s.audience = audience
	return s.token, nil
}

// githubClaims are the claims GitHub's token would carry for the push run,
// where the image is built by a reusable workflow in another repository.
func githubClaims() map[string]any {
	return map[string]any{
		"iss":                 "https://token.actions.githubusercontent.com",
		"aud":                 "imgsign",
		"sub":                 "repo:acme/app:ref:refs/heads/main",
		"repository":          "acme/app",
		"repository_id":       "612345678",
		"repository_owner":    "acme",
		"repository_owner_id": "98765432",
		"ref":                 "refs/heads/main",
		"ref_type":            "branch",
		"sha":                 pushSHA,
		"workflow":            "release",
		"workflow_ref":        "acme/app/.github/workflows/release.yml@refs/heads/main",
		"workflow_sha":        pushSHA,
		"job_workflow_ref":    "acme/workflows/.github/workflows/build-image.yml@refs/tags/v2.1.0",
		"job_workflow_sha":    "0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3",
		"event_name":          "push",
		"run_id":              "9876543210",
		"run_number":          "412",
		"run_attempt":         "2",
		"runner_environment":  "github-hosted",
		"actor":               "octocat",
		"iat":                 json.Number("1795082100"),
		"exp":                 json.Number("1795082400"),
		"nbf":                 json.Number("1795081800"),
		"jti":                 "0e0a0b53-1c4d-4a2e-9c41-6c3f1f8e2d11",
		"head_ref":            "",
		"base_ref":            "",
	}
}

type goldenCase struct {
	name string
	in   func(t *testing.T) Inputs
}

func goldenCases() []goldenCase {
	env := func(m map[string]string) func(string) string { return MapEnv(m) }
	return []goldenCase{
		{"github-push", func(t *testing.T) Inputs {
			return Inputs{Env: env(githubPushEnv()), Version: "v0.4.0"}
		}},
		{"github-push-min", func(t *testing.T) Inputs {
			return Inputs{Mode: ModeMin, Env: env(githubPushEnv()), Version: "v0.4.0"}
		}},
		{"github-pull-request", func(t *testing.T) Inputs {
			return Inputs{Env: env(githubPullRequestEnv())}
		}},
		{"github-pull-request-min", func(t *testing.T) Inputs {
			return Inputs{Mode: ModeMin, Env: env(githubPullRequestEnv())}
		}},
		{"github-oidc-unverified", func(t *testing.T) Inputs {
			return Inputs{Env: env(githubPushEnv()), Tokens: &staticTokens{token: fakeJWT(t, githubClaims())}}
		}},
		{"buildkit-v02-github", func(t *testing.T) Inputs {
			return Inputs{Env: env(githubPushEnv()), BuildKitMetadata: readFixture(t, "buildkit-v02.metadata.json")}
		}},
		{"buildkit-v02-github-min", func(t *testing.T) Inputs {
			return Inputs{Mode: ModeMin, Env: env(githubPushEnv()), BuildKitMetadata: readFixture(t, "buildkit-v02.metadata.json")}
		}},
		{"buildkit-v1-github", func(t *testing.T) Inputs {
			return Inputs{Env: env(githubTagEnv()), BuildKitMetadata: readFixture(t, "buildkit-v1.metadata.json"), Platform: "linux/arm64"}
		}},
		{"buildkit-index-v1-generic", func(t *testing.T) Inputs {
			idx := buildIndex(t, indexFixtureV1)
			a := provenanceFromIndex(t, idx)
			return Inputs{Env: env(localEnv()), InIndex: a, BuilderID: "https://jenkins.example.com/job/app/", ImageDigest: a.Subject.String()}
		}},
		{"buildkit-index-gitlab", func(t *testing.T) Inputs {
			idx := buildIndex(t, indexFixtureV01)
			return Inputs{Env: env(gitlabEnv()), InIndex: provenanceFromIndex(t, idx)}
		}},
		{"gitlab", func(t *testing.T) Inputs {
			return Inputs{Env: env(gitlabEnv())}
		}},
		{"gitlab-merge-request-min", func(t *testing.T) Inputs {
			return Inputs{Mode: ModeMin, Env: env(gitlabMergeRequestEnv())}
		}},
		{"generic-builder-id", func(t *testing.T) Inputs {
			return Inputs{
				Env:       env(localEnv()),
				BuilderID: "https://jenkins.example.com/job/app/",
				Source:    &Source{Repository: "https://git.example.com/team/app", Ref: "refs/heads/main", Commit: pushSHA},
			}
		}},
	}
}

func TestGenerateGolden(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in(t)
			in.Now = fixedNow
			got := generateJSON(t, in)
			checkGolden(t, tc.name, got)
			checkNoSecrets(t, got)
			checkInTotoConformance(t, got)
		})
	}
}

func TestConvertV02Golden(t *testing.T) {
	md, err := ParseBuildKitMetadata(readFixture(t, "buildkit-v02.metadata.json"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := ConvertV02(md.Provenance[""])
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.MarshalIndent()
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "convert-v02", got)
	checkInTotoConformance(t, got)
}

func generateJSON(t *testing.T, in Inputs) []byte {
	t.Helper()
	p, err := Generate(context.Background(), in)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	b, err := p.MarshalIndent()
	if err != nil {
		t.Fatalf("MarshalIndent: %v", err)
	}
	// Output must not depend on map iteration order.
	for range 3 {
		p2, err := Generate(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		b2, _ := p2.MarshalIndent()
		if !bytes.Equal(b, b2) {
			t.Fatal("Generate is not deterministic")
		}
	}
	return b
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(testdata, name+".golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./attest/provenance/ -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs from the output at line %d:\n got: %s\nwant: %s\n(run go test ./attest/provenance/ -update if the change is intended)", path, i+1, g, w)
			}
		}
	}
}

func checkNoSecrets(t *testing.T, got []byte) {
	t.Helper()
	for name, v := range secretEnv {
		if bytes.Contains(got, []byte(v)) || bytes.Contains(got, []byte(name)) {
			t.Errorf("predicate contains the environment secret %s", name)
		}
	}
	for _, v := range []string{"glcbt-s3cr3t"} {
		if bytes.Contains(got, []byte(v)) {
			t.Errorf("predicate contains a GitLab token")
		}
	}
}

// checkInTotoConformance parses the predicate with the in-toto reference
// protobuf types and runs their SLSA checks: our plain structs must mean
// the same on the wire. Extension fields (BuildKit's buildkit_* in
// runDetails.metadata) are legal SLSA but unknown to the protobuf, so only
// predicates without them are parsed strictly.
func checkInTotoConformance(t *testing.T, got []byte) {
	t.Helper()
	var pb slsa1.Provenance
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(got, &pb); err != nil {
		t.Fatalf("in-toto protobuf types reject the predicate: %v", err)
	}
	if err := pb.Validate(); err != nil {
		t.Fatalf("in-toto Validate: %v", err)
	}
	if !bytes.Contains(got, []byte(`"buildkit_`)) {
		if err := protojson.Unmarshal(got, &slsa1.Provenance{}); err != nil {
			t.Fatalf("strict in-toto parse: %v", err)
		}
	}
	if pb.GetRunDetails().GetMetadata().GetFinishedOn() == nil {
		t.Error("finishedOn is missing")
	}
}

// lookup follows a path in a decoded JSON document, written the way a CEL
// policy would: a.b.0 for keys and array indexes, a["x.y"] for keys with
// dots.
func lookup(doc any, path string) (any, bool) {
	cur := doc
	for _, k := range splitPath(path) {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[k]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			var i int
			if _, err := fmt.Sscan(k, &i); err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

func splitPath(path string) []string {
	var out []string
	for path != "" {
		switch {
		case strings.HasPrefix(path, "[\""):
			end := strings.Index(path, "\"]")
			out = append(out, path[2:end])
			path = strings.TrimPrefix(path[end+2:], ".")
		default:
			end := strings.IndexAny(path, ".[")
			if end < 0 {
				end = len(path)
			}
			out = append(out, path[:end])
			path = strings.TrimPrefix(path[end:], ".")
		}
	}
	return out
}

func decode(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestModeMinMax asserts, field by field, what mode=max has and mode=min
// leaves out (the table in README.md), on the same inputs.
func TestModeMinMax(t *testing.T) {
	const (
		ext = "buildDefinition.externalParameters."
		in  = "buildDefinition.internalParameters."
		md  = "runDetails.metadata."
	)
	cases := []struct {
		name     string
		in       func(t *testing.T) Inputs
		both     []string // in min and max
		maxOnly  []string
		minValue map[string]any // value in min mode
	}{
		{
			name: "BuildKit v0.2 metadata on GitHub",
			in: func(t *testing.T) Inputs {
				return Inputs{Env: MapEnv(githubPushEnv()), BuildKitMetadata: readFixture(t, "buildkit-v02.metadata.json")}
			},
			both: []string{
				"buildDefinition.buildType",
				ext + "configSource.path",
				ext + "request.frontend",
				ext + "request.locals",
				ext + "request.args.target",
				ext + "request.args.source",
				ext + "workflow.repository",
				in + "builderPlatform",
				in + "github.event_name",
				in + `["imgsign.dev/factsSource"]`,
				in + `["imgsign.dev/buildkit"].invocationId`,
				"buildDefinition.resolvedDependencies.0.digest.gitCommit",
				"buildDefinition.resolvedDependencies.1.digest.sha256",
				"runDetails.builder.id",
				md + "invocationId",
				md + "startedOn",
				md + "finishedOn",
				md + "buildkit_metadata.vcs.revision",
				md + "buildkit_completeness",
			},
			maxOnly: []string{
				ext + `request.args["build-arg:GO_VERSION"]`,
				ext + `request.args["label:org.opencontainers.image.source"]`,
				ext + "request.secrets.0.id",
				ext + "request.ssh.0.id",
				in + "buildConfig.llbDefinition.0.op",
				md + "buildkit_metadata.source.infos.0.data",
				md + "buildkit_metadata.layers",
			},
			minValue: map[string]any{md + "buildkit_completeness.request": false},
		},
		{
			name: "GitHub pull request",
			in: func(t *testing.T) Inputs {
				return Inputs{Env: MapEnv(githubPullRequestEnv())}
			},
			both: []string{
				ext + "workflow.ref",
				in + "github.event_name",
				in + "github.repository_id",
				in + "github.repository_owner_id",
				in + "github.runner_environment",
				"buildDefinition.resolvedDependencies.0.uri",
				md + "invocationId",
			},
			maxOnly:  []string{in + "github.head_ref", in + "github.base_ref", in + "github.workflow_sha"},
			minValue: map[string]any{ext + "workflow.ref": "refs/pull/42/merge"},
		},
		{
			name: "GitLab merge request",
			in: func(t *testing.T) Inputs {
				return Inputs{Env: MapEnv(gitlabMergeRequestEnv())}
			},
			both: []string{
				ext + "workflow.ref",
				ext + "entryPoint",
				in + "gitlab.pipeline_source",
				in + "gitlab.project_id",
				md + "startedOn",
			},
			maxOnly: []string{
				in + "gitlab.merge_request_source_branch",
				in + "gitlab.merge_request_target_branch",
				in + "gitlab.runner_description",
				in + "gitlab.job_id",
			},
			minValue: map[string]any{ext + "workflow.ref": "refs/merge-requests/17/merge"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			docs := map[Mode]any{}
			for _, mode := range []Mode{ModeMax, ModeMin} {
				in := tc.in(t)
				in.Mode, in.Now = mode, fixedNow
				docs[mode] = decode(t, generateJSON(t, in))
			}
			for _, p := range tc.both {
				for mode, doc := range docs {
					if _, ok := lookup(doc, p); !ok {
						t.Errorf("mode=%s: %s is missing", mode, p)
					}
				}
			}
			for _, p := range tc.maxOnly {
				if _, ok := lookup(docs[ModeMax], p); !ok {
					t.Errorf("mode=max: %s is missing", p)
				}
				if v, ok := lookup(docs[ModeMin], p); ok {
					t.Errorf("mode=min: %s is present (%v)", p, v)
				}
			}
			for p, want := range tc.minValue {
				if got, _ := lookup(docs[ModeMin], p); got != want {
					t.Errorf("mode=min: %s = %v, want %v", p, got, want)
				}
			}
		})
	}
}

func TestGenerateErrors(t *testing.T) {
	v1md := readFixture(t, "buildkit-v1.metadata.json")
	v02md := readFixture(t, "buildkit-v02.metadata.json")
	cases := []struct {
		name string
		in   Inputs
		want string // substring of the error
		kind errkind.Kind
	}{
		{"generic without --builder-id", Inputs{Env: MapEnv(localEnv()), BuildKitMetadata: v02md}, "--builder-id", errkind.Input},
		{"generic without any facts", Inputs{Env: MapEnv(localEnv()), BuilderID: "https://ci.example.com/b"}, "nothing to attest", errkind.Input},
		{"source commit without repository", Inputs{Env: MapEnv(localEnv()), BuilderID: "https://ci.example.com/b", Source: &Source{Commit: pushSHA}}, "needs its repository", errkind.Input},
		{"builder id not a URI", Inputs{Env: MapEnv(localEnv()), BuilderID: "my laptop", BuildKitMetadata: v02md}, "not a URI", errkind.Input},
		{"unknown mode", Inputs{Mode: "full", Env: MapEnv(githubPushEnv())}, "use max or min", errkind.Input},
		{"GitHub without run id", Inputs{Env: MapEnv(without(githubPushEnv(), "GITHUB_RUN_ID", "GITHUB_SHA"))}, "GITHUB_RUN_ID, GITHUB_SHA not set", errkind.Input},
		{"GitLab without job URL", Inputs{Env: MapEnv(without(gitlabEnv(), "CI_JOB_URL"))}, "CI_JOB_URL not set", errkind.Input},
		{"multi-platform metadata without a platform", Inputs{Env: MapEnv(githubTagEnv()), BuildKitMetadata: v1md}, "2 platforms (linux/amd64, linux/arm64)", errkind.Input},
		{"platform not in metadata", Inputs{Env: MapEnv(githubTagEnv()), BuildKitMetadata: v1md, Platform: "linux/s390x"}, "no provenance for platform linux/s390x", errkind.Input},
		{"metadata of another image", Inputs{Env: MapEnv(githubPushEnv()), BuildKitMetadata: v02md, ImageDigest: "sha256:" + strings.Repeat("a", 64)}, "not the image", errkind.Input},
		{"metadata is not JSON", Inputs{Env: MapEnv(githubPushEnv()), BuildKitMetadata: []byte("containerimage.digest=sha256:1")}, "not a JSON object", errkind.Input},
		{"bake metadata", Inputs{Env: MapEnv(githubPushEnv()), BuildKitMetadata: []byte(`{"app": {"containerimage.digest": "sha256:1"}, "db": {"containerimage.digest": "sha256:2"}}`)}, "bake file with targets app, db", errkind.Input},
		{"both metadata and index", Inputs{Env: MapEnv(githubPushEnv()), BuildKitMetadata: v02md, InIndex: &Attestation{}}, "use one", errkind.Input},
		{"provenance that is not provenance", Inputs{Env: MapEnv(githubPushEnv()), BuildKitMetadata: []byte(`{"containerimage.digest": "sha256:1", "buildx.build.provenance": {"hello": "world"}}`)}, "buildType is missing", errkind.Input},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Now = fixedNow
			_, err := Generate(context.Background(), tc.in)
			if err == nil {
				t.Fatalf("Generate succeeded, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if k, _ := errkind.Of(err); k != tc.kind {
				t.Errorf("error kind %v, want %v", k, tc.kind)
			}
		})
	}
}

func without(env map[string]string, names ...string) map[string]string {
	out := maps.Clone(env)
	for _, n := range names {
		delete(out, n)
	}
	return out
}

// TestBuilderIDOverride: --builder-id wins over the CI's builder, and the
// predicate says the caller chose it.
func TestBuilderIDOverride(t *testing.T) {
	doc := decode(t, generateJSON(t, Inputs{Env: MapEnv(githubPushEnv()), BuilderID: "https://builders.acme.example/gha", Now: fixedNow}))
	if id, _ := lookup(doc, "runDetails.builder.id"); id != "https://builders.acme.example/gha" {
		t.Errorf("builder.id = %v", id)
	}
	if s, _ := lookup(doc, `buildDefinition.internalParameters["imgsign.dev/factSources"]["builder.id"]`); s != SourceCaller {
		t.Errorf("factSources[builder.id] = %v, want %s", s, SourceCaller)
	}
}

// TestOIDCClaimsWin: with a token, the claims are the facts even where the
// environment says otherwise, and the predicate says they are unverified;
// with a TokenVerifier they are "verified-oidc".
func TestOIDCClaimsWin(t *testing.T) {
	env := githubPushEnv()
	env["GITHUB_SHA"] = strings.Repeat("f", 40) // a tampered environment
	env["GITHUB_SERVER_URL"] = "https://evil.example"
	tokens := &staticTokens{token: fakeJWT(t, githubClaims())}
	doc := decode(t, generateJSON(t, Inputs{Env: MapEnv(env), Tokens: tokens, Now: fixedNow}))
	if tokens.audience != DefaultAudience {
		t.Errorf("token requested for audience %q, want %q", tokens.audience, DefaultAudience)
	}
	if got, _ := lookup(doc, "buildDefinition.resolvedDependencies.0.digest.gitCommit"); got != pushSHA {
		t.Errorf("source commit = %v, want the claim %s", got, pushSHA)
	}
	if got, _ := lookup(doc, "runDetails.builder.id"); got != "https://github.com/acme/workflows/.github/workflows/build-image.yml@refs/tags/v2.1.0" {
		t.Errorf("builder.id = %v, want the job_workflow_ref claim on the issuer's server", got)
	}
	if got, _ := lookup(doc, `buildDefinition.internalParameters["imgsign.dev/factsSource"]`); got != SourceUnverifiedOIDC {
		t.Errorf("factsSource = %v, want %s", got, SourceUnverifiedOIDC)
	}

	verified := decode(t, generateJSON(t, Inputs{Env: MapEnv(env), Tokens: tokens, Verifier: claimsVerifier{}, Now: fixedNow}))
	if got, _ := lookup(verified, `buildDefinition.internalParameters["imgsign.dev/factsSource"]`); got != SourceVerifiedOIDC {
		t.Errorf("with a verifier factsSource = %v, want %s", got, SourceVerifiedOIDC)
	}

	// A claim missing from the token falls back to the environment, and
	// the fact that used it says so.
	claims := githubClaims()
	delete(claims, "run_attempt")
	doc = decode(t, generateJSON(t, Inputs{Env: MapEnv(githubPushEnv()), Tokens: &staticTokens{token: fakeJWT(t, claims)}, Now: fixedNow}))
	if got, _ := lookup(doc, `buildDefinition.internalParameters["imgsign.dev/factSources"].invocationId`); got != SourceEnvironment {
		t.Errorf("invocationId source = %v, want %s", got, SourceEnvironment)
	}
	if got, _ := lookup(doc, `buildDefinition.internalParameters["imgsign.dev/factsSource"]`); got != SourceEnvironment {
		t.Errorf("factsSource = %v, want %s (the weakest fact)", got, SourceEnvironment)
	}
}

// claimsVerifier stands in for a JWKS-backed verifier.
type claimsVerifier struct{}

func (claimsVerifier) Verify(_ context.Context, raw, _ string) (Claims, error) {
	return ParseClaimsUnverified(raw)
}

// TestMergeKeepsBuildKitSourceOnce: when BuildKit already lists the CI's
// commit (a build from a git context), it is not added a second time.
func TestMergeKeepsBuildKitSourceOnce(t *testing.T) {
	doc := decode(t, generateJSON(t, Inputs{Env: MapEnv(githubTagEnv()), BuildKitMetadata: readFixture(t, "buildkit-v1.metadata.json"), Platform: "linux/arm64", Now: fixedNow}))
	deps, _ := lookup(doc, "buildDefinition.resolvedDependencies")
	n := 0
	for _, d := range deps.([]any) {
		dm := d.(map[string]any)["digest"].(map[string]any)
		if dm["sha1"] == pushSHA || dm["gitCommit"] == pushSHA {
			n++
		}
	}
	if n != 1 {
		t.Errorf("source commit listed %d times, want once", n)
	}
	// And with a local context (v0.2 fixture) it is added, first.
	doc = decode(t, generateJSON(t, Inputs{Env: MapEnv(githubPushEnv()), BuildKitMetadata: readFixture(t, "buildkit-v02.metadata.json"), Now: fixedNow}))
	if got, _ := lookup(doc, "buildDefinition.resolvedDependencies.0.uri"); got != "git+https://github.com/acme/app@refs/heads/main" {
		t.Errorf("first dependency = %v, want the CI's commit", got)
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": ModeMax, "max": ModeMax, "min": ModeMin} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseMode("MAX"); err == nil {
		t.Error(`ParseMode("MAX") succeeded`)
	}
}
