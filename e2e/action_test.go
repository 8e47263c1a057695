package e2e

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/imgsign/imgsign/internal/testing/actionharness"
	"github.com/imgsign/imgsign/internal/testing/testenv"
)

const (
	predSign       = "https://sigstore.dev/cosign/sign/v1"
	predSLSA       = "https://slsa.dev/provenance/v1"
	predSPDX       = "https://spdx.dev/Document"
	predCycloneDX  = "https://cyclonedx.org/bom"
	harnessBuilder = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
)

// The workflows lint clean, and actionlint really checks `uses: ./` inputs
// against action.yml (it cannot lint action.yml itself). With shellcheck on
// PATH, actionlint also checks the workflows' scripts, and this test checks
// action.yml's.
func TestActionLint(t *testing.T) {
	bin := testenv.Tool(t, "actionlint")
	root := actRoot(t)
	var files []string
	for _, dir := range []string{".github/workflows", "examples/workflows"} {
		m, err := filepath.Glob(filepath.Join(root, dir, "*.yml"))
		if err != nil || len(m) == 0 {
			t.Fatalf("no workflows in %s: %v", dir, err)
		}
		for _, f := range m {
			rel, _ := filepath.Rel(root, f)
			files = append(files, rel)
		}
	}
	for _, want := range []string{".github/workflows/imgsign.yml", "examples/workflows/build-sign-attest.yml", "examples/workflows/deploy-verify.yml", "examples/workflows/rotate-keys.yml"} {
		if !actContains(files, want) {
			t.Errorf("%s is missing", want)
		}
	}
	r := testenv.Run(t, root, nil, bin, append([]string{"-no-color"}, files...)...)
	if r.Code != 0 {
		t.Fatalf("actionlint %v: exit %d\n%s%s", files, r.Code, r.Stdout, r.Stderr)
	}

	// A workflow passing an input action.yml does not declare is caught.
	// (actionlint finds the project root, and so action.yml, by its .git.)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	action, err := os.ReadFile(filepath.Join(root, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	actWrite(t, filepath.Join(dir, "action.yml"), string(action))
	actWrite(t, filepath.Join(dir, ".github", "workflows", "bad.yml"), `on: push
jobs:
  sign:
    runs-on: ubuntu-latest
    steps:
      - uses: ./
        with:
          image: ghcr.io/acme/app
          signing-key: oops
`)
	r = testenv.Run(t, dir, nil, bin, "-no-color", ".github/workflows/bad.yml")
	if r.Code == 0 || !strings.Contains(r.Stdout, `input "signing-key" is not defined`) {
		t.Errorf("actionlint accepted an undeclared input: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Log("shellcheck not on PATH: action.yml's scripts not shellchecked")
		return
	}
	a, err := actionharness.LoadAction(root)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range a.Runs.Steps {
		if s.Run == "" {
			continue
		}
		p := actWrite(t, filepath.Join(t.TempDir(), "step.sh"), "#!/bin/bash\n"+s.Run)
		if r := testenv.Run(t, dir, nil, sc, "-s", "bash", p); r.Code != 0 {
			t.Errorf("action.yml step %d (%s): shellcheck:\n%s", i+1, s.Name, r.Stdout)
		}
	}
}

// The example workflows are paste-ready for another repository: every use
// of imgsign names imgsign/imgsign at a ref, none is a local path (which
// would be the user's own repository).
func TestActionExamplesPasteReady(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(actRoot(t), "examples", "workflows", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no example workflows: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		imgsign := 0
		for i, line := range strings.Split(string(b), "\n") {
			uses, ok := strings.CutPrefix(strings.TrimLeft(strings.TrimSpace(line), "- "), "uses:")
			if !ok {
				continue
			}
			uses = strings.TrimSpace(uses)
			if strings.HasPrefix(uses, ".") {
				t.Errorf("%s:%d: uses: %s is a path in the user's repository", filepath.Base(f), i+1, uses)
			}
			if strings.HasPrefix(uses, "imgsign/imgsign") {
				imgsign++
				if name, ref, ok := strings.Cut(uses, "@"); !ok || ref == "" || (name != "imgsign/imgsign" && name != "imgsign/imgsign/.github/workflows/imgsign.yml") {
					t.Errorf("%s:%d: uses: %s, want imgsign/imgsign@REF", filepath.Base(f), i+1, uses)
				}
			}
		}
		if imgsign == 0 {
			t.Errorf("%s does not use imgsign/imgsign", filepath.Base(f))
		}
	}
}

// actUses finds the step of the action (or of a job's nested action) that
// uses a remote action.
func actUses(res *actionharness.Result, uses string) *actionharness.StepResult {
	var find func([]*actionharness.StepResult) *actionharness.StepResult
	find = func(steps []*actionharness.StepResult) *actionharness.StepResult {
		for _, s := range steps {
			if s.Uses == uses {
				return s
			}
			if f := find(s.Steps); f != nil {
				return f
			}
		}
		return nil
	}
	return find(res.Steps)
}

func actContains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// TestAction runs action.yml, the reusable workflow and the example
// workflows through the harness against a local registry. The subtests
// share one RUNNER_TEMP, as the steps of one job do, so imgsign is built
// once (by install-only) and reused.
func TestAction(t *testing.T) {
	temp := t.TempDir()
	host := testenv.Registry(t, true).Addr

	t.Run("install-only", func(t *testing.T) {
		r := newActRunner(t, temp, "")
		res := runAct(t, r, map[string]string{"install-only": "true"})
		actMustSucceed(t, res)
		bin := filepath.Join(temp, "imgsign-bin", "imgsign")
		if res.Outputs["imgsign"] != bin {
			t.Errorf("output imgsign = %q, want %s", res.Outputs["imgsign"], bin)
		}
		if _, err := os.Stat(bin); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(res.Log, "imgsign: reusing") {
			t.Error("a fresh RUNNER_TEMP reused an imgsign binary")
		}
		// Only imgsign's directory: the Go that built it is not left on
		// the job's PATH.
		if len(res.Path) != 1 || res.Path[0] != filepath.Dir(bin) {
			t.Errorf("GITHUB_PATH additions %v, want %s", res.Path, filepath.Dir(bin))
		}
		if s := res.Step("resolve"); s == nil || s.Outcome != "skipped" {
			t.Errorf("resolve step %+v, want skipped", s)
		}
		key := res.Step("bin").Outputs["key"]
		if !strings.HasPrefix(key, "imgsign-bin-Linux-") || res.Step("bin").Outputs["dir"] != filepath.Dir(bin) {
			t.Errorf("bin step outputs %+v", res.Step("bin").Outputs)
		}
		if s := res.Step("toolchain"); s.Outputs["build"] != "true" || s.Outputs["setup-go"] != "false" {
			t.Errorf("toolchain step outputs %+v, want a build with the runner's Go", s.Outputs)
		}
		// The cache is a remote action: skipped, loudly, with its with:
		// evaluated. setup-go does not run: this runner has a Go.
		cache, setup := actUses(res, "actions/cache@v5"), actUses(res, "actions/setup-go@v6")
		if cache == nil || !strings.Contains(res.Log, "[harness] skip uses: actions/cache@v5") || cache.With["key"] != key || cache.With["path"] != filepath.Dir(bin) {
			t.Errorf("cache step %+v", cache)
		}
		if setup == nil || setup.Outcome != "skipped" || strings.Contains(res.Log, "skip uses: actions/setup-go") {
			t.Errorf("setup-go step %+v, want skipped by its if:", setup)
		}
	})

	// What actions/cache restores is the binary and the key it was built
	// for: a later run with the same action source uses it and needs no Go
	// at all; a run without a binary on a runner without Go gets setup-go.
	t.Run("cached binary", func(t *testing.T) {
		t.Parallel()
		restored := t.TempDir()
		for _, f := range []string{"imgsign", "imgsign.key"} {
			b, err := os.ReadFile(filepath.Join(temp, "imgsign-bin", f))
			if err != nil {
				t.Fatal(err)
			}
			actWrite(t, filepath.Join(restored, "imgsign-bin", f), string(b))
			if err := os.Chmod(filepath.Join(restored, "imgsign-bin", f), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		r := newActRunner(t, restored, "")
		r.Env["PATH"] = actPathWithoutGo(t)
		res := runAct(t, r, map[string]string{"install-only": "true"})
		actMustSucceed(t, res)
		if !strings.Contains(res.Log, "imgsign: reusing") || res.Step("toolchain").Outputs["build"] != "false" {
			t.Errorf("the restored binary was not used:\n%s", res.Log)
		}
		if s := actUses(res, "actions/setup-go@v6"); s == nil || s.Outcome != "skipped" {
			t.Errorf("setup-go step %+v, want skipped", s)
		}

		r = newActRunner(t, t.TempDir(), "")
		r.Env["PATH"] = actPathWithoutGo(t)
		res = runAct(t, r, map[string]string{"install-only": "true"})
		if s := res.Step("toolchain"); s.Outputs["build"] != "true" || s.Outputs["setup-go"] != "true" {
			t.Errorf("toolchain step outputs %+v on a runner without Go", s.Outputs)
		}
		setup := actUses(res, "actions/setup-go@v6")
		if setup == nil || setup.Skipped != "uses: actions/setup-go@v6" || setup.With["go-version-file"] != filepath.Join(actRoot(t), "go.mod") || setup.With["cache"] != "false" {
			t.Errorf("setup-go step %+v, want it run", setup)
		}
	})

	// The cache key follows the action's Go source: an unchanged source
	// reuses the binary, a changed one builds anew.
	t.Run("key follows the source", func(t *testing.T) {
		t.Parallel()
		action, err := os.ReadFile(filepath.Join(actRoot(t), "action.yml"))
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		actWrite(t, filepath.Join(dir, "action.yml"), string(action))
		actWrite(t, filepath.Join(dir, "go.mod"), "module example.com/fake\n\ngo 1.21\n")
		main := filepath.Join(dir, "cmd", "imgsign", "main.go")
		actWrite(t, main, "package main\n\nfunc main() { println(\"imgsign one\") }\n")
		temp := t.TempDir()
		run := func() *actionharness.Result {
			t.Helper()
			r := newActRunner(t, temp, "")
			res, err := r.RunAction(actContext(t), dir, map[string]string{"install-only": "true"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			actMustSucceed(t, res)
			return res
		}
		first, again := run(), run()
		if strings.Contains(first.Log, "imgsign: reusing") || !strings.Contains(again.Log, "imgsign: reusing") ||
			first.Step("bin").Outputs["key"] != again.Step("bin").Outputs["key"] {
			t.Errorf("same source: keys %q, %q; second run did not reuse:\n%s", first.Step("bin").Outputs["key"], again.Step("bin").Outputs["key"], again.Log)
		}
		actWrite(t, main, "package main\n\nfunc main() { println(\"imgsign two\") }\n")
		changed := run()
		if changed.Step("bin").Outputs["key"] == first.Step("bin").Outputs["key"] || strings.Contains(changed.Log, "imgsign: reusing") || !strings.Contains(changed.Log, "imgsign two") {
			t.Errorf("changed source: key %q (was %q)\n%s", changed.Step("bin").Outputs["key"], first.Step("bin").Outputs["key"], changed.Log)
		}
	})

	t.Run("sign-attest", func(t *testing.T) {
		t.Parallel()
		actSignAttest(t, temp, host)
	})
	t.Run("metadata", func(t *testing.T) {
		t.Parallel()
		actMetadataInput(t, temp, host)
	})
	t.Run("verify", func(t *testing.T) {
		t.Parallel()
		actVerify(t, temp, host)
	})
	t.Run("bad-inputs", func(t *testing.T) {
		t.Parallel()
		actBadInputs(t, temp, host)
	})
	t.Run("reusable-workflow", func(t *testing.T) {
		t.Parallel()
		actReusableWorkflow(t, temp, host)
	})
	t.Run("examples", func(t *testing.T) {
		t.Parallel()
		actExamples(t, temp, host)
	})
	t.Run("keyless", func(t *testing.T) {
		t.Parallel()
		actKeyless(t, temp, host)
	})
	t.Run("reusable-workflow-keyless", func(t *testing.T) {
		t.Parallel()
		actReusableWorkflowKeyless(t, temp, host)
	})
}

// Sign + provenance + SBOM: outputs, the referrers in the registry, the
// summary table, and the key never left on disk or in the log.
func actSignAttest(t *testing.T, temp, host string) {
	spdx := `{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"from-syft","documentNamespace":"https://example.com/sbom/1","creationInfo":{"created":"2026-11-20T10:16:40Z","creators":["Tool: syft"]},"packages":[]}`
	tests := []struct {
		name   string
		inputs func(pem, keyPath, sbomPath string) map[string]string
		want   map[string]string // output → predicate type
	}{
		{"PEM content from a secret", func(pem, _, _ string) map[string]string {
			return map[string]string{"key": pem, "password": passphrase}
		}, map[string]string{"signature": predSign, "provenance": predSLSA, "sbom": predSPDX}},
		{"key file, min provenance, CycloneDX", func(_, keyPath, _ string) map[string]string {
			return map[string]string{"key": keyPath, "password": passphrase, "provenance": "min", "sbom": "cyclonedx"}
		}, map[string]string{"signature": predSign, "provenance": predSLSA, "sbom": predCycloneDX}},
		{"existing SBOM only", func(pem, _, sbomPath string) map[string]string {
			return map[string]string{"key": pem, "password": passphrase, "sign": "false", "provenance": "false", "sbom": sbomPath}
		}, map[string]string{"sbom": predSPDX}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			pem, keyID := actKey(t, e, "ci")
			sbomPath := e.write("sbom.spdx.json", spdx)
			repo := "sign/app" + string(rune('a'+i))
			d := testenv.PushImage(t, host, repo, "1.0")
			image := host + "/" + repo
			r := newActRunner(t, temp, "")
			in := tt.inputs(pem, filepath.Join(e.dir, "ci.key"), sbomPath)
			in["image"], in["digest"] = image, d.String()
			res := runAct(t, r, in)
			actMustSucceed(t, res)
			t.Logf("job summary:\n%s", res.Summary)

			ref := image + "@" + d.String()
			if res.Outputs["digest"] != d.String() || res.Outputs["reference"] != ref {
				t.Errorf("outputs digest %q reference %q, want %s", res.Outputs["digest"], res.Outputs["reference"], ref)
			}
			tree := actTree(t, e, ref)
			if len(tree) != len(tt.want) {
				t.Errorf("%d referrers attached, want %d: %+v", len(tree), len(tt.want), tree)
			}
			var attestations []string
			for _, out := range []string{"signature", "provenance", "sbom"} {
				got := res.Outputs[out]
				pt, wanted := tt.want[out]
				if !wanted {
					if got != "" {
						t.Errorf("output %s = %q, want none", out, got)
					}
					continue
				}
				a, ok := tree[got]
				if !ok {
					t.Errorf("output %s = %q is not a referrer of %s", out, got, ref)
					continue
				}
				if a.PredicateType != pt || a.KeyID != keyID {
					t.Errorf("%s referrer %s: predicate type %s key %s, want %s %s", out, got, a.PredicateType, a.KeyID, pt, keyID)
				}
				if out != "signature" {
					attestations = append(attestations, got)
				}
				row := "| `" + d.String() + "` | " + out + " | `" + pt + "` | `" + got + "` | `" + keyID + "` |"
				if !strings.Contains(res.Summary, row) {
					t.Errorf("summary lacks the row %s:\n%s", row, res.Summary)
				}
			}
			var listed []string
			if err := json.Unmarshal([]byte(res.Outputs["attestations"]), &listed); err != nil {
				t.Fatalf("attestations output %q: %v", res.Outputs["attestations"], err)
			}
			sort.Strings(listed)
			sort.Strings(attestations)
			if strings.Join(listed, ",") != strings.Join(attestations, ",") {
				t.Errorf("attestations output %v, want %v", listed, attestations)
			}
			if !strings.Contains(res.Summary, "### imgsign: signed and attested `"+ref+"`") {
				t.Errorf("summary has no heading:\n%s", res.Summary)
			}

			resolve := res.Step("resolve")
			if keyfile := resolve.Outputs["keyfile"]; keyfile != "" {
				if _, err := os.Stat(keyfile); !os.IsNotExist(err) {
					t.Errorf("the key written from the secret is still at %s (%v)", keyfile, err)
				}
			} else if in["key"] == pem {
				t.Error("PEM content was not written to a key file")
			}
			if strings.Contains(res.Log, "PRIVATE KEY") || strings.Contains(res.Log, passphrase) {
				t.Error("the key or its passphrase reached the log")
			}
			// Without BuildKit's metadata no build argument is recorded.
			for _, a := range res.Annotations {
				if a.Level == "warning" {
					t.Errorf("unexpected warning %+v", a)
				}
			}
		})
	}

	// The provenance is GitHub's workflow build type from the job's
	// environment, and a policy over all three accepts the image.
	t.Run("policy over the attestations", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		pem, _ := actKey(t, e, "ci")
		d := testenv.PushImage(t, host, "sign/policy", "1.0")
		ref := host + "/sign/policy@" + d.String()
		res := runAct(t, newActRunner(t, temp, ""), map[string]string{"image": host + "/sign/policy", "digest": d.String(), "key": pem, "password": passphrase})
		actMustSucceed(t, res)
		pol := e.write("trust.yaml", `version: 1
keys:
  - name: ci
    publicKey: ci.pub
policies:
  - name: p
    scopes: ["`+host+`/sign/**"]
    signatures:
      keys: [ci]
    attestations:
      - type: https://slsa.dev/provenance/v1
        keys: [ci]
        builderId: `+harnessBuilder+`
        sourceRepository: github.com/acme/app
        buildType: https://actions.github.io/buildtypes/workflow/v1
      - type: https://spdx.dev/Document
        keys: [ci]
`)
		if r := e.run("verify", "--policy", pol, ref); r.Code != 0 {
			t.Errorf("verify: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
	})
}

// The metadata input: build-push-action's JSON output or a metadata file
// path; the digest and image come from it and BuildKit's provenance is
// merged into the signed provenance.
func actMetadataInput(t *testing.T, temp, host string) {
	for i, tt := range []struct {
		name string
		file bool
	}{{"build-push-action output", false}, {"buildx metadata file", true}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			pem, _ := actKey(t, e, "ci")
			repo := "meta/app" + string(rune('a'+i))
			d := testenv.PushImage(t, host, repo, "1.0")
			md := actMetadata(t, host+"/"+repo, d.String(), "1.0", "latest")
			r := newActRunner(t, temp, "")
			value := md
			if tt.file {
				actWrite(t, filepath.Join(r.Workspace, "build", "metadata.json"), md)
				value = "build/metadata.json" // relative to the workspace
			}
			res := runAct(t, r, map[string]string{"metadata": value, "key": pem, "password": passphrase, "sbom": "false"})
			actMustSucceed(t, res)
			// provenance: max (the default) with BuildKit's metadata says
			// the build arguments are recorded, by name only.
			var warned bool
			for _, a := range res.Annotations {
				if a.Level == "warning" && strings.Contains(a.Message, "provenance: max records the image's build arguments (BUILDKIT_CONTEXT_KEEP_GIT_DIR, GO_VERSION)") &&
					strings.Contains(a.Message, "secret mounts") {
					warned = true
				}
			}
			if !warned {
				t.Errorf("no build-argument warning: %+v", res.Annotations)
			}
			ref := host + "/" + repo + "@" + d.String()
			if res.Outputs["digest"] != d.String() || res.Outputs["reference"] != ref {
				t.Errorf("outputs digest %q reference %q, want %s", res.Outputs["digest"], res.Outputs["reference"], ref)
			}
			if res.Outputs["signature"] == "" || res.Outputs["provenance"] == "" || res.Outputs["sbom"] != "" {
				t.Errorf("outputs %v", res.Outputs)
			}
			pol := e.write("trust.yaml", `version: 1
keys:
  - name: ci
    publicKey: ci.pub
policies:
  - name: p
    scopes: ["`+host+`/meta/**"]
    signatures:
      keys: [ci]
    attestations:
      - type: https://slsa.dev/provenance/v1
        keys: [ci]
        builderId: `+harnessBuilder+`
        buildType: https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md
        conditions:
          - predicate.buildDefinition.resolvedDependencies.exists(d, d.uri.startsWith("pkg:docker/golang@1.23-alpine"))
`)
			if r := e.run("verify", "--policy", pol, host+"/"+repo+":1.0"); r.Code != 0 {
				t.Errorf("verify: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
			}
		})
	}
}

// The policy input: signing then verifying in one run, verify-only runs
// that pass (by digest, by tag) and that fail the step.
func actVerify(t *testing.T, temp, host string) {
	e := newEnv(t)
	pem, keyID := actKey(t, e, "ci")
	actKey(t, e, "other")
	d := testenv.PushImage(t, host, "verify/app", "1.0")
	image := host + "/verify/app"
	ref := image + "@" + d.String()
	policy := func(name, keyName, builder, scope string) string {
		return e.write(name, `version: 1
keys:
  - name: ci
    publicKey: ci.pub
  - name: other
    publicKey: other.pub
policies:
  - name: release
    scopes: ["`+scope+`"]
    signatures:
      keys: [`+keyName+`]
    attestations:
      - type: https://slsa.dev/provenance/v1
        keys: [ci]
        builderId: `+builder+`
      - type: https://spdx.dev/Document
        keys: [ci]
`)
	}
	pass := policy("pass.yaml", "ci", harnessBuilder, host+"/verify/**")

	res := runAct(t, newActRunner(t, temp, ""), map[string]string{"image": image, "digest": d.String(), "key": pem, "password": passphrase, "policy": pass})
	actMustSucceed(t, res)
	if res.Outputs["verdict"] != "pass" || res.Outputs["reference"] != ref {
		t.Errorf("sign+verify outputs %v", res.Outputs)
	}
	for _, want := range []string{"### imgsign: signed and attested", "### imgsign verify: PASS", "```text\nPASS  " + ref, keyID[:12]} {
		if !strings.Contains(res.Summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, res.Summary)
		}
	}

	tests := []struct {
		name, image, digest, policy string
		pass                        bool
		summary                     string
	}{
		{"by digest", image, d.String(), pass, true, "✓ signatures: 1 of 1"},
		{"by tag: the digest comes from verify", image + ":1.0", "", pass, true, "PASS  " + ref},
		{"another key required", image, d.String(), policy("other-key.yaml", "other", harnessBuilder, host+"/verify/**"), false, "✗ signatures: only 0 of 1"},
		{"provenance from another builder", image, d.String(), policy("builder.yaml", "ci", "https://github.com/evil/app/.github/workflows/x.yml@refs/heads/main", host+"/verify/**"), false, "✗ attestation https://slsa.dev/provenance/v1"},
		{"no scope matches", image, d.String(), policy("scope.yaml", "ci", harnessBuilder, "registry.example.com/**"), false, "FAIL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := runAct(t, newActRunner(t, temp, ""), map[string]string{"image": tt.image, "digest": tt.digest, "policy": tt.policy})
			t.Logf("job summary:\n%s", res.Summary)
			if sign := res.Step("sign"); sign == nil || sign.Outcome != "skipped" {
				t.Errorf("a verify-only run signed: %+v", sign)
			}
			if !strings.Contains(res.Summary, tt.summary) {
				t.Errorf("summary lacks %q:\n%s", tt.summary, res.Summary)
			}
			if tt.pass {
				actMustSucceed(t, res)
				if res.Outputs["verdict"] != "pass" || res.Outputs["reference"] != ref || res.Outputs["digest"] != d.String() {
					t.Errorf("outputs %v, want reference %s", res.Outputs, ref)
				}
				if !strings.Contains(res.Summary, "### imgsign verify: PASS") {
					t.Errorf("summary:\n%s", res.Summary)
				}
				return
			}
			actMustFail(t, res)
			if v := res.Step("verify"); v == nil || v.Outcome != "failure" || v.Outputs["verdict"] != "fail" {
				t.Errorf("verify step %+v, want a failure with verdict fail", v)
			}
			if res.Outputs["verdict"] != "fail" {
				t.Errorf("verdict output %q", res.Outputs["verdict"])
			}
			if !strings.Contains(res.Summary, "### imgsign verify: FAIL: not trusted under the policy") {
				t.Errorf("summary:\n%s", res.Summary)
			}
			if !actAnnotated(res, "FAIL: not trusted under the policy") {
				t.Errorf("no error annotation: %+v", res.Annotations)
			}
		})
	}
}

// Bad inputs fail the action with one clear ::error before anything is
// attached; a key given as something else is never echoed.
func actBadInputs(t *testing.T, temp, host string) {
	e := newEnv(t)
	pem, _ := actKey(t, e, "ci")
	d := testenv.PushImage(t, host, "bad/app", "1.0")
	d2 := testenv.PushImage(t, host, "bad/app", "2.0")
	image := host + "/bad/app"
	base := func(kv ...string) map[string]string {
		m := map[string]string{"image": image, "digest": d.String(), "key": pem, "password": passphrase}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	noKey := base("key", "")
	bake := `{"app": {"containerimage.digest": "` + d.String() + `"}, "db": {"containerimage.digest": "` + d2.String() + `"}}`
	tests := []struct {
		name   string
		inputs map[string]string
		want   string
	}{
		{"tag while signing", base("image", image+":1.0", "digest", ""), "no digest: pass digest, metadata or image@sha256"},
		{"no key and no policy", noKey, "no signing key: set key"},
		{"two keys", base("kms", "hashivault://release"), "set only one of key, kms and pkcs11"},
		{"malformed digest", base("digest", "sha256:1234"), "digest must be sha256: and 64 hex digits"},
		{"image digest disagrees", base("image", image+"@"+d2.String()), "image names digest " + d2.String() + " but digest is"},
		{"bake metadata", base("image", "", "digest", "", "metadata", bake), "metadata describes 2 images"},
		{"metadata without a digest", base("metadata", `{"buildx.build.ref": "b/b0/x"}`), "metadata has no containerimage.digest"},
		{"metadata disagrees with digest", base("digest", d2.String(), "metadata", actMetadata(t, image, d.String(), "1.0")), "differs from the metadata's containerimage.digest"},
		{"metadata file missing", base("metadata", "build/nope.json"), "metadata is neither JSON nor an existing file"},
		{"unknown provenance mode", base("provenance", "full"), "provenance must be max, min or false"},
		{"sbom file missing", base("sbom", "nope.spdx.json"), "sbom must be spdx, cyclonedx, false or an existing SBOM file"},
		{"sign not a boolean", base("sign", "yes"), "sign must be true or false"},
		{"nothing to do", base("sign", "false", "provenance", "false", "sbom", "false"), "nothing to do"},
		{"key neither PEM nor a file", base("key", "s3cret-not-a-pem-key"), "key is neither PEM content nor an existing file"},
		{"wrong passphrase", base("password", "wrong"), "Process completed with exit code 2."},
		{"a value spanning lines", base("image", image+"\n::warning::injected"), "must be single-line values"},
		{"an error message spanning lines", base("sign", "x\n::warning::injected"), "sign must be true or false, not 'x ::warning::injected'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := runAct(t, newActRunner(t, temp, ""), tt.inputs)
			actMustFail(t, res)
			if !actAnnotated(res, tt.want) {
				t.Errorf("no error annotation containing %q: %+v\n%s", tt.want, res.Annotations, res.Log)
			}
			for _, a := range res.Annotations {
				if a.Level != "error" {
					t.Errorf("an input became a workflow command: %+v", a)
				}
			}
			if strings.Contains(res.Log, "s3cret") {
				t.Error("the key input was echoed")
			}
			// Whichever step failed, no key file is left behind.
			work := res.Step("resolve").Outputs["work"]
			if work == "" {
				t.Fatal("the resolve step did not name its work directory")
			}
			if _, err := os.Stat(filepath.Join(work, "signing.key")); !os.IsNotExist(err) {
				t.Errorf("key file left in %s (%v)", work, err)
			}
		})
	}
	t.Run("nothing attached", func(t *testing.T) {
		// Runs after the parallel cases above have finished.
		if tree := actTree(t, e, image+"@"+d.String()); len(tree) != 0 {
			t.Errorf("bad inputs attached %d referrers: %+v", len(tree), tree)
		}
	})
}

// oidcStub serves GitHub's OIDC token endpoint on loopback with an
// unsigned token carrying claims, and counts requests.
func oidcStub(t *testing.T, claims map[string]any) (*actionharness.IDToken, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	jwt := enc(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." + enc(claims) + "." + base64.RawURLEncoding.EncodeToString([]byte("unsigned"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer request-token" || r.URL.Query().Get("audience") != "imgsign" || r.URL.Query().Get("api-version") != "2.0" {
			http.Error(w, "bad token request", http.StatusUnauthorized)
			return
		}
		n.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]any{"count": len(jwt), "value": jwt})
	}))
	t.Cleanup(srv.Close)
	return &actionharness.IDToken{URL: srv.URL + "/token?api-version=2.0", RequestToken: "request-token"}, &n
}

