package editdistance

import (
	"strings"
	"testing"
)

func TestBetween(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"publickey", "publicKey", 1},
		{"--no-tag-bindng", "--no-tag-binding", 1},
		{"ouput", "output", 1},
		{"abc", "", 3},
		{"kitten", "sitting", 3},
		{strings.Repeat("a", 65), "a", Far},
	} {
		if got := Between(tc.a, tc.b); got != tc.want {
			t.Errorf("Between(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
