// Package trustroot provides the Sigstore trust roots imgsign verifies
// certificate-based (keyless) signatures against: the named instances
// (instances: the Sigstore public-good instance's trusted_root.json,
// embedded so that verification works offline and refreshed through
// Sigstore's TUF repository by Update; GitHub's instance's, never embedded,
// only ever the copy Update fetched through GitHub's TUF repository), and
// any trusted_root.json file (a private Sigstore; or the JSON lines of
// `gh attestation trusted-root`).
//
// README.md says where the embedded snapshot comes from.
package trustroot

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"reflect"
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

// GitHub names GitHub's own Sigstore instance (fulcio.githubapp.com,
// timestamp.githubapp.com, no transparency log), which signs attestations
// of private repositories. Its trusted root is not embedded: only the copy
// `imgsign trust-root update github` verified through GitHub's TUF
// repository is ever used.
const GitHub = "github"

//go:embed public-good.json
var publicGoodJSON []byte

// githubTUFRoot is the TUF root.json of GitHub's TUF repository
// (GitHubMirror), from the GitHub CLI (README.md says where from).
//
//go:embed github-tuf-root.json
var githubTUFRoot []byte

// instance is a Sigstore instance Named knows by name: the one home of
// everything that differs between them.
type instance struct {
	name string
	// mirror is the TUF repository Update fetches from by default.
	mirror string
	// anchor is the TUF root.json the repository is verified under, for
	// updates and for reading the cache: always the one built in (only
	// this package's tests replace it).
	anchor func() []byte
	// tufRoot is cacheRecord.TUFRoot and Info.TUFRoot for a root verified
	// under anchor.
	tufRoot string
	// snapshot is the trusted_root.json built in, used when no cached copy
	// verifies; nil: none, and Named fails closed without one.
	snapshot []byte
	// file is the cache record's name in CacheDir; clientDir the TUF
	// client's metadata directory there.
	file, clientDir string
}

// instances are the trust roots Named knows.
var instances = []*instance{{
	name:      PublicGood,
	mirror:    DefaultMirror,
	anchor:    func() []byte { return publicGoodAnchor() },
	tufRoot:   TUFRootPublicGood,
	snapshot:  publicGoodJSON,
	file:      cacheFile,
	clientDir: "repositories",
}, {
	name:      GitHub,
	mirror:    GitHubMirror,
	anchor:    func() []byte { return githubAnchor() },
	tufRoot:   TUFRootGitHub,
	file:      GitHub + ".json",
	clientDir: filepath.Join(GitHub, "repositories"),
}}

// lookup finds the instance called name, or says which there are.
func lookup(name string) (*instance, error) {
	for _, in := range instances {
		if in.name == name {
			return in, nil
		}
	}
	return nil, errkind.Inputf("unknown Sigstore trust root %q: imgsign knows %s", safetext.Clean(name), strings.Join(Names(), ", "))
}

// Names are the names Named knows, sorted.
func Names() []string {
	var out []string
	for _, in := range instances {
		out = append(out, in.name)
	}
	slices.Sort(out)
	return out
}

// Named returns the trust root called name: PublicGood or GitHub; any
// other name is an errkind.Input error listing the known names.
//
// That is the copy `imgsign trust-root update [name]` fetched through TUF
// and cached in CacheDir, when there is one that verifies again, offline,
// under the instance's TUF root built into imgsign, with TUF metadata that
// has not expired; and the snapshot embedded in the binary otherwise. A
// cached copy that does not verify (damaged, out of date, or written by
// anyone but an update from the instance's repository) is passed over,
// never used: Describe says why. For GitHub, whose root is not
// embedded, no verified cached copy is an errkind.Input error saying to run
// `imgsign trust-root update github` (fail closed). The cache directory is
// not trusted (see cache.go). Roots are parsed, and cached copies verified,
// once per content and shared: callers must not modify them.
func Named(name string) (*root.TrustedRoot, error) {
	info, err := resolve(name)
	if err != nil {
		return nil, err
	}
	if info.Root == nil {
		why := "there is no cached copy"
		if info.CacheProblem != "" {
			why = "the cached copy is not used: " + info.CacheProblem
		}
		return nil, errkind.Inputf("no verified %s trust root (%s): imgsign does not embed GitHub's trusted root; run 'imgsign trust-root update %s' online, or name the output of 'gh attestation trusted-root' as a trusted-root file", name, why, name)
	}
	return info.Root, nil
}

