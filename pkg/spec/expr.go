package spec

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/keel-linux/keel/pkg/rpm"
)

// exprValue is an rpm expression value: an integer, a string or a version.
type exprValue struct {
	kind byte // 'i', 's', 'v'
	i    int64
	s    string
}

func (v exprValue) String() string {
	if v.kind == 'i' {
		return strconv.FormatInt(v.i, 10)
	}
	return v.s
}

func (v exprValue) truth() bool {
	if v.kind == 'i' {
		return v.i != 0
	}
	return v.s != ""
}

// exprParser evaluates rpm 4.18's expression grammar (%if, %[ ], %{expr:}):
// ternary ?:, ||, &&, comparisons, + -, * /, unary ! -, integers, "strings",
// v"versions" and parentheses. && and || yield an operand, as in rpm.
type exprParser struct {
	s      string
	p      int
	e      *expander
	expand bool // expand macros inside string literals (%[ ])
	skip   int  // >0 while evaluating a branch whose value is discarded
}

var errExprSyntax = errors.New("syntax error in expression")

func (e *expander) evalExpr(s string, expand bool) (exprValue, error) {
	p := &exprParser{s: s, e: e, expand: expand}
	v, err := p.ternary()
	if err != nil {
		return v, err
	}
	p.ws()
	if p.p < len(p.s) {
		return v, fmt.Errorf("syntax error in expression: %q", clip(s))
	}
	return v, nil
}

// EvalBool evaluates an %if expression.
func (m *Macros) EvalBool(s string) (bool, error) {
	e := &expander{m: m}
	if strings.TrimSpace(s) == "" {
		return false, errors.New("empty expression")
	}
	v, err := e.evalExpr(s, false)
	if err != nil {
		return false, err
	}
	return v.truth(), nil
}

func (p *exprParser) ws() {
	for p.p < len(p.s) && (p.s[p.p] == ' ' || p.s[p.p] == '\t' || p.s[p.p] == '\n' || p.s[p.p] == '\r') {
		p.p++
	}
}

func (p *exprParser) peek(tok string) bool {
	p.ws()
	return strings.HasPrefix(p.s[p.p:], tok)
}

func (p *exprParser) ternary() (exprValue, error) {
	c, err := p.or()
	if err != nil {
		return c, err
	}
	if !p.peek("?") {
		return c, nil
	}
	p.p++
	t := c.truth()
	if !t {
		p.skip++
	}
	a, err := p.ternary()
	if !t {
		p.skip--
	}
	if err != nil {
		return a, err
	}
	if !p.peek(":") {
		return a, errExprSyntax
	}
	p.p++
	if t {
		p.skip++
	}
	b, err := p.ternary()
	if t {
		p.skip--
	}
	if err != nil {
		return b, err
	}
	if a.kind != b.kind && p.skip == 0 {
		return a, errors.New("types must match")
	}
	if t {
		return a, nil
	}
	return b, nil
}

func (p *exprParser) or() (exprValue, error) {
	l, err := p.and()
	if err != nil {
		return l, err
	}
	for p.peek("||") {
		p.p += 2
		lt := l.truth()
		if lt {
			p.skip++
		}
		r, err := p.and()
		if lt {
			p.skip--
		}
		if err != nil {
			return r, err
		}
		if l.kind != r.kind && p.skip == 0 {
			return l, errors.New("types must match")
		}
		if !lt {
			l = r
		}
	}
	return l, nil
}

func (p *exprParser) and() (exprValue, error) {
	l, err := p.cmp()
	if err != nil {
		return l, err
	}
	for p.peek("&&") {
		p.p += 2
		lt := l.truth()
		if !lt {
			p.skip++
		}
		r, err := p.cmp()
		if !lt {
			p.skip--
		}
		if err != nil {
			return r, err
		}
		if l.kind != r.kind && p.skip == 0 {
			return l, errors.New("types must match")
		}
		if lt {
			l = r
		}
	}
	return l, nil
}

func (p *exprParser) cmp() (exprValue, error) {
	l, err := p.add()
	if err != nil {
		return l, err
	}
	for {
		p.ws()
		var op string
		for _, o := range []string{"==", "!=", "<=", ">=", "<", ">"} {
			if strings.HasPrefix(p.s[p.p:], o) {
				op = o
				break
			}
		}
		if op == "" {
			return l, nil
		}
		p.p += len(op)
		r, err := p.add()
		if err != nil {
			return r, err
		}
		if p.skip > 0 {
			l = exprValue{kind: 'i'}
			continue
		}
		var c int
		switch {
		case l.kind == 'v' || r.kind == 'v':
			if l.kind == 'i' || r.kind == 'i' {
				return l, errors.New("types must match")
			}
			c = compareEVRString(l.s, r.s)
		case l.kind != r.kind:
			return l, errors.New("types must match")
		case l.kind == 'i':
			switch {
			case l.i < r.i:
				c = -1
			case l.i > r.i:
				c = 1
			}
		default:
			c = strings.Compare(l.s, r.s)
		}
		var t bool
		switch op {
		case "==":
			t = c == 0
		case "!=":
			t = c != 0
		case "<":
			t = c < 0
		case ">":
			t = c > 0
		case "<=":
			t = c <= 0
		case ">=":
			t = c >= 0
		}
		l = exprValue{kind: 'i'}
		if t {
			l.i = 1
		}
	}
}

