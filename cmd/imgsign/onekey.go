package main

import (
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/verify/policy"
)

// maxStdinPolicy bounds a policy read from stdin, as policy.Load bounds a file.
const maxStdinPolicy = 4 << 20

// verifyPolicy is the trust policy verify judges by: --policy FILE, --policy -
// (stdin), or the one-key policy of --key for exactly the images' repositories.
func verifyPolicy(c *cli.Context) (*policy.Policy, error) {
	file, key := c.String("policy"), c.String("key")
	switch {
	case file != "" && key != "":
		return nil, errkind.Inputf("verify takes --policy FILE or --key KEY, not both (see imgsign verify --help)")
	case file == "" && key == "":
		return nil, errkind.Inputf("verify needs a trust policy: --policy FILE, or --key KEY for a one-off check of one key (see imgsign verify --help)")
	case key != "":
		return oneKeyPolicy(c, key)
	case file == "-":
		data, err := io.ReadAll(io.LimitReader(os.Stdin, maxStdinPolicy+1))
		if err != nil {
			return nil, errkind.Inputf("reading the trust policy from stdin: %w", err)
		}
		if len(data) > maxStdinPolicy {
			return nil, errkind.Inputf("the trust policy on stdin is larger than %d MiB: is it the right input?", maxStdinPolicy>>20)
		}
		// "" is the working directory: stdin has no directory of its own.
		return policy.Parse(data, "")
	default:
		return policy.Load(file)
	}
}

// oneKeyPolicy is policy.ForKey over the repositories of the images given.
// An image that does not parse is left to verify, which reports it per image.
func oneKeyPolicy(c *cli.Context, key string) (*policy.Policy, error) {
	client := registryClient(c)
	var repos []string
	for _, img := range c.Args().Slice() {
		ref, err := client.ParseReference(img)
		if err != nil {
			continue
		}
		repos = append(repos, ref.Context().Name())
	}
	if len(repos) == 0 {
		// Every image is bad input; let verify say why for each.
		return &policy.Policy{Version: policy.Version}, nil
	}
	return policy.ForKey(key, repos)
}
