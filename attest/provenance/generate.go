package provenance

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/statement"
)

// Mode is how much the predicate says, with the meaning BuildKit gives
// mode=min and mode=max. See README.md in this directory for the field table.
type Mode string

const (
	// ModeMax (the default) records everything known: build arguments and
	// labels, secret and ssh ids, the build steps, source and layer maps,
	// and the CI's extra context (pull request head/base refs…).
	ModeMax Mode = "max"
	// ModeMin records the build request without build arguments and labels,
	// the resolved dependencies, the builder, the invocation and timestamps.
	ModeMin Mode = "min"
)

// ParseMode accepts "max", "min" and "" (max).
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "", ModeMax:
		return ModeMax, nil
	case ModeMin:
		return ModeMin, nil
	}
	return "", errkind.Inputf("provenance mode %q: use max or min", s)
}

// Keys imgsign adds to internalParameters.
const (
	keyFactsSource = statement.FactsSourceKey
	keyFactSources = "imgsign.dev/factSources"
	keyBuildKit    = "imgsign.dev/buildkit"
)

// Source names the source commit when no CI tells: generic builds.
type Source struct {
	Repository string // https URL of the git repository, without .git
	Ref        string // git ref, e.g. refs/heads/main (optional)
	Commit     string // commit id (hex)
}

// Inputs are everything Generate may use. Only Mode and Env are read on
// every call; the rest are optional.
type Inputs struct {
	Mode Mode // "" means max
	// Env reads environment variables; nil means os.Getenv. Tests pass
	// MapEnv(...).
	Env func(string) string

	// BuildKitMetadata is the file docker buildx build --metadata-file wrote.
	BuildKitMetadata []byte
	// Platform selects the provenance of one platform ("linux/arm64") from
	// a multi-platform metadata file.
	Platform string
	// InIndex is a provenance attestation BuildKit stored in the image index
	// (from FromIndex). At most one of BuildKitMetadata and InIndex.
	InIndex *Attestation
	// ImageDigest, when set, must be the image BuildKit's provenance is
	// about (containerimage.digest, or the index/subject of InIndex), so
	// the provenance of one build is never attached to another image.
	ImageDigest string

	// BuilderID overrides the builder id (--builder-id). Required outside
	// GitHub Actions and GitLab CI.
	BuilderID string
	// Source is the source commit for generic builds (outside CI).
	Source *Source
	// Version is imgsign's version, recorded as builder.version.imgsign.
	Version string

	// Tokens, on GitHub Actions, fetches an OIDC token whose claims replace
	// the environment as the source of the CI facts. Verifier, if set,
	// checks the token; otherwise its claims are recorded as unverified.
	Tokens   TokenSource
	Verifier TokenVerifier
	Audience string // "" means DefaultAudience

	// Now gives finishedOn when no build finish time is known.
	Now func() time.Time
}

// MapEnv returns an Env function reading m.
func MapEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// ciFacts are what the CI platform (or the caller) says about the run.
type ciFacts struct {
	buildType    string
	external     map[string]any
	internal     map[string]any
	source       *ResourceDescriptor
	builderID    string
	invocationID string
	startedOn    *time.Time
	// sources maps a fact (see factKeys) to where it came from.
	sources map[string]string
}

// Facts whose origin is recorded in internalParameters["imgsign.dev/factSources"].
const (
	factBuilderID       = "builder.id"
	factInvocationID    = "invocationId"
	factSource          = "source"
	factParameters      = "parameters"
	factBuildDefinition = "buildDefinition"
)

// Generate builds a SLSA provenance v1 predicate from the CI environment,
// BuildKit's provenance and the caller's inputs. The rules for combining
// them are in README.md in this directory.
func Generate(ctx context.Context, in Inputs) (*Provenance, error) {
	mode, err := ParseMode(string(in.Mode))
	if err != nil {
		return nil, err
	}
	env := in.Env
	if env == nil {
		env = os.Getenv
	}
	now := time.Now
	if in.Now != nil {
		now = in.Now
	}
	if in.BuilderID != "" {
		if err := checkBuilderID(in.BuilderID); err != nil {
			return nil, err
		}
	}

	bk, err := readBuildKit(&in)
	if err != nil {
		return nil, err
	}
	if bk != nil {
		if err := applyBuildKitMode(bk.prov, mode); err != nil {
			return nil, errkind.Mark(errkind.Input, err)
		}
	}

	var ci *ciFacts
	switch {
	case env("GITHUB_ACTIONS") == "true":
		ci, err = githubFacts(ctx, &in, env, mode)
	case env("GITLAB_CI") == "true":
		ci, err = gitlabFacts(env, mode)
	default:
		ci, err = genericFacts(&in, bk != nil)
	}
	if err != nil {
		return nil, err
	}
	return assemble(ci, bk, &in, now())
}

// buildKitPart is BuildKit's provenance, converted to v1, plus what imgsign
// keeps of BuildKit's own identifiers.
type buildKitPart struct {
	prov   *Provenance
	source string         // SourceBuildKitMetadata or SourceBuildKitIndex
	info   map[string]any // internalParameters["imgsign.dev/buildkit"]
}

