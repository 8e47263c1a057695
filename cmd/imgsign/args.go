package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/imgsign/imgsign/internal/editdistance"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/safetext"
)

// hoistFlags reorders args for urfave/cli v2, which stops reading flags at
// the first positional argument and reads global flags only before the
// command: a command's flags move in front of its positional arguments and
// global flags (--insecure-registry) in front of the command, wherever they
// were written. cosign and docker users write flags after the image all the
// time.
//
// An argument that starts with '-' and is not a flag of the command or a
// global flag is a usage error here, before any command runs, wherever it
// stands: left among the positional arguments it would be taken for an
// image (`sign app:1 --no-tag-bindng` signed app:1 with tag binding, then
// tried to sign "--no-tag-bindng"). "--" ends the flags.
func hoistFlags(app *cli.App, args []string) ([]string, error) {
	if len(args) < 2 {
		return args, nil
	}
	var (
		globals, path, flags, positional []string
		cmd                              *cli.Command
		cmds                             = app.Commands
		// help is a help flag written as a flag, never a flag's value:
		// `verify --policy -h IMAGE` reads the file -h, it does not print
		// help and exit 0 without verifying.
		help string
	)
	i := 1
	// take appends the flag at args[i] (and its value) to dst if it is one
	// of scope's flags or a global flag; it reports whether it did.
	take := func(scope []cli.Flag, dst *[]string) bool {
		a := args[i]
		switch {
		case isFlag(scope, a):
		case isFlag(app.Flags, a):
			scope, dst = app.Flags, &globals
		case isHelpFlag(a) || (cmd == nil && isVersionFlag(a)):
			*dst = append(*dst, a)
			if isHelpFlag(a) {
				help = a
			}
			return true
		default:
			return false
		}
		*dst = append(*dst, a)
		if takesValue(scope, a) && i+1 < len(args) {
			*dst = append(*dst, args[i+1])
			i++
		}
		return true
	}
	// The command path: global flags may come before the command, a
	// group's flags after the group.
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if isFlagArg(a) && cmd != nil && len(cmd.Subcommands) == 0 {
			break // the command's own flags: below
		}
		if isFlagArg(a) {
			scope := app.Flags
			if cmd != nil {
				scope = cmd.Flags
			}
			if !take(scope, &path) {
				return nil, unknownFlag(app, cmd, scope, a)
			}
			continue
		}
		c := findCommand(cmds, a)
		if c == nil {
			break
		}
		path = append(path, a)
		cmd, cmds = c, c.Subcommands
	}
	if (cmd == nil || len(cmd.Subcommands) > 0) && i < len(args) && args[i] != "--" {
		switch {
		case cmd == nil && isHelpCommand(args[i]):
			// The app has no help command (HideHelpCommand); "imgsign help
			// sign" means "imgsign sign --help".
			return hoistFlags(app, append(append(joinArgs(args[0], globals, path, nil, nil), args[i+1:]...), "--help"))
		case isHelpCommand(args[i]):
			// "imgsign keys help": urfave/cli's help command of a group.
			return append(joinArgs(args[0], globals, path, nil, nil), args[i:]...), nil
		}
		return nil, unknownCommand(app, cmd, cmds, args[i])
	}
	var scope []cli.Flag
	if cmd != nil {
		scope = cmd.Flags
	}
	help = "" // one before the command stays where it was written
	for ; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			positional = append(positional, args[i+1:]...)
			i = len(args)
		case isFlagArg(a):
			if !take(scope, &flags) {
				return nil, unknownFlag(app, cmd, scope, a)
			}
		default:
			positional = append(positional, a)
		}
	}
	if help != "" {
		// Help wins, wherever it was asked for; the rest would be read as a
		// help topic.
		return joinArgs(args[0], globals, path, []string{help}, nil), nil
	}
	return joinArgs(args[0], globals, path, flags, positional), nil
}

// joinArgs lays the parts out as urfave/cli reads them. Positional
// arguments follow "--" when one of them looks like a flag, so that it is
// taken as written.
func joinArgs(prog string, globals, path, flags, positional []string) []string {
	out := append([]string{prog}, globals...)
	out = append(out, path...)
	out = append(out, flags...)
	for _, p := range positional {
		if isFlagArg(p) {
			out = append(out, "--")
			break
		}
	}
	return append(out, positional...)
}

// isFlagArg reports whether a is written as a flag ("-" alone means
// standard input and is positional).
func isFlagArg(a string) bool { return len(a) > 1 && a[0] == '-' }

func isHelpFlag(a string) bool { n := flagName(a); return n == "help" || n == "h" }

func isVersionFlag(a string) bool { n := flagName(a); return n == "version" || n == "v" }

