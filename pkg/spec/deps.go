package spec

import (
	"fmt"
	"strings"
)

// Dep is one dependency as rpm records it: a name with an optional
// relation and EVR, or a whole rich dependency "(a or b)" in Name.
type Dep struct {
	Name      string   `json:"name"`
	Op        string   `json:"op,omitempty"` // <, <=, =, >=, >
	EVR       string   `json:"evr,omitempty"`
	Qualifier []string `json:"qualifier,omitempty"` // Requires(post,preun)
	Rich      bool     `json:"rich,omitempty"`
}

// String renders the dependency as rpmspec --requires prints it.
func (d Dep) String() string {
	if d.Op == "" {
		return d.Name
	}
	return d.Name + " " + d.Op + " " + d.EVR
}

// Names lists the package names a dependency mentions (all alternatives of a
// rich dependency), for graph building.
func (d Dep) Names() []string {
	if !d.Rich {
		return []string{d.Name}
	}
	r, err := ParseRich(d.Name)
	if err != nil {
		return nil
	}
	return r.Names()
}

var depOps = map[string]string{"<": "<", "<=": "<=", "=<": "<=", "=": "=", "==": "=", ">=": ">=", "=>": ">=", ">": ">"}

// ParseDeps splits a Requires:-style value into dependencies, following
// rpm's parseRCPOT: tokens separated by blanks or commas, "name op evr"
// triples, and rich dependencies in parentheses.
func ParseDeps(s string) ([]Dep, error) {
	var out []Dep
	i := 0
	for {
		for i < len(s) && (isSpace(s[i]) || s[i] == ',') {
			i++
		}
		if i >= len(s) {
			return out, nil
		}
		if s[i] == '(' {
			end, err := richEnd(s, i)
			if err != nil {
				return nil, err
			}
			tok := s[i : end+1]
			if _, err := ParseRich(tok); err != nil {
				return nil, err
			}
			out = append(out, Dep{Name: tok, Rich: true})
			i = end + 1
			continue
		}
		st := i
		for i < len(s) && !isSpace(s[i]) && s[i] != ',' {
			i++
		}
		name := s[st:i]
		c := name[0]
		if !(isNameChar(c) || c == '/') {
			return nil, fmt.Errorf("dependency tokens must begin with alpha-numeric, '_' or '/': %s", name)
		}
		d := Dep{Name: name}
		// Look ahead for an operator.
		j := i
		for j < len(s) && isSpace(s[j]) {
			j++
		}
		k := j
		for k < len(s) && !isSpace(s[k]) && s[k] != ',' {
			k++
		}
		if op, ok := depOps[s[j:k]]; ok && k > j {
			v := k
			for v < len(s) && isSpace(s[v]) {
				v++
			}
			ve := v
			for ve < len(s) && !isSpace(s[ve]) && s[ve] != ',' {
				ve++
			}
			if ve == v {
				return nil, fmt.Errorf("version required: %s %s", name, s[j:k])
			}
			if name[0] == '/' {
				return nil, fmt.Errorf("versioned file name not permitted: %s", name)
			}
			d.Op, d.EVR = op, s[v:ve]
			if err := checkEVR(d.EVR); err != nil {
				return nil, fmt.Errorf("%s: %v", name, err)
			}
			i = ve
		}
		out = append(out, d)
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func checkEVR(v string) error {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(isNameChar(c) || strings.IndexByte("._+%{}~^:-", c) >= 0) {
			return fmt.Errorf("invalid version %q: illegal char %q", v, c)
		}
	}
	return nil
}

func richEnd(s string, i int) (int, error) {
	lvl := 0
	for j := i; j < len(s); j++ {
		switch s[j] {
		case '(':
			lvl++
		case ')':
			lvl--
			if lvl == 0 {
				return j, nil
			}
		}
	}
	return 0, fmt.Errorf("unterminated rich dependency: %s", clip(s[i:]))
}

// Rich is a parsed rich (boolean) dependency.
type Rich struct {
	Op   string // and, or, if, else, with, without, unless; "" for a leaf
	Leaf Dep
	Args []*Rich
}

var richOps = map[string]bool{"and": true, "or": true, "if": true, "else": true, "with": true, "without": true, "unless": true}

// ParseRich parses "(a >= 1 or (b and c))" as rpm's rpmrichParse does.
func ParseRich(s string) (*Rich, error) {
	p := &richParser{s: s}
	r, err := p.group()
	if err != nil {
		return nil, fmt.Errorf("invalid rich dependency %q: %v", clip(s), err)
	}
	p.ws()
	if p.i != len(s) {
		return nil, fmt.Errorf("invalid rich dependency %q: junk after )", clip(s))
	}
	return r, nil
}

type richParser struct {
	s     string
	i     int
	depth int
}

func (p *richParser) ws() {
	for p.i < len(p.s) && isSpace(p.s[p.i]) {
		p.i++
	}
}

func (p *richParser) group() (*Rich, error) {
	p.ws()
	if p.i >= len(p.s) || p.s[p.i] != '(' {
		return nil, fmt.Errorf("expected (")
	}
	p.depth++
	if p.depth > 64 {
		return nil, fmt.Errorf("nested too deeply")
	}
	defer func() { p.depth-- }()
	p.i++
	first, err := p.operand()
	if err != nil {
		return nil, err
	}
	r := first
	var op string
	for {
		p.ws()
		if p.i >= len(p.s) {
			return nil, fmt.Errorf("missing )")
		}
		if p.s[p.i] == ')' {
			p.i++
			return r, nil
		}
		st := p.i
		for p.i < len(p.s) && !isSpace(p.s[p.i]) && p.s[p.i] != '(' && p.s[p.i] != ')' {
			p.i++
		}
		w := p.s[st:p.i]
		if !richOps[w] {
			return nil, fmt.Errorf("unknown operator %q", w)
		}
		if op != "" && (op != w || (w != "and" && w != "or" && w != "with")) {
			if !(op == "if" && w == "else") && !(op == "unless" && w == "else") {
				return nil, fmt.Errorf("cannot chain %s and %s", op, w)
			}
		}
		op = w
		next, err := p.operand()
		if err != nil {
			return nil, err
		}
		if r == first && r.Op == "" || r.Op != w {
			r = &Rich{Op: w, Args: []*Rich{r, next}}
		} else {
			r.Args = append(r.Args, next)
		}
	}
}

func (p *richParser) operand() (*Rich, error) {
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == '(' {
		return p.group()
	}
	st := p.i
	for p.i < len(p.s) && !isSpace(p.s[p.i]) && p.s[p.i] != '(' && p.s[p.i] != ')' {
		p.i++
	}
	name := p.s[st:p.i]
	if name == "" {
		return nil, fmt.Errorf("missing argument")
	}
	if richOps[name] {
		return nil, fmt.Errorf("operator %q where a name was expected", name)
	}
	d := Dep{Name: name}
	save := p.i
	p.ws()
	st = p.i
	for p.i < len(p.s) && strings.IndexByte("<>=", p.s[p.i]) >= 0 {
		p.i++
	}
	if op, ok := depOps[p.s[st:p.i]]; ok {
		p.ws()
		vs := p.i
		for p.i < len(p.s) && !isSpace(p.s[p.i]) && p.s[p.i] != '(' && p.s[p.i] != ')' {
			p.i++
		}
		if vs == p.i {
			return nil, fmt.Errorf("missing version after %s %s", name, op)
		}
		d.Op, d.EVR = op, p.s[vs:p.i]
	} else {
		p.i = save
	}
	return &Rich{Leaf: d}, nil
}

// Names lists the leaf names of a rich dependency.
func (r *Rich) Names() []string {
	if r.Op == "" {
		return []string{r.Leaf.Name}
	}
	var out []string
	for _, a := range r.Args {
		out = append(out, a.Names()...)
	}
	return out
}
