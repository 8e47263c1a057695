package main

import (
	"strings"
	"testing"
)

// A flag's value that spells a help flag or help topic is the flag's value:
// taken for help, `verify --policy -h IMAGE` printed help and exited 0
// without verifying.
func TestHoistFlagsHelpAsValue(t *testing.T) {
	app := newApp(nil, nil)
	cases := []struct{ in, want string }{
		{"imgsign verify --policy -h img", "imgsign verify --policy -h img"},
		{"imgsign verify img --policy --help", "imgsign verify --policy --help img"},
		{"imgsign verify --policy h img", "imgsign verify --policy h img"},
		{"imgsign verify img --policy help", "imgsign verify --policy help img"},
		{"imgsign verify --policy p --output -h img", "imgsign verify --policy p --output -h img"},
		{"imgsign sign -a -h --key k img", "imgsign sign -a -h --key k img"},
		{"imgsign verify img --insecure-registry -h --policy p", "imgsign --insecure-registry -h verify --policy p img"},
		// Help written as a flag still wins, after a value that is not one.
		{"imgsign verify --policy -h img -h", "imgsign verify -h"},
		{"imgsign verify --policy=--help img", "imgsign verify --policy=--help img"},
	}
	for _, c := range cases {
		got, err := hoistFlags(app, strings.Fields(c.in))
		if err != nil || strings.Join(got, " ") != c.want {
			t.Errorf("hoistFlags(%q) = %q, %v; want %q", c.in, strings.Join(got, " "), err, c.want)
		}
	}
}

// Whatever the arguments, hoisting only reorders them: nothing is dropped,
// invented or split (bar "--" and the help shortcut), and a usage error is
// always input (exit 2).
func FuzzHoistFlags(f *testing.F) {
	for _, s := range []string{
		"verify --policy -h img", "sign img -a -x=1 --key k", "verify img -- --x", "-- verify --policy p img",
		"attest buildkit img --key=k --output json", "keys id --key k -h", "--insecure-registry h verify img --policy p",
		"help sign", "verify --timeout 1s img --policy", "sign --key", "policy check a b -",
	} {
		f.Add(s)
	}
	app := newApp(nil, nil)
	f.Fuzz(func(t *testing.T, line string) {
		in := append([]string{"imgsign"}, strings.Fields(line)...)
		out, err := hoistFlags(app, in)
		if err != nil {
			return
		}
		count := func(args []string) map[string]int {
			m := map[string]int{}
			for _, a := range args[1:] {
				if a != "--" && !isHelpFlag(a) && a != "help" && a != "h" {
					m[a]++
				}
			}
			return m
		}
		got, want := count(out), count(in)
		helped := false
		for _, a := range out {
			helped = helped || (isFlagArg(a) && isHelpFlag(a))
		}
		for a, n := range got {
			if n > want[a] {
				t.Fatalf("hoistFlags(%q) = %q: %q appears %d times, given %d", in, out, a, n, want[a])
			}
		}
		if !helped {
			for a, n := range want {
				if got[a] != n {
					t.Fatalf("hoistFlags(%q) = %q: %q appears %d times, given %d", in, out, a, got[a], n)
				}
			}
		}
	})
}
