package policy

// The policies section: rules, their scopes, and what each demands
// (signatures, attestations, compliance).

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/verify/conditions"
)

func (p *parser) rules(raw *yaml.Node, haveTSA bool) []*Rule {
	items, ok := p.list(raw, "policies")
	if !ok {
		return nil
	}
	if len(items) == 0 {
		p.addf(raw.Line, "policies", "the policy has no rules, so every image would be rejected: add at least one")
	}
	type scopeUse struct {
		rule int
		name string
		line int
		raw  string
	}
	scopes := map[string]scopeUse{}
	names := map[string]int{}
	var out []*Rule
	for i, item := range items {
		if p.exhausted {
			break
		}
		path := index("policies", i)
		f, ok := p.fields(item, path, ruleFields, "name", "scopes")
		if !ok {
			continue
		}
		r := &Rule{Pos: Pos{Line: item.Line, Path: path}, Mode: ModeEnforce}
		if v, ok := f["name"]; ok {
			r.Name = p.uniqueName(v, join(path, "name"), "policy", names)
		}
		if v, ok := f["scopes"]; ok {
			sp := join(path, "scopes")
			if items, ok := p.list(v, sp); ok {
				if len(items) == 0 {
					p.addf(v.Line, sp, "list at least one repository pattern, e.g. registry.example.com/prod/**")
				}
				for j, it := range items {
					s, ok := p.nonEmptyStr(it, index(sp, j))
					if !ok {
						continue
					}
					sc, err := ParseScope(s)
					if err != nil {
						p.addf(it.Line, index(sp, j), "%v", err)
						continue
					}
					sc.Pos = Pos{Line: it.Line, Path: index(sp, j)}
					if prev, dup := scopes[sc.Pattern]; dup {
						same := ""
						if prev.raw != s || sc.Pattern != s {
							same = fmt.Sprintf(" (both mean %s)", sc.Pattern)
						}
						if prev.rule == i {
							p.addf(it.Line, index(sp, j), "scope %q is listed twice in this rule%s", s, same)
						} else {
							p.addf(it.Line, index(sp, j), "scope %q is already used by policy %q (line %d)%s: a scope belongs to one rule", s, prev.name, prev.line, same)
						}
						continue
					}
					scopes[sc.Pattern] = scopeUse{rule: i, name: r.Name, line: it.Line, raw: s}
					r.Scopes = append(r.Scopes, sc)
				}
			}
		}
		if v, ok := f["mode"]; ok {
			if m, ok := p.str(v, join(path, "mode")); ok {
				switch Mode(m) {
				case ModeEnforce, ModeAudit:
					r.Mode = Mode(m)
				default:
					p.addf(v.Line, join(path, "mode"), "%q is not a mode: use enforce or audit", clip(m))
				}
			}
		}
		if v, ok := f["signatures"]; ok {
			r.Signatures = p.signatures(v, join(path, "signatures"), haveTSA)
		}
		attRaw, hasAtt := f["attestations"]
		if hasAtt {
			r.Attestations = p.attestations(attRaw, join(path, "attestations"))
		}
		if v, ok := f["compliance"]; ok {
			r.Compliance = p.compliance(v, join(path, "compliance"), r.Attestations)
		}
		// A rule must demand something of the image, or every image in its
		// scopes passes unsigned. A compliance section counts only through
		// a check it turns on: `compliance: {}`, checks set to false or
		// only compliance.keys demand nothing. (A broken signatures or
		// attestations section is reported where it is broken.)
		_, hasSig := f["signatures"]
		attDemands := hasAtt && !(len(r.Attestations) == 0 && isEmptyList(p.node(attRaw)))
		if !hasSig && !attDemands && !r.Compliance.demands() {
			why := ""
			if _, ok := f["compliance"]; ok {
				why = " (its compliance section turns no check on: compliance alone must set nonRootUser or noSecretsInEnv to true, or list allowedBaseImages or a maxSeverity)"
			}
			p.addf(item.Line, path, "policy %q requires nothing, so every image in its scopes would pass unsigned%s: add a signatures or attestations section", r.Name, why)
		}
		out = append(out, r)
	}
	return out
}

// scopeTies reports scopes of different rules that would tie for some
// repository: Match refuses such a repository, so say so before verify
// meets one.
func (p *parser) scopeTies(pol *Policy) {
	if p.exhausted {
		return
	}
	for _, t := range pol.ties() {
		p.addf(t.b.scope.Line, t.b.scope.Path, "scope %q of policy %q and scope %q of policy %q (line %d) are equally specific (%s each) and both match %s: make one more specific so one rule governs it",
			t.b.scope.Raw, t.b.rule.Name, t.a.scope.Raw, t.a.rule.Name, t.a.scope.Line, t.a.spec, t.repository)
	}
}

