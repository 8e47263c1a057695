package actionharness

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func newRunner(t *testing.T) *Runner {
	t.Helper()
	return &Runner{
		Workspace: t.TempDir(),
		Temp:      t.TempDir(),
		Env:       map[string]string{"PATH": os.Getenv("PATH"), "HOME": t.TempDir()},
	}
}

const basicAction = `name: basic
description: exercises the harness
inputs:
  who:
    description: who
    required: true
  repo:
    description: defaults to an expression
    default: ${{ github.repository }}
outputs:
  greeting:
    description: from a name=value output
    value: ${{ steps.first.outputs.greeting }}
  multi:
    description: from a heredoc output
    value: ${{ steps.first.outputs.multi }}
  seen:
    value: ${{ steps.second.outputs.seen }}
runs:
  using: composite
  steps:
    - name: Set up Go
      uses: actions/setup-go@v6
      with:
        go-version-file: ${{ github.action_path }}/go.mod
        cache: false
    - id: first
      shell: bash
      env:
        WHO: ${{ inputs.who }}
        REPO: ${{ inputs.repo }}
      run: |
        echo "greeting=hello $WHO from $REPO" >> "$GITHUB_OUTPUT"
        { echo "multi<<EOF"; echo "line 1"; echo "line 2"; echo "EOF"; } >> "$GITHUB_OUTPUT"
        echo "FROM_ENV_FILE=set by first" >> "$GITHUB_ENV"
        mkdir -p "$RUNNER_TEMP/extra-bin"
        printf '#!/bin/sh\necho extra tool\n' > "$RUNNER_TEMP/extra-bin/extra-tool"
        chmod +x "$RUNNER_TEMP/extra-bin/extra-tool"
        echo "$RUNNER_TEMP/extra-bin" >> "$GITHUB_PATH"
        echo "## first step" >> "$GITHUB_STEP_SUMMARY"
        echo "INPUT_WHO=${INPUT_WHO-unset}"
        echo "::notice title=first::a notice"
    - id: second
      shell: bash
      working-directory: ${{ github.action_path }}
      env:
        GREETING: ${{ steps.first.outputs.greeting }}
        FROM_CONTEXT: ${{ env.FROM_ENV_FILE }}
        TEMP_DIR: ${{ runner.temp }}
      run: |
        [ "$TEMP_DIR" = "$RUNNER_TEMP" ]
        echo "seen=$GREETING|$FROM_ENV_FILE|$FROM_CONTEXT|$(extra-tool)|$(basename "$PWD")|$GITHUB_ACTION_PATH|$GITHUB_ACTION|$CI|$GITHUB_ACTIONS|$GITHUB_REPOSITORY|$RUNNER_OS" >> "$GITHUB_OUTPUT"
        echo "second step" >> "$GITHUB_STEP_SUMMARY"
`

