// Package actionharness runs a composite action's steps, or a workflow
// job's steps, on the local machine the way the GitHub Actions runner does,
// so tests can execute action.yml and workflow files for real.
//
// What it does as the runner does:
//   - `run:` steps execute with the step's shell (bash → `bash --noprofile
//     --norc -eo pipefail {0}`, sh → `sh -e {0}`, unspecified in a job →
//     `bash -e {0}`, or a custom `cmd … {0}` template) from a script file in
//     RUNNER_TEMP, in working-directory (relative to GITHUB_WORKSPACE);
//   - the environment holds CI, GITHUB_* (repository, ref, sha, run ids,
//     workflow ref, workspace, event path, action path in composite steps),
//     RUNNER_*, fresh GITHUB_OUTPUT / GITHUB_ENV / GITHUB_PATH /
//     GITHUB_STEP_SUMMARY / GITHUB_STATE files per step, and
//     ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN only for jobs granted
//     `id-token: write`;
//   - composite run steps get no INPUT_* variables (actions/runner#665):
//     an action must map inputs through env:, and here it must too;
//   - outputs are read from GITHUB_OUTPUT in both `name=value` and
//     `name<<DELIMITER` forms; GITHUB_ENV and GITHUB_PATH changes apply to
//     later steps of the job (composite steps included); step summaries are
//     concatenated into the job summary;
//   - `${{ }}` in env:, with:, if:, working-directory:, action input
//     defaults and outputs, job outputs and workflow_call outputs is
//     evaluated (the subset in expr.go; anything else is an error);
//   - if: defaults to success(); continue-on-error and timeout-minutes work;
//     `::error`/`::warning`/`::notice` lines become annotations;
//   - `uses: ./path` runs a local composite action nested; any other `uses:`
//     (actions/checkout, actions/setup-go, actions/cache, docker/…) is
//     skipped with a log line and its with: evaluated and recorded, its
//     outputs taken from Runner.UsesOutputs.
//
// What it does not do: containers, services, matrices, JavaScript and
// Docker actions, expression functions other than the status functions,
// log masking (logs stay raw so tests can assert that secrets never reach
// them), and `${{ }}` inside run: — which it refuses outright, because this
// repository passes every value to scripts through env:.
package actionharness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// Runner is the machine and the workflow run that steps execute in.
type Runner struct {
	// Workspace is GITHUB_WORKSPACE: where actions/checkout would have put
	// the repository. Required.
	Workspace string
	// Temp is RUNNER_TEMP. Required.
	Temp string
	// ToolCache is RUNNER_TOOL_CACHE; defaults to Temp/_tool.
	ToolCache string
	// Env is the machine's environment (PATH, HOME, GOCACHE, …): what a
	// step's process inherits before the runner's variables are added.
	Env map[string]string
	// Github overrides github context values (repository, sha, ref, actor,
	// workflow_ref, …); see DefaultGithub for the rest.
	Github map[string]string
	// Event is the webhook payload (github.event, GITHUB_EVENT_PATH).
	Event map[string]any
	// Secrets is the secrets context (plus GITHUB_TOKEN = github.token).
	// For a workflow_call job, JobOptions.Secrets is used instead.
	Secrets map[string]string
	// Vars is the vars context.
	Vars map[string]string
	// IDToken is the OIDC token endpoint offered to jobs that are granted
	// `id-token: write` (RunAction: always).
	IDToken *IDToken
	// LocalActions is the directory `uses: ./…` resolves against; the
	// runner uses the workspace, which is the default.
	LocalActions string
	// Actions runs remote actions from local directories, as if fetched:
	// {"imgsign/imgsign": root} runs `uses: imgsign/imgsign@v1` (any ref)
	// as the composite action in root. Other remote actions are skipped.
	Actions map[string]string
	// UsesOutputs gives outputs to skipped `uses:` steps by step id, e.g.
	// {"build": {"digest": "sha256:…"}} for docker/build-push-action.
	UsesOutputs map[string]map[string]string
	// Log, if set, receives the log as it is written.
	Log io.Writer
}

// IDToken is a GitHub-style OIDC token endpoint: GET URL&audience=… with
// "Authorization: Bearer RequestToken" answers {"value": "<JWT>"}.
type IDToken struct {
	URL          string
	RequestToken string
}

// Result is a finished action or job.
type Result struct {
	// Conclusion is success or failure.
	Conclusion string
	// Outputs are the action's outputs (RunAction) or the job's outputs
	// (RunJob).
	Outputs map[string]string
	// WorkflowOutputs are the workflow_call outputs (RunJob only).
	WorkflowOutputs map[string]string
	// Steps are the steps in order; a local composite action's steps are
	// nested under its step.
	Steps []*StepResult
	// Summary is the job summary: every step's GITHUB_STEP_SUMMARY.
	Summary string
	// Annotations are ::error/::warning/::notice commands and failed
	// processes.
	Annotations []Annotation
	// Env and Path are what steps added through GITHUB_ENV and GITHUB_PATH.
	Env  map[string]string
	Path []string
	// Log is everything the steps printed, with the harness's own lines.
	Log string
}

