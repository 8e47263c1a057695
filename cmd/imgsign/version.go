package main

import (
	"fmt"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=…" (make
// does); when it is not, init takes the module version and VCS revision the
// Go toolchain recorded, so `go install …@v1.2.3` reports v1.2.3.
var version = ""

// revision is the VCS commit the binary was built from, "" when unknown.
var revision = ""

func init() {
	info, ok := debug.ReadBuildInfo()
	version, revision = versionFrom(version, info, ok)
}

// versionFrom is the version to report: the -ldflags value when there is
// one, else the module version from build info, else the VCS revision
// (a build in a checkout has module version "(devel)"), else "dev".
func versionFrom(ldflags string, info *debug.BuildInfo, ok bool) (ver, rev string) {
	dirty := ""
	if ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "-dirty"
				}
			}
		}
	}
	switch {
	case ldflags != "":
	case ok && info.Main.Version != "" && info.Main.Version != "(devel)":
		ver = info.Main.Version
	case rev != "":
		ver = "devel-" + rev[:min(12, len(rev))] + dirty
	default:
		ver = "dev"
	}
	if ldflags != "" {
		ver = ldflags
	}
	if rev != "" {
		rev += dirty
	}
	return ver, rev
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the imgsign version (and the commit it was built from)",
		Action: func(c *cli.Context) error {
			fmt.Fprintf(c.App.Writer, "imgsign %s\n", version)
			if revision != "" {
				fmt.Fprintf(c.App.Writer, "commit %s\n", revision)
			}
			return nil
		},
	}
}
