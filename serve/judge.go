package serve

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"golang.org/x/sync/singleflight"

	"github.com/imgsign/imgsign/admission"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/storage"
	"github.com/imgsign/imgsign/verify"
	"github.com/imgsign/imgsign/verify/policy"
)

// maxCached bounds each cache's entries.
const maxCached = 100_000

// unresolvedTTL bounds how long a failed resolution is remembered.
const unresolvedTTL = 5 * time.Second

// loaded is one loaded policy: what every verdict is judged under.
type loaded struct {
	policy *policy.Policy
	// hash is the policy's content hash, verdicts are cached under: its
	// inputs' and, for a policy naming KMS keys, the keys fetched (withKMS).
	hash string
	// inputs is the hash of what it was read from: its files and the
	// named trust roots it names (snapshot.hash).
	inputs string
	// roots are the states (trustroot.State) of the named trust roots it
	// names, as it was loaded.
	roots    map[string]string
	verifier *verify.Verifier
	at       time.Time
}

// judge is admission.Judge over verify, with a verdict cache in front:
// entries are keyed by the policy's content hash, the image as written and
// the digest it resolved to — never by tag alone — so a verdict is reused
// only for the same question about the same bytes. Concurrent questions
// share one verification (singleflight); tag→digest resolutions are
// cached separately and briefly.
type judge struct {
	client   storage.Resolver
	state    atomic.Pointer[loaded]
	deadline time.Duration
	// verdictTTL bounds a pass; negativeTTL a fail; resolveTTL a tag's
	// resolution. Errors are never cached.
	verdictTTL, negativeTTL, resolveTTL time.Duration
	now                                 func() time.Time
	metrics                             *metrics

	verdicts *ttlCache[string, admission.Verdict]
	resolved *ttlCache[string, *storage.Target]
	// unresolved holds resolution failures for a moment: a registry that is
	// down is asked once per moment, not once per admission (a Pod goes
	// through the mutating and then the validating webhook).
	unresolved *ttlCache[string, error]
	verifyG    singleflight.Group
	resolveG   singleflight.Group
	// noPolicy is why no policy is in force, once one was withdrawn; nil
	// before any policy loaded.
	noPolicy atomic.Pointer[string]
}

// use makes l the policy every later verdict is judged under and drops
// every cached verdict: a reload that revokes a key takes effect on the
// next admission.
func (j *judge) use(l *loaded) {
	j.state.Store(l)
	j.verdicts.flush()
}

// withdraw puts no policy in force: every admission is denied, saying
// why, until use puts one in force again.
func (j *judge) withdraw(why string) {
	j.noPolicy.Store(&why)
	j.state.Store(nil)
	j.verdicts.flush()
}

// noPolicyReason is why no policy is in force.
func (j *judge) noPolicyReason() string {
	if why := j.noPolicy.Load(); why != nil {
		return *why
	}
	return "no trust policy is loaded yet (see the server's log)"
}

func (j *judge) Judge(ctx context.Context, image string) admission.Verdict {
	v := j.judge(ctx, image)
	j.metrics.verdicts.WithLabelValues(v.Verdict, strconv.FormatBool(v.Enforced)).Inc()
	return v
}

func (j *judge) judge(ctx context.Context, image string) admission.Verdict {
	st := j.state.Load()
	if st == nil {
		return admission.Verdict{Verdict: admission.Error, Enforced: true, Reason: j.noPolicyReason()}
	}
	ref, err := j.client.ParseReference(image)
	if err != nil {
		return admission.Verdict{Verdict: admission.Error, Enforced: true, Reason: err.Error()}
	}
	m, err := st.policy.MatchScope(ref.Context().Name())
	if err != nil {
		// No scope covers the image (or scopes tie): not trusted.
		return admission.Verdict{Verdict: admission.Fail, Enforced: true, Reason: err.Error()}
	}
	out := admission.Verdict{Enforced: m.Rule.Mode != policy.ModeAudit, Rule: m.Rule.Name}
	target, err := j.resolve(ctx, ref)
	if err != nil {
		out.Verdict, out.Reason = admission.Error, err.Error()
		return out
	}
	digest := target.Descriptor.Digest.String()
	key := strings.Join([]string{st.hash, image, digest}, "\x00")
	if v, ok := j.verdicts.get(key, j.now()); ok {
		j.metrics.verdictHits.Inc()
		return v
	}
	j.metrics.verdictMisses.Inc()
	ch := j.verifyG.DoChan(key, func() (any, error) {
		return j.verify(st, key, image, ref, target), nil
	})
	select {
	case r := <-ch:
		return r.Val.(admission.Verdict)
	case <-ctx.Done():
		out.Verdict, out.Reason = admission.Error, fmt.Sprintf("verifying %s took longer than the admission deadline; it goes on and the next admission uses its verdict", image)
		out.Digest = digest
		return out
	}
}

