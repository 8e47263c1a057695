// Package verify decides whether images are trusted: it resolves each image
// once, discovers what is attached, fetches in parallel only the evidence
// the matching policy rule needs, checks each piece through its format
// (evidence.go: Sigstore bundles, and cosign's legacy .sig/.att tags when
// the referrers leave a requirement unmet, legacy.go) and evaluates the
// rule's thresholds over distinct, valid keys without knowing formats. The
// result is a Report value that the CLI prints as text or JSON.
package verify

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/signature"
	"golang.org/x/sync/errgroup"

	"github.com/imgsign/imgsign/internal/attachment"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/refname"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/keys"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/storage"
	"github.com/imgsign/imgsign/verify/conditions"
	"github.com/imgsign/imgsign/verify/policy"
)

// Verifier checks images against one trust policy.
type Verifier struct {
	client storage.Resolver
	policy *policy.Policy
	now    func() time.Time
	jobs   int
	// predicates keeps accepted attestations' predicates in the report.
	predicates bool

	tsas []root.TimestampingAuthority
	// files are bundles given as files (WithBundles).
	files []FileBundle
	mu    sync.Mutex
	cache map[string][]signature.Verifier
	// notary verifies Notary Project signatures under the x509 signers.
	notary *notaryVerifiers
}

// Option configures a Verifier.
type Option func(*Verifier)

// WithClock replaces time.Now (tests judge key validity at fixed times).
func WithClock(now func() time.Time) Option { return func(v *Verifier) { v.now = now } }

// WithPredicates puts each accepted attestation's verified predicate in the
// report (verify --show-predicates), so a deploy step reads what was checked
// without fetching it again.
func WithPredicates() Option { return func(v *Verifier) { v.predicates = true } }

// WithOffline checks no certificate's revocation status (no CRL or OCSP
// server is asked): Notary Project signatures say so in the report.
func WithOffline() Option { return func(v *Verifier) { v.notary.offline = true } }

// New returns a Verifier for p.
func New(c storage.Resolver, p *policy.Policy, opts ...Option) *Verifier {
	v := &Verifier{client: c, policy: p, now: time.Now, jobs: 8, cache: map[string][]signature.Verifier{}, tsas: timestampAuthorities(p),
		notary: &notaryVerifiers{policy: p}}
	for _, o := range opts {
		o(v)
	}
	return v
}

// VerifyAll verifies images concurrently and returns the report and the
// process exit code: the most serious of the images' codes.
func (v *Verifier) VerifyAll(ctx context.Context, images []string) (*Report, int) {
	rep := &Report{Schema: ReportSchema, MediaType: ReportMediaType, Images: make([]*ImageResult, len(images))}
	var wg sync.WaitGroup
	for i, img := range images {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep.Images[i] = v.Verify(ctx, img)
		}()
	}
	wg.Wait()
	code := 0
	for _, r := range rep.Images {
		code = worse(code, r.ExitCode)
	}
	return rep, code
}

// worse orders exit codes by severity: operational (3) over bad input (2)
// over untrusted (1) over success — their numeric order.
func worse(a, b int) int { return max(a, b) }

// requirement is one thing a rule asks for.
type requirement struct {
	kind          string
	predicateType string
	keys          []string
	threshold     int
	maxAge        time.Duration
	conditions    []policy.Condition
	// requireTimestamp rejects signatures without a trusted RFC 3161 time.
	requireTimestamp bool
	// bindTag counts, when the image was given by tag, only signatures
	// whose statement names that tag (statement.TagAnnotation).
	bindTag bool
}

func requirements(r *policy.Rule) []requirement {
	var out []requirement
	if s := r.Signatures; s != nil {
		out = append(out, requirement{kind: "signatures", predicateType: statement.Signature, keys: s.Keys, threshold: s.Threshold, requireTimestamp: s.RequireTimestamp, bindTag: s.BindTag})
	}
	for _, a := range r.Attestations {
		out = append(out, requirement{kind: "attestation", predicateType: a.Type, keys: a.Keys, threshold: a.Threshold, maxAge: a.MaxAge, conditions: a.Conditions})
	}
	return out
}

