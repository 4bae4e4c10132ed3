package resolve

import (
	"fmt"
	"strings"

	"github.com/keel-linux/keel/pkg/rpm"
)

// Op is a rich (boolean) dependency operator, as rpm 4.14+ spells it.
type Op string

const (
	OpAnd     Op = "and"
	OpOr      Op = "or"
	OpIf      Op = "if"
	OpUnless  Op = "unless"
	OpWith    Op = "with"
	OpWithout Op = "without"
)

// Dep is a dependency expression: a simple name with an optional version
// bound (Op empty), or a rich one combining Args. For if/unless, Args are
// [then, cond] or [then, cond, else].
type Dep struct {
	Simple rpm.Dependency
	Op     Op
	Args   []*Dep
}

func (d *Dep) String() string {
	if d.Op == "" {
		return d.Simple.String()
	}
	parts := make([]string, 0, 2*len(d.Args))
	for i, a := range d.Args {
		switch {
		case i == 0:
		case i == 2 && (d.Op == OpIf || d.Op == OpUnless):
			parts = append(parts, "else")
		default:
			parts = append(parts, string(d.Op))
		}
		parts = append(parts, a.String())
	}
	return "(" + strings.Join(parts, " ") + ")"
}

// ParseDep turns a repodata dependency into an expression; names starting
// with "(" are parsed as rich dependencies.
func ParseDep(d rpm.Dependency) (*Dep, error) {
	if !strings.HasPrefix(d.Name, "(") {
		return &Dep{Simple: d}, nil
	}
	p := &richParser{s: d.Name}
	e, err := p.paren()
	if err != nil {
		return nil, fmt.Errorf("rich dependency %q: %w", d.Name, err)
	}
	p.space()
	if p.i != len(p.s) {
		return nil, fmt.Errorf("rich dependency %q: unexpected %q at offset %d", d.Name, p.s[p.i:], p.i)
	}
	return e, nil
}

type richParser struct {
	s     string
	i     int
	depth int
}

func (p *richParser) space() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

// word reads a token up to a space or parenthesis.
func (p *richParser) word() string {
	p.space()
	st := p.i
	for p.i < len(p.s) && p.s[p.i] != ' ' && p.s[p.i] != '(' && p.s[p.i] != ')' {
		p.i++
	}
	return p.s[st:p.i]
}

func (p *richParser) paren() (*Dep, error) {
	p.space()
	if p.i >= len(p.s) || p.s[p.i] != '(' {
		return nil, fmt.Errorf("expected '(' at offset %d", p.i)
	}
	if p.depth++; p.depth > 64 {
		return nil, fmt.Errorf("nested too deeply")
	}
	p.i++
	first, err := p.term()
	if err != nil {
		return nil, err
	}
	e := first
	var op Op
	for {
		p.space()
		if p.i >= len(p.s) {
			return nil, fmt.Errorf("missing ')'")
		}
		if p.s[p.i] == ')' {
			p.i++
			p.depth--
			return e, nil
		}
		w := Op(p.word())
		switch {
		case w == "else":
			if (op != OpIf && op != OpUnless) || len(e.Args) != 2 {
				return nil, fmt.Errorf("'else' without if/unless at offset %d", p.i)
			}
		case w == OpAnd || w == OpOr || w == OpWith || w == OpWithout || w == OpIf || w == OpUnless:
			if op == "" {
				op = w
				e = &Dep{Op: op, Args: []*Dep{first}}
			} else if w != op || (op != OpAnd && op != OpOr && op != OpWith) {
				return nil, fmt.Errorf("operator %q after %q needs parentheses", w, op)
			}
		default:
			return nil, fmt.Errorf("unknown operator %q at offset %d", w, p.i-len(w))
		}
		t, err := p.term()
		if err != nil {
			return nil, err
		}
		e.Args = append(e.Args, t)
	}
}

// term is a parenthesised expression or "name [op evr]".
func (p *richParser) term() (*Dep, error) {
	p.space()
	if p.i < len(p.s) && p.s[p.i] == '(' {
		return p.paren()
	}
	name := p.word()
	if name == "" {
		return nil, fmt.Errorf("expected a dependency at offset %d", p.i)
	}
	switch Op(name) {
	case OpAnd, OpOr, OpIf, OpUnless, OpWith, OpWithout, "else":
		return nil, fmt.Errorf("expected a dependency, got operator %q at offset %d", name, p.i-len(name))
	}
	d := rpm.Dependency{Name: name}
	save := p.i
	var flags uint32
	switch p.word() {
	case "=", "==":
		flags = rpm.SenseEqual
	case "<":
		flags = rpm.SenseLess
	case ">":
		flags = rpm.SenseGreater
	case "<=", "=<":
		flags = rpm.SenseLess | rpm.SenseEqual
	case ">=", "=>":
		flags = rpm.SenseGreater | rpm.SenseEqual
	default:
		p.i = save
		return &Dep{Simple: d}, nil
	}
	v := p.word()
	evr, err := rpm.ParseEVR(v)
	if err != nil {
		return nil, fmt.Errorf("version of %s: %w", name, err)
	}
	d.Flags, d.EVR = flags, evr
	return &Dep{Simple: d}, nil
}
