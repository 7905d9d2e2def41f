package mapping

import (
	"reflect"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
)

// rewriter transforms a type-checked expression before it is compiled, so
// that evaluating it is safe on incomplete events, bounded in cost, and
// fast:
//
//   - member access on objects, arrays and values of unknown type
//     (context.page.url, products[0], #.sku) becomes one call along the
//     path, which gives nil for a missing object, key or index instead of
//     failing;
//   - + where either side may be a string has its result's bytes counted;
//   - every loop body (the predicate of map, filter, all, reduce, ...)
//     first counts one iteration;
//   - calls to functions that build strings (replace, repeat, join, ...)
//     go to their budgeted variants, which take the run state first;
//   - calls to the other functions of one or two arguments go to their
//     direct forms (see direct), which the VM calls without building an
//     argument slice.
//
// The budget lives in a hidden variable the linked program declares first.
// Every node's location is shifted by shift, the expression's offset in the
// linked program, so evaluation errors can be traced to their expression.
type rewriter struct {
	shift   int
	usesRun bool
	paths   map[*ast.CallNode][]any // the constant keys of the fetches made
	calls   map[*ast.CallNode]made  // what the calls it made do, for fast.go
}

// made describes a call the rewriter made, so that fast.go can evaluate it
// without the VM.
type made struct {
	kind  madeKind
	keys  []any          // madePath: the constant keys
	table map[string]any // madeLookup: the constant map
	name  string         // madeDirect: the function
	one   func(a any) (any, error)
	two   func(a, b any) (any, error)
}

type madeKind uint8

const (
	madePath    madeKind = iota + 1 // fetchPath(keys)(obj)
	madeFetch                       // fetch(obj, key)
	madeLookup                      // lookupIn(table)(key)
	madeDirect                      // the direct form of a function of one or two arguments
	madeOrEmpty                     // orEmpty(list)
	madeTick                        // tick(run), first in a loop body
)

func (r *rewriter) record(c *ast.CallNode, m made) *ast.CallNode {
	if r.calls == nil {
		r.calls = map[*ast.CallNode]made{}
	}
	r.calls[c] = m
	return c
}

func (r *rewriter) at(n ast.Node, loc file.Location) ast.Node {
	n.SetLocation(loc)
	return n
}

func (r *rewriter) runRef(loc file.Location) ast.Node {
	r.usesRun = true
	return r.at(&ast.IdentifierNode{Value: runName}, loc)
}

// call makes a call of the Go function f, held as a constant.
func (r *rewriter) call(f any, loc file.Location, args ...ast.Node) *ast.CallNode {
	c := &ast.CallNode{Callee: r.at(&ast.ConstantNode{Value: f}, loc), Arguments: args}
	c.SetLocation(loc)
	return c
}

// charged lists the functions with a budgeted variant.
var charged = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range functions() {
		if f.charged {
			m[f.name] = true
		}
	}
	return m
}()

// loops are the built-ins that iterate over their first argument.
var loops = map[string]bool{
	"all": true, "none": true, "any": true, "one": true, "filter": true, "map": true,
	"find": true, "findIndex": true, "findLast": true, "findLastIndex": true,
	"count": true, "sum": true, "groupBy": true, "sortBy": true, "reduce": true,
}

// emptyList is what orEmpty gives for nil. It has no room, so appending
// to it cannot change it.
var emptyList = []any{}

// orEmpty returns v, or an empty list for nil.
func orEmpty(v any) any {
	if v == nil {
		return emptyList
	}
	return v
}

// constantKey returns the value of a member access's property when it is
// a constant string or integer.
func constantKey(n ast.Node) (any, bool) {
	switch k := n.(type) {
	case *ast.StringNode:
		return k.Value, true
	case *ast.IntegerNode:
		return k.Value, true
	}
	return nil, false
}

