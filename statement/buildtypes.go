package statement

// SLSA provenance build types imgsign writes or reads. A build type says
// what a predicate's externalParameters mean, so the writer (package
// provenance) and the reader (policy conditions reading the build's
// source) must agree on each.
const (
	// GitHubBuildType is GitHub's own build type for a workflow run, the
	// one actions/attest-build-provenance writes, so GitHub's attestation
	// tooling and policies written for it read imgsign's predicates the
	// same way. externalParameters.workflow is {repository, ref, path}.
	GitHubBuildType = "https://actions.github.io/buildtypes/workflow/v1"
	// SLSAGitHubGeneratorBuildType is the slsa-github-generator's workflow
	// build type; imgsign reads its externalParameters.workflow as GitHub's.
	SLSAGitHubGeneratorBuildType = "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1"
	// GitLabBuildType is imgsign's build type for GitLab CI, shaped like
	// GitHub's (externalParameters.workflow). GitLab's runner has a build
	// type of its own, but it describes provenance the runner generates,
	// with every CI variable as a parameter: imgsign is not the runner and
	// cannot tell masked variables from the environment, so it does not
	// claim that type.
	GitLabBuildType = "https://imgsign.dev/buildtypes/gitlab-ci/v1"
	// GenericBuildType is imgsign's build type for provenance built outside
	// GitHub Actions and GitLab CI without BuildKit's provenance: its
	// externalParameters hold "source" {repository, ref}.
	GenericBuildType = "https://imgsign.dev/buildtypes/generic/v1"
	// BuildKitBuildTypeV02 is what BuildKit's SLSA v0.2 predicates carry.
	BuildKitBuildTypeV02 = "https://mobyproject.org/buildkit@v1"
	// BuildKitBuildTypeV1 is what BuildKit's v1 predicates (and its own
	// v0.2→v1 converter) carry; its page defines
	// externalParameters.configSource and .request,
	// internalParameters.buildConfig and .builderPlatform, and the
	// runDetails.metadata.buildkit_* extension fields.
	BuildKitBuildTypeV1 = "https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md"
)

// FactsSourceKey is the internalParameters key under which imgsign records
// where the CI facts of provenance it assembled came from. BuildKit never
// writes it and attest buildkit refuses provenance carrying it, so in
// provenance of BuildKit's build type it marks a predicate imgsign
// assembled — whose builder.id is the CI's, not the build's.
const FactsSourceKey = "imgsign.dev/factsSource"