// Failed reports whether the action or job failed.
func (r *Result) Failed() bool { return r.Conclusion != "success" }

// Step finds a step by id, searching nested composite steps; "outer/inner"
// names a composite action's step.
func (r *Result) Step(id string) *StepResult {
	return findStep(r.Steps, id)
}

func findStep(steps []*StepResult, id string) *StepResult {
	outer, inner, nested := strings.Cut(id, "/")
	for _, s := range steps {
		if !strings.EqualFold(s.ID, outer) {
			continue
		}
		if !nested {
			return s
		}
		return findStep(s.Steps, inner)
	}
	if !nested {
		for _, s := range steps {
			if f := findStep(s.Steps, id); f != nil {
				return f
			}
		}
	}
	return nil
}

// StepResult is one step.
type StepResult struct {
	ID   string
	Name string
	Uses string
	// With and Env are the step's with: and env: after evaluation.
	With map[string]string
	Env  map[string]string
	// Outcome is success, failure or skipped; Conclusion differs only with
	// continue-on-error.
	Outcome    string
	Conclusion string
	// Skipped says why a step did not run (its if:, or a remote uses:).
	Skipped string
	Outputs map[string]string
	Log     string
	Steps   []*StepResult
}

// Annotation is a workflow command annotation.
type Annotation struct {
	Level   string // error, warning, notice
	Title   string
	Message string
}

// DefaultGithub returns the github context used unless Runner.Github
// overrides a value: a push to main of acme/app.
func DefaultGithub() map[string]string {
	return map[string]string{
		"actor":               "octocat",
		"actor_id":            "583231",
		"api_url":             "https://api.github.com",
		"base_ref":            "",
		"event_name":          "push",
		"graphql_url":         "https://api.github.com/graphql",
		"head_ref":            "",
		"job":                 "",
		"ref":                 "refs/heads/main",
		"ref_name":            "main",
		"ref_protected":       "false",
		"ref_type":            "branch",
		"repository":          "acme/app",
		"repository_id":       "123456789",
		"repository_owner":    "acme",
		"repository_owner_id": "987654",
		"retention_days":      "90",
		"run_attempt":         "1",
		"run_id":              "4242424242",
		"run_number":          "17",
		"server_url":          "https://github.com",
		"sha":                 "8f2c1e0b5d4a3f6e7c9b1a2d3e4f5a6b7c8d9e0f",
		"token":               "ghs_harness-token",
		"triggering_actor":    "octocat",
		"workflow":            "release",
		"workflow_ref":        "acme/app/.github/workflows/release.yml@refs/heads/main",
		"workflow_sha":        "8f2c1e0b5d4a3f6e7c9b1a2d3e4f5a6b7c8d9e0f",
	}
}

// githubKeys are the github context properties the harness knows; others
// are errors.
var githubKeys = []string{
	"action", "action_path", "action_ref", "action_repository", "action_status",
	"actor", "actor_id", "api_url", "base_ref", "env", "event", "event_name",
	"event_path", "graphql_url", "head_ref", "job", "output", "path", "ref",
	"ref_name", "ref_protected", "ref_type", "repository", "repository_id",
	"repository_owner", "repository_owner_id", "retention_days", "run_attempt",
	"run_id", "run_number", "server_url", "sha", "state", "step_summary",
	"token", "triggering_actor", "workflow", "workflow_ref", "workflow_sha",
	"workspace",
}

// RunAction runs the composite action in dir as one step of a job, with
// inputs as its with: and env as that step's env:.
func (r *Runner) RunAction(ctx context.Context, dir string, inputs, env map[string]string) (*Result, error) {
	x, err := r.start(ctx, "action")
	if err != nil {
		return nil, err
	}
	x.idToken = r.IDToken != nil
	job := &frame{inputs: newObject("inputs", true), results: map[string]*StepResult{}, declared: map[string]bool{"action": true}}
	res := &StepResult{ID: "action", Name: dir, Uses: dir, With: inputs, Env: env}
	ok, err := x.composite(ctx, job, dir, inputs, env, res)
	if err != nil {
		return nil, err
	}
	res.Outcome, res.Conclusion = outcome(ok), outcome(ok)
	out := x.result(ok, []*StepResult{res})
	out.Outputs = res.Outputs
	return out, nil
}

// JobOptions are the trigger and what the job receives.
type JobOptions struct {
	// Event is the triggering event; default workflow_call if the workflow
	// has it, else workflow_dispatch, else push.
	Event string
	// Inputs are the workflow_call / workflow_dispatch inputs.
	Inputs map[string]string
	// Secrets are the secrets passed to a workflow_call workflow.
	Secrets map[string]string
	// Needs are the outputs of the jobs this job needs.
	Needs map[string]map[string]string
}