// The reusable workflow's job: it learns its own repository and commit from
// the OIDC token, checks imgsign out at that commit, and signs with the
// provenance's builder being the reusable workflow (SLSA Build L3 shape).
func actReusableWorkflow(t *testing.T, temp, host string) {
	const (
		wfSHA     = "3c1b5e7d9f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c"
		callerSHA = "8f2c1e0b5d4a3f6e7c9b1a2d3e4f5a6b7c8d9e0f"
		jobRef    = "imgsign/imgsign/.github/workflows/imgsign.yml@refs/tags/v1.2.0"
	)
	e := newEnv(t)
	pem, _ := actKey(t, e, "ci")
	d := testenv.PushImage(t, host, "l3/app", "1.0")
	image := host + "/l3/app"
	token, requests := oidcStub(t, map[string]any{
		"iss": "https://token.actions.githubusercontent.com", "aud": "imgsign",
		"repository": "acme/app", "repository_id": "123456789", "repository_owner_id": "987654",
		"ref": "refs/tags/v1.0.0", "sha": callerSHA, "event_name": "push",
		"workflow_ref":     "acme/app/.github/workflows/release.yml@refs/tags/v1.0.0",
		"job_workflow_ref": jobRef, "job_workflow_sha": wfSHA,
		"run_id": "4242424242", "run_attempt": "1", "runner_environment": "github-hosted",
	})
	// The checkout of imgsign at wfSHA is this repository: the workspace.
	r := newActRunner(t, temp, actRoot(t))
	r.IDToken = token
	opts := actionharness.JobOptions{
		Inputs:  map[string]string{"image": image, "digest": d.String()},
		Secrets: map[string]string{"key": pem, "password": passphrase},
	}
	res := runActJob(t, r, ".github/workflows/imgsign.yml", "sign", opts)
	actMustSucceed(t, res)

	b := res.Step("builder")
	if b.Outputs["repository"] != "imgsign/imgsign" || b.Outputs["sha"] != wfSHA || b.Outputs["ref"] != jobRef || b.Outputs["registry"] != host {
		t.Errorf("builder step outputs %v", b.Outputs)
	}
	co := res.Steps[1]
	if co.Uses != "actions/checkout@v6" || co.With["repository"] != "imgsign/imgsign" || co.With["ref"] != wfSHA || co.With["persist-credentials"] != "false" {
		t.Errorf("checkout step %+v", co)
	}
	for _, s := range res.Steps[2:4] {
		if s.Outcome != "skipped" {
			t.Errorf("step %q ran: %+v", s.Name, s)
		}
	}
	if s := actUses(res, "actions/cache@v5"); s == nil || s.Outcome != "skipped" {
		t.Errorf("the binary cache step ran in the signing job: %+v", s)
	}
	ref := image + "@" + d.String()
	if res.WorkflowOutputs["reference"] != ref || res.WorkflowOutputs["signature"] == "" || res.WorkflowOutputs["provenance"] == "" || res.WorkflowOutputs["sbom"] == "" {
		t.Errorf("workflow outputs %v", res.WorkflowOutputs)
	}
	if requests.Load() < 2 {
		t.Errorf("%d OIDC token requests, want the builder step's and imgsign's", requests.Load())
	}
	pol := e.write("trust.yaml", `version: 1
keys:
  - name: ci
    publicKey: ci.pub
policies:
  - name: p
    scopes: ["`+host+`/l3/**"]
    signatures:
      keys: [ci]
    attestations:
      - type: https://slsa.dev/provenance/v1
        keys: [ci]
        builderId: https://github.com/`+jobRef+`
        sourceRepository: github.com/acme/app
        sourceRef: refs/tags/v*
      - type: https://spdx.dev/Document
        keys: [ci]
`)
	if r := e.run("verify", "--policy", pol, ref); r.Code != 0 {
		t.Errorf("verify with the reusable workflow as builder: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	// A caller that does not grant id-token: write gets a clear failure
	// before anything is built or signed.
	t.Run("without id-token", func(t *testing.T) {
		r := newActRunner(t, temp, actRoot(t))
		res := runActJob(t, r, ".github/workflows/imgsign.yml", "sign", opts)
		actMustFail(t, res)
		if !actAnnotated(res, "must grant 'permissions: id-token: write'") {
			t.Errorf("annotations %+v", res.Annotations)
		}
		if s := res.Step("imgsign"); s.Outcome != "skipped" {
			t.Errorf("imgsign ran: %+v", s)
		}
	})
}

// The example workflows run through the harness: remote actions skipped
// with their outputs given, `uses: ./` running action.yml, kubectl and gh
// replaced by stubs that record what they were asked to do.
func actExamples(t *testing.T, temp, host string) {
	t.Run("build-sign-attest", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		pem, keyID := actKey(t, e, "ci")
		d := testenv.PushImage(t, host, "ex/app", "main")
		r := newActRunner(t, temp, "")
		r.Secrets = map[string]string{"IMGSIGN_KEY": pem, "IMGSIGN_PASSWORD": passphrase}
		r.UsesOutputs = map[string]map[string]string{"build": {"digest": d.String(), "metadata": actMetadata(t, host+"/ex/app", d.String(), "main")}}
		res := runActJob(t, r, "examples/workflows/build-sign-attest.yml", "build", actionharness.JobOptions{})
		actMustSucceed(t, res)
		ref := host + "/ex/app@" + d.String()
		if res.Outputs["reference"] != ref {
			t.Errorf("job output reference %q, want %s", res.Outputs["reference"], ref)
		}
		if got := res.Step("image").Outputs["name"]; got != "ghcr.io/acme/app" {
			t.Errorf("image name %q", got)
		}
		tree := actTree(t, e, ref)
		types := map[string]bool{}
		for _, a := range tree {
			types[a.PredicateType] = a.KeyID == keyID
		}
		if len(tree) != 3 || !types[predSign] || !types[predSLSA] || !types[predSPDX] {
			t.Errorf("attached %+v", tree)
		}
		if !strings.Contains(res.Summary, "Deploy `"+ref+"`.") {
			t.Errorf("summary:\n%s", res.Summary)
		}
	})

	t.Run("build-sign-l3", func(t *testing.T) {
		t.Parallel()
		r := newActRunner(t, temp, "")
		r.UsesOutputs = map[string]map[string]string{"build": {"digest": "sha256:" + strings.Repeat("ab", 32)}}
		res := runActJob(t, r, "examples/workflows/build-sign-l3.yml", "build", actionharness.JobOptions{})
		actMustSucceed(t, res)
		if res.Outputs["image"] != "ghcr.io/acme/app" || res.Outputs["digest"] != "sha256:"+strings.Repeat("ab", 32) {
			t.Errorf("build job outputs %v", res.Outputs)
		}
		// The sign job is the reusable workflow, run by reusable-workflow.
		wf, err := actionharness.LoadWorkflow(filepath.Join(actRoot(t), "examples/workflows/build-sign-l3.yml"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.RunJob(actContext(t), wf, "sign", actionharness.JobOptions{}); err == nil || !strings.Contains(err.Error(), "imgsign/imgsign/.github/workflows/imgsign.yml@v1") {
			t.Errorf("running the reusable-workflow job: %v", err)
		}
	})

	t.Run("deploy-verify", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		actKey(t, e, "ci")
		signed := testenv.PushImage(t, host, "deploy/app", "1.0")
		e.must("sign", "--key", "ci.key", host+"/deploy/app:1.0")
		testenv.PushImage(t, host, "deploy/app", "unsigned")
		for _, tt := range []struct {
			tag  string
			pass bool
		}{{"1.0", true}, {"unsigned", false}} {
			t.Run(tt.tag, func(t *testing.T) {
				ws := t.TempDir()
				actCopyPub(t, e, "ci", filepath.Join(ws, "deploy"))
				actWrite(t, filepath.Join(ws, "deploy", "trust.yaml"), `version: 1
keys:
  - name: ci
    publicKey: ci.pub
policies:
  - name: deploy
    scopes: ["`+host+`/deploy/**"]
    signatures:
      keys: [ci]
`)
				actWrite(t, filepath.Join(ws, "deploy", "deployment.yaml"), "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: IMAGE_REFERENCE\n")
				stubs, record := t.TempDir(), filepath.Join(t.TempDir(), "kubectl.log")
				actStub(t, stubs, "kubectl", `{
  echo "kubectl $* (KUBECONFIG: $(cat "$KUBECONFIG"))"
  if [ "$1" = apply ]; then cat "$3"; fi
} >> "`+record+`"
`)
				r := newActRunner(t, temp, ws)
				r.Env["PATH"] = stubs + string(os.PathListSeparator) + r.Env["PATH"]
				r.Secrets = map[string]string{"KUBECONFIG": "apiVersion: v1\nkind: Config"}
				res := runActJob(t, r, "examples/workflows/deploy-verify.yml", "deploy", actionharness.JobOptions{Inputs: map[string]string{"image": host + "/deploy/app:" + tt.tag}})
				log, _ := os.ReadFile(record)
				if !tt.pass {
					actMustFail(t, res)
					if len(log) != 0 {
						t.Errorf("kubectl ran for an unverified image:\n%s", log)
					}
					if !strings.Contains(res.Summary, "### imgsign verify: FAIL") {
						t.Errorf("summary:\n%s", res.Summary)
					}
					return
				}
				actMustSucceed(t, res)
				if login := actUses(res, "docker/login-action@v4"); login == nil || login.With["registry"] != host || login.With["username"] == "" {
					t.Errorf("login step %+v, want a login to %s", login, host)
				}
				ref := host + "/deploy/app@" + signed.String()
				for _, want := range []string{
					"kubectl apply -f " + filepath.Join(temp, "deployment.yaml") + " (KUBECONFIG: apiVersion: v1",
					"image: " + ref + "\n",
					"kubectl rollout status deployment/app --timeout=5m",
				} {
					if !strings.Contains(string(log), want) {
						t.Errorf("kubectl record lacks %q:\n%s", want, log)
					}
				}
				if !strings.Contains(res.Summary, "Deployed `"+ref+"`.") {
					t.Errorf("summary:\n%s", res.Summary)
				}
			})
		}
	})

	t.Run("rotate-keys", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		actKey(t, e, "release-2026")
		ws := t.TempDir()
		actCopyPub(t, e, "release-2026", filepath.Join(ws, "deploy"))
		policyPath := actWrite(t, filepath.Join(ws, "deploy", "trust.yaml"), `version: 1
keys:
  - name: release-2026
    publicKey: release-2026.pub
policies:
  - name: release
    scopes: ["`+host+`/**"]
    signatures:
      keys: [release-2026]
`)
		stubs, record := t.TempDir(), t.TempDir()
		actStub(t, stubs, "gh", `echo "gh $* (GH_TOKEN=$GH_TOKEN)" > "`+record+`/args"
cat > "`+record+`/stdin"
`)
		r := newActRunner(t, temp, ws)
		r.Env["PATH"] = stubs + string(os.PathListSeparator) + r.Env["PATH"]
		r.Secrets = map[string]string{"IMGSIGN_PASSWORD": passphrase, "SECRETS_ADMIN_TOKEN": "admin-token"}
		res := runActJob(t, r, "examples/workflows/rotate-keys.yml", "rotate", actionharness.JobOptions{Inputs: map[string]string{"old-key": "release-2026", "new-key": "release-2027"}})
		actMustSucceed(t, res)

		pol, err := os.ReadFile(policyPath)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(pol), "name: release-2027") || !strings.Contains(string(pol), "validUntil:") || !strings.Contains(string(pol), "keys: [release-2026, release-2027]") {
			t.Errorf("policy after rotation:\n%s", pol)
		}
		if _, err := os.Stat(filepath.Join(ws, "deploy", "release-2027.pub")); err != nil {
			t.Error(err)
		}
		if m, _ := filepath.Glob(filepath.Join(ws, "deploy", "*.key")); len(m) != 0 {
			t.Errorf("private keys left in the repository: %v", m)
		}
		if _, err := os.Stat(filepath.Join(temp, "new.key")); !os.IsNotExist(err) {
			t.Errorf("the new private key is still in RUNNER_TEMP (%v)", err)
		}
		args, _ := os.ReadFile(filepath.Join(record, "args"))
		if got := strings.TrimSpace(string(args)); got != "gh secret set IMGSIGN_KEY_NEXT --repo acme/app (GH_TOKEN=admin-token)" {
			t.Errorf("gh called as %q", got)
		}
		// The stored secret is the new key, encrypted with the passphrase.
		stored := filepath.Join(record, "stdin")
		pub := e.must("keys", "public", "--key", stored).Stdout
		want, _ := os.ReadFile(filepath.Join(ws, "deploy", "release-2027.pub"))
		if strings.TrimSpace(pub) != strings.TrimSpace(string(want)) {
			t.Errorf("the stored secret is not the key whose public half is in the PR")
		}
		id := strings.TrimSpace(e.must("keys", "id", "--key", filepath.Join(ws, "deploy", "release-2027.pub")).Stdout)
		var pr *actionharness.StepResult
		for _, s := range res.Steps {
			if s.Uses == "peter-evans/create-pull-request@v8" {
				pr = s
			}
		}
		if pr == nil || pr.Skipped == "" {
			t.Fatalf("create-pull-request step %+v", pr)
		}
		if pr.With["branch"] != "imgsign/rotate-release-2027" || pr.With["add-paths"] != "deploy/trust.yaml\ndeploy/release-2027.pub\n" {
			t.Errorf("create-pull-request with %v", pr.With)
		}
		for _, want := range []string{"key id `" + id + "`", "IMGSIGN_KEY_NEXT", "+  - name: release-2027", "720h"} {
			if !strings.Contains(pr.With["body"], want) {
				t.Errorf("pull request body lacks %q:\n%s", want, pr.With["body"])
			}
		}
	})
}
