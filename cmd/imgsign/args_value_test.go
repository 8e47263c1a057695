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