// RunJob runs one job of a workflow.
func (r *Runner) RunJob(ctx context.Context, wf *Workflow, jobID string, opts JobOptions) (*Result, error) {
	job, ok := wf.Jobs[jobID]
	if !ok {
		return nil, fmt.Errorf("%s has no job %q", wf.Path, jobID)
	}
	if job.Uses != "" {
		return nil, fmt.Errorf("job %s calls the reusable workflow %s: run that workflow's job instead", jobID, job.Uses)
	}
	event := opts.Event
	if event == "" {
		switch {
		case wf.Triggers["workflow_call"] != nil:
			event = "workflow_call"
		case wf.Triggers["workflow_dispatch"] != nil:
			event = "workflow_dispatch"
		default:
			event = "push"
		}
	}
	trig, ok := wf.Triggers[event]
	if !ok {
		return nil, fmt.Errorf("%s is not triggered by %s", wf.Path, event)
	}
	x, err := r.start(ctx, jobID)
	if err != nil {
		return nil, err
	}
	x.github["event_name"] = event
	inputs, err := workflowInputs(trig, opts.Inputs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", wf.Path, err)
	}
	if event == "workflow_call" {
		x.secrets = map[string]string{}
		for name := range opts.Secrets {
			if _, ok := lookupFold(trig.Secrets, name); !ok {
				return nil, fmt.Errorf("%s: secret %q is not declared under on.workflow_call.secrets", wf.Path, name)
			}
		}
		for name, s := range trig.Secrets {
			if s.Required && opts.Secrets[name] == "" {
				return nil, fmt.Errorf("%s: required secret %q not given", wf.Path, name)
			}
		}
		for k, v := range opts.Secrets {
			x.secrets[k] = v
		}
		x.secrets["GITHUB_TOKEN"] = x.github["token"]
	}
	x.needs = newObject("needs", true)
	for _, n := range job.NeedsList() {
		outs := newObject("needs."+n+".outputs", false)
		for k, v := range opts.Needs[n] {
			outs.props[k] = v
		}
		o := newObject("needs."+n, true)
		o.props["outputs"], o.props["result"] = outs, "success"
		x.needs.props[n] = o
	}
	perms := job.Permissions
	if perms.Kind == 0 {
		perms = wf.Permissions
	}
	x.idToken = r.IDToken != nil && grantsIDToken(&perms)

	f := &frame{inputs: inputs, results: map[string]*StepResult{}, declared: declared(job.Steps)}
	for _, d := range []*Defaults{wf.Defaults, job.Defaults} {
		if d != nil {
			if d.Run.Shell != "" {
				f.shell = d.Run.Shell
			}
			if d.Run.WorkingDirectory != "" {
				f.workdir = d.Run.WorkingDirectory
			}
		}
	}
	for _, envs := range []map[string]scalar{wf.Env, job.Env} {
		vals, err := x.evalMap(f, envs)
		if err != nil {
			return nil, fmt.Errorf("env: %w", err)
		}
		for k, v := range vals {
			x.jobEnv[k] = v
		}
	}
	run, err := x.evalEnv(f).condition(string(job.If))
	if err != nil {
		return nil, fmt.Errorf("job %s: %w", jobID, err)
	}
	if !run {
		x.logf("job %s skipped (if: %s)", jobID, job.If)
		out := x.result(true, nil)
		out.Conclusion = "skipped"
		return out, nil
	}
	if f.timeout, err = minutes(job.TimeoutMinutes); err != nil {
		return nil, fmt.Errorf("job %s: timeout-minutes: %w", jobID, err)
	}
	steps, err := x.runSteps(ctx, f, job.Steps)
	if err != nil {
		return nil, err
	}
	out := x.result(!f.failed, steps)
	ev := x.evalEnv(f)
	out.Outputs = map[string]string{}
	for k, v := range job.Outputs {
		if out.Outputs[k], err = ev.interpolate(v); err != nil {
			return nil, fmt.Errorf("jobs.%s.outputs.%s: %w", jobID, k, err)
		}
	}
	if event == "workflow_call" && len(trig.Outputs) > 0 {
		// Jobs not run here are null, as jobs that were skipped.
		jobs := newObject("jobs", true)
		for id := range wf.Jobs {
			jobs.props[id] = nil
		}
		jo := newObject("jobs."+jobID, true)
		outs := newObject("jobs."+jobID+".outputs", false)
		for k, v := range out.Outputs {
			outs.props[k] = v
		}
		jo.props["outputs"], jo.props["result"] = outs, out.Conclusion
		jobs.props[jobID] = jo
		wev := &evalEnv{contexts: map[string]any{"jobs": jobs, "github": ev.contexts["github"], "inputs": inputs, "vars": ev.contexts["vars"]}}
		out.WorkflowOutputs = map[string]string{}
		for k, o := range trig.Outputs {
			if out.WorkflowOutputs[k], err = wev.interpolate(o.Value); err != nil {
				return nil, fmt.Errorf("on.workflow_call.outputs.%s: %w", k, err)
			}
		}
	}
	return out, nil
}

