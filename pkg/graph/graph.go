// Package graph builds the build-order graph of a spec tree: a source package
// depends on the source packages whose binary packages satisfy its
// BuildRequires, and on those that satisfy the runtime Requires of those
// binary packages (they must be installable in the buildroot). It orders
// the tree in layers that may build in parallel and reports cycles with the
// exact chain of dependencies.
package graph

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/keel-linux/keel/pkg/rpm"
	"github.com/keel-linux/keel/pkg/spec"
)

// Edge says that From needs To before it can build, and why.
type Edge struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Dep is the BuildRequires of From that pulls To in.
	Dep string `json:"dep"`
	// Via lists the binary packages and runtime Requires between Dep and To,
	// e.g. ["foo-devel requires libfoo"], empty for a direct provider.
	Via []string `json:"via,omitempty"`
}

func (e Edge) String() string {
	s := e.From + " -[" + e.Dep
	for _, v := range e.Via {
		s += "; " + v
	}
	return s + "]-> " + e.To
}

// Graph is the dependency graph of a set of specs.
type Graph struct {
	Nodes []string `json:"nodes"`
	Edges []Edge   `json:"edges"`
	// Unresolved maps a spec to BuildRequires nothing in the tree provides
	// (expected to come from the build host or an external repository).
	Unresolved map[string][]string `json:"unresolved,omitempty"`
	out        map[string][]Edge
}

type provider struct {
	src string        // source package
	pkg *spec.Package // binary package
	evr string        // provided EVR ("" for unversioned provides)
}

// New builds the graph. Specs are identified by their Name; a repeated name
// keeps the first.
func New(specs []*spec.Spec) *Graph {
	g := &Graph{Unresolved: map[string][]string{}, out: map[string][]Edge{}}
	prov := map[string][]provider{}
	seen := map[string]bool{}
	var list []*spec.Spec
	for _, s := range specs {
		if seen[s.Name] {
			continue
		}
		seen[s.Name] = true
		list = append(list, s)
		g.Nodes = append(g.Nodes, s.Name)
		for _, p := range s.Packages {
			for _, d := range p.Provides {
				prov[d.Name] = append(prov[d.Name], provider{src: s.Name, pkg: p, evr: d.EVR})
			}
		}
	}
	sort.Strings(g.Nodes)
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })

	// resolve returns the providers of one simple dependency.
	resolve := func(d spec.Dep) []provider {
		var out []provider
		for _, p := range prov[d.Name] {
			if satisfies(p.evr, d) {
				out = append(out, p)
			}
		}
		return out
	}
	for _, s := range list {
		edges := map[string]Edge{}
		for _, br := range s.BuildRequires {
			var found []provider
			if br.Rich {
				// Every alternative the tree can provide is ordered first:
				// the builder may pick any of them.
				r, err := spec.ParseRich(br.Name)
				if err == nil {
					for _, leaf := range richLeaves(r) {
						found = append(found, resolve(leaf)...)
					}
				}
			} else {
				found = resolve(br)
			}
			if len(found) == 0 {
				g.Unresolved[s.Name] = append(g.Unresolved[s.Name], br.String())
				continue
			}
			// Walk the runtime closure of the providing binary packages.
			type item struct {
				p   provider
				via []string
			}
			queue := make([]item, 0, len(found))
			for _, f := range found {
				queue = append(queue, item{p: f})
			}
			visited := map[*spec.Package]bool{}
			for len(queue) > 0 {
				it := queue[0]
				queue = queue[1:]
				if visited[it.p.pkg] {
					continue
				}
				visited[it.p.pkg] = true
				if it.p.src != s.Name {
					if _, ok := edges[it.p.src]; !ok {
						edges[it.p.src] = Edge{From: s.Name, To: it.p.src, Dep: br.String(), Via: it.via}
					}
				}
				for _, rq := range it.p.pkg.Requires {
					if strings.HasPrefix(rq.Name, "rpmlib(") {
						continue
					}
					var next []provider
					if rq.Rich {
						if r, err := spec.ParseRich(rq.Name); err == nil {
							for _, leaf := range richLeaves(r) {
								next = append(next, resolve(leaf)...)
							}
						}
					} else {
						next = resolve(rq)
					}
					for _, n := range next {
						if !visited[n.pkg] {
							via := append(append([]string(nil), it.via...), it.p.pkg.Name+" requires "+rq.String())
							queue = append(queue, item{p: n, via: via})
						}
					}
				}
			}
		}
		keys := make([]string, 0, len(edges))
		for k := range edges {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			g.Edges = append(g.Edges, edges[k])
			g.out[s.Name] = append(g.out[s.Name], edges[k])
		}
	}
	return g
}

