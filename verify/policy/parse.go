package policy

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/imgsign/imgsign/internal/boundedfile"
	"github.com/imgsign/imgsign/internal/editdistance"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/keys"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/verify/conditions"
)

const (
	// maxKeyFileBytes bounds how much of a public key file is read.
	maxKeyFileBytes = 64 << 10
	// maxVisits bounds the nodes walked, so aliases cannot make a small
	// file expensive.
	maxVisits = 1 << 18
	// maxProblems bounds the problems reported.
	maxProblems = 200
)

// kmsSchemes are the KMS key references sigstore's kms packages take.
var kmsSchemes = []string{"awskms://", "gcpkms://", "azurekms://", "hashivault://"}

// Field names, as the YAML spells them.
var (
	topFields  = []string{"version", "keys", "timestampAuthorities", "policies"}
	keyFields  = []string{"name", "publicKey", "validFrom", "validUntil", "revokedAt"}
	tsaFields  = []string{"name", "certChain"}
	ruleFields = []string{"name", "scopes", "mode", "signatures", "attestations", "compliance"}
	compFields = []string{"nonRootUser", "noSecretsInEnv", "allowedBaseImages", "maxSeverity", "keys"}
	sigFields  = []string{"keys", "threshold", "requireTimestamp", "bindTag"}
	attFields  = []string{"type", "keys", "threshold", "maxAge", "builderId", "sourceRepository", "sourceRef", "buildType", "conditions"}
)

type parser struct {
	file, dir string
	probs     Problems
	visits    int
	exhausted bool
	dropped   int // problems beyond maxProblems, counted only
	pol       *Policy
	keyNames  map[string]int // key name → line
}

func parse(data []byte, file, dir string) (*Policy, error) {
	p := &parser{file: file, dir: dir, keyNames: map[string]int{}}
	p.run(data)
	if len(p.probs) > 0 || p.exhausted {
		sort.SliceStable(p.probs, func(i, j int) bool { return p.probs[i].Line < p.probs[j].Line })
		if p.exhausted {
			p.probs = append(Problems{{File: file, Msg: "the policy is too large or expands too many YAML aliases: checking stopped"}}, p.probs...)
		}
		if p.dropped > 0 {
			p.probs = append(p.probs, Problem{File: file, Msg: fmt.Sprintf("%d more problems not shown: fix these first", p.dropped)})
		}
		return nil, errkind.Mark(errkind.Input, p.probs)
	}
	return p.pol, nil
}

func (p *parser) addf(line int, path, format string, args ...any) {
	if len(p.probs) >= maxProblems {
		p.dropped++
		return
	}
	p.probs = append(p.probs, Problem{File: p.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// yamlLine finds the line in a yaml.v3 error message.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (p *parser) run(data []byte) {
	if !utf8.Valid(data) {
		p.addf(0, "", "the policy is not UTF-8 text")
		return
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := decode(dec, &root); err != nil {
		if errors.Is(err, io.EOF) {
			p.addf(0, "", "the policy is empty: expected version, keys and policies")
			return
		}
		p.yamlError(err)
		return
	}
	var extra yaml.Node
	if err := decode(dec, &extra); err == nil {
		p.addf(extra.Line, "", "a policy file holds one YAML document: remove the second \"---\" document")
		return
	} else if !errors.Is(err, io.EOF) {
		p.yamlError(err)
		return
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			p.addf(0, "", "the policy is empty: expected version, keys and policies")
			return
		}
		doc = doc.Content[0]
	}
	p.policy(doc)
}

// decode guards against panics in the YAML library: a malformed policy is
// bad input, never a crash.
func decode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: malformed YAML: %v", r)
		}
	}()
	return dec.Decode(n)
}

// yamlParserErrors are the yaml.v3 parser (not scanner) problems. For these
// yaml.v3 prints the 0-based line of the construct being parsed, and omits
// the line when it is 0.
var yamlParserErrors = []string{
	"did not find expected ",
	"found duplicate %",
	"found incompatible YAML document",
	"found undefined tag handle",
}

func (p *parser) yamlError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if slices.ContainsFunc(yamlParserErrors, func(s string) bool { return strings.HasPrefix(msg, s) }) {
		line++
	}
	p.addf(line, "", "invalid YAML: %s", msg)
}