// resolve finds the root Named returns, and where it comes from: the
// instance's verified cached copy, else its embedded snapshot, else none
// (SourceNone, Root nil).
func resolve(name string) (*Info, error) {
	in, err := lookup(name)
	if err != nil {
		return nil, err
	}
	info := &Info{Name: name}
	// No cache directory (no home directory) means no cached copy.
	if dir, err := CacheDir(); err == nil {
		c, err := readCache(dir, in)
		switch {
		case err != nil:
			info.CacheProblem = err.Error()
		case c != nil:
			info.Source, info.Path, info.Root, info.TUFExpires = SourceCached, filepath.Join(dir, in.file), c.root, c.expires
			info.Mirror, info.TUFRoot, info.Updated, info.SHA256 = c.rec.Mirror, in.tufRoot, c.rec.Updated, c.rec.SHA256
			return info, nil
		}
	}
	raw := in.snapshot
	if raw == nil {
		info.Source = SourceNone
		return info, nil
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
// MaxFileBytes; or JSON Lines of them, one trusted root per line, as
// `gh attestation trusted-root` prints (the public-good instance's and
// GitHub's), which it returns as one root trusting the union of what the
// lines list (union; FileRoots gives the lines too). Errors name the path
// (and the line) and are marked errkind.Input.
func FromFile(path string) (*root.TrustedRoot, error) {
	tr, _, err := FileRoots(path)
	return tr, err
}

// FileRoots reads a trusted-root file as FromFile does, and returns, for
// JSON Lines, each line's root too, in order (lines is nil for a file of
// one trusted_root.json). A verifier should check a bundle against each
// line on its own, with what that line's root requires (a log entry, an
// SCT), and trust it if one line verifies it: the union alone would ask
// every bundle for what any line requires, so that bundles of GitHub's
// instance (no log entry, no SCT) never verify beside public good's line.
//
// A file is read as JSON Lines when it has more than one line and its
// first line is a JSON value by itself (a pretty-printed trusted_root.json's
// first line, "{", is not); then every line must be a trusted root, or the
// file is refused.
func FileRoots(path string) (all *root.TrustedRoot, lines []*root.TrustedRoot, err error) {
	data, err := boundedfile.Read(path, MaxFileBytes)
	if err != nil {
		return nil, nil, errkind.Inputf("cannot read trusted root %s: %v", safetext.Clean(path), pathReason(err))
	}
	shown := safetext.Clean(path)
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil, errkind.Inputf("%s is empty: expected a Sigstore trusted_root.json, or JSON lines of them ('gh attestation trusted-root')", shown)
	}
	raw := jsonLines(data)
	if raw == nil {
		tr, err := root.NewTrustedRootFromJSON(data)
		if err != nil {
			return nil, nil, errkind.Inputf("%s is not a Sigstore trusted_root.json: %v", shown, protoText(err))
		}
		return tr, nil, nil
	}
	lines = make([]*root.TrustedRoot, 0, len(raw))
	for i, line := range raw {
		if len(bytes.TrimSpace(line)) == 0 {
			return nil, nil, errkind.Inputf("%s line %d is empty: JSON lines of trusted roots hold one trusted_root.json on every line", shown, i+1)
		}
		tr, err := root.NewTrustedRootFromJSON(line)
		if err != nil {
			return nil, nil, errkind.Inputf("%s line %d is not a Sigstore trusted_root.json: %v", shown, i+1, protoText(err))
		}
		lines = append(lines, tr)
	}
	if all, err = union(lines...); err != nil {
		return nil, nil, errkind.Inputf("%s: %v", shown, err)
	}
	return all, lines, nil
}

// jsonLines splits data into lines if it is JSON Lines (see FromFile):
// nil if it is not. Trailing blank lines and a CR before each LF are
// dropped.
func jsonLines(data []byte) [][]byte {
	lines := bytes.Split(bytes.TrimRight(data, " \t\r\n"), []byte("\n"))
	if len(lines) < 2 || !json.Valid(bytes.TrimSuffix(lines[0], []byte("\r"))) {
		return nil
	}
	for i, l := range lines {
		lines[i] = bytes.TrimSuffix(l, []byte("\r"))
	}
	return lines
}

// union is one trusted root trusting everything roots list: their
// certificate authorities and timestamp authorities, and their
// transparency and CT logs by log ID — what sigstore-go's
// root.TrustedMaterialCollection of them trusts, as a *root.TrustedRoot.
// A log ID two roots list differently (key, URL or validity) is an error:
// a collection would silently take the last. One root is returned as it
// is.
//
// It is what the file trusts, for describing it and for checks on what
// it lists; verification goes line by line (FileRoots).
func union(roots ...*root.TrustedRoot) (*root.TrustedRoot, error) {
	if len(roots) == 1 {
		return roots[0], nil
	}
	var cas []root.CertificateAuthority
	var tsas []root.TimestampingAuthority
	tlogs, ctlogs := map[string]*root.TransparencyLog{}, map[string]*root.TransparencyLog{}
	for i, tr := range roots {
		cas = append(cas, tr.FulcioCertificateAuthorities()...)
		tsas = append(tsas, tr.TimestampingAuthorities()...)
		for _, logs := range []struct {
			kind     string
			from, to map[string]*root.TransparencyLog
		}{{"transparency log", tr.RekorLogs(), tlogs}, {"CT log", tr.CTLogs(), ctlogs}} {
			for id, l := range logs.from {
				if prev, ok := logs.to[id]; ok && !reflect.DeepEqual(prev, l) {
					return nil, fmt.Errorf("trusted root %d lists %s %s (%s) differently from an earlier one", i+1, logs.kind, safetext.Clean(id), safetext.Clean(l.BaseURL))
				}
				logs.to[id] = l
			}
		}
	}
	return root.NewTrustedRoot(root.TrustedRootMediaType01, cas, ctlogs, tsas, tlogs)
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