// Verify checks one image. It never returns an error: failures are in the
// result, with the exit code they map to.
func (v *Verifier) Verify(ctx context.Context, image string) *ImageResult {
	res := &ImageResult{Image: image, Verdict: VerdictError, Enforced: true}
	fail := failer(res)
	ref, err := v.client.ParseReference(image)
	if err != nil {
		return fail(err)
	}
	// Match before any network: an image no rule covers is rejected outright.
	m, err := v.match(res, ref.Context().Name())
	if err != nil {
		return fail(err)
	}
	target, err := v.client.ResolveReference(ctx, ref, false)
	if err != nil {
		return fail(err)
	}
	return v.verifyTarget(ctx, res, m, ref, target, fail)
}

// VerifyTarget is Verify for a caller that parsed image as ref and resolved
// it itself: imgsign serve caches tag resolutions and shares one between
// concurrent admissions. A target that is not ref's repository, or not
// ref's digest, is refused rather than judged.
func (v *Verifier) VerifyTarget(ctx context.Context, image string, ref name.Reference, target *storage.Target) *ImageResult {
	res := &ImageResult{Image: image, Verdict: VerdictError, Enforced: true}
	fail := failer(res)
	m, err := v.match(res, ref.Context().Name())
	if err != nil {
		return fail(err)
	}
	if got, want := target.Repo.Name().Name(), ref.Context().Name(); got != want {
		return fail(errkind.Inputf("internal error: %s was resolved in %s, not its own repository", image, got))
	}
	if d, ok := ref.(name.Digest); ok && target.Descriptor.Digest.String() != d.DigestStr() {
		return fail(errkind.Inputf("internal error: %s was resolved to %s", image, target.Descriptor.Digest))
	}
	return v.verifyTarget(ctx, res, m, ref, target, fail)
}

// match chooses the rule governing repository — through the policy's
// mirrors, the one place a copy's name is mapped to its canonical name —
// and records it on res. The error is coded for the report.
func (v *Verifier) match(res *ImageResult, repository string) (*policy.ScopeMatch, error) {
	m, err := v.policy.MatchScope(repository)
	if err != nil {
		return nil, scopeError(err) // no scope: untrusted; ambiguous scopes: bad policy
	}
	res.Policy, res.Mode = m.Rule.Name, string(m.Rule.Mode)
	res.MatchedScope, res.MatchReason = m.Scope.Raw, m.Reason
	res.Enforced = m.Rule.Mode != policy.ModeAudit
	if m.Mirror != nil {
		res.Canonical = m.Repository
		res.MirrorMapping = &MirrorMapping{Mirror: m.Mirror.Mirror, Canonical: m.Mirror.Canonical}
	}
	return m, nil
}

func (v *Verifier) verifyTarget(ctx context.Context, res *ImageResult, m *policy.ScopeMatch, ref name.Reference, target *storage.Target, fail func(error) *ImageResult) *ImageResult {
	res.Tag = target.Tag
	if d, ok := ref.(name.Digest); ok {
		res.Tag = tagBeside(d)
	}
	return v.verifyResolved(ctx, res, m, target.Repo, target.Descriptor, fail)
}

// tagBeside is the tag written beside the digest in "repo:tag@sha256:…"
// ("" when there is none). A runtime pulls the digest and the deploy names
// the tag, so bindTag holds that digest to that tag as it does for
// "repo:tag"; dropping it passed a digest signed for dev as prod.
func tagBeside(d name.Digest) string {
	base, _, _ := strings.Cut(d.String(), "@")
	if i := strings.LastIndex(base, "/"); !strings.Contains(base[i+1:], ":") {
		return ""
	}
	t, err := name.NewTag(base)
	if err != nil {
		return ""
	}
	return t.TagStr()
}