// node resolves aliases and counts the visit; nil once the budget is spent.
func (p *parser) node(n *yaml.Node) *yaml.Node {
	if p.exhausted {
		return nil
	}
	p.visits++
	if p.visits > maxVisits {
		p.exhausted = true // reported by parse
		return nil
	}
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 64; i++ {
		n = n.Alias
	}
	if n == nil || n.Kind == yaml.AliasNode {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: 0}
	}
	return n
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func isEmptyList(n *yaml.Node) bool {
	return n != nil && n.Kind == yaml.SequenceNode && len(n.Content) == 0
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node is, for "expected X, got Y".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return "a string"
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "nothing"
		case "!!timestamp":
			return "a timestamp"
		case "!!binary":
			return "binary data"
		}
		return fmt.Sprintf("a value tagged %s", clip(n.Tag))
	}
	return "nothing"
}

// fields checks that n is a mapping whose keys are among allowed, each once,
// with every required field present and non-null. It returns the values by
// field name, null values omitted; ok is false when n is not a mapping.
func (p *parser) fields(raw *yaml.Node, path string, allowed []string, required ...string) (map[string]*yaml.Node, bool) {
	n := p.node(raw)
	if n == nil {
		return nil, false
	}
	if n.Kind != yaml.MappingNode {
		p.addf(raw.Line, path, "expected a mapping, got %s", describe(n))
		return nil, false
	}
	out := map[string]*yaml.Node{}
	seen := map[string]int{}
	suggested := map[string]bool{} // required fields an unknown field was taken for
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := p.node(n.Content[i]), n.Content[i+1]
		if k == nil {
			return out, true
		}
		if k.Kind != yaml.ScalarNode {
			p.addf(n.Content[i].Line, path, "field names must be plain strings, got %s", describe(k))
			continue
		}
		name := k.Value
		if k.ShortTag() == "!!merge" {
			p.addf(k.Line, path, `unknown field "<<": YAML merge keys are not supported in a trust policy`)
			continue
		}
		if first, dup := seen[name]; dup {
			p.addf(k.Line, path, "duplicate field %q (first at line %d)", clip(name), first)
			continue
		}
		seen[name] = k.Line
		if !slices.Contains(allowed, name) {
			hint, guess := suggest(name, allowed)
			suggested[guess] = true
			p.addf(k.Line, path, "unknown field %q%s", clip(name), hint)
			continue
		}
		if vv := p.node(v); vv != nil && !isNull(vv) {
			out[name] = v
		}
	}
	for _, r := range required {
		if _, ok := out[r]; ok || suggested[r] {
			continue
		}
		if line, present := seen[r]; present {
			p.addf(line, join(path, r), "required field is empty")
		} else {
			p.addf(n.Line, path, "missing required field %q", r)
		}
	}
	return out, true
}

// str returns a string scalar.
func (p *parser) str(raw *yaml.Node, path string) (string, bool) {
	n := p.node(raw)
	if n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		hint := ""
		if n.Kind == yaml.ScalarNode && !isNull(n) {
			hint = fmt.Sprintf(": quote it if you mean the string %q", clip(n.Value))
		}
		p.addf(raw.Line, path, "expected a string, got %s%s", describe(n), hint)
		return "", false
	}
	return n.Value, true
}

// nonEmptyStr returns a string scalar that is not blank.
func (p *parser) nonEmptyStr(raw *yaml.Node, path string) (string, bool) {
	s, ok := p.str(raw, path)
	if ok && strings.TrimSpace(s) == "" {
		p.addf(raw.Line, path, "must not be empty")
		return "", false
	}
	return s, ok
}

func (p *parser) integer(raw *yaml.Node, path string) (int, bool) {
	n := p.node(raw)
	if n == nil {
		return 0, false
	}
	var i int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
		p.addf(raw.Line, path, "expected an integer, got %s", describe(n))
		return 0, false
	}
	return i, true
}

func (p *parser) boolean(raw *yaml.Node, path string) (bool, bool) {
	n := p.node(raw)
	if n == nil {
		return false, false
	}
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		p.addf(raw.Line, path, "expected true or false, got %s", describe(n))
		return false, false
	}
	return b, true
}