func lookupFold[V any](m map[string]V, key string) (V, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	var zero V
	return zero, false
}

// workflowInputs builds the inputs context of a workflow_call or
// workflow_dispatch run: typed values, defaults, required inputs checked.
func workflowInputs(t *Trigger, given map[string]string) (*object, error) {
	o := newObject("inputs", true)
	for name := range given {
		if _, ok := lookupFold(t.Inputs, name); !ok {
			return nil, fmt.Errorf("input %q is not declared", name)
		}
	}
	for name, in := range t.Inputs {
		v, ok := given[name]
		if !ok {
			if in.Required {
				return nil, fmt.Errorf("required input %q not given", name)
			}
			if in.Default != nil {
				v = string(*in.Default)
				if strings.Contains(v, "${{") {
					return nil, fmt.Errorf("input %q: expressions in defaults are not supported by the harness", name)
				}
			}
		}
		switch in.Type {
		case "boolean":
			switch v {
			case "true":
				o.props[name] = true
			case "false", "":
				o.props[name] = false
			default:
				return nil, fmt.Errorf("input %q is a boolean, not %q", name, v)
			}
		case "number":
			f, err := strconv.ParseFloat(v, 64)
			if v != "" && err != nil {
				return nil, fmt.Errorf("input %q is a number, not %q", name, v)
			}
			o.props[name] = f
		case "choice":
			if v != "" && !contains(in.Options, v) {
				return nil, fmt.Errorf("input %q must be one of %v, not %q", name, in.Options, v)
			}
			o.props[name] = v
		default:
			o.props[name] = v
		}
	}
	return o, nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// grantsIDToken reads a permissions: node's scalar value or mapping.
func grantsIDToken(n *yaml.Node) bool {
	if n.Kind == yaml.ScalarNode {
		return n.Value == "write-all"
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "id-token" && n.Content[i+1].Value == "write" {
			return true
		}
	}
	return false
}

func declared(steps []*Step) map[string]bool {
	m := map[string]bool{}
	for _, s := range steps {
		if s.ID != "" {
			m[strings.ToLower(s.ID)] = true
		}
	}
	return m
}

// execution is one job's state.
type execution struct {
	r           *Runner
	github      map[string]string
	event       *object
	jobEnv      map[string]string
	pathAdds    []string
	summary     strings.Builder
	annotations []Annotation
	log         *syncBuffer
	seq         int
	idToken     bool
	secrets     map[string]string
	needs       *object
	dir         string
	filesDir    string
}

// frame is a list of steps being run: a job's or a composite action's.
type frame struct {
	inputs     *object
	declared   map[string]bool
	results    map[string]*StepResult
	callerEnv  map[string]string
	failed     bool
	composite  bool
	actionPath string
	shell      string
	workdir    string
	timeout    time.Duration
}

func (r *Runner) start(ctx context.Context, job string) (*execution, error) {
	if r.Workspace == "" || r.Temp == "" {
		return nil, errors.New("actionharness: Runner.Workspace and Runner.Temp are required")
	}
	for _, d := range []string{r.Workspace, r.Temp} {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("actionharness: %s is not a directory", d)
		}
	}
	x := &execution{r: r, jobEnv: map[string]string{}, log: &syncBuffer{w: r.Log}, secrets: map[string]string{}}
	x.github = DefaultGithub()
	for k, v := range r.Github {
		if !contains(githubKeys, k) {
			return nil, fmt.Errorf("actionharness: unknown github context key %q", k)
		}
		x.github[k] = v
	}
	x.github["job"] = job
	x.github["workspace"] = r.Workspace
	for k, v := range r.Secrets {
		x.secrets[k] = v
	}
	x.secrets["GITHUB_TOKEN"] = x.github["token"]
	// The harness's own files (scripts, file commands, the event) live in a
	// directory of this execution, so executions can share a RUNNER_TEMP the
	// way the steps of one job do.
	dir, err := os.MkdirTemp(r.Temp, "_harness-")
	if err != nil {
		return nil, err
	}
	x.dir = dir
	x.filesDir = filepath.Join(dir, "_runner_file_commands")
	if err := os.MkdirAll(x.filesDir, 0o755); err != nil {
		return nil, err
	}
	event := r.Event
	if event == nil {
		event = map[string]any{}
	}
	data, err := json.Marshal(event)
	if err != nil {
		return nil, err
	}
	eventPath := filepath.Join(dir, "_github_workflow", "event.json")
	if err := os.MkdirAll(filepath.Dir(eventPath), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(eventPath, data, 0o644); err != nil {
		return nil, err
	}
	x.github["event_path"] = eventPath
	x.event = toObject("github.event", event)
	x.needs = newObject("needs", true)
	return x, nil
}

func toObject(name string, m map[string]any) *object {
	o := newObject(name, false)
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			o.props[k] = toObject(name+"."+k, sub)
			continue
		}
		if n, ok := v.(int); ok {
			v = float64(n)
		}
		o.props[k] = v
	}
	return o
}

