package errkind

import (
	"errors"
	"fmt"
	"testing"
)

func TestExitCode(t *testing.T) {
	cases := []struct {
		name     string
		err      error
		enforced bool
		want     int
	}{
		{"untrusted", Untrustedf("not signed"), true, 1},
		{"untrusted under an audit rule", Untrustedf("not signed"), false, 0},
		{"bad input, even when auditing", Inputf("bad policy"), false, 2},
		{"operational", Operationalf("registry down"), true, 3},
		{"unclassified is operational", errors.New("boom"), true, 3},
		{"outermost kind wins", Inputf("checking: %w", Operationalf("down")), true, 2},
		{"kind survives wrapping", fmt.Errorf("context: %w", Untrustedf("x")), true, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ExitCode(KindOf(tc.err), tc.enforced); got != tc.want {
				t.Fatalf("ExitCode = %d, want %d", got, tc.want)
			}
		})
	}
}
