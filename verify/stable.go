package verify

import (
	"time"

	"github.com/imgsign/imgsign/verify/policy"
)

// stableUntil is ImageResult.StableUntil: the earliest instant after now at
// which a signer of the policy starts or stops counting, or an accepted
// attestation ages out, or a counted Notary Project signature's
// certificate or envelope expires. Every signer of the policy, not only the rule's,
// is considered: the bound is only ever earlier than it needs to be.
func stableUntil(p *policy.Policy, rrs []*RequirementResult, now time.Time) time.Time {
	var t time.Time
	window := func(from, until, revoked *time.Time) {
		for _, at := range []*time.Time{from, until, revoked} {
			if at != nil && at.After(now) {
				t = sooner(t, *at)
			}
		}
	}
	for _, k := range p.Keys {
		window(k.ValidFrom, k.ValidUntil, k.RevokedAt)
		for _, v := range k.Versions {
			window(v.ValidFrom, v.ValidUntil, v.RevokedAt)
		}
	}
	for _, id := range p.Identities {
		window(id.ValidFrom, id.ValidUntil, id.RevokedAt)
	}
	for _, s := range p.X509Signers {
		window(s.ValidFrom, s.ValidUntil, s.RevokedAt)
	}
	for _, rr := range rrs {
		t = sooner(t, rr.agesOut)
		if rr.lapses.After(now) {
			t = sooner(t, rr.lapses)
		}
	}
	return t
}

// sooner is the earlier of a and b, where zero means "none".
func sooner(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}