func (p *parser) timestamp(raw *yaml.Node, path string) (*time.Time, bool) {
	n := p.node(raw)
	if n == nil {
		return nil, false
	}
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!timestamp" || n.ShortTag() == "!!str") {
		if t, err := time.Parse(time.RFC3339, n.Value); err == nil {
			return &t, true
		}
		p.addf(raw.Line, path, "expected an RFC 3339 time such as 2026-01-01T00:00:00Z, got %q", clip(n.Value))
		return nil, false
	}
	p.addf(raw.Line, path, "expected an RFC 3339 time such as 2026-01-01T00:00:00Z, got %s", describe(n))
	return nil, false
}

// list returns the items of a sequence; hint is added when a scalar was
// written where a list belongs.
func (p *parser) list(raw *yaml.Node, path string) ([]*yaml.Node, bool) {
	n := p.node(raw)
	if n == nil {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		hint := ""
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
			hint = fmt.Sprintf(": write [%q]", clip(n.Value))
		}
		p.addf(raw.Line, path, "expected a list, got %s%s", describe(n), hint)
		return nil, false
	}
	return n.Content, true
}

func (p *parser) policy(doc *yaml.Node) {
	f, ok := p.fields(doc, "", topFields, "version", "keys", "policies")
	if !ok {
		return
	}
	pol := &Policy{File: p.file, Dir: p.dir}
	if v, ok := f["version"]; ok {
		if ver, ok := p.integer(v, "version"); ok {
			if ver != Version {
				// A newer format may mean anything: report only this.
				p.probs = nil
				p.addf(v.Line, "version", "unsupported policy version %d: this imgsign reads version %d", ver, Version)
				return
			}
			pol.Version = ver
		}
	}
	if v, ok := f["keys"]; ok {
		pol.Keys = p.keys(v)
	}
	if v, ok := f["timestampAuthorities"]; ok {
		pol.TimestampAuthorities = p.tsas(v)
	}
	if v, ok := f["policies"]; ok {
		pol.Rules = p.rules(v, len(pol.TimestampAuthorities) > 0)
		p.scopeTies(pol)
	}
	p.pol = pol
}

func (p *parser) keys(raw *yaml.Node) []*Key {
	items, ok := p.list(raw, "keys")
	if !ok {
		return nil
	}
	if len(items) == 0 {
		p.addf(raw.Line, "keys", "the policy trusts no keys: list at least one")
	}
	var out []*Key
	for i, item := range items {
		if k := p.key(item, index("keys", i)); k != nil {
			out = append(out, k)
		}
	}
	// One key, one name: two names for one key id would make reports and
	// thresholds ambiguous.
	byID := map[string]*Key{}
	byRef := map[string]*Key{}
	for _, k := range out {
		switch {
		case k.Trusted != nil:
			if first, dup := byID[k.Trusted.ID]; dup {
				p.addf(k.Line, k.Path+".publicKey", "key %q is the same key (id %s) as key %q (line %d): give one key one name",
					k.Name, k.Trusted.ID, first.Name, first.Line)
				continue
			}
			byID[k.Trusted.ID] = k
		case k.KMSRef != "":
			if first, dup := byRef[k.KMSRef]; dup {
				p.addf(k.Line, k.Path+".publicKey", "key %q is the same KMS key as key %q (line %d): give one key one name",
					k.Name, first.Name, first.Line)
				continue
			}
			byRef[k.KMSRef] = k
		}
	}
	return out
}

func (p *parser) key(raw *yaml.Node, path string) *Key {
	f, ok := p.fields(raw, path, keyFields, "name", "publicKey")
	if !ok {
		return nil
	}
	k := &Key{Pos: Pos{Line: raw.Line, Path: path}}
	if v, ok := f["name"]; ok {
		if name, ok := p.nonEmptyStr(v, join(path, "name")); ok {
			if first, dup := p.keyNames[name]; dup {
				p.addf(v.Line, join(path, "name"), "duplicate key name %q (first at line %d)", name, first)
			} else {
				p.keyNames[name] = v.Line
			}
			k.Name = name
		}
	}
	for _, t := range []struct {
		field string
		dst   **time.Time
	}{{"validFrom", &k.ValidFrom}, {"validUntil", &k.ValidUntil}, {"revokedAt", &k.RevokedAt}} {
		if v, ok := f[t.field]; ok {
			*t.dst, _ = p.timestamp(v, join(path, t.field))
		}
	}
	if k.ValidFrom != nil && k.ValidUntil != nil && !k.ValidUntil.After(*k.ValidFrom) {
		p.addf(f["validUntil"].Line, join(path, "validUntil"), "%s is not after validFrom %s",
			fmtTime(*k.ValidUntil), fmtTime(*k.ValidFrom))
	}
	if v, ok := f["publicKey"]; ok {
		if s, ok := p.nonEmptyStr(v, join(path, "publicKey")); ok {
			k.PublicKey = s
			p.resolveKey(k, v.Line, join(path, "publicKey"))
		}
	}
	return k
}

