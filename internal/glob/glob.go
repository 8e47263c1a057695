// Package glob turns the path globs policies use — `*` within a path
// segment, `**` across segments — into regular expressions, so every place
// that matches image references, refs or base images agrees on the syntax.
package glob

import (
	"regexp"
	"strings"
)

// Pattern returns the unanchored regular expression for glob.
func Pattern(glob string) string {
	var b strings.Builder
	for i := 0; i < len(glob); i++ {
		switch {
		case strings.HasPrefix(glob[i:], "**"):
			b.WriteString(".*")
			i++
		case glob[i] == '*':
			b.WriteString("[^/]*")
		default:
			b.WriteString(regexp.QuoteMeta(glob[i : i+1]))
		}
	}
	return b.String()
}

// Compile returns the anchored regular expression matching exactly glob.
func Compile(glob string) *regexp.Regexp {
	return regexp.MustCompile("^" + Pattern(glob) + "$")
}
