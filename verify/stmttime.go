package verify

import (
	"fmt"
	"strings"
	"time"

	"github.com/imgsign/imgsign/verify/policy"
)

// clockSkew is how far ahead of the verifier's clock a signed time may be
// and still be read as "now": signers' and verifiers' clocks drift. Beyond
// it a time is refused, since a date in the future would pass any maxAge
// and win every tag's "newest signature" comparison.
const clockSkew = 5 * time.Minute

// contentTime is the age that maxAge judges an attestation by: the time its
// signer wrote into the predicate (policy.SignedTimeFields), or the trusted
// RFC 3161 time when that is earlier. A timestamp proves only that the
// signature existed by then — anyone can get a fresh one for an old
// signature — so it can make an attestation older, never younger. It returns
// the time and where it came from, or why there is no usable time.
func contentTime(c candidate, now time.Time) (time.Time, string, string) {
	fields := policy.SignedTimeFields(c.predicateType)
	if fields == nil {
		return time.Time{}, "", fmt.Sprintf("predicates of type %s carry no signed time imgsign knows, and an RFC 3161 timestamp cannot stand in (anyone can get a fresh one for an old signature): drop maxAge for this type", c.predicateType)
	}
	pred, _ := c.statement["predicate"].(map[string]any)
	var at time.Time
	var src string
	for _, f := range fields {
		v := lookup(pred, strings.Split(f, "."))
		if v == nil {
			continue
		}
		s, _ := v.(string)
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return time.Time{}, "", fmt.Sprintf("the predicate's %s %s is not an RFC 3339 time", f, quoteValue(v))
		}
		at, src = t, "predicate "+f
		break
	}
	if at.IsZero() {
		return time.Time{}, "", fmt.Sprintf("the predicate carries no signed time (%s), and an RFC 3161 timestamp cannot stand in: anyone can get a fresh one for an old signature", strings.Join(fields, " or "))
	}
	if at.After(now.Add(clockSkew)) {
		return time.Time{}, "", fmt.Sprintf("the predicate's %s %s is in the future (more than %s ahead of %s): refused", strings.TrimPrefix(src, "predicate "), at.UTC().Format(time.RFC3339), clockSkew, now.UTC().Format(time.RFC3339))
	}
	if strings.HasPrefix(c.timeSource, "rfc3161:") && c.signedAt.Before(at) {
		at, src = c.signedAt, "RFC 3161 timestamp (earlier than the predicate's time)"
	}
	return at, src, ""
}

// age writes a duration as the policy does: whole days as "7d".
func age(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// quoteValue shows an untrusted predicate value briefly and on one line.
func quoteValue(v any) string {
	r := []rune(fmt.Sprint(v))
	if len(r) > 40 {
		r = append(r[:40], '…')
	}
	return fmt.Sprintf("%q", string(r))
}

func lookup(m map[string]any, path []string) any {
	var cur any = m
	for _, k := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[k]
	}
	return cur
}
