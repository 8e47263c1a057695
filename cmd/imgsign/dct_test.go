package main

import "testing"

func TestPrintable(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"v1.2-rc_3", "v1.2-rc_3"},
		{"targets/releases", "targets/releases"},
		{"evil\x1b[2J", `"evil\x1b[2J"`},
		{"a\tb", `"a\tb"`},
		{"line\nbreak", `"line\nbreak"`},
	} {
		if got := printable(tc.in); got != tc.want {
			t.Errorf("printable(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
