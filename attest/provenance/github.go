package provenance

import (
	"context"
	"slices"
	"strings"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/statement"
)

// githubFacts follows GitHub's workflow build type field by field
// (actions/buildtypes workflow/v1 and @actions/attest):
//
//	externalParameters.workflow = {ref: github.ref, repository: server_url/repository,
//	                               path: workflow_ref minus "repository/" and "@ref"}
//	internalParameters.github   = {event_name, repository_id, repository_owner_id, runner_environment}
//	resolvedDependencies[0]     = {uri: git+server_url/repository@ref, digest: {gitCommit: sha}}
//	builder.id                  = server_url/job_workflow_ref
//	invocationId                = server_url/repository/actions/runs/run_id/attempts/run_attempt
//
// Each value comes from the OIDC token's claim of the same name when
// in.Tokens is set, else from the GITHUB_* variable. The environment has no
// job_workflow_ref, so without a token builder.id uses GITHUB_WORKFLOW_REF,
// which differs from GitHub's value only inside a reusable workflow.
//
// GitHub's build type lists push, create, release and workflow_dispatch
// events; GitHub's own action writes it for every event, and so does imgsign
// (a pull_request run's ref is refs/pull/N/merge, which no policy for a
// branch or tag will match). Mode max adds head_ref and base_ref (pull requests) and
// workflow_sha to internalParameters.github; all three are token claims
// too, so a token vouches for everything recorded.
func githubFacts(ctx context.Context, in *Inputs, env func(string) string, mode Mode) (*ciFacts, error) {
	var claims Claims
	claimSource := ""
	if in.Tokens != nil {
		var err error
		claims, claimSource, err = tokenClaims(ctx, in)
		if err != nil {
			return nil, err
		}
	}
	// read takes a fact from the claim of that name, falling back to an
	// environment variable, and remembers where the value came from.
	type fact struct{ value, source string }
	facts := map[string]fact{}
	read := func(claim, envName string) string {
		f := fact{}
		switch {
		case claims.String(claim) != "":
			f = fact{claims.String(claim), claimSource}
		case envName != "":
			f = fact{env(envName), SourceEnvironment}
		}
		facts[claim] = f
		return f.value
	}

	server, serverSource := "", ""
	if claims != nil {
		if s := githubServerFromIssuer(claims.String("iss")); s != "" {
			server, serverSource = s, claimSource
		}
	}
	if server == "" {
		server, serverSource = strings.TrimSuffix(env("GITHUB_SERVER_URL"), "/"), SourceEnvironment
		if server == "" {
			server = "https://github.com"
		}
	}
	facts["server_url"] = fact{server, serverSource}

	repo := read("repository", "GITHUB_REPOSITORY")
	ref := read("ref", "GITHUB_REF")
	sha := read("sha", "GITHUB_SHA")
	workflowRef := read("workflow_ref", "GITHUB_WORKFLOW_REF")
	jobWorkflowRef := read("job_workflow_ref", "")
	if jobWorkflowRef == "" {
		jobWorkflowRef = workflowRef
		facts["job_workflow_ref"] = facts["workflow_ref"]
	}
	runID := read("run_id", "GITHUB_RUN_ID")
	attempt := read("run_attempt", "GITHUB_RUN_ATTEMPT")

	var missing []string
	for _, n := range []struct{ fact, env string }{
		{"repository", "GITHUB_REPOSITORY"}, {"ref", "GITHUB_REF"}, {"sha", "GITHUB_SHA"},
		{"workflow_ref", "GITHUB_WORKFLOW_REF"}, {"run_id", "GITHUB_RUN_ID"}, {"run_attempt", "GITHUB_RUN_ATTEMPT"},
	} {
		if facts[n.fact].value == "" {
			missing = append(missing, n.env)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, errkind.Inputf("GITHUB_ACTIONS=true but %s not set: run imgsign inside the workflow job, or unset GITHUB_ACTIONS and pass --builder-id", strings.Join(missing, ", "))
	}
	// Per GitHub's build type: strip "repository/" and "@ref"; either part
	// may contain "@", so cut the known ref rather than at the first "@".
	path := strings.TrimPrefix(workflowRef, repo+"/")
	if p, ok := strings.CutSuffix(path, "@"+ref); ok {
		path = p
	} else if i := strings.LastIndex(path, "@"); i >= 0 {
		path = path[:i]
	}
	repoURL := server + "/" + repo

	gh := map[string]any{}
	internalFacts := []string{"event_name", "repository_id", "repository_owner_id", "runner_environment"}
	setIf(gh, "event_name", read("event_name", "GITHUB_EVENT_NAME"))
	setIf(gh, "repository_id", read("repository_id", "GITHUB_REPOSITORY_ID"))
	setIf(gh, "repository_owner_id", read("repository_owner_id", "GITHUB_REPOSITORY_OWNER_ID"))
	setIf(gh, "runner_environment", read("runner_environment", "RUNNER_ENVIRONMENT"))
	if mode == ModeMax {
		setIf(gh, "head_ref", read("head_ref", "GITHUB_HEAD_REF"))
		setIf(gh, "base_ref", read("base_ref", "GITHUB_BASE_REF"))
		setIf(gh, "workflow_sha", read("workflow_sha", "GITHUB_WORKFLOW_SHA"))
		internalFacts = append(internalFacts, "head_ref", "base_ref", "workflow_sha")
	}

	// weakest is where the least trustworthy of names came from.
	weakest := func(names ...string) string {
		srcs := map[string]string{}
		for _, n := range names {
			if f := facts[n]; f.value != "" && f.source != "" {
				srcs[n] = f.source
			}
		}
		return overallSource(srcs)
	}
	ci := &ciFacts{
		buildType: statement.GitHubBuildType,
		external: map[string]any{"workflow": map[string]any{
			"ref":        ref,
			"repository": repoURL,
			"path":       path,
		}},
		internal:     map[string]any{"github": gh},
		source:       gitDependency(repoURL, ref, sha),
		builderID:    server + "/" + jobWorkflowRef,
		invocationID: repoURL + "/actions/runs/" + runID + "/attempts/" + attempt,
		sources: map[string]string{
			factParameters:   weakest(append([]string{"server_url", "repository", "ref", "workflow_ref"}, internalFacts...)...),
			factSource:       weakest("server_url", "repository", "ref", "sha"),
			factBuilderID:    weakest("server_url", "job_workflow_ref"),
			factInvocationID: weakest("server_url", "repository", "run_id", "run_attempt"),
		},
	}
	return ci, nil
}
