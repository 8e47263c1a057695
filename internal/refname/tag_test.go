package refname

import (
	"regexp"
	"strings"
	"testing"
)

var hex64 = strings.Repeat("0123456789abcdef", 4)

func TestValidTag(t *testing.T) {
	for _, tc := range []struct {
		tag  string
		want bool
	}{
		{"v1", true},
		{"_", true},
		{"1.2.3-rc.1_b", true},
		{"A" + strings.Repeat("a", 127), true},
		{"", false},
		{strings.Repeat("a", 129), false},
		{".hidden", false},
		{"-flag", false},
		{"a/b", false},
		{"a:b", false},
		{"a@b", false},
		{"v1\n", false},
		{"v1 ", false},
		{"é", false},
	} {
		if got := ValidTag(tc.tag); got != tc.want {
			t.Errorf("ValidTag(%q) = %v, want %v", tc.tag, got, tc.want)
		}
	}
}

func TestAttachedTo(t *testing.T) {
	for _, tc := range []struct {
		tag  string
		want string // "" for not attached
	}{
		{"sha256-" + hex64, hex64},
		{"sha256-" + hex64 + ".sig", hex64},
		{"sha256-" + hex64 + ".ref-0123", hex64},
		{"sha256-" + hex64 + ".", hex64},
		{"sha256-" + hex64 + "x", ""},
		{"sha256-" + hex64[:63], ""},
		{"sha256-" + strings.ToUpper(hex64), ""},
		{"sha512-" + hex64, ""},
		{"sha256:" + hex64, ""},
		{"xsha256-" + hex64, ""},
		{"v1", ""},
		{"", ""},
	} {
		got, ok := AttachedTo(tc.tag)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("AttachedTo(%q) = %q, %v; want %q", tc.tag, got, ok, tc.want)
		}
	}
}

// The hand-written checks accept exactly what the grammars' regexps do.
func FuzzTagGrammar(f *testing.F) {
	tag := regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
	hex := regexp.MustCompile(`^[a-f0-9]{64}$`)
	attached := regexp.MustCompile(`^sha256-([a-f0-9]{64})($|\.)`)
	for _, s := range []string{"v1", "sha256-" + hex64 + ".sig", hex64, "", ".x", "sha256-" + hex64 + "\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidTag(s), tag.MatchString(s); got != want {
			t.Errorf("ValidTag(%q) = %v, the grammar says %v", s, got, want)
		}
		if got, want := SHA256Hex(s), hex.MatchString(s); got != want {
			t.Errorf("SHA256Hex(%q) = %v, the grammar says %v", s, got, want)
		}
		m := attached.FindStringSubmatch(s)
		if got, ok := AttachedTo(s); ok != (m != nil) || (ok && got != m[1]) {
			t.Errorf("AttachedTo(%q) = %q, %v; the grammar says %q", s, got, ok, m)
		}
	})
}