// verify runs one verification, on its own deadline: callers that join
// it may give up, the verification does not, so its verdict serves the
// next admission.
func (j *judge) verify(st *loaded, key, image string, ref name.Reference, target *storage.Target) admission.Verdict {
	j.metrics.verifications.Inc()
	ctx, cancel := registry.WithTimeout(context.Background(), j.deadline)
	defer cancel()
	start := j.now()
	res := st.verifier.VerifyTarget(ctx, image, ref, target)
	j.metrics.verifyDuration.Observe(time.Since(start).Seconds())
	v := admission.Verdict{Verdict: res.Verdict, Enforced: res.Enforced, Digest: res.Digest, Reference: res.Reference, Rule: res.Policy, Reason: res.Reason()}
	if _, isTag := ref.(name.Tag); isTag && res.Digest != "" {
		v.Pinned = image + "@" + res.Digest
	}
	now := j.now()
	var ttl time.Duration
	switch res.Verdict {
	case verify.VerdictPass:
		ttl = j.verdictTTL
	case verify.VerdictFail:
		ttl = j.negativeTTL
	}
	expires := now.Add(ttl)
	if !res.StableUntil.IsZero() && res.StableUntil.Before(expires) {
		expires = res.StableUntil
	}
	if ttl > 0 {
		j.verdicts.put(key, v, now, expires)
	}
	return v
}

// resolve returns ref's target: from the cache, or resolved once however
// many admissions ask at the same time.
func (j *judge) resolve(ctx context.Context, ref name.Reference) (*storage.Target, error) {
	key, ttl := ref.Context().Name(), j.resolveTTL
	switch r := ref.(type) {
	case name.Tag:
		key += ":" + r.TagStr()
	case name.Digest:
		// A digest's descriptor does not change; only the cache bounds it.
		key += "@" + r.DigestStr()
		ttl = j.verdictTTL
	}
	now := j.now()
	if t, ok := j.resolved.get(key, now); ok {
		j.metrics.resolveHits.Inc()
		return withTag(t, ref), nil
	}
	if err, ok := j.unresolved.get(key, now); ok {
		j.metrics.resolveHits.Inc()
		return nil, err
	}
	j.metrics.resolveMisses.Inc()
	ch := j.resolveG.DoChan(key, func() (any, error) {
		rctx, cancel := registry.WithTimeout(context.Background(), j.deadline)
		defer cancel()
		t, err := j.client.ResolveReference(rctx, ref, false)
		if err != nil {
			now := j.now()
			j.unresolved.put(key, err, now, now.Add(min(j.negativeTTL, unresolvedTTL)))
			return nil, err
		}
		if ttl > 0 {
			now := j.now()
			j.resolved.put(key, t, now, now.Add(ttl))
		}
		return t, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return withTag(r.Val.(*storage.Target), ref), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("resolving %s took longer than the admission deadline", ref)
	}
}

// withTag is t for ref: the tag is the one ref names (a shared resolution
// of a digest may have been asked for under any spelling).
func withTag(t *storage.Target, ref name.Reference) *storage.Target {
	c := *t
	c.Tag = ""
	if tag, ok := ref.(name.Tag); ok {
		c.Tag = tag.TagStr()
	}
	return &c
}
