package policy

// The trustRoots section: the Sigstore trust roots (Fulcio CAs, Rekor logs,
// timestamp authorities) that certificate identities are valid under.

import (
	"path/filepath"
	"slices"
	"strings"

	"github.com/sigstore/sigstore-go/pkg/root"
	"go.yaml.in/yaml/v3"

	"github.com/imgsign/imgsign/internal/trustroot"
)

var trustRootFields = []string{"name", "sigstore", "file", "requireTransparencyLog"}

// TrustRoot is one entry of trustRoots[]: a Sigstore trusted root, named
// (public-good, github: trustroot.Named) or a trusted_root.json file.
type TrustRoot struct {
	Pos
	Name string
	// Sigstore names a trust root imgsign knows (trustroot.Names:
	// "public-good", whose snapshot it embeds, or "github", only ever the
	// copy `imgsign trust-root update github` cached); "" for a file.
	Sigstore string
	// File is the trusted_root.json, resolved against the policy's
	// directory; "" for Sigstore.
	File string
	// RequireTransparencyLog is requireTransparencyLog as written, else true
	// when the root lists at least one Rekor log (public good) and false when
	// it lists none (GitHub's own instance, which only timestamps).
	RequireTransparencyLog bool
	// Root is the parsed trusted root, loaded by Parse and Load.
	Root *root.TrustedRoot
	// Lines are the trusted roots of a JSON-lines file (what `gh
	// attestation trusted-root` prints: public good's and GitHub's), one
	// per line, which a bundle is verified against each on its own
	// (Parts); Root is then their union. Nil for one trusted root.
	Lines []*root.TrustedRoot
	// TransparencyLogSet says requireTransparencyLog was written: it then
	// holds for every line; otherwise each line requires a log entry when
	// it lists a Rekor log.
	TransparencyLogSet bool
}

// RootPart is one trusted root a bundle is verified against, and whether
// a log entry is required under it.
type RootPart struct {
	Root                   *root.TrustedRoot
	RequireTransparencyLog bool
}

// Parts are the trusted roots a bundle is verified against under r, one
// verifying being enough: Root; or, for a JSON-lines file, each line's root
// with its own requirements, so that GitHub's instance's line (no log)
// does not inherit a log requirement from public good's.
func (r *TrustRoot) Parts() []RootPart {
	if len(r.Lines) == 0 {
		return []RootPart{{r.Root, r.RequireTransparencyLog}}
	}
	out := make([]RootPart, 0, len(r.Lines))
	for _, l := range r.Lines {
		require := len(l.RekorLogs()) > 0
		if r.TransparencyLogSet {
			require = r.RequireTransparencyLog
		}
		out = append(out, RootPart{l, require})
	}
	return out
}

// TrustRootByName returns the trust root named name, or nil.
func (p *Policy) TrustRootByName(name string) *TrustRoot {
	for _, r := range p.TrustRoots {
		if r.Name == name {
			return r
		}
	}
	return nil
}

func (p *parser) trustRoots(raw *yaml.Node) []*TrustRoot {
	items, ok := p.list(raw, "trustRoots")
	if !ok {
		return nil
	}
	var out []*TrustRoot
	for i, item := range items {
		path := index("trustRoots", i)
		f, ok := p.fields(item, path, trustRootFields, "name")
		if !ok {
			continue
		}
		r := &TrustRoot{Pos: Pos{Line: item.Line, Path: path}}
		if v, ok := f["name"]; ok {
			r.Name = p.uniqueName(v, join(path, "name"), "trust root", p.rootNames)
		}
		name := r.Name
		if name == "" {
			name = "(unnamed)"
		}
		sv, hasSigstore := f["sigstore"]
		fv, hasFile := f["file"]
		switch {
		case hasSigstore && hasFile:
			later, lp := fv, "file"
			if sv.Line > fv.Line {
				later, lp = sv, "sigstore"
			}
			p.addf(later.Line, join(path, lp), "trust root %q: give sigstore (a trust root imgsign embeds) or file (a trusted_root.json), not both", name)
		case hasSigstore:
			if s, ok := p.nonEmptyStr(sv, join(path, "sigstore")); ok {
				r.Sigstore = s
				tr, err := trustroot.Named(s)
				if err != nil {
					hint := ""
					if !slices.Contains(trustroot.Names(), s) {
						hint, _ = suggest(s, trustroot.Names())
					}
					p.addf(sv.Line, join(path, "sigstore"), "%v%s", err, hint)
				}
				r.Root = tr
			}
		case hasFile:
			if s, ok := p.nonEmptyStr(fv, join(path, "file")); ok {
				ref := strings.TrimSpace(s)
				if strings.Contains(ref, "://") {
					p.addf(fv.Line, join(path, "file"), "trust root %q: expected the path of a trusted_root.json, got a URL: imgsign reads trust roots from files, never from the network while verifying", name)
					break
				}
				if !filepath.IsAbs(ref) {
					ref = filepath.Join(p.dir, ref)
				}
				r.File = ref
				tr, lines, err := trustroot.FileRoots(ref)
				if err != nil {
					p.addf(fv.Line, join(path, "file"), "trust root %q: %v", name, err)
				}
				r.Root, r.Lines = tr, lines
			}
		default:
			if !p.misspelled(item, trustRootFields, "sigstore", "file") {
				p.addf(item.Line, path, "trust root %q: missing sigstore or file: write sigstore: %s for the snapshot imgsign embeds (or %s for GitHub's instance), or file: the path of a trusted_root.json", name, trustroot.PublicGood, trustroot.GitHub)
			}
		}
		hasLog := r.Root != nil && len(r.Root.RekorLogs()) > 0
		if r.Root != nil && len(r.Root.FulcioCertificateAuthorities()) == 0 {
			at, ap := fv, join(path, "file")
			if r.File == "" {
				at, ap = sv, join(path, "sigstore")
			}
			p.addf(at.Line, ap, "trust root %q lists no certificate authority: no certificate can chain to it", name)
		}
		r.RequireTransparencyLog = hasLog
		if v, ok := f["requireTransparencyLog"]; ok {
			if b, ok := p.boolean(v, join(path, "requireTransparencyLog")); ok {
				r.RequireTransparencyLog, r.TransparencyLogSet = b, true
				if b && r.Root != nil && !hasLog {
					p.addf(v.Line, join(path, "requireTransparencyLog"), "trust root %q lists no transparency log, so no signature could show a log entry: set requireTransparencyLog to false", name)
				}
			}
		}
		out = append(out, r)
	}
	return out
}

// misspelled reports whether mapping raw has an unknown field that fields
// took for one of want (did you mean…): that problem is reported already,
// and "missing" would say it twice.
func (p *parser) misspelled(raw *yaml.Node, allowed []string, want ...string) bool {
	n := p.node(raw)
	if n == nil || n.Kind != yaml.MappingNode {
		return true
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind != yaml.ScalarNode || slices.Contains(allowed, k.Value) {
			continue
		}
		if _, guess := suggest(k.Value, allowed); slices.Contains(want, guess) {
			return true
		}
	}
	return false
}