func (x *execution) result(ok bool, steps []*StepResult) *Result {
	env := map[string]string{}
	for k, v := range x.jobEnv {
		env[k] = v
	}
	return &Result{
		Conclusion:  outcome(ok),
		Steps:       steps,
		Summary:     x.summary.String(),
		Annotations: x.annotations,
		Env:         env,
		Path:        append([]string(nil), x.pathAdds...),
		Log:         x.log.String(),
	}
}

func outcome(ok bool) string {
	if ok {
		return "success"
	}
	return "failure"
}

func (x *execution) logf(format string, args ...any) {
	fmt.Fprintf(x.log, "[harness] "+format+"\n", args...)
}

// evalEnv builds the contexts an expression in frame f sees.
func (x *execution) evalEnv(f *frame) *evalEnv {
	env := newObject("env", false)
	for k, v := range x.jobEnv {
		env.props[k] = v
	}
	for k, v := range f.callerEnv {
		env.props[k] = v
	}
	gh := newObject("github", true)
	for _, k := range githubKeys {
		gh.props[k] = ""
	}
	for k, v := range x.github {
		gh.props[k] = v
	}
	gh.props["action_path"] = f.actionPath
	gh.props["event"] = x.event
	runner := newObject("runner", true)
	for k, v := range x.runnerVars() {
		runner.props[strings.ToLower(strings.TrimPrefix(k, "RUNNER_"))] = v
	}
	runner.props["debug"] = ""
	steps := newObject("steps", true)
	for id := range f.declared {
		steps.props[id] = nil
	}
	for id, res := range f.results {
		o := newObject("steps."+id, true)
		outs := newObject("steps."+id+".outputs", false)
		for k, v := range res.Outputs {
			outs.props[k] = v
		}
		o.props["outputs"], o.props["outcome"], o.props["conclusion"] = outs, res.Outcome, res.Conclusion
		steps.props[id] = o
	}
	secrets := newObject("secrets", false)
	for k, v := range x.secrets {
		secrets.props[k] = v
	}
	vars := newObject("vars", false)
	for k, v := range x.r.Vars {
		vars.props[k] = v
	}
	return &evalEnv{
		contexts: map[string]any{
			"env": env, "github": gh, "runner": runner, "steps": steps,
			"inputs": f.inputs, "secrets": secrets, "vars": vars, "needs": x.needs,
		},
		status: status{failed: f.failed},
	}
}

func (x *execution) runnerVars() map[string]string {
	arch := map[string]string{"amd64": "X64", "arm64": "ARM64", "386": "X86", "arm": "ARM"}[runtime.GOARCH]
	osName := map[string]string{"linux": "Linux", "darwin": "macOS", "windows": "Windows"}[runtime.GOOS]
	tc := x.r.ToolCache
	if tc == "" {
		tc = filepath.Join(x.r.Temp, "_tool")
	}
	return map[string]string{
		"RUNNER_NAME":        "actionharness",
		"RUNNER_OS":          osName,
		"RUNNER_ARCH":        arch,
		"RUNNER_TEMP":        x.r.Temp,
		"RUNNER_TOOL_CACHE":  tc,
		"RUNNER_ENVIRONMENT": "github-hosted",
	}
}

// evalMap evaluates a with: or env: mapping, in sorted key order.
func (x *execution) evalMap(f *frame, m map[string]scalar) (map[string]string, error) {
	if len(m) == 0 {
		return nil, nil
	}
	ev := x.evalEnv(f)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]string, len(m))
	for _, k := range keys {
		v, err := ev.interpolate(string(m[k]))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out[k] = v
	}
	return out, nil
}

func minutes(s scalar) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(string(s), 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("%q is not a positive number of minutes", s)
	}
	return time.Duration(f * float64(time.Minute)), nil
}

