package verify

import (
	"fmt"
	"time"
)

// clockSkew is how far ahead of the verifier's clock a signed time may be
// and still be read as "now": signers' and verifiers' clocks drift. Beyond
// it a time is refused, since a date in the future would pass any maxAge
// and win every tag's "newest signature" comparison.
const clockSkew = 5 * time.Minute

// contentTime is the age that maxAge judges an attestation by: the time its
// signer wrote into the predicate (statement.Time), or the trusted RFC 3161
// time when that is earlier. A timestamp proves only that the signature
// existed by then — anyone can get a fresh one for an old signature — so it
// can make an attestation older, never younger. It returns the time and
// where it came from, or why there is no usable time.
func contentTime(c candidate, now time.Time) (time.Time, string, string) {
	at, field, err := c.statement.Time()
	if err != nil {
		return time.Time{}, "", err.Error()
	}
	src := "predicate " + field
	if at.After(now.Add(clockSkew)) {
		return time.Time{}, "", fmt.Sprintf("the predicate's %s %s is in the future (more than %s ahead of %s): refused", field, at.UTC().Format(time.RFC3339), clockSkew, now.UTC().Format(time.RFC3339))
	}
	if isTrustedTime(c.timeSource) && c.signedAt.Before(at) {
		at, src = c.signedAt, trustedTimeName(c.timeSource)+" (earlier than the predicate's time)"
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