func TestRunAction(t *testing.T) {
	r := newRunner(t)
	dir := filepath.Join(t.TempDir(), "act")
	write(t, filepath.Join(dir, "action.yml"), basicAction)
	res, err := r.RunAction(context.Background(), dir, map[string]string{"who": "tester"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed() {
		t.Fatalf("action failed:\n%s", res.Log)
	}
	if got := res.Outputs["greeting"]; got != "hello tester from acme/app" {
		t.Errorf("greeting = %q", got)
	}
	if got := res.Outputs["multi"]; got != "line 1\nline 2" {
		t.Errorf("multi = %q", got)
	}
	want := "hello tester from acme/app|set by first|set by first|extra tool|act|" + dir + "|second|true|true|acme/app|Linux"
	if got := res.Outputs["seen"]; got != want {
		t.Errorf("seen = %q\nwant %q", got, want)
	}
	// Composite actions get no INPUT_* variables from the runner.
	if !strings.Contains(res.Log, "INPUT_WHO=unset") {
		t.Errorf("INPUT_WHO was set for a composite step:\n%s", res.Log)
	}
	// uses: steps are skipped, loudly, with their with: evaluated.
	var setup *StepResult
	for _, s := range res.Steps[0].Steps {
		if s.Uses == "actions/setup-go@v6" {
			setup = s
		}
	}
	if setup == nil || setup.Skipped != "uses: actions/setup-go@v6" || setup.Outcome != "success" {
		t.Fatalf("setup-go step = %+v", setup)
	}
	if got := setup.With["go-version-file"]; got != dir+"/go.mod" {
		t.Errorf("setup-go with go-version-file = %q", got)
	}
	if !strings.Contains(res.Log, "[harness] skip uses: actions/setup-go@v6") {
		t.Errorf("no skip line in the log:\n%s", res.Log)
	}
	if res.Summary != "## first step\nsecond step\n" {
		t.Errorf("summary = %q", res.Summary)
	}
	if len(res.Annotations) != 1 || res.Annotations[0] != (Annotation{Level: "notice", Title: "first", Message: "a notice"}) {
		t.Errorf("annotations = %+v", res.Annotations)
	}
	if res.Env["FROM_ENV_FILE"] != "set by first" || len(res.Path) != 1 {
		t.Errorf("env %v path %v", res.Env, res.Path)
	}
	if s := res.Step("second"); s == nil || s.Env["GREETING"] != "hello tester from acme/app" {
		t.Errorf("step second = %+v", s)
	}
}

func TestShells(t *testing.T) {
	tests := []struct {
		name, shell string
		composite   bool
		run         string
		wantOK      bool
	}{
		{"bash has pipefail", "bash", true, "false | true", false},
		{"bash -e", "bash", true, "false\necho not reached", false},
		{"job default bash -e has no pipefail", "", false, "false | true", true},
		{"sh -e", "sh", true, "false\necho not reached", false},
		{"sh ok", "sh", true, "test -n \"$GITHUB_OUTPUT\"", true},
		{"custom template", "bash --noprofile --norc {0}", true, "false | true", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRunner(t)
			shell := ""
			if tt.shell != "" {
				shell = "\n      shell: " + tt.shell
			}
			step := "    - id: s" + shell + "\n      run: |\n        " + strings.ReplaceAll(tt.run, "\n", "\n        ") + "\n"
			var res *Result
			var err error
			if tt.composite {
				dir := t.TempDir()
				write(t, filepath.Join(dir, "action.yml"), "name: s\ndescription: s\nruns:\n  using: composite\n  steps:\n"+step)
				res, err = r.RunAction(context.Background(), dir, nil, nil)
			} else {
				p := filepath.Join(t.TempDir(), "wf.yml")
				write(t, p, "on: push\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n"+indent(step, "  "))
				var wf *Workflow
				if wf, err = LoadWorkflow(p); err != nil {
					t.Fatal(err)
				}
				res, err = r.RunJob(context.Background(), wf, "j", JobOptions{})
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Failed() == tt.wantOK {
				t.Errorf("conclusion %s, want ok=%v\n%s", res.Conclusion, tt.wantOK, res.Log)
			}
		})
	}
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}

const flowAction = `name: flow
description: failure handling
runs:
  using: composite
  steps:
    - id: tolerated
      shell: bash
      continue-on-error: true
      run: exit 3
    - id: after-tolerated
      shell: bash
      run: echo "ran=yes" >> "$GITHUB_OUTPUT"
    - id: fails
      shell: bash
      run: |
        echo "::error title=flow%3A check::it broke%0Aon two lines"
        exit 4
    - id: skipped
      shell: bash
      run: echo never
    - id: on-failure
      if: failure()
      shell: bash
      run: echo "ran=yes" >> "$GITHUB_OUTPUT"
    - id: cleanup
      if: always() && steps.fails.outcome == 'failure'
      shell: bash
      run: echo "ran=yes" >> "$GITHUB_OUTPUT"
    - id: on-success
      if: success()
      shell: bash
      run: echo never
`

func TestFailureFlow(t *testing.T) {
	r := newRunner(t)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "action.yml"), flowAction)
	res, err := r.RunAction(context.Background(), dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Failed() {
		t.Fatalf("action succeeded:\n%s", res.Log)
	}
	for _, tt := range []struct{ id, outcome, conclusion string }{
		{"tolerated", "failure", "success"},
		{"after-tolerated", "success", "success"},
		{"fails", "failure", "failure"},
		{"skipped", "skipped", "skipped"},
		{"on-failure", "success", "success"},
		{"cleanup", "success", "success"},
		{"on-success", "skipped", "skipped"},
	} {
		s := res.Step(tt.id)
		if s == nil {
			t.Errorf("no step %s", tt.id)
			continue
		}
		if s.Outcome != tt.outcome || s.Conclusion != tt.conclusion {
			t.Errorf("%s: outcome %s conclusion %s, want %s %s", tt.id, s.Outcome, s.Conclusion, tt.outcome, tt.conclusion)
		}
	}
	want := []Annotation{
		{Level: "error", Message: "Process completed with exit code 3."},
		{Level: "error", Title: "flow: check", Message: "it broke\non two lines"},
		{Level: "error", Message: "Process completed with exit code 4."},
	}
	if len(res.Annotations) != len(want) {
		t.Fatalf("annotations = %+v", res.Annotations)
	}
	for i := range want {
		if res.Annotations[i] != want[i] {
			t.Errorf("annotation %d = %+v, want %+v", i, res.Annotations[i], want[i])
		}
	}
}

// What the runner would reject, and what this repository forbids, fails
// loudly before or while running.
func TestRejected(t *testing.T) {
	tests := []struct {
		name, action string
		inputs       map[string]string
		want         string
	}{
		{"expression in run", "runs:\n  using: composite\n  steps:\n    - shell: bash\n      run: echo ${{ inputs.x }}\n", nil, "run: contains ${{ }}"},
		{"composite run without shell", "runs:\n  using: composite\n  steps:\n    - run: echo hi\n", nil, "needs shell:"},
		{"unknown step key", "runs:\n  using: composite\n  steps:\n    - shell: bash\n      run: echo hi\n      envv: {}\n", nil, "field envv not found"},
		{"not composite", "runs:\n  using: node24\n  main: index.js\n", nil, "field main not found"},
		{"node action", "runs:\n  using: node24\n", nil, "only composite"},
		{"undeclared input", "runs:\n  using: composite\n  steps:\n    - shell: bash\n      run: echo hi\n", map[string]string{"nope": "1"}, `input "nope" is not declared`},
		{"required input", "inputs:\n  x:\n    description: x\n    required: true\nruns:\n  using: composite\n  steps:\n    - shell: bash\n      run: echo hi\n", nil, `required input "x"`},
		{"unknown input in env", "runs:\n  using: composite\n  steps:\n    - shell: bash\n      env:\n        X: ${{ inputs.x }}\n      run: echo hi\n", nil, "inputs.x is not defined"},
		{"unknown step in if", "runs:\n  using: composite\n  steps:\n    - shell: bash\n      if: steps.nope.outputs.x == 'y'\n      run: echo hi\n", nil, "steps.nope is not defined"},
		{"unsupported function", "runs:\n  using: composite\n  steps:\n    - shell: bash\n      if: contains(github.ref, 'main')\n      run: echo hi\n", nil, "contains() is not supported"},
		{"duplicate id", "runs:\n  using: composite\n  steps:\n    - id: a\n      shell: bash\n      run: echo\n    - id: A\n      shell: bash\n      run: echo\n", nil, "used twice"},
		{"pwsh", "runs:\n  using: composite\n  steps:\n    - shell: pwsh\n      run: echo hi\n", nil, "not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRunner(t)
			dir := t.TempDir()
			write(t, filepath.Join(dir, "action.yml"), "name: x\ndescription: x\n"+tt.action)
			_, err := r.RunAction(context.Background(), dir, tt.inputs, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

const callWorkflow = `name: call
on:
  workflow_call:
    inputs:
      image:
        type: string
        required: true
      strict:
        type: boolean
        default: true
    secrets:
      key:
        required: true
    outputs:
      echoed:
        value: ${{ jobs.work.outputs.echoed }}
permissions:
  contents: read
env:
  FROM_WORKFLOW: wf
jobs:
  work:
    runs-on: ubuntu-latest
    permissions:
      id-token: write
    env:
      FROM_JOB: job-${{ inputs.image }}
    defaults:
      run:
        shell: bash
    outputs:
      echoed: ${{ steps.local.outputs.echoed }}
      built: ${{ steps.build.outputs.digest }}
    steps:
      - uses: actions/checkout@v6
        with:
          repository: ${{ github.repository }}
          persist-credentials: false
      - id: build
        uses: docker/build-push-action@v7
        with:
          push: true
      - id: check
        if: inputs.strict
        env:
          IMAGE: ${{ inputs.image }}
          KEY: ${{ secrets.key }}
          DIGEST: ${{ steps.build.outputs.digest }}
        run: |
          echo "seen=$IMAGE|$KEY|$DIGEST|$FROM_WORKFLOW|$FROM_JOB|${ACTIONS_ID_TOKEN_REQUEST_URL:-no token}" >> "$GITHUB_OUTPUT"
      - id: local
        uses: ./act
        with:
          value: ${{ steps.check.outputs.seen }}
        env:
          FROM_CALLER: caller
  other:
    runs-on: ubuntu-latest
    steps:
      - run: echo "token=${ACTIONS_ID_TOKEN_REQUEST_URL:-none}" >> "$GITHUB_OUTPUT"
        id: t
    outputs:
      token: ${{ steps.t.outputs.token }}
`

const echoAction = `name: echo
description: echoes
inputs:
  value:
    description: v
outputs:
  echoed:
    value: ${{ steps.e.outputs.echoed }}
runs:
  using: composite
  steps:
    - id: e
      shell: bash
      env:
        VALUE: ${{ inputs.value }}
      run: echo "echoed=$VALUE|$FROM_CALLER|$GITHUB_ACTION_PATH" >> "$GITHUB_OUTPUT"
`

func TestRunJob(t *testing.T) {
	r := newRunner(t)
	r.IDToken = &IDToken{URL: "http://127.0.0.1:1/token?x=1", RequestToken: "req"}
	r.UsesOutputs = map[string]map[string]string{"build": {"digest": "sha256:feed"}}
	write(t, filepath.Join(r.Workspace, "act", "action.yml"), echoAction)
	p := filepath.Join(t.TempDir(), "call.yml")
	write(t, p, callWorkflow)
	wf, err := LoadWorkflow(p)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.RunJob(context.Background(), wf, "work", JobOptions{Inputs: map[string]string{"image": "img"}, Secrets: map[string]string{"key": "s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed() {
		t.Fatalf("job failed:\n%s", res.Log)
	}
	seen := "img|s3cret|sha256:feed|wf|job-img|http://127.0.0.1:1/token?x=1"
	want := seen + "|caller|" + filepath.Join(r.Workspace, "act")
	if got := res.Outputs["echoed"]; got != want {
		t.Errorf("job output echoed = %q\nwant %q", got, want)
	}
	if got := res.Outputs["built"]; got != "sha256:feed" {
		t.Errorf("job output built = %q", got)
	}
	if got := res.WorkflowOutputs["echoed"]; got != want {
		t.Errorf("workflow output echoed = %q", got)
	}
	if co := res.Steps[0]; co.Skipped != "uses: actions/checkout@v6" || co.With["repository"] != "acme/app" || co.With["persist-credentials"] != "false" {
		t.Errorf("checkout step = %+v", co)
	}

	// Without id-token: write the runner offers no OIDC token.
	res, err = r.RunJob(context.Background(), wf, "other", JobOptions{Inputs: map[string]string{"image": "img"}, Secrets: map[string]string{"key": "k"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Outputs["token"]; got != "none" {
		t.Errorf("job without id-token: write saw ACTIONS_ID_TOKEN_REQUEST_URL=%q", got)
	}

	// inputs.strict == false skips the check.
	res, err = r.RunJob(context.Background(), wf, "work", JobOptions{Inputs: map[string]string{"image": "img", "strict": "false"}, Secrets: map[string]string{"key": "k"}})
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Step("check"); s.Outcome != "skipped" {
		t.Errorf("check ran with strict=false: %+v", s)
	}

	for _, bad := range []JobOptions{
		{Secrets: map[string]string{"key": "k"}},
		{Inputs: map[string]string{"image": "i"}},
		{Inputs: map[string]string{"image": "i", "nope": "x"}, Secrets: map[string]string{"key": "k"}},
		{Inputs: map[string]string{"image": "i"}, Secrets: map[string]string{"key": "k", "extra": "x"}},
		{Inputs: map[string]string{"image": "i", "strict": "yes"}, Secrets: map[string]string{"key": "k"}},
	} {
		if _, err := r.RunJob(context.Background(), wf, "work", bad); err == nil {
			t.Errorf("RunJob(%+v) ran; want an error", bad)
		}
	}
}

// Runner.Actions runs a remote action (any ref) from a local directory, as
// the runner would run the fetched copy; other remote actions stay skipped.
func TestRemoteActionFromDirectory(t *testing.T) {
	r := newRunner(t)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "action.yml"), echoAction)
	r.Actions = map[string]string{"acme/echo": dir}
	p := filepath.Join(t.TempDir(), "wf.yml")
	write(t, p, `on: push
jobs:
  j:
    runs-on: ubuntu-latest
    outputs:
      echoed: ${{ steps.e.outputs.echoed }}
    steps:
      - id: e
        uses: acme/echo@v1
        with:
          value: hi
      - uses: acme/other@v1
`)
	wf, err := LoadWorkflow(p)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.RunJob(context.Background(), wf, "j", JobOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed() || res.Outputs["echoed"] != "hi||"+dir {
		t.Errorf("outputs %v\n%s", res.Outputs, res.Log)
	}
	if s := res.Steps[1]; s.Skipped != "uses: acme/other@v1" {
		t.Errorf("acme/other step %+v, want skipped", s)
	}
}
