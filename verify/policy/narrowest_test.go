package policy

import (
	"strings"
	"testing"
)

func TestCovers(t *testing.T) {
	tests := []struct {
		b, a string
		want bool
	}{
		{"**", "*.corp.example/**", true},
		{"*.corp.example/**", "**", false},
		{"r.io/**", "r.io/*", true},
		{"r.io/*", "r.io/**", false}, // ** spans several segments, * one
		{"r.io/prod/*", "r.io/prod/*-canary", true},
		{"r.io/prod/*-canary", "r.io/prod/*", false},
		{"r.io/prod/**", "r.io/*/app", false},
		{"r.io/*/app", "r.io/prod/**", false},
		{"*:5000/**", "localhost:5000/app", true},
		{"r.io/a*", "r.io/*", false},
		{"r.io/*a*", "r.io/*a", true},
		{"r.io/x", "r.io/x", true},
	}
	for _, tt := range tests {
		if got := covers(strings.Split(tt.b, "/"), strings.Split(tt.a, "/")); got != tt.want {
			t.Errorf("covers(%q, %q) = %v, want %v", tt.b, tt.a, got, tt.want)
		}
	}
}

// FuzzCovers: covers is sound — when it says b covers a, every repository
// a matches, b matches too (narrowest relies on it to drop b).
func FuzzCovers(f *testing.F) {
	f.Add("**", "*.corp.example/**", "x.corp.example/app/web")
	f.Add("r.io/*", "r.io/**", "r.io/a/b")
	f.Add("r.io/*a*", "r.io/*a", "r.io/ba")
	f.Fuzz(func(t *testing.T, b, a, repo string) {
		if len(b) > 64 || len(a) > 64 || len(repo) > 64 {
			return
		}
		bs, as, rs := strings.Split(b, "/"), strings.Split(a, "/"), strings.Split(repo, "/")
		if strings.Contains(repo, "*") || !matchSegments(as, rs) {
			return
		}
		if covers(bs, as) && !matchSegments(bs, rs) {
			t.Fatalf("covers(%q, %q), but %q matches %q only", b, a, repo, a)
		}
	})
}
