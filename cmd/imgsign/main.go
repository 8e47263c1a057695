// Command imgsign signs container images, attaches signed attestations to
// them as OCI referrers and verifies them against a trust policy. This file
// wires the CLI and maps errors to exit codes; the work happens in the
// keys, sign and verify packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/internal/safetext"
	"github.com/imgsign/imgsign/storage"
)

func main() {
	setFallbackRoots()
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// exitError carries an exit code that is not an error, e.g. a verification
// verdict that was already printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app := newApp(stdout, stderr)
	// Anything that fails before a command's Before hook ran is a usage
	// problem (unknown flag, missing required flag): bad input, exit 2.
	started := false
	forEachCommand(app.Commands, func(cmd *cli.Command) {
		cmd.OnUsageError = app.OnUsageError
		if len(cmd.Subcommands) > 0 {
			return // a group: an unknown subcommand is still a usage error
		}
		cmd.BashComplete = completeLeaf(cmd)
		prev := cmd.Before
		cmd.Before = func(c *cli.Context) error {
			if err := checkArgCount(c); err != nil {
				return err
			}
			started = true
			if prev != nil {
				return prev(c)
			}
			return nil
		}
	})
	if isCompletionRequest(args) {
		// A half-typed command line is not an error: print what may follow.
		_ = app.RunContext(ctx, args)
		return 0
	}
	// Flags are checked before any command runs: a mistyped one is a usage
	// error, not an image to sign.
	hoisted, err := hoistFlags(app, args)
	if err == nil {
		err = app.RunContext(ctx, hoisted)
	}
	if _, marked := errkind.Of(err); err != nil && !marked && !started {
		var ee exitError
		if !errors.As(err, &ee) {
			err = errkind.Mark(errkind.Input, fmt.Errorf("%w (see imgsign --help)", err))
		}
	}
	return report(err, stderr)
}

func forEachCommand(cmds []*cli.Command, fn func(*cli.Command)) {
	for _, c := range cmds {
		fn(c)
		forEachCommand(c.Subcommands, fn)
	}
}

// report prints err as one line and returns the exit code its kind maps to
// (0 pass, 1 untrusted, 2 bad input, 3 operational: the README's table,
// decided by errkind.ExitCode).
func report(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	// One line, and nothing in it a terminal acts on: errors embed registry
	// bodies, annotations and file contents.
	msg := safetext.Clean(strings.Join(strings.Fields(err.Error()), " "))
	fmt.Fprintf(stderr, "imgsign: %s\n", msg)
	return errkind.ExitCode(errkind.KindOf(err), true)
}

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:    "imgsign",
		Usage:   "sign container images, attach signed provenance and SBOMs, verify them before deploy",
		Version: version,
		Description: `imgsign signs an image's manifest digest with your key and stores the signature
next to the image in the registry (an OCI 1.1 referrer holding a Sigstore bundle),
in formats cosign verifies too. Before deploying, 'imgsign verify' checks the image
against a trust policy file: which keys must have signed, how many, and when.

Quick start:
   imgsign keys generate --type ecdsa-p256 --out release   # release.key + release.pub
   imgsign sign --key release.key registry.example.com/app:1.0
   imgsign verify --policy trust.yaml registry.example.com/app:1.0

Exit codes: 0 success, 1 not trusted under the policy, 2 bad input, 3 registry/KMS/HSM/TSA trouble.`,
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		// Repeatable flags take one value each: file paths and annotation
		// values may contain commas.
		DisableSliceFlagSeparator: true,
		// Shell completion (imgsign completion bash|zsh) asks the binary.
		EnableBashCompletion: true,
		ExitErrHandler:       func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return errkind.Inputf("%v (see imgsign --help)", err)
		},
		Flags: []cli.Flag{
			&cli.StringSliceFlag{
				Name:    "insecure-registry",
				Usage:   "allow plain HTTP to this registry `HOST[:PORT]` (loopback is always allowed); repeatable",
				EnvVars: []string{"IMGSIGN_INSECURE_REGISTRIES"},
			},
			asFlag(),
		},
		Commands: []*cli.Command{
			keysCommand(),
			signCommand(),
			attestCommand(),
			provenanceCommand(),
			sbomCommand(),
			verifyCommand(),
			verifyBlobCommand(),
			serveCommand(),
			trustRootCommand(),
			treeCommand(),
			copyCommand(),
			policyCommand(),
			dctCommand(),
			versionCommand(),
			completionCommand(),
			manCommand(),
		},
	}
}

// registryClient builds the image store from the global flags, for
// commands that take images: registries (noting a tag it assumed) and
// oci: layouts (stores.go).
func registryClient(c *cli.Context) storage.Store {
	return imageStore(c, newRegistryClient(c, registry.WithNotice(func(msg string) { notice(c, msg) })))
}

// repositoryClient is registryClient for commands that name a repository,
// not an image (dct import GUN): no tag is assumed, so none is noted.
func repositoryClient(c *cli.Context) *registry.Client { return newRegistryClient(c) }

func newRegistryClient(c *cli.Context, opts ...registry.Option) *registry.Client {
	return registry.New(append(registryOptions(c), opts...)...)
}

// registryOptions are the registry client settings the global flags make.
func registryOptions(c *cli.Context) []registry.Option {
	var hosts []string
	for _, h := range c.StringSlice("insecure-registry") {
		for _, x := range strings.Split(h, ",") {
			hosts = append(hosts, strings.TrimSpace(x))
		}
	}
	return []registry.Option{registry.WithInsecure(hosts...), registry.WithUserAgent("imgsign/" + version)}
}

// noticeMu guards the notes already printed: images are verified concurrently.
var noticeMu sync.Mutex

// notice prints a note on stderr once per run: a command may parse the
// same image more than once.
func notice(c *cli.Context, msg string) {
	noticeMu.Lock()
	defer noticeMu.Unlock()
	if c.App.Metadata == nil {
		c.App.Metadata = map[string]any{}
	}
	key := "notice:" + msg
	if c.App.Metadata[key] != nil {
		return
	}
	c.App.Metadata[key] = true
	fmt.Fprintf(c.App.ErrWriter, "imgsign: %s\n", safetext.Clean(msg))
}

// usageOnlyArgs insists on at least n positional arguments.
func needArgs(c *cli.Context, n int, what string) error {
	if c.NArg() < n {
		name := commandName(c)
		return errkind.Inputf("%s: missing %s (see imgsign %s --help)", name, what, name)
	}
	return nil
}

func outputFormat(c *cli.Context) (string, error) {
	switch o := c.String("output"); o {
	case "text", "json":
		return o, nil
	default:
		return "", errkind.Inputf("--output must be text or json, not %q", o)
	}
}
