package policy

// Strict YAML decoding, independent of what a policy means: every problem
// carries its line and field path, unknown fields get a did-you-mean, and
// the walk is bounded (aliases, problem count) so a small file cannot make
// checking expensive. parse.go and the parse*.go files build on these.

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/imgsign/imgsign/internal/editdistance"
)

const (
	// maxVisits bounds the nodes walked, so aliases cannot make a small
	// file expensive.
	maxVisits = 1 << 18
	// maxProblems bounds the problems reported.
	maxProblems = 200
)

func (p *parser) addf(line int, path, format string, args ...any) {
	if len(p.probs) >= maxProblems {
		p.dropped++
		return
	}
	p.probs = append(p.probs, Problem{File: p.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// yamlLine finds the line in a yaml.v3 error message.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

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
// uniqueName reads the non-empty name of a what (a key, a policy…) and
// records its line in names, refusing one already there: two entries of
// one name would make every reference to it ambiguous.
func (p *parser) uniqueName(raw *yaml.Node, path, what string, names map[string]int) string {
	name, ok := p.nonEmptyStr(raw, path)
	if !ok {
		return ""
	}
	if first, dup := names[name]; dup {
		p.addf(raw.Line, path, "duplicate %s name %q (first at line %d)", what, name, first)
	} else {
		names[name] = raw.Line
	}
	return name
}

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