// runSteps runs steps in frame f. Step failures are recorded in the
// results; an error means the harness could not run the steps as written.
func (x *execution) runSteps(ctx context.Context, f *frame, steps []*Step) ([]*StepResult, error) {
	var results []*StepResult
	for i, s := range steps {
		id := s.ID
		if id == "" {
			id = fmt.Sprintf("__step%d", i+1)
		}
		res := &StepResult{ID: s.ID, Name: s.label(), Uses: s.Uses}
		results = append(results, res)
		ev := x.evalEnv(f)
		run, err := ev.condition(string(s.If))
		if err != nil {
			return nil, fmt.Errorf("step %q: %w", res.Name, err)
		}
		if !run {
			res.Outcome, res.Conclusion = "skipped", "skipped"
			res.Skipped = "if: " + strings.TrimSpace(string(s.If))
			if s.If == "" {
				res.Skipped = "an earlier step failed"
			}
			x.logf("skip %q (%s)", res.Name, res.Skipped)
			f.results[strings.ToLower(id)] = res
			continue
		}
		if res.Env, err = x.evalMap(f, s.Env); err != nil {
			return nil, fmt.Errorf("step %q: env: %w", res.Name, err)
		}
		coe, err := ev.interpolate(string(s.ContinueOnError))
		if err != nil {
			return nil, fmt.Errorf("step %q: continue-on-error: %w", res.Name, err)
		}
		timeout, err := minutes(s.TimeoutMinutes)
		if err != nil {
			return nil, fmt.Errorf("step %q: timeout-minutes: %w", res.Name, err)
		}
		if timeout == 0 {
			timeout = f.timeout
		}
		sctx, cancel := ctx, context.CancelFunc(func() {})
		if timeout > 0 {
			sctx, cancel = context.WithTimeout(ctx, timeout)
		}
		var ok bool
		if s.Uses != "" {
			if res.With, err = x.evalMap(f, s.With); err != nil {
				cancel()
				return nil, fmt.Errorf("step %q: with: %w", res.Name, err)
			}
			if strings.HasPrefix(s.Uses, "./") {
				dir := x.r.LocalActions
				if dir == "" {
					dir = x.r.Workspace
				}
				ok, err = x.composite(sctx, f, filepath.Join(dir, filepath.FromSlash(s.Uses)), res.With, res.Env, res)
			} else if name, _, _ := strings.Cut(s.Uses, "@"); x.r.Actions[name] != "" {
				x.logf("uses: %s from %s", s.Uses, x.r.Actions[name])
				ok, err = x.composite(sctx, f, x.r.Actions[name], res.With, res.Env, res)
			} else {
				x.logf("skip uses: %s — the harness runs only run: steps and local composite actions (with: %s)", s.Uses, formatMap(res.With))
				res.Skipped = "uses: " + s.Uses
				res.Outputs = map[string]string{}
				for k, v := range x.r.UsesOutputs[id] {
					res.Outputs[k] = v
				}
				ok = true
			}
		} else {
			ok, err = x.script(sctx, f, s, id, res)
		}
		cancel()
		if err != nil {
			return nil, fmt.Errorf("step %q: %w", res.Name, err)
		}
		res.Outcome, res.Conclusion = outcome(ok), outcome(ok)
		if !ok && (coe == "true") {
			res.Conclusion = "success"
		}
		if res.Conclusion == "failure" {
			f.failed = true
		}
		f.results[strings.ToLower(id)] = res
	}
	return results, nil
}

func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		v := m[k]
		if len(v) > 60 || strings.Contains(v, "\n") {
			v = fmt.Sprintf("<%d bytes>", len(v))
		}
		parts = append(parts, k+"="+v)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// composite runs the composite action in dir as step res of frame parent.
func (x *execution) composite(ctx context.Context, parent *frame, dir string, with, env map[string]string, res *StepResult) (bool, error) {
	a, err := LoadAction(dir)
	if err != nil {
		return false, err
	}
	x.logf("run composite action %s (%s)", a.Name, a.Dir)
	inputs := newObject("inputs", true)
	for k := range with {
		if _, ok := lookupFold(a.Inputs, k); !ok {
			return false, fmt.Errorf("input %q is not declared in %s/action.yml", k, a.Dir)
		}
	}
	pev := x.evalEnv(parent)
	for name, in := range a.Inputs {
		v, given := lookupFold(with, name)
		if !given {
			if in.Required {
				return false, fmt.Errorf("required input %q of %s not given", name, a.Name)
			}
			if in.Default != nil {
				if v, err = pev.interpolate(string(*in.Default)); err != nil {
					return false, fmt.Errorf("input %q default: %w", name, err)
				}
			}
		}
		inputs.props[strings.ToLower(name)] = v
	}
	callerEnv := map[string]string{}
	for k, v := range parent.callerEnv {
		callerEnv[k] = v
	}
	for k, v := range env {
		callerEnv[k] = v
	}
	f := &frame{inputs: inputs, declared: declared(a.Runs.Steps), results: map[string]*StepResult{}, callerEnv: callerEnv, composite: true, actionPath: a.Dir}
	steps, err := x.runSteps(ctx, f, a.Runs.Steps)
	if err != nil {
		return false, fmt.Errorf("%s: %w", a.Name, err)
	}
	res.Steps = steps
	ev := x.evalEnv(f)
	res.Outputs = map[string]string{}
	for k, o := range a.Outputs {
		if res.Outputs[k], err = ev.interpolate(o.Value); err != nil {
			return false, fmt.Errorf("%s: outputs.%s: %w", a.Name, k, err)
		}
	}
	return !f.failed, nil
}