// severities a maxSeverity may name, least to most severe.
var severities = []string{"NEGLIGIBLE", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

func (p *parser) compliance(raw *yaml.Node, path string, atts []*AttestationRule) *ComplianceRule {
	f, ok := p.fields(raw, path, compFields)
	if !ok {
		return nil
	}
	c := &ComplianceRule{Pos: Pos{Line: raw.Line, Path: path}}
	if v, ok := f["nonRootUser"]; ok {
		c.NonRootUser, _ = p.boolean(v, join(path, "nonRootUser"))
	}
	if v, ok := f["noSecretsInEnv"]; ok {
		c.NoSecretsInEnv, _ = p.boolean(v, join(path, "noSecretsInEnv"))
	}
	if v, ok := f["keys"]; ok {
		c.Keys, _ = p.keyRefs(v, join(path, "keys"), true)
	}
	// Checks that read attestations need keys to trust them with: the
	// compliance keys, else those of the rule's attestation of that type.
	keysFor := func(typ string) bool {
		if len(c.Keys) > 0 {
			return true
		}
		for _, a := range atts {
			if a.Type == typ && len(a.Keys) > 0 {
				return true
			}
		}
		return false
	}
	if v, ok := f["allowedBaseImages"]; ok {
		bp := join(path, "allowedBaseImages")
		if items, ok := p.list(v, bp); ok {
			for j, it := range items {
				if g, ok := p.nonEmptyStr(it, index(bp, j)); ok {
					c.AllowedBaseImages = append(c.AllowedBaseImages, g)
				}
			}
			if !keysFor(statement.SLSAProvenanceV1) {
				p.addf(v.Line, bp, "allowedBaseImages reads the SLSA provenance attestation: list compliance.keys or add an attestations entry of type %s", statement.SLSAProvenanceV1)
			}
		}
	}
	if v, ok := f["maxSeverity"]; ok {
		mp := join(path, "maxSeverity")
		if sv, ok := p.nonEmptyStr(v, mp); ok {
			sv = strings.ToUpper(sv)
			if !slices.Contains(severities, sv) {
				p.addf(v.Line, mp, "%q is not a severity: use one of %s", clip(sv), strings.Join(severities, ", "))
			}
			c.MaxSeverity = sv
			if !keysFor(statement.CosignVuln) {
				p.addf(v.Line, mp, "maxSeverity reads the vulnerability attestation: list compliance.keys or add an attestations entry of type %s", statement.CosignVuln)
			}
		}
	}
	return c
}

// demands reports whether the compliance section turns any check on.
func (c *ComplianceRule) demands() bool {
	return c != nil && (c.NonRootUser || c.NoSecretsInEnv || len(c.AllowedBaseImages) > 0 || c.MaxSeverity != "")
}

func (p *parser) signatures(raw *yaml.Node, path string, haveTSA bool) *SignatureRule {
	f, ok := p.fields(raw, path, sigFields, "keys")
	if !ok {
		return nil
	}
	s := &SignatureRule{Pos: Pos{Line: raw.Line, Path: path}}
	var keysOK bool
	if v, ok := f["keys"]; ok {
		s.Keys, keysOK = p.keyRefs(v, join(path, "keys"), false)
	}
	s.Threshold = p.threshold(f, path, len(s.Keys), keysOK)
	if v, ok := f["requireTimestamp"]; ok {
		s.RequireTimestamp, _ = p.boolean(v, join(path, "requireTimestamp"))
		if s.RequireTimestamp && !haveTSA {
			p.addf(v.Line, join(path, "requireTimestamp"), "a timestamp is required but the policy lists no timestampAuthorities (or identities, whose trust roots give times, or x509 signers with a tsa trust store) to trust")
		}
	}
	if v, ok := f["bindTag"]; ok {
		s.BindTag, _ = p.boolean(v, join(path, "bindTag"))
	}
	return s
}

func (p *parser) attestations(raw *yaml.Node, path string) []*AttestationRule {
	items, ok := p.list(raw, path)
	if !ok {
		return nil
	}
	var out []*AttestationRule
	for i, item := range items {
		ap := index(path, i)
		f, ok := p.fields(item, ap, attFields, "type", "keys")
		if !ok {
			continue
		}
		a := &AttestationRule{Pos: Pos{Line: item.Line, Path: ap}}
		if v, ok := f["type"]; ok {
			if t, ok := p.nonEmptyStr(v, join(ap, "type")); ok {
				if err := checkTypeURI(t); err != nil {
					p.addf(v.Line, join(ap, "type"), "%v", err)
				}
				a.Type = t
			}
		}
		var keysOK bool
		if v, ok := f["keys"]; ok {
			a.Keys, keysOK = p.keyRefs(v, join(ap, "keys"), true)
		}
		a.Threshold = p.threshold(f, ap, len(a.Keys), keysOK)
		if v, ok := f["maxAge"]; ok {
			if s, ok := p.nonEmptyStr(v, join(ap, "maxAge")); ok {
				d, err := parseAge(s)
				if err != nil {
					p.addf(v.Line, join(ap, "maxAge"), "%v", err)
				}
				a.MaxAge = d
			}
		}
		// Convenience fields compile to the same CEL a condition would.
		for _, cf := range []struct {
			field string
			gen   func(string) string
		}{
			{"builderId", conditions.BuilderID},
			{"sourceRepository", conditions.SourceRepository},
			{"sourceRef", conditions.SourceRef},
			{"buildType", conditions.BuildType},
		} {
			v, ok := f[cf.field]
			if !ok {
				continue
			}
			val, ok := p.nonEmptyStr(v, join(ap, cf.field))
			if !ok {
				continue
			}
			c := Condition{Pos: Pos{Line: v.Line, Path: join(ap, cf.field)}, Expr: cf.gen(val), Label: cf.field + ": " + val}
			if prg, err := conditions.Compile(c.Expr); err != nil {
				p.addf(v.Line, c.Path, "%v", err)
			} else {
				c.Program = prg
				a.Conditions = append(a.Conditions, c)
			}
		}
		if v, ok := f["conditions"]; ok {
			cp := join(ap, "conditions")
			if conds, ok := p.list(v, cp); ok {
				for j, c := range conds {
					if expr, ok := p.nonEmptyStr(c, index(cp, j)); ok {
						cond := Condition{Pos: Pos{Line: c.Line, Path: index(cp, j)}, Expr: expr}
						prg, err := conditions.Compile(expr)
						if err != nil {
							p.addf(c.Line, index(cp, j), "condition does not compile: %v", err)
							continue
						}
						cond.Program = prg
						a.Conditions = append(a.Conditions, cond)
					}
				}
			}
		}
		out = append(out, a)
	}
	return out
}

// keyRefs reads a non-empty list of distinct, defined signer names (keys,
// identities or x509 signers); ok reports whether the list itself was
// usable for a threshold check. statements: the list signs in-toto
// statements (attestations), which a Notary Project signature never holds.
func (p *parser) keyRefs(raw *yaml.Node, path string, statements bool) ([]string, bool) {
	items, ok := p.list(raw, path)
	if !ok {
		return nil, false
	}
	if len(items) == 0 {
		p.addf(raw.Line, path, "list at least one key name")
		return nil, false
	}
	var out []string
	seen := map[string]bool{}
	for i, it := range items {
		name, ok := p.nonEmptyStr(it, index(path, i))
		if !ok {
			continue
		}
		_, isKey := p.keyNames[name]
		_, isIdentity := p.identityNames[name]
		_, isX509 := p.x509Names[name]
		if seen[name] {
			what := "key"
			if isIdentity && !isKey {
				what = "identity"
			}
			if isX509 && !isKey && !isIdentity {
				what = "x509 signer"
			}
			p.addf(it.Line, index(path, i), "%s %q is listed twice: a threshold counts distinct signers", what, name)
			continue
		}
		seen[name] = true
		if !isKey && !isIdentity && !isX509 {
			hint, _ := suggest(name, slices.Concat(sortedKeys(p.keyNames), sortedKeys(p.identityNames), sortedKeys(p.x509Names)))
			p.addf(it.Line, index(path, i), "undefined key %q: define it under keys, identities or x509Signers%s", clip(name), hint)
		}
		if isX509 && statements {
			p.addf(it.Line, index(path, i), "x509 signer %q signs images, not attestations: a Notary Project signature holds no in-toto statement", clip(name))
		}
		out = append(out, name)
	}
	return out, len(out) > 0
}

func (p *parser) threshold(f map[string]*yaml.Node, path string, nkeys int, keysOK bool) int {
	v, ok := f["threshold"]
	if !ok {
		return 1
	}
	tp := join(path, "threshold")
	t, ok := p.integer(v, tp)
	if !ok {
		return 0
	}
	switch {
	case t < 1:
		p.addf(v.Line, tp, "must be at least 1, got %d", t)
	case keysOK && t > nkeys:
		plural := "s"
		if nkeys == 1 {
			plural = ""
		}
		p.addf(v.Line, tp, "%d exceeds the %d key%s listed", t, nkeys, plural)
	}
	return t
}

// parseAge reads a maxAge: a Go duration ("36h") or whole days ("30d").
func parseAge(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("maxAge %q: write whole days (\"30d\") or a duration (\"36h\")", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("maxAge %q: write whole days (\"30d\") or a duration (\"36h\")", s)
	}
	return d, nil
}