// failer records an error on res with the exit code its kind maps to.
func failer(res *ImageResult) func(error) *ImageResult {
	return func(err error) *ImageResult {
		res.Error, res.ErrorCode = oneLine(err), imageCode(err)
		kind := errkind.KindOf(err)
		if kind == errkind.Untrusted {
			res.Verdict = VerdictFail
		}
		res.ExitCode = errkind.ExitCode(kind, res.Enforced)
		return res
	}
}

// scopeError codes a scope match failure: no scope is an untrusted image,
// anything else (scopes that tie) a policy to fix.
func scopeError(err error) error {
	if kind, _ := errkind.Of(err); kind == errkind.Untrusted {
		return coded(CodeNoMatchingScope, err)
	}
	return coded(CodeBadInput, err)
}

// VerifyResolved checks the manifest desc in an already opened repo — for
// callers that hold both (dct import, after checking every tag), so no
// connection or resolution is repeated.
func (v *Verifier) VerifyResolved(ctx context.Context, repo storage.Reader, desc v1.Descriptor) *ImageResult {
	image := repo.Name().Digest(desc.Digest.String()).String()
	res := &ImageResult{Image: image, Verdict: VerdictError, Enforced: true}
	fail := failer(res)
	m, err := v.match(res, repo.Name().Name())
	if err != nil {
		return fail(err)
	}
	return v.verifyResolved(ctx, res, m, repo, desc, fail)
}

func (v *Verifier) verifyResolved(ctx context.Context, res *ImageResult, m *policy.ScopeMatch, repo storage.Reader, desc v1.Descriptor, fail func(error) *ImageResult) *ImageResult {
	rule := m.Rule
	res.Digest = desc.Digest.String()
	res.Reference = refname.DisplayReference(repo.Name().Digest(res.Digest).String())

	listing, err := attachment.Discover(ctx, repo, desc, attachment.Options{})
	if err != nil {
		return fail(fmt.Errorf("listing signatures of %s: %w", res.Reference, err))
	}
	res.Attachments = len(listing.Entries)
	reqs := requirements(rule)
	types := neededTypes(rule, reqs)
	cands, err := v.fetchAndCheck(ctx, repo, desc, listing, types, x509Signers(v.policy, reqs))
	if err != nil {
		return fail(err)
	}
	files := v.fileCandidates(desc.Digest)
	cands = append(cands, files...)
	res.Attachments += len(files)
	now := v.now()
	res.JudgedAt = now.UTC().Format(time.RFC3339)
	img := subjectInfo{digest: res.Digest, repository: repo.Name().Name(), canonical: m.Repository, tag: res.Tag, pinned: res.Tag != "" && strings.Contains(res.Image, "@")}
	// cosign's legacy .sig/.att tags only when the referrers fell short:
	// the common case keeps its request count (legacy.go).
	if kinds := legacyKinds(rule, reqs, cands, v.policy, now, img); len(kinds) > 0 {
		legacy, found, err := v.legacyCandidates(ctx, repo, desc.Digest, listing, kinds, types)
		if err != nil {
			return fail(err)
		}
		cands = append(cands, legacy...)
		res.Attachments += found
	}
	pass := true
	for _, rq := range reqs {
		rr := evaluate(rq, cands, v.policy, now, img)
		if rq.bindTag && img.tag != "" && rr.Satisfied {
			// Only when the tag passed: the one case that costs requests.
			if err := v.checkRollback(ctx, repo, listing.ReferrersAPI, rq, rr, img, now); err != nil {
				return fail(err)
			}
		}
		if !v.predicates {
			for _, a := range rr.Accepted {
				a.Predicate = nil
			}
		}
		pass = pass && rr.Satisfied
		res.Requirements = append(res.Requirements, rr)
	}
	if rule.Compliance != nil {
		crs, err := v.compliance(ctx, repo, desc, rule, cands, now)
		if err != nil {
			return fail(err)
		}
		for _, rr := range crs {
			pass = pass && rr.Satisfied
			res.Requirements = append(res.Requirements, rr)
		}
	}
	res.StableUntil = stableUntil(v.policy, res.Requirements, now)
	if pass {
		res.Verdict, res.ExitCode = VerdictPass, 0
		return res
	}
	res.Verdict = VerdictFail
	res.ExitCode = errkind.ExitCode(errkind.Untrusted, res.Enforced)
	return res
}