func richLeaves(r *spec.Rich) []spec.Dep {
	if r.Op == "" {
		return []spec.Dep{r.Leaf}
	}
	var out []spec.Dep
	for _, a := range r.Args {
		out = append(out, richLeaves(a)...)
	}
	return out
}

// satisfies reports whether a provide of EVR pevr meets dependency d.
func satisfies(pevr string, d spec.Dep) bool {
	if d.Op == "" || pevr == "" {
		return true
	}
	pe, err1 := rpm.ParseEVR(pevr)
	de, err2 := rpm.ParseEVR(d.EVR)
	if err1 != nil || err2 != nil {
		return true
	}
	c := rpm.CompareBound(pe, de)
	switch d.Op {
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case "=":
		return c == 0
	case ">=":
		return c >= 0
	case ">":
		return c > 0
	}
	return true
}

// CycleError reports a dependency cycle with its chain of edges; the last
// edge leads back to the first node.
type CycleError struct {
	Chain []Edge
}

func (e *CycleError) Error() string {
	parts := make([]string, len(e.Chain))
	for i, c := range e.Chain {
		parts[i] = c.String()
	}
	return "build dependency cycle: " + strings.Join(parts, ", ")
}

// Order returns build layers: every package of a layer depends only on
// packages of earlier layers, so a layer may build in parallel. Names in a
// layer are sorted. A cycle is returned as *CycleError.
func (g *Graph) Order() ([][]string, error) {
	indeg := map[string]int{}
	rev := map[string][]string{}
	for _, n := range g.Nodes {
		indeg[n] += 0
		for _, e := range g.out[n] {
			indeg[n]++
			rev[e.To] = append(rev[e.To], n)
		}
	}
	var layers [][]string
	var cur []string
	for _, n := range g.Nodes {
		if indeg[n] == 0 {
			cur = append(cur, n)
		}
	}
	done := 0
	for len(cur) > 0 {
		sort.Strings(cur)
		layers = append(layers, cur)
		done += len(cur)
		var next []string
		for _, n := range cur {
			for _, m := range rev[n] {
				indeg[m]--
				if indeg[m] == 0 {
					next = append(next, m)
				}
			}
		}
		cur = next
	}
	if done < len(g.Nodes) {
		return layers, &CycleError{Chain: g.findCycle(indeg)}
	}
	return layers, nil
}

// Cycles returns one chain per strongly connected component that contains a
// cycle, sorted by the chain's first node.
func (g *Graph) Cycles() [][]Edge {
	index, low := map[string]int{}, map[string]int{}
	onStack := map[string]bool{}
	var stack []string
	var sccs [][]string
	i := 0
	var strong func(v string)
	strong = func(v string) {
		index[v], low[v] = i, i
		i++
		stack = append(stack, v)
		onStack[v] = true
		for _, e := range g.out[v] {
			if _, ok := index[e.To]; !ok {
				strong(e.To)
				low[v] = min(low[v], low[e.To])
			} else if onStack[e.To] {
				low[v] = min(low[v], index[e.To])
			}
		}
		if low[v] == index[v] {
			var c []string
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				c = append(c, w)
				if w == v {
					break
				}
			}
			if len(c) > 1 {
				sccs = append(sccs, c)
			}
		}
	}
	for _, n := range g.Nodes {
		if _, ok := index[n]; !ok {
			strong(n)
		}
	}
	var out [][]Edge
	for _, c := range sccs {
		in := map[string]int{}
		for _, n := range c {
			in[n] = 1
		}
		out = append(out, g.findCycle(in))
	}
	sort.Slice(out, func(a, b int) bool { return out[a][0].From < out[b][0].From })
	return out
}

