package actionharness

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The expression language subset: literals (strings in single quotes,
// numbers, true, false, null), context property access with `.` and
// `['…']`, the operators ! == != < <= > >= && || and parentheses, and the
// status functions success(), failure(), always() and cancelled(). Anything
// else (other functions, object filters `*`) is an error, so an action that
// starts using more of the language fails the harness loudly instead of
// being evaluated wrongly.
//
// Values are nil (null), bool, float64, string and *object. Comparisons and
// truthiness follow GitHub's rules: strings compare case-insensitively,
// operands of different types are compared as numbers, and &&/|| return an
// operand, not a bool.

// object is a context or a nested map. A strict object errors on a missing
// property (an undeclared input, an unknown step id); a loose one (env,
// secrets, step outputs) yields null as GitHub does.
type object struct {
	name   string
	strict bool
	props  map[string]any
}

func newObject(name string, strict bool) *object {
	return &object{name: name, strict: strict, props: map[string]any{}}
}

// get looks a property up case-insensitively, as GitHub does.
func (o *object) get(key string) (any, error) {
	if v, ok := o.props[key]; ok {
		return v, nil
	}
	for k, v := range o.props {
		if strings.EqualFold(k, key) {
			return v, nil
		}
	}
	if o.strict {
		return nil, fmt.Errorf("%s.%s is not defined", o.name, key)
	}
	return nil, nil
}

// status is what the status functions see.
type status struct {
	failed bool
}

// evalEnv resolves the named contexts of an expression.
type evalEnv struct {
	contexts map[string]any
	status   status
}

type tokenKind int

const (
	tokEOF tokenKind = iota
	tokIdent
	tokNumber
	tokString
	tokOp
)

type token struct {
	kind tokenKind
	text string
	num  float64
	pos  int
}

func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(src) {
					return nil, fmt.Errorf("unterminated string at %d", i)
				}
				if src[j] == '\'' {
					if j+1 < len(src) && src[j+1] == '\'' {
						b.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(src[j])
				j++
			}
			toks = append(toks, token{kind: tokString, text: b.String(), pos: i})
			i = j + 1
		case c >= '0' && c <= '9':
			j := i
			for j < len(src) && (isIdentChar(src[j]) || src[j] == '.') {
				j++
			}
			text := src[i:j]
			var f float64
			if strings.HasPrefix(text, "0x") {
				n, err := strconv.ParseInt(text[2:], 16, 64)
				if err != nil {
					return nil, fmt.Errorf("bad number %q", text)
				}
				f = float64(n)
			} else {
				var err error
				if f, err = strconv.ParseFloat(text, 64); err != nil {
					return nil, fmt.Errorf("bad number %q", text)
				}
			}
			toks = append(toks, token{kind: tokNumber, text: text, num: f, pos: i})
			i = j
		case isIdentStart(c):
			j := i
			for j < len(src) && isIdentChar(src[j]) {
				j++
			}
			toks = append(toks, token{kind: tokIdent, text: src[i:j], pos: i})
			i = j
		default:
			two := ""
			if i+1 < len(src) {
				two = src[i : i+2]
			}
			switch two {
			case "==", "!=", "<=", ">=", "&&", "||":
				toks = append(toks, token{kind: tokOp, text: two, pos: i})
				i += 2
				continue
			}
			switch c {
			case '(', ')', '[', ']', '.', ',', '!', '<', '>':
				toks = append(toks, token{kind: tokOp, text: string(c), pos: i})
				i++
			default:
				return nil, fmt.Errorf("unsupported character %q at %d", c, i)
			}
		}
	}
	return append(toks, token{kind: tokEOF, pos: len(src)}), nil
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool { return isIdentStart(c) || c == '-' || (c >= '0' && c <= '9') }

// node is a parsed expression.
type node interface{}

type (
	literal  struct{ v any }
	ctxRef   struct{ name string }
	property struct {
		obj node
		key node // literal string for `.name`
	}
	notNode struct{ x node }
	binary  struct {
		op   string
		l, r node
	}
	callNode struct{ fn string }
)

type parser struct {
	toks []token
	i    int
	src  string
}

// parseExpr parses one expression (without the ${{ }}).
func parseExpr(src string) (node, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, fmt.Errorf("expression %q: %w", src, err)
	}
	p := &parser{toks: toks, src: src}
	n, err := p.or()
	if err != nil {
		return nil, fmt.Errorf("expression %q: %w", src, err)
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, fmt.Errorf("expression %q: unexpected %q at %d", src, t.text, t.pos)
	}
	return n, nil
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token { t := p.toks[p.i]; p.i++; return t }

func (p *parser) isOp(s string) bool {
	t := p.peek()
	return t.kind == tokOp && t.text == s
}

func (p *parser) or() (node, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.isOp("||") {
		p.next()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = binary{"||", l, r}
	}
	return l, nil
}