// walk rewrites the tree rooted at *n in place.
func (r *rewriter) walk(n *ast.Node) {
	if *n == nil {
		return
	}
	loc := (*n).Location()
	loc.From += r.shift
	loc.To += r.shift
	(*n).SetLocation(loc)

	switch x := (*n).(type) {
	case *ast.UnaryNode:
		r.walk(&x.Node)
	case *ast.BinaryNode:
		concat := x.Operator == "+" && (maybeString(x.Left) || maybeString(x.Right))
		r.walk(&x.Left)
		r.walk(&x.Right)
		if concat {
			*n = r.call(charge, loc, r.runRef(loc), x)
		}
	case *ast.ChainNode:
		r.walk(&x.Node)
		if !hasOptional(x.Node) {
			// Every ?. in it became a nil-safe fetch: the chain's own
			// nil handling is not needed.
			*n = x.Node
		}
	case *ast.MemberNode:
		if m, ok := constant(x.Node); ok {
			// {"Order Completed": "Purchase", ...}[event]: the map is
			// built once, not for every event. It cannot escape: only
			// one of its values, all scalars, is used.
			if m, isMap := m.(map[string]any); isMap && !x.Method && scalars(m) {
				r.walk(&x.Property)
				*n = r.record(r.call(lookupIn(m), loc, x.Property), made{kind: madeLookup, table: m})
				return
			}
		}
		safe := !x.Method && fetchable(x.Node)
		r.walk(&x.Node)
		r.walk(&x.Property)
		if !safe {
			return
		}
		key, ok := constantKey(x.Property)
		if !ok {
			*n = r.record(r.call(fetch, loc, x.Node, x.Property), made{kind: madeFetch})
			return
		}
		base, keys := x.Node, []any{key}
		if inner, ok := x.Node.(*ast.CallNode); ok && r.paths[inner] != nil {
			// a.b.c is one fetch along the path b, c.
			base = inner.Arguments[0]
			keys = append(append([]any{}, r.paths[inner]...), key)
		}
		c := r.record(r.call(fetchPath(keys), loc, base), made{kind: madePath, keys: keys})
		if r.paths == nil {
			r.paths = map[*ast.CallNode][]any{}
		}
		r.paths[c] = keys
		*n = c
	case *ast.SliceNode:
		r.walk(&x.Node)
		r.walk(&x.From)
		r.walk(&x.To)
	case *ast.CallNode:
		r.walk(&x.Callee)
		for i := range x.Arguments {
			r.walk(&x.Arguments[i])
		}
		id, ok := x.Callee.(*ast.IdentifierNode)
		switch {
		case !ok:
		case charged[id.Value]:
			// New nodes: the checker keeps the types of nodes it has seen.
			callee := r.at(&ast.IdentifierNode{Value: internal + id.Value}, id.Location())
			*n = r.at(&ast.CallNode{Callee: callee, Arguments: append([]ast.Node{r.runRef(loc)}, x.Arguments...)}, loc)
		case len(x.Arguments) <= 2 && direct[id.Value][len(x.Arguments)] != nil:
			f := byName[id.Value]
			*n = r.record(r.call(direct[id.Value][len(x.Arguments)], loc, x.Arguments...), made{kind: madeDirect, name: f.name, one: f.one, two: f.two})
		}
	case *ast.BuiltinNode:
		wrap := loops[x.Name] && len(x.Arguments) > 0 && x.Arguments[0].Type().Kind() == reflect.Interface
		for i := range x.Arguments {
			r.walk(&x.Arguments[i])
		}
		r.walk(&x.Map)
		if wrap {
			// A missing list is an empty one: map(properties.products, ...)
			// on an event without products.
			x.Arguments[0] = r.record(r.call(orEmpty, x.Arguments[0].Location(), x.Arguments[0]), made{kind: madeOrEmpty})
		}
	case *ast.PredicateNode:
		r.walk(&x.Node)
		body := x.Node
		seq := &ast.SequenceNode{Nodes: []ast.Node{r.record(r.call(tick, loc, r.runRef(loc)), made{kind: madeTick}), body}}
		x.Node = r.at(seq, body.Location())
	case *ast.VariableDeclaratorNode:
		r.walk(&x.Value)
		r.walk(&x.Expr)
	case *ast.SequenceNode:
		for i := range x.Nodes {
			r.walk(&x.Nodes[i])
		}
	case *ast.ConditionalNode:
		r.walk(&x.Cond)
		r.walk(&x.Exp1)
		r.walk(&x.Exp2)
	case *ast.ArrayNode:
		for i := range x.Nodes {
			r.walk(&x.Nodes[i])
		}
	case *ast.MapNode:
		for i := range x.Pairs {
			r.walk(&x.Pairs[i])
		}
	case *ast.PairNode:
		r.walk(&x.Key)
		r.walk(&x.Value)
	}
}

// fetchable reports whether member access on n's value goes through
// fetch: objects and arrays of any values, and values whose type is not
// known until run time. Typed Go values (time.Time methods, say) keep
// expr-lang's own access.
func fetchable(n ast.Node) bool {
	if id, ok := n.(*ast.IdentifierNode); ok && id.Value == "$env" {
		return false
	}
	t := n.Type()
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Map:
		return t.Key().Kind() == reflect.String && t.Elem().Kind() == reflect.Interface
	case reflect.Slice:
		return t.Elem().Kind() == reflect.Interface
	}
	return false
}

// maybeString reports whether n's value may be a string at run time.
func maybeString(n ast.Node) bool {
	k := n.Type().Kind()
	return k == reflect.String || k == reflect.Interface
}

// hasOptional reports whether the tree rooted at n still has an optional
// member access (?.) that the compiler must handle.
func hasOptional(n ast.Node) bool {
	v := &optionalFinder{}
	ast.Walk(&n, v)
	return v.found
}

type optionalFinder struct{ found bool }

// Visit implements ast.Visitor.
func (v *optionalFinder) Visit(n *ast.Node) {
	if m, ok := (*n).(*ast.MemberNode); ok && m.Optional {
		v.found = true
	}
}

// constant returns the value of a literal made only of constants (strings,
// numbers, booleans, nil, and maps and arrays of them).
func constant(n ast.Node) (any, bool) {
	switch x := n.(type) {
	case *ast.StringNode:
		return x.Value, true
	case *ast.IntegerNode:
		return x.Value, true
	case *ast.FloatNode:
		return x.Value, true
	case *ast.BoolNode:
		return x.Value, true
	case *ast.NilNode:
		return nil, true
	case *ast.MapNode:
		m := make(map[string]any, len(x.Pairs))
		for _, p := range x.Pairs {
			pair, ok := p.(*ast.PairNode)
			if !ok {
				return nil, false
			}
			k, ok := pair.Key.(*ast.StringNode)
			if !ok {
				return nil, false
			}
			v, ok := constant(pair.Value)
			if !ok {
				return nil, false
			}
			m[k.Value] = v
		}
		return m, true
	case *ast.ArrayNode:
		a := make([]any, len(x.Nodes))
		for i, e := range x.Nodes {
			v, ok := constant(e)
			if !ok {
				return nil, false
			}
			a[i] = v
		}
		return a, true
	}
	return nil, false
}

// scalars reports whether m holds no maps or arrays.
func scalars(m map[string]any) bool {
	for _, v := range m {
		switch v.(type) {
		case map[string]any, []any:
			return false
		}
	}
	return true
}

// lookupIn returns the lookup of a key in the constant map m, nil when the
// key is absent or not a string.
func lookupIn(m map[string]any) func(key any) any {
	return func(key any) any {
		if k, ok := key.(string); ok {
			return m[k]
		}
		return nil
	}
}