// findCycle finds a cycle among nodes with in[n] > 0 (nodes left over by
// Kahn's algorithm or an SCC), starting from the smallest name.
func (g *Graph) findCycle(in map[string]int) []Edge {
	var start string
	for _, n := range g.Nodes {
		if in[n] > 0 {
			start = n
			break
		}
	}
	// Follow edges that stay inside the set until a node repeats; every
	// node left over has such an edge.
	pos := map[string]int{}
	var path []Edge
	n := start
	for {
		if p, ok := pos[n]; ok {
			return path[p:]
		}
		pos[n] = len(path)
		var next *Edge
		for k := range g.out[n] {
			e := g.out[n][k]
			if in[e.To] > 0 {
				next = &e
				break
			}
		}
		if next == nil {
			return path
		}
		path = append(path, *next)
		n = next.To
	}
}

// WriteText prints the layers and edges for people.
func (g *Graph) WriteText(w io.Writer) error {
	layers, err := g.Order()
	for i, l := range layers {
		fmt.Fprintf(w, "layer %d: %s\n", i+1, strings.Join(l, " "))
	}
	for _, e := range g.Edges {
		fmt.Fprintf(w, "  %s\n", e)
	}
	for _, n := range g.Nodes {
		if u := g.Unresolved[n]; len(u) > 0 {
			fmt.Fprintf(w, "  %s: from outside the tree: %s\n", n, strings.Join(u, ", "))
		}
	}
	for _, c := range g.Cycles() {
		fmt.Fprintf(w, "cycle: %s\n", (&CycleError{Chain: c}).Error())
	}
	if err != nil {
		_, isCycle := err.(*CycleError)
		if !isCycle {
			return err
		}
	}
	return nil
}

// JSON is the document WriteJSON prints.
type JSON struct {
	Nodes      []string            `json:"nodes"`
	Edges      []Edge              `json:"edges"`
	Layers     [][]string          `json:"layers"`
	Cycles     [][]Edge            `json:"cycles,omitempty"`
	Unresolved map[string][]string `json:"unresolved,omitempty"`
}

// WriteJSON prints the graph, its layers and cycles as one JSON document.
func (g *Graph) WriteJSON(w io.Writer) error {
	layers, _ := g.Order()
	doc := JSON{Nodes: g.Nodes, Edges: g.Edges, Layers: layers, Cycles: g.Cycles(), Unresolved: g.Unresolved}
	if doc.Edges == nil {
		doc.Edges = []Edge{}
	}
	if doc.Layers == nil {
		doc.Layers = [][]string{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// WriteDOT prints the graph in Graphviz DOT; edges in cycles are red.
func (g *Graph) WriteDOT(w io.Writer) error {
	inCycle := map[[2]string]bool{}
	for _, c := range g.Cycles() {
		for _, e := range c {
			inCycle[[2]string{e.From, e.To}] = true
		}
	}
	fmt.Fprintln(w, "digraph build {")
	fmt.Fprintln(w, "  rankdir=LR;")
	for _, n := range g.Nodes {
		fmt.Fprintf(w, "  %s;\n", dotQuote(n))
	}
	for _, e := range g.Edges {
		attr := "label=" + dotQuote(e.Dep)
		if inCycle[[2]string{e.From, e.To}] {
			attr += ", color=red"
		}
		fmt.Fprintf(w, "  %s -> %s [%s];\n", dotQuote(e.From), dotQuote(e.To), attr)
	}
	_, err := fmt.Fprintln(w, "}")
	return err
}

func dotQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