func (p *parser) and() (node, error) {
	l, err := p.equality()
	if err != nil {
		return nil, err
	}
	for p.isOp("&&") {
		p.next()
		r, err := p.equality()
		if err != nil {
			return nil, err
		}
		l = binary{"&&", l, r}
	}
	return l, nil
}

func (p *parser) equality() (node, error) {
	l, err := p.comparison()
	if err != nil {
		return nil, err
	}
	for p.isOp("==") || p.isOp("!=") {
		op := p.next().text
		r, err := p.comparison()
		if err != nil {
			return nil, err
		}
		l = binary{op, l, r}
	}
	return l, nil
}

func (p *parser) comparison() (node, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.isOp("<") || p.isOp("<=") || p.isOp(">") || p.isOp(">=") {
		op := p.next().text
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = binary{op, l, r}
	}
	return l, nil
}

func (p *parser) unary() (node, error) {
	if p.isOp("!") {
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	}
	return p.postfix()
}

func (p *parser) postfix() (node, error) {
	n, err := p.primary()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.isOp("."):
			p.next()
			t := p.next()
			if t.kind != tokIdent {
				return nil, fmt.Errorf("expected a property name after '.' at %d", t.pos)
			}
			n = property{n, literal{t.text}}
		case p.isOp("["):
			p.next()
			k, err := p.or()
			if err != nil {
				return nil, err
			}
			if !p.isOp("]") {
				return nil, fmt.Errorf("expected ']' at %d", p.peek().pos)
			}
			p.next()
			n = property{n, k}
		default:
			return n, nil
		}
	}
}

var statusFuncs = map[string]bool{"success": true, "failure": true, "always": true, "cancelled": true}

func (p *parser) primary() (node, error) {
	t := p.next()
	switch t.kind {
	case tokString:
		return literal{t.text}, nil
	case tokNumber:
		return literal{t.num}, nil
	case tokIdent:
		if p.isOp("(") {
			if !statusFuncs[strings.ToLower(t.text)] {
				return nil, fmt.Errorf("function %s() is not supported by the harness (only success, failure, always, cancelled)", t.text)
			}
			p.next()
			if !p.isOp(")") {
				return nil, fmt.Errorf("%s() takes no arguments", t.text)
			}
			p.next()
			return callNode{strings.ToLower(t.text)}, nil
		}
		switch t.text {
		case "true":
			return literal{true}, nil
		case "false":
			return literal{false}, nil
		case "null":
			return literal{nil}, nil
		}
		return ctxRef{t.text}, nil
	case tokOp:
		if t.text == "(" {
			n, err := p.or()
			if err != nil {
				return nil, err
			}
			if !p.isOp(")") {
				return nil, fmt.Errorf("expected ')' at %d", p.peek().pos)
			}
			p.next()
			return n, nil
		}
	}
	if t.kind == tokEOF {
		return nil, fmt.Errorf("unexpected end of expression")
	}
	return nil, fmt.Errorf("unexpected %q at %d", t.text, t.pos)
}

// usesStatus reports whether n calls a status function; an if: without
// one is evaluated as success() && (n).
func usesStatus(n node) bool {
	switch n := n.(type) {
	case callNode:
		return true
	case notNode:
		return usesStatus(n.x)
	case binary:
		return usesStatus(n.l) || usesStatus(n.r)
	case property:
		return usesStatus(n.obj) || usesStatus(n.key)
	}
	return false
}

func (e *evalEnv) eval(n node) (any, error) {
	switch n := n.(type) {
	case literal:
		return n.v, nil
	case ctxRef:
		v, ok := e.contexts[strings.ToLower(n.name)]
		if !ok {
			return nil, fmt.Errorf("context %q is not supported by the harness", n.name)
		}
		return v, nil
	case property:
		o, err := e.eval(n.obj)
		if err != nil {
			return nil, err
		}
		k, err := e.eval(n.key)
		if err != nil {
			return nil, err
		}
		switch o := o.(type) {
		case *object:
			return o.get(toString(k))
		case nil:
			return nil, nil
		}
		return nil, fmt.Errorf("cannot read property %q of a %s", toString(k), typeName(o))
	case notNode:
		v, err := e.eval(n.x)
		if err != nil {
			return nil, err
		}
		return !truthy(v), nil
	case callNode:
		switch n.fn {
		case "success":
			return !e.status.failed, nil
		case "failure":
			return e.status.failed, nil
		case "always":
			return true, nil
		case "cancelled":
			return false, nil
		}
	case binary:
		l, err := e.eval(n.l)
		if err != nil {
			return nil, err
		}
		switch n.op {
		case "&&":
			if !truthy(l) {
				return l, nil
			}
			return e.eval(n.r)
		case "||":
			if truthy(l) {
				return l, nil
			}
			return e.eval(n.r)
		}
		r, err := e.eval(n.r)
		if err != nil {
			return nil, err
		}
		switch n.op {
		case "==":
			return looseEqual(l, r), nil
		case "!=":
			return !looseEqual(l, r), nil
		default:
			return compare(n.op, l, r), nil
		}
	}
	return nil, fmt.Errorf("cannot evaluate %T", n)
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	}
	return "object"
}

func truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case float64:
		return v != 0 && !math.IsNaN(v)
	case string:
		return v != ""
	}
	return true
}

func toNumber(v any) float64 {
	switch v := v.(type) {
	case nil:
		return 0
	case bool:
		if v {
			return 1
		}
		return 0
	case float64:
		return v
	case string:
		s := strings.TrimSpace(v)
		if s == "" {
			return 0
		}
		if strings.HasPrefix(s, "0x") {
			if n, err := strconv.ParseInt(s[2:], 16, 64); err == nil {
				return float64(n)
			}
			return math.NaN()
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return math.NaN()
		}
		return f
	}
	return math.NaN()
}

func looseEqual(a, b any) bool {
	switch a := a.(type) {
	case nil:
		if b == nil {
			return true
		}
	case string:
		if b, ok := b.(string); ok {
			return strings.EqualFold(a, b)
		}
	case bool:
		if b, ok := b.(bool); ok {
			return a == b
		}
	case float64:
		if b, ok := b.(float64); ok {
			return a == b
		}
	case *object:
		b, ok := b.(*object)
		return ok && a == b
	}
	if _, ok := a.(*object); ok {
		return false
	}
	if _, ok := b.(*object); ok {
		return false
	}
	return toNumber(a) == toNumber(b)
}

func compare(op string, a, b any) bool {
	if as, ok := a.(string); ok {
		if bs, ok := b.(string); ok {
			c := strings.Compare(strings.ToUpper(as), strings.ToUpper(bs))
			return cmpResult(op, c)
		}
	}
	x, y := toNumber(a), toNumber(b)
	if math.IsNaN(x) || math.IsNaN(y) {
		return false
	}
	c := 0
	if x < y {
		c = -1
	} else if x > y {
		c = 1
	}
	return cmpResult(op, c)
}

func cmpResult(op string, c int) bool {
	switch op {
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	}
	return c >= 0
}

// toString converts a value the way the runner does when it interpolates
// an expression into a string.
func toString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case bool:
		if v {
			return "true"
		}
		return "false"
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case string:
		return v
	}
	return "Object"
}

// interpolate replaces each ${{ expr }} in s with its string value.
func (e *evalEnv) interpolate(s string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${{")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		end, err := exprEnd(s, i+3)
		if err != nil {
			return "", err
		}
		n, err := parseExpr(s[i+3 : end])
		if err != nil {
			return "", err
		}
		v, err := e.eval(n)
		if err != nil {
			return "", fmt.Errorf("${{%s}}: %w", s[i+3:end], err)
		}
		if _, ok := v.(*object); ok {
			return "", fmt.Errorf("${{%s}} is an object; the harness does not convert objects to strings", s[i+3:end])
		}
		b.WriteString(toString(v))
		s = s[end+2:]
	}
}

// exprEnd finds the }} closing an expression that starts at from, skipping
// string literals.
func exprEnd(s string, from int) (int, error) {
	in := false
	for j := from; j < len(s); j++ {
		switch {
		case s[j] == '\'':
			in = !in
		case !in && strings.HasPrefix(s[j:], "}}"):
			return j, nil
		}
	}
	return 0, fmt.Errorf("unterminated ${{ in %q", s)
}

// condition evaluates an if: the way the runner does: with or without
// ${{ }}, and wrapped in success() && (…) unless it calls a status function.
func (e *evalEnv) condition(cond string) (bool, error) {
	c := strings.TrimSpace(cond)
	if c == "" {
		return !e.status.failed, nil
	}
	if strings.HasPrefix(c, "${{") {
		end, err := exprEnd(c, 3)
		if err != nil {
			return false, err
		}
		if strings.TrimSpace(c[end+2:]) != "" {
			return false, fmt.Errorf("if: %q has text outside ${{ }}: the runner would treat it as a non-empty string, always true", cond)
		}
		c = c[3:end]
	} else if strings.Contains(c, "${{") {
		return false, fmt.Errorf("if: %q has text outside ${{ }}: the runner would treat it as a non-empty string, always true", cond)
	}
	n, err := parseExpr(c)
	if err != nil {
		return false, err
	}
	if !usesStatus(n) {
		n = binary{"&&", callNode{"success"}, n}
	}
	v, err := e.eval(n)
	if err != nil {
		return false, fmt.Errorf("if: %s: %w", strings.TrimSpace(cond), err)
	}
	return truthy(v), nil
}
