// Package trustroot provides the Sigstore trust roots imgsign verifies
// certificate-based (keyless) signatures against: the Sigstore public-good
// instance's trusted_root.json, embedded so that verification works offline
// and refreshed through Sigstore's TUF repository by Update, and any
// trusted_root.json file (a private Sigstore, GitHub's instance).
//
// README.md says where the embedded snapshot comes from.
package trustroot

import (
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/imgsign/imgsign/internal/boundedfile"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/safetext"
)

// PublicGood names the Sigstore public-good instance (fulcio.sigstore.dev,
// rekor.sigstore.dev), whose trusted root imgsign embeds.
const PublicGood = "public-good"

// MaxFileBytes bounds how much of a trusted_root.json FromFile reads. The
// public-good root is 7 KiB.
const MaxFileBytes = 1 << 20

//go:embed public-good.json
var publicGoodJSON []byte

// embedded are the trust roots Named knows, by name: the snapshots built in.
var embedded = map[string][]byte{
	PublicGood: publicGoodJSON,
}

// Names are the names Named knows, sorted.
func Names() []string {
	var out []string
	for n := range embedded {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Named returns the trust root called name. Only PublicGood is known; any
// other name is an errkind.Input error listing the known names.
//
// For PublicGood that is the copy `imgsign trust-root update` fetched
// through TUF and cached in CacheDir, when there is one that verifies again,
// offline, under the public-good TUF root built into imgsign, with TUF
// metadata that has not expired; and the snapshot embedded in the binary
// otherwise. A cached copy that does not verify (damaged, out of date, or
// written by anyone but an update from Sigstore's repository) is passed
// over, never used: Describe says why. The cache directory is not trusted
// (see cache.go). Roots are parsed, and cached copies verified, once per
// content and shared: callers must not modify them.
func Named(name string) (*root.TrustedRoot, error) {
	info, err := resolve(name)
	if err != nil {
		return nil, err
	}
	return info.Root, nil
}

// resolve finds the root Named returns, and where it comes from.
func resolve(name string) (*Info, error) {
	raw, ok := embedded[name]
	if !ok {
		return nil, errkind.Inputf("unknown Sigstore trust root %q: imgsign knows %s", safetext.Clean(name), strings.Join(Names(), ", "))
	}
	info := &Info{Name: name}
	if name == PublicGood {
		// No cache directory (no home directory) means no cached copy.
		if dir, err := CacheDir(); err == nil {
			c, err := readCache(dir)
			switch {
			case err != nil:
				info.CacheProblem = err.Error()
			case c != nil:
				info.Source, info.Path, info.Root, info.TUFExpires = SourceCached, filepath.Join(dir, cacheFile), c.root, c.expires
				info.Mirror, info.TUFRoot, info.Updated, info.SHA256 = c.rec.Mirror, TUFRootPublicGood, c.rec.Updated, c.rec.SHA256
				return info, nil
			}
		}
	}
	tr, err := parseShared(raw)
	if err != nil {
		// The snapshot is tested; this is a broken build, not bad input.
		return nil, fmt.Errorf("embedded trust root %s: %w", name, err)
	}
	info.Source, info.Root, info.SHA256 = SourceEmbedded, tr, digest(raw)
	return info, nil
}

// FromFile reads a Sigstore trusted_root.json (media type
// application/vnd.dev.sigstore.trustedroot+json;version=0.1), of at most
// MaxFileBytes. Errors name the path and are marked errkind.Input.
func FromFile(path string) (*root.TrustedRoot, error) {
	data, err := boundedfile.Read(path, MaxFileBytes)
	if err != nil {
		return nil, errkind.Inputf("cannot read trusted root %s: %v", safetext.Clean(path), pathReason(err))
	}
	tr, err := root.NewTrustedRootFromJSON(data)
	if err != nil {
		return nil, errkind.Inputf("%s is not a Sigstore trusted_root.json: %v", safetext.Clean(path), protoText(err))
	}
	return tr, nil
}

// pathReason drops the *fs.PathError wrapper: the caller names the path.
func pathReason(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// protoText is a sigstore-go parse error as one clean line. The protobuf
// library writes a no-break space after "proto:" at random, to deter
// matching its messages; it would print as \u00a0.
func protoText(err error) string {
	return safetext.Clean(strings.ReplaceAll(err.Error(), "\u00a0", " "))
}
