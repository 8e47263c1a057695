// Package editdistance measures how far a mistyped name is from the names it may
// have meant, for the "did you mean" in flag, command and policy-field
// errors. Callers choose their own cut-off; the distance is one.
package editdistance

// maxLen bounds the strings compared: the cost is quadratic, and the input
// is whatever a user (or a hostile policy file) typed.
const maxLen = 64

// Far is the distance reported for strings too long to compare: more than
// any cut-off a caller uses.
const Far = 1 << 30

// Between is the Levenshtein distance between a and b, or Far when either
// is longer than 64 bytes.
func Between(a, b string) int {
	if len(a) > maxLen || len(b) > maxLen {
		return Far
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