// resolveKey classifies publicKey and, for PEM keys, parses it.
func (p *parser) resolveKey(k *Key, line int, path string) {
	name := k.Name
	if name == "" {
		name = "(unnamed)"
	}
	ref := strings.TrimSpace(k.PublicKey)
	var data []byte
	var where string
	switch {
	case strings.HasPrefix(ref, "-----BEGIN"):
		data, where = []byte(ref), "inline public key"
	case slices.ContainsFunc(kmsSchemes, func(s string) bool { return strings.HasPrefix(ref, s) }):
		if _, rest, _ := strings.Cut(ref, "://"); rest == "" {
			p.addf(line, path, "key %q: KMS reference %q names no key", name, clip(ref))
			return
		}
		k.KMSRef = ref
		return
	case strings.HasPrefix(ref, "pkcs11:"):
		p.addf(line, path, "key %q: a policy trusts public keys, not HSM objects: export it with `imgsign keys public --key 'pkcs11:…' > %s.pub` and name the file", name, name)
		return
	case strings.Contains(ref, "://"):
		scheme, _, _ := strings.Cut(ref, "://")
		p.addf(line, path, "key %q: unsupported key reference scheme %q: use a PEM file path, inline PEM, or awskms://, gcpkms://, azurekms://, hashivault://", name, clip(scheme))
		return
	default:
		file := ref
		if !filepath.IsAbs(file) {
			file = filepath.Join(p.dir, file)
		}
		k.File = file
		b, err := readKeyFile(file)
		if err != nil {
			p.addf(line, path, "key %q: %s", name, unreadableKeyFile(ref, file, err))
			return
		}
		data, where = b, "public key file "+file
	}
	if block, _ := pem.Decode(data); block != nil && strings.Contains(block.Type, "PRIVATE KEY") {
		p.addf(line, path, "key %q: %s holds a PRIVATE key: the policy needs the public key (imgsign keys public --key …); keep the private key out of the policy", name, where)
		return
	}
	pub, err := keys.ParsePublicPEM(data)
	if err != nil {
		p.addf(line, path, "key %q: %s: %v", name, where, err)
		return
	}
	id, err := keys.ID(pub)
	if err != nil {
		p.addf(line, path, "key %q: %s: %v", name, where, err)
		return
	}
	k.Trusted = &TrustedKey{Name: k.Name, ID: id, Public: pub, ValidFrom: k.ValidFrom, ValidUntil: k.ValidUntil, RevokedAt: k.RevokedAt}
	k.Versions = []*TrustedKey{k.Trusted}
}

// readKeyFile reads a regular file of bounded size (never a device or FIFO).
func readKeyFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, pathErr(err)
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, pathErr(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileBytes+1))
	if err != nil {
		return nil, pathErr(err)
	}
	if len(b) > maxKeyFileBytes {
		return nil, fmt.Errorf("larger than %d KiB: not a public key", maxKeyFileBytes>>10)
	}
	return b, nil
}