// shellCommand returns the argv template and script extension the runner
// uses for a shell: value.
func shellCommand(shell string) ([]string, string, error) {
	switch shell {
	case "":
		if _, err := exec.LookPath("bash"); err == nil {
			return []string{"bash", "-e", "{0}"}, ".sh", nil
		}
		return []string{"sh", "-e", "{0}"}, ".sh", nil
	case "bash":
		return []string{"bash", "--noprofile", "--norc", "-eo", "pipefail", "{0}"}, ".sh", nil
	case "sh":
		return []string{"sh", "-e", "{0}"}, ".sh", nil
	case "python":
		return []string{"python", "{0}"}, ".py", nil
	case "pwsh", "powershell", "cmd":
		return nil, "", fmt.Errorf("shell %s is not supported by the harness", shell)
	}
	if !strings.Contains(shell, "{0}") {
		return nil, "", fmt.Errorf("shell %q is neither a known shell nor a template with {0}", shell)
	}
	return strings.Fields(shell), "", nil
}

// script runs a run: step.
func (x *execution) script(ctx context.Context, f *frame, s *Step, id string, res *StepResult) (bool, error) {
	shell := s.Shell
	if shell == "" {
		shell = f.shell
	}
	argv, ext, err := shellCommand(shell)
	if err != nil {
		return false, err
	}
	ev := x.evalEnv(f)
	wd := s.WorkingDirectory
	if wd == "" && !f.composite {
		wd = f.workdir
	}
	if wd, err = ev.interpolate(wd); err != nil {
		return false, fmt.Errorf("working-directory: %w", err)
	}
	if wd == "" {
		wd = x.r.Workspace
	} else if !filepath.IsAbs(wd) {
		wd = filepath.Join(x.r.Workspace, wd)
	}
	if fi, err := os.Stat(wd); err != nil || !fi.IsDir() {
		x.logf("working-directory %s does not exist", wd)
		return false, nil
	}

	x.seq++
	scriptPath := filepath.Join(x.dir, fmt.Sprintf("step-%d%s", x.seq, ext))
	if err := os.WriteFile(scriptPath, []byte(s.Run), 0o755); err != nil {
		return false, err
	}
	files := map[string]string{}
	for _, kind := range []string{"output", "env", "path", "step_summary", "state"} {
		p := filepath.Join(x.filesDir, fmt.Sprintf("%s_%d", kind, x.seq))
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			return false, err
		}
		files[kind] = p
	}
	env := x.processEnv(f, id, res.Env, files)
	args := make([]string, len(argv))
	for i, a := range argv {
		args[i] = strings.ReplaceAll(a, "{0}", scriptPath)
	}
	x.logf("run %q (%s) in %s", res.Name, strings.Join(argv, " "), wd)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = wd
	cmd.Env = env
	var out bytes.Buffer
	w := io.MultiWriter(&out, x.log)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.WaitDelay = 10 * time.Second
	runErr := cmd.Run()
	res.Log = out.String()
	x.commands(res.Log)
	ok := runErr == nil
	if !ok {
		var ee *exec.ExitError
		msg := runErr.Error()
		if errors.As(runErr, &ee) {
			msg = fmt.Sprintf("Process completed with exit code %d.", ee.ExitCode())
		}
		if ctx.Err() != nil {
			msg = "The step timed out or was cancelled: " + ctx.Err().Error()
		}
		x.annotations = append(x.annotations, Annotation{Level: "error", Message: msg})
		x.logf("%s", msg)
	}

	// File commands are processed whatever the exit code, as the runner does.
	outputs, err := readFileCommand(files["output"])
	if err != nil {
		return false, fmt.Errorf("GITHUB_OUTPUT: %w", err)
	}
	res.Outputs = map[string]string{}
	for _, kv := range outputs {
		res.Outputs[kv[0]] = kv[1]
	}
	envs, err := readFileCommand(files["env"])
	if err != nil {
		return false, fmt.Errorf("GITHUB_ENV: %w", err)
	}
	for _, kv := range envs {
		x.jobEnv[kv[0]] = kv[1]
	}
	paths, err := os.ReadFile(files["path"])
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(string(paths), "\n") {
		if line = strings.TrimRight(line, "\r"); strings.TrimSpace(line) != "" {
			x.pathAdds = append(x.pathAdds, line)
		}
	}
	summary, err := os.ReadFile(files["step_summary"])
	if err != nil {
		return false, err
	}
	x.summary.Write(summary)
	return ok, nil
}

