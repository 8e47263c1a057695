package textdiff

import "testing"

func TestUnified(t *testing.T) {
	cases := []struct{ a, b, want string }{
		{"a\nb\n", "a\nb\n", ""},
		{"a\nb\nc\n", "a\nB\nc\n", "--- x\n+++ y\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"},
		{"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n", "--- x\n+++ y\n@@ -8,3 +8,4 @@\n 8\n 9\n 10\n+11\n"},
		{"", "new\n", "--- x\n+++ y\n@@ -1,0 +1,1 @@\n+new\n"},
	}
	for _, c := range cases {
		if got := Unified("x", "y", c.a, c.b); got != c.want {
			t.Errorf("Unified(%q, %q) =\n%s\nwant\n%s", c.a, c.b, got, c.want)
		}
	}
}