// unknownFlag is the usage error for a, naming the closest known flag. Only
// the flag's name is repeated, never a value given with '=' (it may be a
// key or a passphrase).
func unknownFlag(app *cli.App, cmd *cli.Command, scope []cli.Flag, a string) error {
	name := flagName(a)
	where := "imgsign"
	if cmd != nil {
		where = "imgsign " + cmdPath(app, cmd)
	}
	var names []string
	for _, f := range append(append([]cli.Flag(nil), scope...), app.Flags...) {
		names = append(names, f.Names()...)
	}
	hint := ""
	if best := closest(name, names); best != "" {
		hint = "; did you mean " + dashed(best) + "?"
	}
	if len(name) > 40 {
		name = name[:40] + "…"
	}
	return errkind.Inputf("flag provided but not defined: %s%s (see %s --help)", safetext.Clean(dashed(name)), hint, where)
}

// isHelpCommand reports whether a is urfave/cli's help command, which
// exists only once the app runs.
func isHelpCommand(a string) bool { return a == "help" || a == "h" }

// unknownCommand is the usage error for a word that is no command of the
// app (cmd nil) or of the group cmd, naming the closest one.
func unknownCommand(app *cli.App, cmd *cli.Command, cmds []*cli.Command, a string) error {
	where, prefix := "imgsign", "imgsign "
	if cmd != nil {
		where = "imgsign " + cmdPath(app, cmd)
		prefix = where + " "
	}
	var names []string
	for _, c := range cmds {
		if !c.Hidden {
			names = append(names, c.Names()...)
		}
	}
	hint := ""
	if best := closest(a, names); best != "" {
		hint = fmt.Sprintf("; did you mean %q?", prefix+best)
	}
	if len(a) > 40 {
		a = a[:40] + "…"
	}
	return errkind.Inputf("unknown command %q%s (see %s --help)", safetext.Clean(prefix+a), hint, where)
}

func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// cmdPath is cmd's name under the app ("keys revoke"); cmd.FullName needs
// a running context.
func cmdPath(app *cli.App, cmd *cli.Command) string {
	var walk func(cmds []*cli.Command, prefix string) string
	walk = func(cmds []*cli.Command, prefix string) string {
		for _, c := range cmds {
			if c == cmd {
				return prefix + c.Name
			}
			if p := walk(c.Subcommands, prefix+c.Name+" "); p != "" {
				return p
			}
		}
		return ""
	}
	return walk(app.Commands, "")
}

// closest returns the name nearest to s by edit distance, if it is near
// enough to be what was meant: a typo of a few letters, or a prefix.
func closest(s string, names []string) string {
	best, bestD := "", 1<<30
	for _, n := range names {
		d := editdistance.Between(s, n)
		if len(s) >= 3 && strings.HasPrefix(n, s) {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = n, d
		}
	}
	if bestD <= max(2, len(s)/3) && bestD < len(s) {
		return best
	}
	return ""
}

// checkArgCount refuses more positional arguments than the command's
// ArgsUsage names ("IMAGE": one, "IMAGE...": any number, none: none), so
// an extra file or image is never silently ignored.
func checkArgCount(c *cli.Context) error {
	if err := refuseKeyMaterial(c); err != nil {
		return err
	}
	words := strings.Fields(c.Command.ArgsUsage)
	for _, w := range words {
		if strings.HasSuffix(w, "...") {
			return nil
		}
	}
	if c.NArg() <= len(words) {
		return nil
	}
	extra := c.Args().Slice()[len(words):]
	what := "no arguments"
	switch len(words) {
	case 0:
	case 1:
		what = "one " + words[0]
	default:
		what = "only " + strings.Join(words, " ")
	}
	name := commandName(c)
	return errkind.Inputf("%s takes %s, but was also given %s (see imgsign %s --help)",
		name, what, safetext.Clean(strings.Join(extra, " ")), name)
}

// commandName is the running command's path under the app ("keys
// revoke"); Command.FullName is only the last word in a Before hook.
func commandName(c *cli.Context) string {
	var names []string
	for _, ctx := range c.Lineage() {
		if ctx.Command != nil && ctx.Command.Name != "" && ctx.Command.Name != c.App.Name {
			names = append([]string{ctx.Command.Name}, names...)
		}
	}
	return strings.Join(names, " ")
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

func flagName(arg string) string {
	n := strings.TrimLeft(arg, "-")
	n, _, _ = strings.Cut(n, "=")
	return n
}

func lookupFlag(flags []cli.Flag, arg string) cli.Flag {
	n := flagName(arg)
	for _, f := range flags {
		for _, fn := range f.Names() {
			if fn == n {
				return f
			}
		}
	}
	return nil
}

func isFlag(flags []cli.Flag, arg string) bool { return lookupFlag(flags, arg) != nil }

// takesValue reports whether arg is a flag whose value is the next argument.
func takesValue(flags []cli.Flag, arg string) bool {
	if strings.Contains(arg, "=") {
		return false
	}
	f := lookupFlag(flags, arg)
	if f == nil {
		return false
	}
	if _, ok := f.(*cli.BoolFlag); ok {
		return false
	}
	return true
}
