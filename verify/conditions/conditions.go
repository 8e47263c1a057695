// Package conditions evaluates a trust policy's attestation conditions: CEL
// expressions (github.com/google/cel-go) over a verified in-toto statement.
// Expressions see `predicate`, `subject`, `predicateType`, `image`
// ({digest, repository}), `source` (the build's own source, see
// BuildSource) and `signer` (a signing certificate's build claims). A
// failed condition reports the values of the statement fields it referred
// to, so the reader sees why without rerunning.
package conditions

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"

	"github.com/imgsign/imgsign/internal/glob"
	"github.com/imgsign/imgsign/statement"
)

// env is built on first use, not at init, where every start of imgsign
// would pay for it.
var env = sync.OnceValue(func() *cel.Env {
	e, err := cel.NewEnv(
		cel.Variable("predicate", cel.DynType),
		cel.Variable("subject", cel.ListType(cel.DynType)),
		cel.Variable("predicateType", cel.StringType),
		cel.Variable("image", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("source", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("signer", cel.MapType(cel.StringType, cel.StringType)),
		// String helpers (split, lowerAscii, replace, …) are what policy
		// authors reach for first when matching refs and ids.
		ext.Strings(),
		// versionLess(a, b): see version.go.
		versionFunctions(),
	)
	if err != nil {
		panic(err) // a fixed declaration list: cannot fail at run time
	}
	return e
})

// Condition is a compiled expression.
type Condition struct {
	// Expr is the expression as written (or generated from a convenience field).
	Expr string
	// Label names where it came from ("builderId", or "" for a plain condition).
	Label string
	prg   cel.Program
	paths []path
}

type path struct {
	text string
	prg  cel.Program
}

// Bounds keep a hostile or careless expression from running away.
const costLimit = 1_000_000

// evalTimeout bounds one evaluation in time as well: cel-go's runtime cost
// tracking is itself quadratic over a comprehension on a long list, so
// `!predicate.deps.exists(d, d.startsWith("evil"))` over a signed 10 MB
// predicate (an SBOM a build wrote, signed by attest buildkit) ran for
// minutes before the cost limit stopped it — an admission webhook's or
// serve's verdict held hostage by the content it judges. A condition that
// takes longer fails, as any evaluation error does: it never counts as
// true. checkEvery is how often a comprehension checks the deadline.
var evalTimeout = 2 * time.Second

const checkEvery = 64

// Compile parses and type-checks expr; it must evaluate to a bool.
func Compile(expr string) (*Condition, error) {
	ast, iss := env().Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("%s", oneLine(iss.Err().Error()))
	}
	if !ast.OutputType().IsExactType(types.BoolType) && !ast.OutputType().IsExactType(types.DynType) {
		return nil, fmt.Errorf("condition must be true or false, but it yields %s", ast.OutputType())
	}
	prg, err := env().Program(ast, cel.CostLimit(costLimit), cel.InterruptCheckFrequency(checkEvery))
	if err != nil {
		return nil, fmt.Errorf("%s", oneLine(err.Error()))
	}
	c := &Condition{Expr: expr, prg: prg}
	for _, p := range referencedPaths(expr) {
		if a, iss := env().Compile(p); iss == nil || iss.Err() == nil {
			if pp, err := env().Program(a, cel.CostLimit(costLimit), cel.InterruptCheckFrequency(checkEvery)); err == nil {
				c.paths = append(c.paths, path{text: p, prg: pp})
			}
		}
	}
	return c, nil
}

// Input is what a condition is evaluated over.
type Input struct {
	// Statement is the verified in-toto statement, decoded from JSON.
	Statement  map[string]any
	Digest     string
	Repository string
	// SignerRepository and SignerRef are, for a statement signed with a
	// certificate, the source repository and ref the certificate names
	// (Fulcio's SourceRepositoryURI and SourceRepositoryRef); empty for a
	// key, or a certificate naming none.
	SignerRepository, SignerRef string
	// SignerBuildSigner and SignerBuildConfig are, for a statement signed
	// with a certificate, the workflow that signed and the one the build
	// ran (Fulcio's BuildSignerURI and BuildConfigURI: the same workflow,
	// or a reusable workflow and its caller); empty for a key.
	SignerBuildSigner, SignerBuildConfig string
}

// source is the build's source as BuildSource reads it, unless the
// statement was signed with a certificate naming another source. A key's
// holder vouches for what its statements say; a certificate vouches only
// for the workflow it was issued to, and that workflow writes the
// predicate itself — a workflow of acme/sandbox, trusted by an org-wide
// identity, can sign provenance whose externalParameters.workflow says
// acme/app. The certificate's claims are what the CI asserted, so a
// predicate source that disagrees with them is no source at all.
func (in Input) source() (map[string]string, string) {
	src, why := BuildSource(in.Statement)
	if why != "" || in.SignerRepository == "" && in.SignerRef == "" {
		return src, why
	}
	none := map[string]string{}
	if in.SignerRepository != "" && src["repository"] != in.SignerRepository {
		return none, fmt.Sprintf("the predicate's %s.repository %s is not the signing certificate's source repository %s", src["from"], statement.QuoteValue(src["repository"]), statement.QuoteValue(in.SignerRepository))
	}
	if ref, ok := src["ref"]; ok && ref != in.SignerRef {
		return none, fmt.Sprintf("the predicate's %s.ref %s is not the signing certificate's source ref %s", src["from"], statement.QuoteValue(ref), statement.QuoteValue(in.SignerRef))
	}
	return src, ""
}

func (in Input) activation() map[string]any {
	subj, _ := in.Statement["subject"].([]any)
	if subj == nil {
		subj = []any{}
	}
	pt, _ := in.Statement["predicateType"].(string)
	pred := in.Statement["predicate"]
	if pred == nil {
		pred = map[string]any{}
	}
	src, _ := in.source()
	return map[string]any{
		"predicate":     pred,
		"subject":       subj,
		"predicateType": pt,
		"image":         map[string]string{"digest": in.Digest, "repository": in.Repository},
		"source":        src,
		"signer":        map[string]string{"buildSignerURI": in.SignerBuildSigner, "buildConfigURI": in.SignerBuildConfig},
	}
}

// Eval reports whether the condition holds; when it does not, detail says
// what the expression saw (or the evaluation error, e.g. a missing field).
func (c *Condition) Eval(in Input) (ok bool, detail string) {
	act := in.activation()
	ctx, cancel := context.WithTimeout(context.Background(), evalTimeout)
	defer cancel()
	out, _, err := c.prg.ContextEval(ctx, act)
	if err != nil && ctx.Err() != nil {
		// Out of time: what it saw would take as long again to show.
		return false, fmt.Sprintf("did not finish within %s over this statement (a predicate too large to judge?)", evalTimeout)
	}
	if err == nil {
		if b, isBool := out.Value().(bool); isBool && b {
			return true, ""
		} else if !isBool {
			return false, fmt.Sprintf("yields %v, not true or false", out.Value())
		}
	}
	var saw []string
	// The paths are field selections, no comprehensions: a fresh bound,
	// so one the expression used up does not show them as missing.
	pctx, pcancel := context.WithTimeout(context.Background(), evalTimeout)
	defer pcancel()
	for _, p := range c.paths {
		v, _, perr := p.prg.ContextEval(pctx, act)
		if perr != nil {
			missing := p.text + " is missing"
			if p.text == "source" || strings.HasPrefix(p.text, "source.") {
				if _, why := in.source(); why != "" {
					missing += " (" + why + ")"
				}
			}
			saw = append(saw, missing)
			continue
		}
		b, _ := json.Marshal(nativeOf(v.Value()))
		s := string(b)
		if len(s) > 120 {
			s = s[:117] + "..."
		}
		if field, ok := strings.CutPrefix(p.text, "source."); ok && field != "from" {
			// Say where in the predicate the source was read.
			if src, _ := in.source(); src["from"] != "" {
				s += " from predicate.buildDefinition." + src["from"] + "." + field
			}
		}
		saw = append(saw, p.text+" = "+s)
	}
	detail = "saw " + strings.Join(saw, ", ")
	if len(saw) == 0 {
		detail = "evaluated to false"
	}
	if err != nil {
		detail = oneLine(err.Error()) + "; " + detail
	}
	return false, detail
}

// nativeOf converts CEL values nested in maps and lists to JSON-able ones.
func nativeOf(v any) any {
	if rv, ok := v.(interface{ Value() any }); ok {
		return nativeOf(rv.Value())
	}
	return v
}

// pathRE finds field paths rooted at the condition variables; each is
// evaluated on its own to show what a failed condition saw.
var pathRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`\b(predicate|subject|predicateType|image|source|signer)((\.[A-Za-z_][A-Za-z0-9_]*)|(\[[0-9]+\]))*`)
})

