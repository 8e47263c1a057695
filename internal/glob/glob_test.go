package glob

import "testing"

func TestCompile(t *testing.T) {
	cases := []struct {
		glob, s string
		want    bool
	}{
		{"refs/heads/*", "refs/heads/main", true},
		{"refs/heads/*", "refs/heads/feat/x", false},
		{"refs/**", "refs/heads/feat/x", true},
		{"cgr.dev/chainguard/*", "cgr.dev/chainguard/static", true},
		{"docker.io/library/alpine:3.*", "docker.io/library/alpine:3.20", true},
		{"a.b", "axb", false},
		{"v1.(2)", "v1.(2)", true},
	}
	for _, c := range cases {
		if got := Compile(c.glob).MatchString(c.s); got != c.want {
			t.Errorf("Compile(%q).MatchString(%q) = %v, want %v", c.glob, c.s, got, c.want)
		}
	}
}