func readBuildKit(in *Inputs) (*buildKitPart, error) {
	if in.BuildKitMetadata != nil && in.InIndex != nil {
		return nil, errkind.Inputf("BuildKit provenance from both a metadata file and the image index: use one")
	}
	var (
		where, src    string
		raw           []byte
		predicateType string
		info          = map[string]any{}
	)
	switch {
	case in.BuildKitMetadata != nil:
		md, err := ParseBuildKitMetadata(in.BuildKitMetadata)
		if err != nil {
			return nil, err
		}
		if in.ImageDigest != "" && md.ImageDigest != "" && in.ImageDigest != md.ImageDigest && in.ImageDigest != md.DescriptorDigest {
			return nil, errkind.Inputf("the BuildKit metadata file describes %s, not the image %s: pass the metadata of the build that produced this image", md.ImageDigest, in.ImageDigest)
		}
		raw, err = md.selectProvenance(in.Platform)
		if err != nil {
			return nil, err
		}
		if md.BuildRef != "" {
			info["buildRef"] = md.BuildRef
		}
		src, where = SourceBuildKitMetadata, "the BuildKit metadata file"
	case in.InIndex != nil:
		a := in.InIndex
		if in.ImageDigest != "" && in.ImageDigest != a.Subject.String() && (a.Index == nil || in.ImageDigest != a.Index.String()) {
			return nil, errkind.Inputf("the BuildKit attestation is about %s, not the image %s", a.Subject, in.ImageDigest)
		}
		raw, predicateType = a.Predicate, a.PredicateType
		src, where = SourceBuildKitIndex, fmt.Sprintf("BuildKit's attestation manifest %s", a.Manifest)
	default:
		return nil, nil
	}
	if raw == nil {
		// A metadata file without provenance (built with --provenance=false
		// or BUILDX_METADATA_PROVENANCE=disabled): CI facts only.
		return nil, nil
	}
	// The build wrote it: take it only in the shape BuildKit writes, so it
	// cannot bring a build type or source fields of imgsign's or the CI's.
	if err := checkBuildKitPredicate(raw, predicateType); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	p, err := parsePredicate(raw, predicateType)
	if err != nil {
		return nil, errkind.Inputf("%s: %v", where, err)
	}
	// And again as parsed: encoding/json matches keys case-insensitively,
	// so "ExternalParameters" beside "externalParameters" reached the
	// struct while the exact-key check above read the other one.
	if err := checkParsedBuildKit(p); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if p.RunDetails.Builder.ID != "" {
		info["builderId"] = p.RunDetails.Builder.ID
	}
	if p.RunDetails.Metadata != nil && p.RunDetails.Metadata.InvocationID != "" {
		info["invocationId"] = p.RunDetails.Metadata.InvocationID
	}
	return &buildKitPart{prov: p, source: src, info: info}, nil
}

// genericFacts are the caller's: --builder-id (checked in assemble) and
// Inputs.Source.
func genericFacts(in *Inputs, haveBuildKit bool) (*ciFacts, error) {
	ci := &ciFacts{buildType: statement.GenericBuildType, external: map[string]any{}, internal: map[string]any{}, sources: map[string]string{}}
	if s := in.Source; s != nil && s.Repository == "" && (s.Commit != "" || s.Ref != "") {
		return nil, errkind.Inputf("a source commit or ref needs its repository URL too")
	}
	if s := in.Source; s != nil && s.Repository != "" {
		src := map[string]any{"repository": s.Repository}
		if s.Ref != "" {
			src["ref"] = s.Ref
		}
		ci.external["source"] = src
		ci.sources[factParameters] = SourceCaller
		if s.Commit != "" {
			ci.source = gitDependency(s.Repository, s.Ref, s.Commit)
			ci.sources[factSource] = SourceCaller
		}
	}
	if len(ci.external) == 0 && !haveBuildKit {
		return nil, errkind.Inputf("nothing to attest: outside GitHub Actions and GitLab CI, give BuildKit's provenance (--buildkit-metadata FILE from docker buildx build --metadata-file, or --from-image) or the source repository and commit")
	}
	return ci, nil
}

// gitDependency is the resolvedDependencies entry for a source commit, in
// the SPDX download-location form GitHub's build type uses:
// git+REPO@REF with digest gitCommit.
func gitDependency(repo, ref, commit string) *ResourceDescriptor {
	uri := "git+" + repo
	if ref != "" {
		uri += "@" + ref
	}
	return &ResourceDescriptor{URI: uri, Digest: map[string]string{"gitCommit": commit}}
}

// hasDependency reports whether deps already name commit of repo (under
// any git digest name, from any spelling of the repository URL).
func hasDependency(deps []ResourceDescriptor, dep *ResourceDescriptor) bool {
	commit := dep.Digest["gitCommit"]
	repo := normalizeRepo(dep.URI)
	for _, d := range deps {
		if (d.Digest["gitCommit"] == commit || d.Digest["sha1"] == commit) && normalizeRepo(d.URI) == repo {
			return true
		}
	}
	return false
}

