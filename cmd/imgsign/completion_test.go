package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// The man page is generated from the CLI definitions: every command,
// subcommand and flag is in it.
func TestManPageNamesEveryCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"imgsign", "man"}, &stdout, &stderr); code != 0 {
		t.Fatalf("imgsign man: exit %d: %s", code, stderr.String())
	}
	page := stdout.String()
	if !strings.HasPrefix(page, ".nh\n.TH imgsign 1") {
		t.Errorf("not a section 1 man page: %.40q", page)
	}
	var walk func(cmds []*cli.Command, depth int)
	walk = func(cmds []*cli.Command, depth int) {
		for _, c := range cmds {
			if c.Hidden {
				continue
			}
			heading := ".SH "
			if depth > 0 {
				heading = ".SS "
			}
			if !strings.Contains(page, heading+c.Name+"\n") {
				t.Errorf("man page lacks command %s", c.Name)
			}
			for _, f := range c.Flags {
				if !strings.Contains(page, `\fB--`+f.Names()[0]) {
					t.Errorf("man page lacks flag --%s of %s", f.Names()[0], c.Name)
				}
			}
			walk(c.Subcommands, depth+1)
		}
	}
	walk(newApp(nil, nil).Commands, 0)
}

// Completion requests are answered even for half-typed command lines, and
// the scripts name the program.
func TestCompletion(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"imgsign", completionFlag}, "verify\n"},
		{[]string{"imgsign", "keys", completionFlag}, "generate\n"},
		{[]string{"imgsign", "--insecure-registry", "h", "attest", completionFlag}, "provenance\n"},
	} {
		// urfave/cli reads the word being completed from os.Args.
		saved := os.Args
		os.Args = tt.args
		var stdout, stderr bytes.Buffer
		code := run(tt.args, &stdout, &stderr)
		os.Args = saved
		if code != 0 || !strings.Contains(stdout.String(), tt.want) {
			t.Errorf("%v: exit %d, %q; want %q", tt.args, code, stdout.String(), tt.want)
		}
	}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"imgsign", "completion", sh}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "imgsign") {
			t.Errorf("completion %s: exit %d: %s", sh, code, stderr.String())
		}
	}
}
