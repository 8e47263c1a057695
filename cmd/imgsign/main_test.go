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
		{"imgsign attest predicate img --type vuln --predicate -", "imgsign attest predicate --type vuln --predicate - img"},
		{"imgsign verify --policy p a b -- --not-a-flag", "imgsign verify --policy p a b -- --not-a-flag"},
		{"imgsign sign img --unknown", "imgsign sign img --unknown"},
	}
	for _, c := range cases {
		if got := strings.Join(hoistFlags(app, strings.Fields(c.in)), " "); got != c.want {
			t.Errorf("hoistFlags(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