func referencedPaths(expr string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range pathRE().FindAllString(expr, -1) {
		// A trailing method call (x.startsWith) is not a field.
		for _, meth := range []string{".startsWith", ".endsWith", ".contains", ".matches", ".exists", ".all", ".size", ".filter", ".map", ".exists_one"} {
			m = strings.TrimSuffix(m, meth)
		}
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	sort.Strings(out)
	// A path that is a prefix of another adds only noise: show the deepest.
	var deepest []string
	for i, p := range out {
		if i+1 < len(out) && (strings.HasPrefix(out[i+1], p+".") || strings.HasPrefix(out[i+1], p+"[")) {
			continue
		}
		deepest = append(deepest, p)
	}
	return deepest
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Convenience fields compile to CEL over SLSA provenance v1, modelled on
// slsa-verifier's flags.

// BuilderID requires runDetails.builder.id to equal id — and, in
// provenance of BuildKit's build type, that imgsign assembled it. BuildKit
// writes builder.id from the build's own builder-id attribute, so
// BuildKit's provenance as the build wrote it (signed unchanged by attest
// buildkit) names whatever builder the build chose, the release
// workflow's as well; provenance imgsign assembled from it (attest
// provenance --from-image) carries the CI's builder id and
// statement.FactsSourceKey, which attest buildkit refuses to sign.
//
// An id naming a GitHub workflow (…/.github/workflows/…) must also be the
// signing certificate's workflow, when the statement was signed with a
// certificate that names one: the workflow a certificate was issued to
// writes the predicate itself, so a workflow of acme/sandbox, trusted by
// an org-wide identity, could name acme/app's release workflow as its
// builder. A key's holder vouches for what its statements say.
func BuilderID(id string) string {
	expr := fmt.Sprintf("predicate.runDetails.builder.id == %s && (!has(predicate.buildDefinition) || !has(predicate.buildDefinition.buildType) || predicate.buildDefinition.buildType != %s || "+
		"has(predicate.buildDefinition.internalParameters) && %s in predicate.buildDefinition.internalParameters)",
		quote(id), quote(statement.BuildKitBuildTypeV1), quote(statement.FactsSourceKey))
	if strings.Contains(id, githubWorkflows) {
		expr += fmt.Sprintf(` && (signer.buildSignerURI == "" && signer.buildConfigURI == "" || %s in [signer.buildSignerURI, signer.buildConfigURI])`, quote(id))
	}
	return expr
}

// githubWorkflows is the path segment of a GitHub workflow's URI, as
// GitHub's builder ids and Fulcio's BuildSignerURI spell it.
const githubWorkflows = "/.github/workflows/"

// BuildType requires buildDefinition.buildType to equal t.
func BuildType(t string) string {
	return fmt.Sprintf("predicate.buildDefinition.buildType == %s", quote(t))
}

// SourceRepository requires the build's own source repository (see
// BuildSource) to be repo, with or without https:// and .git.
func SourceRepository(repo string) string {
	u := repo
	if !strings.Contains(u, "://") {
		u = "https://" + u
	}
	u = strings.TrimSuffix(u, "/")
	return fmt.Sprintf(`source.repository in [%s, %s]`, quote(u), quote(u+".git"))
}

// SourceRef requires the build's own source ref (refs/heads/main,
// refs/tags/v1.2.3; see BuildSource) to match a glob: * within a path
// segment, ** across segments. It reads the same entry SourceRepository
// does, so the two can never be satisfied by different sources.
func SourceRef(ref string) string {
	return fmt.Sprintf(`source.ref.matches(%s)`, quote("^"+glob.Pattern(ref)+"$"))
}

// Build types whose externalParameters.workflow is the repository and ref
// the CI ran the build from: GitHub's own workflow type, the
// slsa-github-generator's, and imgsign's GitLab CI type.
var workflowBuildTypes = []string{statement.GitHubBuildType, statement.SLSAGitHubGeneratorBuildType, statement.GitLabBuildType}

// BuildSource is the repository and ref a SLSA provenance v1 predicate says
// the build ran from, read only where the builder itself records them —
// never from resolvedDependencies, which BuildKit fills with whatever the
// build fetched (a build that clones acme/app names acme/app there, whoever
// ran it):
//
//   - GitHub's, slsa-github-generator's and imgsign's GitLab build types:
//     externalParameters.workflow {repository, ref};
//   - imgsign's generic build type: externalParameters.source (--source-repo,
//     --source-ref);
//   - BuildKit's build type: the workflow or source imgsign merged in from the
//     CI. BuildKit itself writes neither, and imgsign refuses to sign or merge
//     BuildKit provenance that claims one.
//
// The result maps repository, ref (when recorded) and from (the field read);
// with no source it is empty and why says what was missing.
func BuildSource(stmt map[string]any) (src map[string]string, why string) {
	src = map[string]string{}
	if pt, _ := stmt["predicateType"].(string); pt != statement.SLSAProvenanceV1 {
		return src, fmt.Sprintf("the build's source is read from SLSA provenance v1, and this is %s", orNone(pt))
	}
	pred, _ := stmt["predicate"].(map[string]any)
	bd, _ := pred["buildDefinition"].(map[string]any)
	bt, _ := bd["buildType"].(string)
	ep, _ := bd["externalParameters"].(map[string]any)
	var fields []string
	switch {
	case slices.Contains(workflowBuildTypes, bt):
		fields = []string{"workflow"}
	case bt == statement.GenericBuildType:
		fields = []string{"source"}
	case bt == statement.BuildKitBuildTypeV1:
		fields = []string{"workflow", "source"}
	default:
		return src, fmt.Sprintf("buildType %s records no source imgsign can trust", orNone(bt))
	}
	for _, f := range fields {
		entry, ok := ep[f].(map[string]any)
		if !ok {
			continue
		}
		repo, _ := entry["repository"].(string)
		if repo == "" {
			return src, fmt.Sprintf("externalParameters.%s has no repository", f)
		}
		src["repository"] = repo
		if ref, _ := entry["ref"].(string); ref != "" {
			src["ref"] = ref
		}
		src["from"] = "externalParameters." + f
		return src, ""
	}
	return src, fmt.Sprintf("buildType %s without externalParameters.%s: no CI recorded the source", bt, strings.Join(fields, " or "))
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