func compareEVRString(a, b string) int {
	ea, err1 := rpm.ParseEVR(a)
	eb, err2 := rpm.ParseEVR(b)
	if err1 != nil || err2 != nil {
		return rpm.Vercmp(a, b)
	}
	return rpm.Compare(ea, eb)
}

func (p *exprParser) add() (exprValue, error) {
	l, err := p.mul()
	if err != nil {
		return l, err
	}
	for {
		p.ws()
		if p.p >= len(p.s) || (p.s[p.p] != '+' && p.s[p.p] != '-') {
			return l, nil
		}
		op := p.s[p.p]
		p.p++
		r, err := p.mul()
		if err != nil {
			return r, err
		}
		if p.skip > 0 {
			continue
		}
		if l.kind != r.kind {
			return l, errors.New("types must match")
		}
		switch {
		case l.kind == 'i' && op == '+':
			l.i += r.i
		case l.kind == 'i':
			l.i -= r.i
		case l.kind == 's' && op == '+':
			l.s += r.s
		default:
			return l, errors.New("- not supported for strings")
		}
	}
}

func (p *exprParser) mul() (exprValue, error) {
	l, err := p.unary()
	if err != nil {
		return l, err
	}
	for {
		p.ws()
		if p.p >= len(p.s) || (p.s[p.p] != '*' && p.s[p.p] != '/') {
			return l, nil
		}
		op := p.s[p.p]
		p.p++
		r, err := p.unary()
		if err != nil {
			return r, err
		}
		if p.skip > 0 {
			continue
		}
		if l.kind != 'i' || r.kind != 'i' {
			return l, errors.New("* and / not supported for strings")
		}
		if op == '*' {
			l.i *= r.i
		} else {
			if r.i == 0 {
				return l, errors.New("division by zero")
			}
			l.i /= r.i
		}
	}
}

func (p *exprParser) unary() (exprValue, error) {
	p.ws()
	if p.p >= len(p.s) {
		return exprValue{}, errors.New("unexpected end of expression")
	}
	switch c := p.s[p.p]; {
	case c == '!':
		p.p++
		v, err := p.unary()
		if err != nil {
			return v, err
		}
		if v.kind == 'i' {
			return exprValue{kind: 'i', i: b2i(v.i == 0)}, nil
		}
		return exprValue{kind: 'i', i: b2i(v.s == "")}, nil
	case c == '-':
		p.p++
		v, err := p.unary()
		if err != nil {
			return v, err
		}
		if v.kind != 'i' && p.skip == 0 {
			return v, errors.New("- only on numbers")
		}
		v.i = -v.i
		return v, nil
	case c == '(':
		p.p++
		v, err := p.ternary()
		if err != nil {
			return v, err
		}
		if !p.peek(")") {
			return v, errors.New("unmatched (")
		}
		p.p++
		return v, nil
	case c >= '0' && c <= '9':
		st := p.p
		for p.p < len(p.s) && p.s[p.p] >= '0' && p.s[p.p] <= '9' {
			p.p++
		}
		n, err := strconv.ParseInt(p.s[st:p.p], 10, 64)
		if err != nil {
			return exprValue{}, fmt.Errorf("number %s out of range", p.s[st:p.p])
		}
		return exprValue{kind: 'i', i: n}, nil
	case c == '"':
		return p.str('s')
	case c == 'v' && p.p+1 < len(p.s) && p.s[p.p+1] == '"':
		p.p++
		return p.str('v')
	case c == '%':
		// An unexpanded macro (rpm expands lazily in %[ ]).
		st := p.p
		if p.p+1 < len(p.s) && p.s[p.p+1] == '{' {
			end := matchClose(p.s, p.p+1, '{', '}')
			if end < 0 {
				return exprValue{}, errors.New("unterminated { in expression")
			}
			p.p = end + 1
		} else {
			p.p++
			for p.p < len(p.s) && isNameChar(p.s[p.p]) {
				p.p++
			}
		}
		x, err := p.e.expandString(p.s[st:p.p])
		if err != nil {
			return exprValue{}, err
		}
		if x == p.s[st:p.p] || strings.HasPrefix(strings.TrimSpace(x), "%") {
			return exprValue{}, fmt.Errorf("unknown macro in expression: %s", clip(x))
		}
		sub := &exprParser{s: x, e: p.e, skip: p.skip}
		v, err := sub.unary()
		if err != nil {
			return v, err
		}
		sub.ws()
		if sub.p < len(sub.s) {
			return v, fmt.Errorf("syntax error in expression: %q", clip(x))
		}
		return v, nil
	case isNameChar(c):
		return exprValue{}, fmt.Errorf("bare words are no longer supported, please use \"...\": %s", clip(p.s[p.p:]))
	}
	return exprValue{}, fmt.Errorf("syntax error in expression: %q", clip(p.s))
}

func (p *exprParser) str(kind byte) (exprValue, error) {
	p.p++ // opening quote
	st := p.p
	for p.p < len(p.s) && p.s[p.p] != '"' {
		p.p++
	}
	if p.p >= len(p.s) {
		return exprValue{}, errors.New("unterminated string in expression")
	}
	s := p.s[st:p.p]
	p.p++
	if p.expand && p.skip == 0 {
		x, err := p.e.expandString(s)
		if err != nil {
			return exprValue{}, err
		}
		s = x
	}
	if kind == 'v' && p.skip == 0 {
		if _, err := rpm.ParseEVR(s); err != nil {
			return exprValue{}, fmt.Errorf("invalid version %q", s)
		}
	}
	return exprValue{kind: kind, s: s}, nil
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