// processEnv is the environment of a run: step's process.
func (x *execution) processEnv(f *frame, id string, stepEnv map[string]string, files map[string]string) []string {
	env := map[string]string{}
	for k, v := range x.r.Env {
		env[k] = v
	}
	for k, v := range x.runnerVars() {
		env[k] = v
	}
	env["CI"] = "true"
	env["GITHUB_ACTIONS"] = "true"
	for _, k := range githubKeys {
		switch k {
		case "token", "event", "env", "path", "output", "state", "step_summary", "action_status", "action_path":
			continue
		}
		env["GITHUB_"+strings.ToUpper(k)] = x.github[k]
	}
	env["GITHUB_ACTION"] = id
	if f.composite {
		env["GITHUB_ACTION_PATH"] = f.actionPath
	}
	env["GITHUB_OUTPUT"] = files["output"]
	env["GITHUB_ENV"] = files["env"]
	env["GITHUB_PATH"] = files["path"]
	env["GITHUB_STEP_SUMMARY"] = files["step_summary"]
	env["GITHUB_STATE"] = files["state"]
	if x.idToken {
		env["ACTIONS_ID_TOKEN_REQUEST_URL"] = x.r.IDToken.URL
		env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = x.r.IDToken.RequestToken
	}
	for k, v := range x.jobEnv {
		env[k] = v
	}
	for k, v := range f.callerEnv {
		env[k] = v
	}
	if len(x.pathAdds) > 0 {
		p := make([]string, 0, len(x.pathAdds)+1)
		for i := len(x.pathAdds) - 1; i >= 0; i-- {
			p = append(p, x.pathAdds[i])
		}
		if old := env["PATH"]; old != "" {
			p = append(p, old)
		}
		env["PATH"] = strings.Join(p, string(os.PathListSeparator))
	}
	for k, v := range stepEnv {
		env[k] = v
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(env))
	for _, k := range keys {
		out = append(out, k+"="+env[k])
	}
	return out
}

// commands turns ::error/::warning/::notice lines into annotations.
func (x *execution) commands(log string) {
	for _, line := range strings.Split(log, "\n") {
		line = strings.TrimRight(line, "\r")
		if !strings.HasPrefix(line, "::") {
			continue
		}
		rest := line[2:]
		head, msg, ok := strings.Cut(rest, "::")
		if !ok {
			continue
		}
		name, props, _ := strings.Cut(head, " ")
		switch name {
		case "error", "warning", "notice":
			a := Annotation{Level: name, Message: unescapeData(msg)}
			for _, p := range strings.Split(props, ",") {
				if k, v, ok := strings.Cut(p, "="); ok && strings.TrimSpace(k) == "title" {
					a.Title = unescapeProperty(v)
				}
			}
			x.annotations = append(x.annotations, a)
		case "set-output", "set-env", "add-path":
			x.annotations = append(x.annotations, Annotation{Level: "error", Title: "harness", Message: "deprecated workflow command ::" + name + ":: (use the GITHUB_* files)"})
		}
	}
}

func unescapeData(s string) string {
	return strings.NewReplacer("%0D", "\r", "%0A", "\n", "%25", "%").Replace(s)
}

func unescapeProperty(s string) string {
	return strings.NewReplacer("%0D", "\r", "%0A", "\n", "%3A", ":", "%2C", ",", "%25", "%").Replace(s)
}

// readFileCommand parses a GITHUB_OUTPUT or GITHUB_ENV file: `name=value`
// lines and `name<<DELIMITER` … `DELIMITER` blocks, in order.
func readFileCommand(path string) ([][2]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseFileCommand(string(data))
}

func parseFileCommand(data string) ([][2]string, error) {
	data = strings.ReplaceAll(data, "\r\n", "\n")
	lines := strings.Split(data, "\n")
	var out [][2]string
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if line == "" {
			continue
		}
		eq := strings.Index(line, "=")
		hd := strings.Index(line, "<<")
		switch {
		case eq >= 0 && (hd < 0 || eq < hd):
			name := line[:eq]
			if name == "" {
				return nil, fmt.Errorf("line %d: empty name", i+1)
			}
			out = append(out, [2]string{name, line[eq+1:]})
		case hd >= 0:
			name, delim := line[:hd], line[hd+2:]
			if name == "" || delim == "" {
				return nil, fmt.Errorf("line %d: %q needs a name and a delimiter", i+1, line)
			}
			var val []string
			found := false
			for i++; i < len(lines); i++ {
				if lines[i] == delim {
					found = true
					break
				}
				val = append(val, lines[i])
			}
			if !found {
				return nil, fmt.Errorf("%s: delimiter %q not found", name, delim)
			}
			out = append(out, [2]string{name, strings.Join(val, "\n")})
		default:
			return nil, fmt.Errorf("line %d: %q is neither name=value nor name<<DELIMITER", i+1, line)
		}
	}
	return out, nil
}

// syncBuffer collects the log and copies it to w.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	w  io.Writer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Write(p)
	if s.w != nil {
		_, _ = s.w.Write(p)
	}
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