func (p *parser) tsas(raw *yaml.Node) []*TimestampAuthority {
	items, ok := p.list(raw, "timestampAuthorities")
	if !ok {
		return nil
	}
	var out []*TimestampAuthority
	names := map[string]int{}
	for i, item := range items {
		path := index("timestampAuthorities", i)
		f, ok := p.fields(item, path, tsaFields, "name", "certChain")
		if !ok {
			continue
		}
		t := &TimestampAuthority{Pos: Pos{Line: item.Line, Path: path}}
		if v, ok := f["name"]; ok {
			if name, ok := p.nonEmptyStr(v, join(path, "name")); ok {
				if first, dup := names[name]; dup {
					p.addf(v.Line, join(path, "name"), "duplicate timestamp authority name %q (first at line %d)", name, first)
				} else {
					names[name] = v.Line
				}
				t.Name = name
			}
		}
		if v, ok := f["certChain"]; ok {
			if s, ok := p.nonEmptyStr(v, join(path, "certChain")); ok {
				t.CertChain = s
				switch ref := strings.TrimSpace(s); {
				case strings.HasPrefix(ref, "-----BEGIN"):
				case strings.Contains(ref, "://"):
					p.addf(v.Line, join(path, "certChain"), "expected a PEM file path or inline PEM certificate chain, got a URL")
				case filepath.IsAbs(ref):
					t.File = ref
				default:
					t.File = filepath.Join(p.dir, ref)
				}
				if !strings.Contains(s, "://") {
					if chain, err := loadChain(t); err != nil {
						p.addf(v.Line, join(path, "certChain"), "%v", err)
					} else {
						t.Chain = chain
					}
				}
			}
		}
		out = append(out, t)
	}
	return out
}

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
			if name, ok := p.nonEmptyStr(v, join(path, "name")); ok {
				if first, dup := names[name]; dup {
					p.addf(v.Line, join(path, "name"), "duplicate policy name %q (first at line %d)", name, first)
				} else {
					names[name] = v.Line
				}
				r.Name = name
			}
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
		c.Keys, _ = p.keyRefs(v, join(path, "keys"))
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
		s.Keys, keysOK = p.keyRefs(v, join(path, "keys"))
	}
	s.Threshold = p.threshold(f, path, len(s.Keys), keysOK)
	if v, ok := f["requireTimestamp"]; ok {
		s.RequireTimestamp, _ = p.boolean(v, join(path, "requireTimestamp"))
		if s.RequireTimestamp && !haveTSA {
			p.addf(v.Line, join(path, "requireTimestamp"), "a timestamp is required but the policy lists no timestampAuthorities to trust")
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
			a.Keys, keysOK = p.keyRefs(v, join(ap, "keys"))
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

// keyRefs reads a non-empty list of distinct, defined key names; ok reports
// whether the list itself was usable for a threshold check.
func (p *parser) keyRefs(raw *yaml.Node, path string) ([]string, bool) {
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
		if seen[name] {
			p.addf(it.Line, index(path, i), "key %q is listed twice: a threshold counts distinct keys", name)
			continue
		}
		seen[name] = true
		if _, defined := p.keyNames[name]; !defined {
			hint, _ := suggest(name, sortedKeys(p.keyNames))
			p.addf(it.Line, index(path, i), "undefined key %q: define it under keys%s", clip(name), hint)
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

// checkTypeURI requires an absolute URI, as in-toto predicateType is.
func checkTypeURI(t string) error {
	if uri, ok := statement.Shorthand(t); ok {
		return fmt.Errorf("attestation type must be a predicateType URI: did you mean %q?", uri)
	}
	u, err := url.Parse(t)
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "") || strings.ContainsAny(t, " \t\r\n") {
		return fmt.Errorf("attestation type %q is not an absolute URI such as https://slsa.dev/provenance/v1", clip(t))
	}
	return nil
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// suggest returns ` (did you mean "x"?)` and x for the closest candidate,
// if any is close.
func suggest(got string, candidates []string) (string, string) {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		d := editdistance.Between(strings.ToLower(got), strings.ToLower(c))
		if strings.EqualFold(got, c) {
			d = 0
		}
		if d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" || bestD > 2 || bestD*2 >= len(got) && bestD > 0 {
		return "", ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best), best
}

// clip shortens a user-supplied value quoted back in a message.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
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

// loadChain reads a TSA's PEM certificate chain: leaf first, root last, as
// timestamp authorities serve it (GET /api/v1/timestamp/certchain).
func loadChain(t *TimestampAuthority) ([]*x509.Certificate, error) {
	data := []byte(t.CertChain)
	if t.File != "" {
		b, err := boundedfile.Read(t.File, 1<<20)
		if err != nil {
			return nil, fmt.Errorf("reading certificate chain: %w", err)
		}
		data = b
	}
	var chain []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing certificate %d of the chain: %w", len(chain)+1, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, errors.New("no PEM certificates found: give the TSA's chain (leaf first, root last)")
	}
	return chain, nil
}
