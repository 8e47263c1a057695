package policy

// The identities section: certificate identities (issuer, subject, workflow
// claims), the trust roots each is valid under, and its validity window.

import (
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

var identityFields = []string{"name", "issuer", "issuerGlob", "issuerRegExp", "subject", "subjectGlob", "subjectRegExp",
	"claims", "trustRoots", "validFrom", "validUntil", "revokedAt"}

func (p *parser) identities(raw *yaml.Node) []*Identity {
	items, ok := p.list(raw, "identities")
	if !ok {
		return nil
	}
	var out []*Identity
	for i, item := range items {
		if id := p.identity(item, index("identities", i)); id != nil {
			out = append(out, id)
		}
	}
	return out
}

func (p *parser) identity(raw *yaml.Node, path string) *Identity {
	f, ok := p.fields(raw, path, identityFields, "name", "trustRoots")
	if !ok {
		return nil
	}
	id := &Identity{Pos: Pos{Line: raw.Line, Path: path}}
	if v, ok := f["name"]; ok {
		id.Name = p.uniqueName(v, join(path, "name"), "identity", p.identityNames)
		if line, clash := p.keyNames[id.Name]; clash && id.Name != "" {
			p.addf(v.Line, join(path, "name"), "identity %q has the name of key %q (line %d): rules name keys and identities alike, so give each its own name", id.Name, id.Name, line)
		}
	}
	id.ValidFrom, id.ValidUntil, id.RevokedAt = p.window(f, path)

	id.Issuer, id.IssuerGlob, id.IssuerRegExp = p.oneOf(raw, f, path, "issuer", "issuerGlob", "issuerRegExp")
	id.Subject, id.SubjectGlob, id.SubjectRegExp = p.oneOf(raw, f, path, "subject", "subjectGlob", "subjectRegExp")

	if v, ok := f["claims"]; ok {
		cp := join(path, "claims")
		before := len(p.probs)
		cf, ok := p.fields(v, cp, claimNames())
		// Name the claims there are when an unknown one got no suggestion.
		for i := before; i < len(p.probs); i++ {
			if pr := &p.probs[i]; pr.Path == cp && strings.HasPrefix(pr.Msg, "unknown field ") && !strings.Contains(pr.Msg, "did you mean") {
				pr.Msg += ": the claims an identity can require are " + strings.Join(claimNames(), ", ")
			}
		}
		if ok {
			for _, name := range claimNames() {
				if cv, ok := cf[name]; ok {
					if s, ok := p.nonEmptyStr(cv, join(cp, name)); ok {
						id.Claims = append(id.Claims, Claim{Field: name, Value: s})
					}
				}
			}
		}
	}

	if v, ok := f["trustRoots"]; ok {
		rp := join(path, "trustRoots")
		if items, ok := p.list(v, rp); ok {
			if len(items) == 0 {
				p.addf(v.Line, rp, "list at least one trust root name: an identity is valid only under the trust roots it names")
			}
			seen := map[string]bool{}
			for j, it := range items {
				name, ok := p.nonEmptyStr(it, index(rp, j))
				if !ok {
					continue
				}
				if seen[name] {
					p.addf(it.Line, index(rp, j), "trust root %q is listed twice", clip(name))
					continue
				}
				seen[name] = true
				if _, defined := p.rootNames[name]; !defined {
					hint, _ := suggest(name, sortedKeys(p.rootNames))
					p.addf(it.Line, index(rp, j), "undefined trust root %q: define it under trustRoots%s", clip(name), hint)
				}
				id.TrustRoots = append(id.TrustRoots, name)
			}
		}
	}
	id.Trusted = &TrustedKey{Name: id.Name, ID: IdentityIDPrefix + id.Name,
		ValidFrom: id.ValidFrom, ValidUntil: id.ValidUntil, RevokedAt: id.RevokedAt, Identity: id}
	return id
}

// oneOf reads the one field of an exact/glob/regexp triple that is set.
// Two set, or none, is a problem; a regexp must compile.
func (p *parser) oneOf(raw *yaml.Node, f map[string]*yaml.Node, path, exact, globF, reF string) (string, string, string) {
	names := []string{exact, globF, reF}
	var set []string
	for _, n := range names {
		if _, ok := f[n]; ok {
			set = append(set, n)
		}
	}
	switch len(set) {
	case 0:
		if !p.misspelled(raw, identityFields, names...) {
			p.addf(raw.Line, path, "missing the %s: give one of %s, %s or %s", exact, exact, globF, reF)
		}
		return "", "", ""
	case 1:
	default:
		// Report at the later field: the first one written stands.
		first, second := set[0], set[1]
		if f[second].Line < f[first].Line {
			first, second = second, first
		}
		p.addf(f[second].Line, join(path, second), "%s and %s (line %d) are both given: give exactly one of %s, %s or %s",
			second, first, f[first].Line, exact, globF, reF)
		return "", "", ""
	}
	v := f[set[0]]
	s, ok := p.nonEmptyStr(v, join(path, set[0]))
	if !ok {
		return "", "", ""
	}
	switch set[0] {
	case exact:
		return s, "", ""
	case globF:
		return "", s, ""
	}
	if _, err := compileAnchored(s); err != nil {
		p.addf(v.Line, join(path, reF), "invalid regular expression: %v", trimRegexpErr(err))
		return "", "", ""
	}
	return "", "", s
}

// trimRegexpErr drops the "error parsing regexp: " Go puts first.
func trimRegexpErr(err error) string {
	return strings.TrimPrefix(err.Error(), "error parsing regexp: ")
}

// window reads validFrom, validUntil and revokedAt, as keys and identities
// carry them.
func (p *parser) window(f map[string]*yaml.Node, path string) (from, until, revoked *time.Time) {
	for _, t := range []struct {
		field string
		dst   **time.Time
	}{{"validFrom", &from}, {"validUntil", &until}, {"revokedAt", &revoked}} {
		if v, ok := f[t.field]; ok {
			*t.dst, _ = p.timestamp(v, join(path, t.field))
		}
	}
	if from != nil && until != nil && !until.After(*from) {
		p.addf(f["validUntil"].Line, join(path, "validUntil"), "%s is not after validFrom %s", fmtTime(*until), fmtTime(*from))
	}
	return from, until, revoked
}