// assemble combines CI facts and BuildKit's provenance. See README.md.
func assemble(ci *ciFacts, bk *buildKitPart, in *Inputs, now time.Time) (*Provenance, error) {
	var p *Provenance
	if bk == nil {
		p = &Provenance{BuildDefinition: BuildDefinition{
			BuildType:          ci.buildType,
			ExternalParameters: ci.external,
			InternalParameters: map[string]any{},
		}}
	} else {
		p = bk.prov
		if p.BuildDefinition.InternalParameters == nil {
			p.BuildDefinition.InternalParameters = map[string]any{}
		}
		for _, k := range sortedKeys(ci.external) {
			if _, dup := p.BuildDefinition.ExternalParameters[k]; dup {
				return nil, errkind.Inputf("BuildKit's provenance already has externalParameters.%s, which imgsign would set from the CI", k)
			}
			p.BuildDefinition.ExternalParameters[k] = ci.external[k]
		}
		if len(bk.info) > 0 {
			p.BuildDefinition.InternalParameters[keyBuildKit] = bk.info
		}
		ci.sources[factBuildDefinition] = bk.source
	}
	internal := p.BuildDefinition.InternalParameters
	for _, k := range sortedKeys(ci.internal) {
		if _, dup := internal[k]; dup {
			return nil, errkind.Inputf("BuildKit's provenance already has internalParameters.%s, which imgsign would set from the CI", k)
		}
		internal[k] = ci.internal[k]
	}
	// The CI's source commit goes first: it is what a verifier means by
	// "the source" (slsa-verifier reads the first dependency), and it is
	// missing from BuildKit's list whenever the build context was a local
	// checkout.
	if ci.source != nil && !hasDependency(p.BuildDefinition.ResolvedDependencies, ci.source) {
		p.BuildDefinition.ResolvedDependencies = append([]ResourceDescriptor{*ci.source}, p.BuildDefinition.ResolvedDependencies...)
	}

	b := &p.RunDetails.Builder
	b.ID = ci.builderID
	if in.BuilderID != "" {
		b.ID = in.BuilderID
		ci.sources[factBuilderID] = SourceCaller
	}
	if b.ID == "" {
		return nil, errkind.Inputf("no builder id: outside GitHub Actions and GitLab CI pass --builder-id URI naming the system that built the image (e.g. https://jenkins.example.com/job/app)")
	}
	if in.Version != "" {
		if b.Version == nil {
			b.Version = map[string]string{}
		}
		b.Version["imgsign"] = in.Version
	}

	md := p.RunDetails.Metadata
	if md == nil {
		md = &BuildMetadata{}
		p.RunDetails.Metadata = md
	}
	switch {
	case ci.invocationID != "":
		md.InvocationID = ci.invocationID
	case md.InvocationID != "":
		ci.sources[factInvocationID] = bk.source
	case bk != nil && bk.info["buildRef"] != nil:
		md.InvocationID = bk.info["buildRef"].(string)
		ci.sources[factInvocationID] = bk.source
	}
	// BuildKit's times are those of the image build itself; prefer them.
	if md.StartedOn == nil {
		md.StartedOn = ci.startedOn
	}
	if md.FinishedOn == nil {
		t := now.UTC()
		md.FinishedOn = &t
	}

	internal[keyFactsSource] = overallSource(ci.sources)
	if len(ci.sources) > 0 {
		internal[keyFactSources] = ci.sources
	}
	return p, nil
}

// overallSource is the least trustworthy origin among the run's facts (the
// BuildKit build definition aside: it has its own entry).
func overallSource(sources map[string]string) string {
	rank := map[string]int{SourceEnvironment: 0, SourceCaller: 0, SourceUnverifiedOIDC: 1, SourceVerifiedOIDC: 2}
	best, bestRank := "", 3
	for _, k := range sortedKeys(sources) {
		if k == factBuildDefinition {
			continue
		}
		s := sources[k]
		r, ok := rank[s]
		if !ok {
			continue
		}
		// Between equals, "environment" wins: it is the weaker claim.
		if r < bestRank || (r == bestRank && s == SourceEnvironment) {
			best, bestRank = s, r
		}
	}
	if best == "" {
		return SourceCaller
	}
	return best
}

func checkBuilderID(id string) error {
	u, err := url.Parse(id)
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "") || strings.ContainsAny(id, " \t\n") {
		return errkind.Inputf("--builder-id %q is not a URI: give an absolute URI such as https://ci.example.com/builders/docker", id)
	}
	return nil
}

// required returns an error naming every variable in names that env lacks.
func required(env func(string) string, platform string, names ...string) error {
	var missing []string
	for _, n := range names {
		if env(n) == "" {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	return errkind.Inputf("%s detected but %s not set: run imgsign inside the CI job, or pass --builder-id outside CI", platform, strings.Join(missing, ", "))
}

// setIf sets m[k] = v when v is not empty.
func setIf(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}
