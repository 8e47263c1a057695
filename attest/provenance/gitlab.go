package provenance

import (
	"strings"
	"time"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/statement"
)

// A GitLab CI job's provenance (statement.GitLabBuildType) is modelled on
// GitHub's workflow build type so that one policy shape reads both:
//
//	externalParameters.workflow   = {repository: CI_PROJECT_URL, ref: the git ref, path: CI_CONFIG_PATH}
//	externalParameters.entryPoint = CI_JOB_NAME (GitLab's own name for it)
//	internalParameters.gitlab     = {pipeline_source, project_id, namespace_id, ref_protected}
//	                                + with mode max: pipeline_id, job_id, runner_description,
//	                                  runner_tags, merge_request_iid, merge_request_source_branch,
//	                                  merge_request_target_branch, server_version
//	resolvedDependencies[0]       = {uri: git+CI_PROJECT_URL@ref, digest: {gitCommit: CI_COMMIT_SHA}}
//	builder.id                    = CI_PROJECT_URL/-/runners/CI_RUNNER_ID
//	invocationId                  = CI_JOB_URL
//	startedOn                     = CI_JOB_STARTED_AT
//
// The build type is statement.GitLabBuildType (see there why not the
// runner's own). The builder id follows GitLab's runner (and npm's GitLab
// provenance): the project's runner page, which names the server too.

// gitlabRef is the git ref the pipeline ran for.
func gitlabRef(env func(string) string) string {
	if t := env("CI_COMMIT_TAG"); t != "" {
		return "refs/tags/" + t
	}
	if iid := env("CI_MERGE_REQUEST_IID"); iid != "" {
		// Merge request pipelines run on GitLab's hidden MR refs: the
		// source branch head, or the merge result for merged-results and
		// merge-train pipelines.
		switch env("CI_MERGE_REQUEST_EVENT_TYPE") {
		case "merged_result":
			return "refs/merge-requests/" + iid + "/merge"
		case "merge_train":
			return "refs/merge-requests/" + iid + "/train"
		}
		return "refs/merge-requests/" + iid + "/head"
	}
	if b := env("CI_COMMIT_BRANCH"); b != "" {
		return "refs/heads/" + b
	}
	return env("CI_COMMIT_REF_NAME")
}

// gitlabFacts reads a GitLab CI job's predefined variables. GitLab OIDC
// tokens (id_tokens) live in a variable the pipeline names, so imgsign reads
// the environment only here.
func gitlabFacts(env func(string) string, mode Mode) (*ciFacts, error) {
	if err := required(env, "GitLab CI (GITLAB_CI=true)", "CI_PROJECT_URL", "CI_COMMIT_SHA", "CI_JOB_URL", "CI_RUNNER_ID"); err != nil {
		return nil, err
	}
	project := strings.TrimSuffix(env("CI_PROJECT_URL"), "/")
	ref := gitlabRef(env)
	path := env("CI_CONFIG_PATH")
	if path == "" {
		path = ".gitlab-ci.yml"
	}
	workflow := map[string]any{"repository": project, "path": path}
	setIf(workflow, "ref", ref)
	external := map[string]any{"workflow": workflow}
	setIf(external, "entryPoint", env("CI_JOB_NAME"))

	gl := map[string]any{}
	setIf(gl, "pipeline_source", env("CI_PIPELINE_SOURCE"))
	setIf(gl, "project_id", env("CI_PROJECT_ID"))
	setIf(gl, "namespace_id", env("CI_PROJECT_NAMESPACE_ID"))
	setIf(gl, "ref_protected", env("CI_COMMIT_REF_PROTECTED"))
	if mode == ModeMax {
		setIf(gl, "pipeline_id", env("CI_PIPELINE_ID"))
		setIf(gl, "job_id", env("CI_JOB_ID"))
		setIf(gl, "runner_description", env("CI_RUNNER_DESCRIPTION"))
		setIf(gl, "runner_tags", env("CI_RUNNER_TAGS"))
		setIf(gl, "merge_request_iid", env("CI_MERGE_REQUEST_IID"))
		setIf(gl, "merge_request_source_branch", env("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME"))
		setIf(gl, "merge_request_target_branch", env("CI_MERGE_REQUEST_TARGET_BRANCH_NAME"))
		setIf(gl, "server_version", env("CI_SERVER_VERSION"))
	}

	ci := &ciFacts{
		buildType:    statement.GitLabBuildType,
		external:     external,
		internal:     map[string]any{"gitlab": gl},
		source:       gitDependency(project, ref, env("CI_COMMIT_SHA")),
		builderID:    project + "/-/runners/" + env("CI_RUNNER_ID"),
		invocationID: env("CI_JOB_URL"),
		sources: map[string]string{
			factParameters:   SourceEnvironment,
			factSource:       SourceEnvironment,
			factBuilderID:    SourceEnvironment,
			factInvocationID: SourceEnvironment,
		},
	}
	if s := env("CI_JOB_STARTED_AT"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return nil, errkind.Inputf("CI_JOB_STARTED_AT %q is not an RFC 3339 time", s)
		}
		t = t.UTC()
		ci.startedOn = &t
	}
	return ci, nil
}