// x509Signers are the x509 signers the rule's signatures requirements
// name: the only ones a Notary Project signature is checked under, so a
// rejection says why the rule's own signers refused it.
func x509Signers(p *policy.Policy, reqs []requirement) []*policy.X509Signer {
	var out []*policy.X509Signer
	for _, rq := range reqs {
		if rq.predicateType != statement.Signature {
			continue
		}
		for _, n := range rq.keys {
			if s := p.X509Signer(n); s != nil && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// neededTypes are the predicate types the rule reads: its requirements'
// and the attestations its compliance checks read.
func neededTypes(rule *policy.Rule, reqs []requirement) map[string]bool {
	needed := map[string]bool{}
	for _, rq := range reqs {
		needed[rq.predicateType] = true
	}
	if c := rule.Compliance; c != nil {
		if len(c.AllowedBaseImages) > 0 {
			needed[statement.SLSAProvenanceV1] = true
		}
		if c.MaxSeverity != "" {
			needed[statement.CosignVuln] = true
		}
	}
	return needed
}

// fetchAndCheck fetches, in parallel, the bundles whose claimed predicate
// type is needed (and those that claim none), and checks each.
func (v *Verifier) fetchAndCheck(ctx context.Context, repo storage.Reader, subjectDesc v1.Descriptor, l *attachment.Listing, needed map[string]bool, signers []*policy.X509Signer) ([]candidate, error) {
	subject := subjectDesc.Digest
	var todo []*attachment.Entry
	var unchecked []candidate
	// Notary Project signatures are plain image signatures: fetched only
	// when a signatures requirement names an x509 signer.
	notary := needed[statement.Signature] && len(signers) > 0
	for _, e := range l.Entries {
		if e.Tag != "" {
			continue
		}
		if attachment.IsNotarySignature(e.Descriptor) {
			if notary {
				todo = append(todo, e)
			} else if needed[statement.Signature] {
				// Named, not fetched: no policy signer could be it.
				unchecked = append(unchecked, candidate{referrer: e.Descriptor.Digest.String(), claimedType: statement.Signature, byCertificate: true,
					err: codedf(CodeUntrustedKey, "Notary Project signature, and the rule names no x509 signer (add trustStores and x509Signers, and name one in signatures.keys)")})
			}
			continue
		}
		if pt := e.PredicateType(); pt != "" && !needed[pt] {
			continue
		}
		if !attachment.IsBundle(e.Descriptor) {
			continue
		}
		todo = append(todo, e)
	}
	// Checking only some would judge the image on part of its evidence
	// (registry.MaxBundlesPerImage, like notation's maxSignatureAttempts).
	if len(todo) > registry.MaxBundlesPerImage {
		return nil, registry.OverLimit("image %s has more than %d signatures and attestations the policy may count (%d; limit of bundles checked per image)", subject, registry.MaxBundlesPerImage, len(todo))
	}
	tr := v.trust()
	cands := make([]candidate, len(todo))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(v.jobs)
	for i, e := range todo {
		g.Go(func() error {
			if attachment.IsNotarySignature(e.Descriptor) {
				env, err := attachment.FetchNotary(gctx, repo, subject, e)
				if err != nil {
					if k, _ := errkind.Of(err); k == errkind.Operational {
						return fmt.Errorf("fetching signature %s: %w", e.Descriptor.Digest, err)
					}
					cands[i] = candidate{referrer: e.Descriptor.Digest.String(), claimedType: statement.Signature, format: FormatNotaryJWS, err: fmt.Errorf("fetching Notary Project signature: %s", oneLine(err))}
					return nil
				}
				c := checkNotary(gctx, env, subjectDesc, repo.Name().Name(), signers, tr)
				c.referrer = e.Descriptor.Digest.String()
				c.claimedType = statement.Signature
				cands[i] = c
				return nil
			}
			raw, err := attachment.FetchBundle(gctx, repo, subject, e)
			if err != nil {
				if k, _ := errkind.Of(err); k == errkind.Operational {
					return fmt.Errorf("fetching signature %s: %w", e.Descriptor.Digest, err)
				}
				cands[i] = candidate{referrer: e.Descriptor.Digest.String(), claimedType: e.PredicateType(), err: fmt.Errorf("fetching bundle: %s", oneLine(err))}
				return nil
			}
			c := sigstoreBundle.check(raw, nil, subject, tr)
			c.referrer = e.Descriptor.Digest.String()
			c.claimedType = e.PredicateType()
			cands[i] = c
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return append(cands, unchecked...), nil
}

// verifiers returns the signature verifiers a policy key is tried with.
// Ed25519 keys get pure Ed25519 (what imgsign signs and cosign verifies) and
// Ed25519ph, because cosign v3 signs DSSE with Ed25519ph; the two schemes are
// domain-separated, so accepting both does not weaken either.
func (v *Verifier) verifiers(k *policy.TrustedKey) ([]signature.Verifier, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if sv, ok := v.cache[k.ID]; ok {
		return sv, nil
	}
	pure, err := keys.Verifier(k.Public)
	if err != nil {
		return nil, err
	}
	out := []signature.Verifier{pure}
	if ed, ok := k.Public.(ed25519.PublicKey); ok {
		ph, err := signature.LoadED25519phVerifier(ed)
		if err != nil {
			return nil, err
		}
		out = append(out, ph)
	}
	v.cache[k.ID] = out
	return out, nil
}

// canonicalRepository is repository in one spelling per registry host
// (policy.NormalizeRepository), as scopes are matched against it: a
// condition written for "registry.example.com/team/" must not be escaped
// by spelling the registry "registry.example.com:443" or
// "REGISTRY.example.com.".
func canonicalRepository(repository string) string {
	if c, err := policy.NormalizeRepository(repository); err == nil {
		return c
	}
	return repository // matched already, so not reached
}

// subjectInfo is what conditions may refer to as `image`, and the tag the
// image was requested by ("" for a digest reference).
type subjectInfo struct {
	// repository is where the image is read from.
	digest, repository, tag string
	// canonical is the repository as the policy's scopes matched it
	// (policy.ScopeMatch.Repository): one spelling per registry host and,
	// for a mirror's copy, the canonical name it is a copy of. Conditions
	// see it as image.repository. "" means canonicalRepository(repository).
	canonical string
	// pinned: the tag was given beside the digest (repo:tag@sha256:…), so
	// it was not resolved and may name another digest now.
	pinned bool
}

// canonicalName is img.canonical, or the repository in canonical spelling
// when the caller matched no scope (tests).
func (img subjectInfo) canonicalName() string {
	if img.canonical != "" {
		return img.canonical
	}
	return canonicalRepository(img.repository)
}

// described is the repository as messages name it: where it was read
// from, and the canonical name it is a copy of for a mirror's copy.
func (img subjectInfo) described() string {
	if c := img.canonicalName(); c != canonicalRepository(img.repository) {
		return img.repository + " (a copy of " + c + ")"
	}
	return img.repository
}

// signAs is the repository a signature binding img's tag is made for: the
// canonical name of a mirror's copy, from which copying carries it over.
func (img subjectInfo) signAs() string {
	if c := img.canonicalName(); c != canonicalRepository(img.repository) {
		return c
	}
	return img.repository
}

// boundElsewhere is the repository a verified statement binds its tag in,
// when that is not img's: the name of its subject about img.digest that
// carries the tag annotation, compared in canonical spelling. A tag binding
// is (repository, tag) → digest, as DCT's was per repository. A mirror's
// copy is the repository it is a copy of (a signature made for
// ghcr.io/acme/app:1.0 binds 1.0 in the mirror's copy of it) as well as
// itself (a signature made for the copy); the copy's name never stands for
// the canonical repository's, so a signature made in a mirror binds no tag
// in the origin. A subject without a name (cosign -a dev.imgsign.tag=…)
// names no repository and binds the tag wherever the digest is ("").
func boundElsewhere(stmt *statement.Statement, img subjectInfo) string {
	sub, ok := stmt.Annotated(img.digest)
	if !ok || sub.Name == "" {
		return ""
	}
	if named := canonicalRepository(sub.Name); named == img.canonicalName() || named == canonicalRepository(img.repository) {
		return ""
	}
	return sub.Name
}

// statementFailure is why a verified statement fails a requirement's maxAge
// or conditions; the zero value means it meets them.
type statementFailure struct {
	code   Code
	reason string
	// saw, for failed conditions, is "<expression> saw <value>" for each:
	// what the requirement's summary says when nothing else failed.
	saw []string
}

// checkStatement applies a requirement's maxAge and conditions to a
// verified statement.
func checkStatement(rq requirement, c candidate, now time.Time, img subjectInfo) statementFailure {
	if rq.maxAge > 0 {
		at, src, why := contentTime(c, now)
		switch {
		case why != "":
			return statementFailure{code: CodeMaxAge, reason: fmt.Sprintf("maxAge %s cannot be judged: %s", age(rq.maxAge), why)}
		case now.Sub(at) > rq.maxAge:
			return statementFailure{code: CodeMaxAge, reason: fmt.Sprintf("attestation is %s old (%s %s), over maxAge %s", age(now.Sub(at).Round(time.Minute)), src, at.UTC().Format(time.RFC3339), age(rq.maxAge))}
		}
	}
	var f statementFailure
	var failed []string
	for _, cond := range rq.conditions {
		if cond.Program == nil {
			continue
		}
		in := conditions.Input{Statement: c.statement.Document(), Digest: img.digest, Repository: img.canonicalName()}
		if c.certificate != nil {
			// A certificate's claims bound what its statement may say:
			// its source (conditions.Input.source) and, by its workflows,
			// its builder (conditions.BuilderID).
			in.SignerRepository, in.SignerRef = c.certificate.Extensions.SourceRepositoryURI, c.certificate.Extensions.SourceRepositoryRef
			in.SignerBuildSigner, in.SignerBuildConfig = c.certificate.Extensions.BuildSignerURI, c.certificate.Extensions.BuildConfigURI
		}
		ok, detail := cond.Program.Eval(in)
		if ok {
			continue
		}
		what := cond.Label
		if what == "" {
			what = cond.Expr
		}
		failed = append(failed, fmt.Sprintf("condition %q failed (%s)", what, detail))
		f.saw = append(f.saw, oneLineString(what)+" "+detail)
	}
	if len(failed) == 0 {
		return statementFailure{}
	}
	f.code, f.reason = CodeConditionFailed, strings.Join(failed, "; ")
	return f
}

// evaluate counts the distinct, valid keys among the candidates for rq
// whose statements meet its age limit and conditions. A further valid
// signature by a key already counted is listed in AlsoSigned: it neither
// counts again nor is wrong.
func evaluate(rq requirement, cands []candidate, p *policy.Policy, now time.Time, img subjectInfo) *RequirementResult {
	rr := &RequirementResult{Kind: rq.kind, PredicateType: rq.predicateType, Threshold: rq.threshold, Keys: rq.keys, Accepted: []*KeyUse{}, Rejected: []*Rejection{}, BindTag: rq.bindTag}
	// tagKeys: tag → distinct keys whose otherwise valid signatures name it.
	tagKeys := map[string]map[string]bool{}
	checkTag := rq.bindTag && img.tag != ""
	allowed := map[string]bool{}
	for _, n := range rq.keys {
		allowed[n] = true
	}
	counted := map[string]bool{}
	// newest: key → when it last bound img.tag to this digest (bindTag).
	newest := map[string]time.Time{}
	// saw: what failed conditions saw, once each, for the summary.
	var saw []string
	for _, c := range cands {
		if c.err == nil {
			// A certificate matching several identities counts for one
			// the rule names.
			c, _ = c.forSigner(allowed)
		}
		rej := &Rejection{Referrer: c.referrer, KeyID: c.keyID, Format: c.format, byCertificate: c.byCertificate}
		if c.key != nil {
			rej.KeyName = c.key.Name
		} else if k := p.KeyByID(c.keyID); k != nil {
			rej.KeyName = k.Name
		}
		switch {
		case c.err != nil && c.claimedType != "" && c.claimedType != rq.predicateType:
			continue
		case c.err != nil:
			rej.Code, rej.Reason = candidateCode(c.err), c.err.Error()
		case c.predicateType != rq.predicateType:
			continue // another requirement's statement
		case !allowed[c.key.Name]:
			rej.Code, rej.Reason = CodeKeyNotInRule, fmt.Sprintf("key %s is not one of this rule's keys (%v)", c.key.Name, rq.keys)
		case rq.requireTimestamp && !isTrustedTime(c.timeSource):
			rej.Code, rej.Reason = CodeTimestampRequired, "no trusted RFC 3161 timestamp, and the rule sets requireTimestamp (sign with --tsa-url)"
		default:
			if err := c.key.CheckAt(c.signedAt); err != nil {
				rej.Code, rej.Reason = keyCode(err), oneLine(err)
				break
			}
			if f := checkStatement(rq, c, now, img); f.reason != "" {
				rej.Code, rej.Reason = f.code, f.reason
				for _, s := range f.saw {
					if !slices.Contains(saw, s) {
						saw = append(saw, s)
					}
				}
				break
			}
			if rq.bindTag {
				at, err := tagSignedAt(c, img.digest, now)
				if err != nil {
					rej.Code, rej.Reason = candidateCode(err), err.Error()
					break
				}
				tag := c.statement.TagFor(img.digest)
				if elsewhere := boundElsewhere(c.statement, img); tag != "" && elsewhere != "" {
					if checkTag {
						rej.Code, rej.Reason = CodeTagNotBound, fmt.Sprintf("signed for tag %s of %s, not of %s: a tag is bound in its own repository (signature copied from another repository? sign %s:%s)", tag, elsewhere, img.described(), img.signAs(), img.tag)
						break
					}
					tag = "" // a valid signature of the digest, binding no tag here
				}
				if checkTag && tag == img.tag && at.After(newest[c.key.Name]) {
					newest[c.key.Name] = at // a key's latest binding counts, even if not the one counted
				}
				if tag != "" {
					if tagKeys[tag] == nil {
						tagKeys[tag] = map[string]bool{}
					}
					tagKeys[tag][c.key.Name] = true
				}
				switch {
				case checkTag && tag == "":
					rej.Code, rej.Reason = CodeTagNotBound, fmt.Sprintf("signature binds no tag, and the rule sets bindTag (sign %s:%s without --no-tag-binding)", img.signAs(), img.tag)
				case checkTag && tag != img.tag:
					rej.Code, rej.Reason = CodeTagMoved, fmt.Sprintf("signed for tag %s, not %s — the tag %s was moved to this digest?", tag, img.tag, img.tag)
				}
				if rej.Reason != "" {
					break
				}
			}
			use := &KeyUse{KeyName: c.key.Name, KeyID: c.key.ID, Referrer: c.referrer, TimeSource: c.timeSource}
			if isTrustedTime(c.timeSource) {
				use.SignedAt = c.signedAt.UTC().Format(time.RFC3339)
			}
			use.Identity = certIdentity(c.certificate)
			use.LogEntries = c.logEntries
			use.Format, use.Certificate, use.Warnings = c.format, c.x509, c.notes
			if counted[c.key.Name] {
				rr.AlsoSigned = append(rr.AlsoSigned, use)
				continue
			}
			counted[c.key.Name] = true
			if rq.kind == "attestation" {
				use.Predicate = c.statement.Predicate()
			}
			if rq.maxAge > 0 {
				if at, _, why := contentTime(c, now); why == "" {
					rr.agesOut = sooner(rr.agesOut, at.Add(rq.maxAge))
				}
			}
			rr.lapses = sooner(rr.lapses, c.lapses)
			rr.Accepted = append(rr.Accepted, use)
			continue
		}
		// A bundle that failed before its predicate type was known is shown
		// under every requirement: it might have been meant for any of them.
		rr.Rejected = append(rr.Rejected, rej)
	}
	for _, a := range slices.Concat(rr.Accepted, rr.AlsoSigned) {
		if at := newest[a.KeyName]; !at.IsZero() {
			a.TagSignedAt = at.UTC().Format(time.RFC3339Nano)
		}
	}
	byKey := func(us []*KeyUse) func(i, j int) bool {
		return func(i, j int) bool { return us[i].KeyName < us[j].KeyName }
	}
	sort.SliceStable(rr.Accepted, byKey(rr.Accepted))
	sort.SliceStable(rr.AlsoSigned, byKey(rr.AlsoSigned))
	rr.Satisfied = len(rr.Accepted) >= rq.threshold
	if rq.bindTag {
		// The tags this digest is bound to under the rule: named by at
		// least threshold distinct trusted keys.
		rr.SignedTags = []string{}
		for tag, ks := range tagKeys {
			if len(ks) >= rq.threshold {
				rr.SignedTags = append(rr.SignedTags, tag)
			}
		}
		sort.Strings(rr.SignedTags)
	}
	what := "signature"
	if rq.kind == "attestation" {
		what = "attestation"
	}
	var others []string // tags other than the requested one this digest is signed for
	for tag := range tagKeys {
		if tag != img.tag {
			others = append(others, tag)
		}
	}
	sort.Strings(others)
	// Only conditions failed: the summary says which and what they saw.
	onlyConditions := len(saw) > 0 && sameCode(rr.Rejected) == CodeConditionFailed
	switch {
	case rr.Satisfied && checkTag:
		rr.Summary = fmt.Sprintf("%d of %d required distinct keys signed for tag %s", len(rr.Accepted), rq.threshold, img.tag)
	case checkTag && len(others) > 0:
		rr.Summary = fmt.Sprintf("only %d of %d required distinct keys signed for tag %s; this digest is signed for tag %s: tag %s was moved to another image's digest?",
			len(rr.Accepted), rq.threshold, img.tag, strings.Join(others, ", "), img.tag)
		rr.Code = CodeTagMoved
	case checkTag && len(rr.Accepted) == 0 && len(rr.Rejected) > 0:
		rr.Summary = fmt.Sprintf("no trusted signature binds tag %s (needs %d by distinct keys among %v)", img.tag, rq.threshold, rq.keys)
		rr.Code = cmp.Or(sameCode(rr.Rejected), CodeTagNotBound)
	case rr.Satisfied:
		rr.Summary = fmt.Sprintf("%d of %d required distinct keys signed", len(rr.Accepted), rq.threshold)
	case len(rr.Accepted) == 0 && len(rr.Rejected) == 0:
		rr.Summary = fmt.Sprintf("no %s found (needs %d by distinct keys among %v)", what, rq.threshold, rq.keys)
		rr.Code = CodeNotSigned
	case onlyConditions && len(rr.Accepted) == 0:
		rr.Summary = "condition failed: " + strings.Join(saw, "; ")
		rr.Code = CodeConditionFailed
	case onlyConditions:
		rr.Summary = fmt.Sprintf("only %d of %d required distinct keys signed; condition failed: %s", len(rr.Accepted), rq.threshold, strings.Join(saw, "; "))
		rr.Code = CodeConditionFailed
	default:
		rr.Summary = fmt.Sprintf("only %d of %d required distinct keys signed", len(rr.Accepted), rq.threshold)
		rr.Code = CodeThresholdNotMet
		if len(rr.Accepted) == 0 {
			rr.Code = cmp.Or(sameCode(rr.Rejected), CodeThresholdNotMet)
		}
	}
	return rr
}

// sameCode is the code every rejection has, or "" when they differ or
// there are none.
func sameCode(rejs []*Rejection) Code {
	if len(rejs) == 0 {
		return ""
	}
	for _, r := range rejs[1:] {
		if r.Code != rejs[0].Code {
			return ""
		}
	}
	return rejs[0].Code
}
