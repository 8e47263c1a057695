package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/errkind"
)

// Exit codes are decided in one place; every kind maps to its documented code.
func TestReportExitCodes(t *testing.T) {
	cases := []struct {
		name string
		err  error
		code int
	}{
		{"success", nil, 0},
		{"verdict already printed", exitError{code: 1}, 1},
		{"untrusted", errkind.Untrustedf("no signature"), 1},
		{"bad input wrapped", fmt.Errorf("signing x: %w", errkind.Inputf("wrong passphrase")), 2},
		{"operational", errkind.Operationalf("registry down"), 3},
		{"unclassified", errors.New("boom"), 3},
		{"cancelled", context.Canceled, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if got := report(c.err, &stderr); got != c.code {
				t.Errorf("exit %d, want %d", got, c.code)
			}
			if n := strings.Count(stderr.String(), "\n"); n > 1 {
				t.Errorf("%d lines on stderr, want at most one: %q", n, stderr.String())
			}
		})
	}
}

// Usage mistakes exit 2 with one line, whatever the command.
func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"imgsign", "sign", "--nope"},
		{"imgsign", "sign", "img"},
		{"imgsign", "verify", "--policy", "p.yaml"},
		{"imgsign", "no-such-command"},
		{"imgsign", "keys", "generate", "--out", "x", "--type", "dsa"},
		{"imgsign", "keys", "no-such-subcommand"},
		{"imgsign", "attest", "no-such-subcommand", "--key", "k"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, stderr.String())
		}
		if !strings.HasPrefix(stderr.String(), "imgsign: ") || strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("%v: want one 'imgsign: …' line on stderr, got %q", args, stderr.String())
		}
	}
}

func TestHoistFlags(t *testing.T) {
	app := newApp(nil, nil)
	cases := []struct{ in, want string }{
		{"imgsign sign img --key k", "imgsign sign --key k img"},
		{"imgsign sign --key k img", "imgsign sign --key k img"},
		{"imgsign sign img -a x=y --recursive img2 --key=k", "imgsign sign -a x=y --recursive --key=k img img2"},
		{"imgsign --insecure-registry h sign img --key k", "imgsign --insecure-registry h sign --key k img"},
		// Global flags after the command move in front of it.
		{"imgsign sign img --key k --insecure-registry h", "imgsign --insecure-registry h sign --key k img"},
		{"imgsign keys public --insecure-registry=h --key k", "imgsign --insecure-registry=h keys public --key k"},
		{"imgsign attest predicate img --type vuln --predicate -", "imgsign attest predicate --type vuln --predicate - img"},
		// "--" ends flags; what follows stays positional, behind "--".
		{"imgsign verify --policy p a b -- --not-a-flag", "imgsign verify --policy p -- a b --not-a-flag"},
		{"imgsign verify --policy p -- a", "imgsign verify --policy p a"},
		{"imgsign sign img - --key k", "imgsign sign --key k img -"},
		{"imgsign verify img --help", "imgsign verify --help"},
		{"imgsign sign --key k img -h", "imgsign sign -h"},
		{"imgsign --version", "imgsign --version"},
		// "help CMD" is CMD's --help.
		{"imgsign help keys generate", "imgsign keys generate --help"},
		{"imgsign keys help", "imgsign keys help"},
	}
	for _, c := range cases {
		got, err := hoistFlags(app, strings.Fields(c.in))
		if err != nil || strings.Join(got, " ") != c.want {
			t.Errorf("hoistFlags(%q) = %q, %v; want %q", c.in, strings.Join(got, " "), err, c.want)
		}
	}
}

// An argument that looks like a flag and is not one is a usage error
// wherever it stands, with the closest flag as a hint.
func TestUnknownFlags(t *testing.T) {
	cases := []struct{ args, want string }{
		{"sign --key k app:1 --no-tag-bindng", "flag provided but not defined: --no-tag-bindng; did you mean --no-tag-binding? (see imgsign sign --help)"},
		{"verify --policy p app:1 --ouput json", "did you mean --output?"},
		{"verify --polcy p app:1", "did you mean --policy?"},
		{"sign --kee k app:1", "did you mean --key?"},
		{"--insecure-registy h verify --policy p app:1", "did you mean --insecure-registry?"},
		{"verify --policy p app:1 --insecure", "did you mean --insecure-registry?"},
		{"keys revoke --policy p k --dryrun", "did you mean --dry-run? (see imgsign keys revoke --help)"},
		{"sign --key k app:1 --zzzzzzzz", "flag provided but not defined: --zzzzzzzz (see imgsign sign --help)"},
		{"sign --key k app:1 -q", "flag provided but not defined: -q (see imgsign sign --help)"},
		// Unknown commands and subcommands too, pointing to the group's help.
		{"sgin --key k app:1", `unknown command "imgsign sgin"; did you mean "imgsign sign"? (see imgsign --help)`},
		{"keys genrate --out x", `unknown command "imgsign keys genrate"; did you mean "imgsign keys generate"? (see imgsign keys --help)`},
		{"attest sbm", `did you mean "imgsign attest sbom"? (see imgsign attest --help)`},
		{"zzzzzz", `unknown command "imgsign zzzzzz" (see imgsign --help)`},
		{"help sgin", `did you mean "imgsign sign"?`},
	}
	app := newApp(nil, nil)
	for _, c := range cases {
		_, err := hoistFlags(app, append([]string{"imgsign"}, strings.Fields(c.args)...))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.args, err, c.want)
			continue
		}
		if kind, _ := errkind.Of(err); kind != errkind.Input {
			t.Errorf("%s: error kind %v, want bad input", c.args, kind)
		}
	}
	// A value given with '=' is never repeated: it may be a key.
	_, err := hoistFlags(app, []string{"imgsign", "sign", "app:1", "--kee=MIGHAgEAMBMGByqGSM49"})
	if err == nil || strings.Contains(err.Error(), "MIGH") || !strings.Contains(err.Error(), "did you mean --key?") {
		t.Errorf("unknown flag with a value: %v", err)
	}
}

// Commands refuse positional arguments beyond what they take, and a usage
// error is reported before any command runs.
func TestExtraArguments(t *testing.T) {
	for _, c := range []struct{ args, want string }{
		{"tree a b", "tree takes one IMAGE, but was also given b"},
		{"keys revoke --policy p k extra", "keys revoke takes one NAME, but was also given extra"},
		{"keys id --key k extra", "keys id takes no arguments, but was also given extra"},
		{"version now", "version takes no arguments"},
		{"dct import a b", "dct import takes one GUN, but was also given b"},
		{"attest predicate --key k --type vuln --predicate p img1 img2", "takes one IMAGE, but was also given img2"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"imgsign"}, strings.Fields(c.args)...), &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 and %q", c.args, code, stderr.String(), c.want)
		}
	}
}
