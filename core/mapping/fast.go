package mapping

import (
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/vm"
	"github.com/expr-lang/expr/vm/runtime"
)

// The fast path.
//
// expr-lang's VM is general, and for a typical map: most of its time goes
// into dispatching opcodes, boxing, and decoding parts of the event no
// expression reads. So Compile also turns every expression made only of
// the common forms (fields and paths into the event, literals, ??, ==, !=,
// &&, ||, !, ?:, in a list of strings, arrays, calls of this package's
// functions and of expr-lang's other built-ins, and the loops all, any,
// none, one, filter, map, count and sum) into a tree of Go closures, and
// Program.Apply decodes only the parts of the event those expressions read
// (project.go).
//
// The fast path never decides anything the VM would decide differently:
// whenever an evaluation could fail or meet a value outside what it
// handles (a non-boolean condition, a function returning an error, a key
// into a non-object, a budget), it gives up ("bails") and the event is
// evaluated again from the start the ordinary way, which then gives the
// result or the error. Expressions are pure (now() is left to the VM), so
// evaluating one twice is harmless. Expressions with other forms
// (arithmetic, comparisons, let, other loops, ...) are evaluated by the VM,
// on an environment holding the event fields they use.
// The tests compare the two ways on many expressions and events
// (fast_test.go).

// fastFn evaluates one expression; ok is false when it bails.
type fastFn func(f *frame) (v any, ok bool)

// frame is what fast expressions read: the event's values, either from an
// Env (env mode, for Match and Map) or from the slots a projection decoded
// (Apply).
type frame struct {
	boxes *boxes // where new strings and numbers are boxed
	env   map[string]any
	slots []any
	mem   uint // array elements created, counted against MemoryBudget
	steps int  // loop iterations run, counted against MaxSteps
	item  any  // the element of the innermost loop (#)
	index int  // and its index (#index)
}

// access is a read of an event field, or of a constant path into one
// (context.traits.email).
type access struct {
	name string // the field
	keys []any  // the path below it, as fetchPath takes it
	slot int    // projection: the slot holding the value read whole...
	rest []any  // ...and the keys still to follow from it
}

// fn returns the fastFn reading a: a closure rather than the method value
// a.get, whose wrapper would be one more call for each of the many reads.
func (a *access) fn() fastFn {
	return func(f *frame) (any, bool) {
		if f.env == nil {
			// The slots hold what the projection decoded, and so does
			// everything under them: values of types the fast path
			// handles.
			v := f.slots[a.slot]
			switch {
			case v == poison:
				return nil, false
			case len(a.rest) == 0:
				return v, true
			}
			return fetchKeys(v, a.rest)
		}
		v, ok := fetchKeys(f.env[a.name], a.keys)
		return v, ok && handled(v)
	}
}

// poison is the value of a slot under an event value that is not an
// object (context.traits.email where traits is a string): reading it
// would fail, so the fast path bails.
var poison any = &struct{ byte }{}

// fetchKeys follows keys from v as fetchPath does, bailing where fetchPath
// would fail.
func fetchKeys(v any, keys []any) (any, bool) {
	for _, k := range keys {
		if m, ok := v.(map[string]any); ok {
			if s, ok := k.(string); ok {
				if v = m[s]; v == nil {
					return nil, true
				}
				continue
			}
		}
		var err error
		if v, err = fetch1(v, k); err != nil {
			return nil, false
		}
		if v == nil {
			return nil, true
		}
	}
	return v, true
}

// handled reports whether v is of a type the fast path handles: those JSON
// decoding, the functions and literals make. The VM dereferences pointers
// where the fast path does not, so other values (from an Env a caller
// built) are left to it.
func handled(v any) bool {
	switch v.(type) {
	case nil, string, bool, int, float64, map[string]any, []any, time.Time:
		return true
	}
	return false
}

// isNil is runtime.IsNil, which ?? uses: typed nil maps and slices are nil.
func isNil(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string, bool, int, float64, time.Time:
		return false
	case map[string]any:
		return x == nil
	case []any:
		return x == nil
	}
	return runtime.IsNil(v)
}

// fastCompiler turns rewritten, type-checked expressions into fastFns.
type fastCompiler struct {
	calls    map[*ast.CallNode]made
	accesses []*access
	loops    bool // the expression has loops, which count against MaxSteps
	// leaf is the expression when it is a whole field of map:, whose
	// value Apply only writes (see digestOutput).
	leaf ast.Node
}

// compile returns the fastFn of n, or false when n uses a form the fast
// path leaves to the VM.
func (c *fastCompiler) compile(n ast.Node) (fastFn, bool) {
	switch x := n.(type) {
	case *ast.NilNode:
		return constFn(nil), true
	case *ast.StringNode:
		return constFn(x.Value), true
	case *ast.BoolNode:
		return constFn(x.Value), true
	case *ast.IntegerNode:
		if t := x.Type(); t == nil || t != intType {
			return nil, false // the compiler converts it
		}
		return constFn(x.Value), true
	case *ast.FloatNode:
		if t := x.Type(); t == nil || t.Kind() != reflect.Float64 {
			return nil, false
		}
		return constFn(x.Value), true
	case *ast.IdentifierNode:
		if _, ok := fieldTypes[x.Value]; !ok {
			return nil, false // $env, variables, the run state
		}
		a := &access{name: x.Value}
		c.accesses = append(c.accesses, a)
		return a.fn(), true
	case *ast.CallNode:
		return c.call(x)
	case *ast.BuiltinNode:
		if loopBuiltins[x.Name] {
			return c.loop(x)
		}
		return c.builtin(x)
	case *ast.PointerNode:
		switch x.Name {
		case "":
			return func(f *frame) (any, bool) { return f.item, handled(f.item) }, true
		case "index":
			return func(f *frame) (any, bool) { return f.index, true }, true
		}
		return nil, false
	case *ast.BinaryNode:
		return c.binary(x)
	case *ast.UnaryNode:
		if x.Operator != "!" && x.Operator != "not" {
			return nil, false
		}
		e, ok := c.compile(x.Node)
		if !ok {
			return nil, false
		}
		return func(f *frame) (any, bool) {
			v, ok := e(f)
			b, isBool := v.(bool)
			return !b, ok && isBool
		}, true
	case *ast.ConditionalNode:
		cond, ok1 := c.compile(x.Cond)
		yes, ok2 := c.compile(x.Exp1)
		no, ok3 := c.compile(x.Exp2)
		if !ok1 || !ok2 || !ok3 {
			return nil, false
		}
		return func(f *frame) (any, bool) {
			v, ok := cond(f)
			b, isBool := v.(bool)
			switch {
			case !ok || !isBool:
				return nil, false
			case b:
				return yes(f)
			}
			return no(f)
		}, true
	case *ast.ArrayNode:
		items, ok := c.list(x.Nodes)
		if !ok {
			return nil, false
		}
		size := uint(len(items))
		return func(f *frame) (any, bool) {
			// As OpArray: count the elements against the memory budget.
			// Constant arrays the VM does not count, so this may bail
			// where the VM would not; never the other way round.
			if f.mem += size; f.mem >= MemoryBudget {
				return nil, false
			}
			out := make([]any, len(items))
			for i, e := range items {
				v, ok := e(f)
				if !ok {
					return nil, false
				}
				out[i] = v
			}
			return out, true
		}, true
	}
	return nil, false
}

func constFn(v any) fastFn {
	return func(*frame) (any, bool) { return v, true }
}

func (c *fastCompiler) list(nodes []ast.Node) ([]fastFn, bool) {
	out := make([]fastFn, len(nodes))
	for i, n := range nodes {
		e, ok := c.compile(n)
		if !ok {
			return nil, false
		}
		out[i] = e
	}
	return out, true
}

// then is a fastFn that evaluates a and, when that succeeds, gives its
// value to op.
func then(a fastFn, op func(f *frame, v any) (any, bool)) fastFn {
	return func(f *frame) (any, bool) {
		v, ok := a(f)
		if !ok {
			return nil, false
		}
		return op(f, v)
	}
}

// both is a fastFn that evaluates l and then r and, when both succeed,
// gives their values to op.
func both(l, r fastFn, op func(f *frame, a, b any) (any, bool)) fastFn {
	return func(f *frame) (any, bool) {
		a, ok := l(f)
		if !ok {
			return nil, false
		}
		b, ok := r(f)
		if !ok {
			return nil, false
		}
		return op(f, a, b)
	}
}

// both compiles the two nodes args and combines them with both.
func (c *fastCompiler) both(args []ast.Node, op func(f *frame, a, b any) (any, bool)) (fastFn, bool) {
	fs, ok := c.list(args)
	if !ok || len(fs) != 2 {
		return nil, false
	}
	return both(fs[0], fs[1], op), true
}

// call compiles the calls the rewriter made and calls of the registered
// functions that take no run state.
func (c *fastCompiler) call(x *ast.CallNode) (fastFn, bool) {
	m, rewritten := c.calls[x]
	if !rewritten {
		id, ok := x.Callee.(*ast.IdentifierNode)
		if !ok {
			return nil, false
		}
		f, ok := byName[id.Value]
		if !ok || f.charged {
			return nil, false
		}
		args, ok := c.list(x.Arguments)
		if !ok {
			return nil, false
		}
		return func(fr *frame) (any, bool) {
			var buf [4]any
			vals := buf[:0]
			for _, a := range args {
				v, ok := a(fr)
				if !ok {
					return nil, false
				}
				vals = append(vals, v)
			}
			v, err := f.call(vals...)
			return v, err == nil && handled(v)
		}, true
	}
	switch m.kind {
	case madePath:
		if len(x.Arguments) != 1 {
			return nil, false
		}
		if id, ok := x.Arguments[0].(*ast.IdentifierNode); ok {
			if _, field := fieldTypes[id.Value]; field {
				a := &access{name: id.Value, keys: m.keys}
				c.accesses = append(c.accesses, a)
				return a.fn(), true
			}
		}
		base, ok := c.compile(x.Arguments[0])
		if !ok {
			return nil, false
		}
		keys := m.keys
		return then(base, func(_ *frame, v any) (any, bool) {
			if v, ok := fetchKeys(v, keys); ok {
				return v, handled(v)
			}
			return nil, false
		}), true
	case madeFetch:
		if len(x.Arguments) != 2 {
			return nil, false
		}
		return c.both(x.Arguments, func(_ *frame, o, k any) (any, bool) {
			v, err := fetch1(o, k)
			return v, err == nil && handled(v)
		})
	case madeOrEmpty:
		if len(x.Arguments) != 1 {
			return nil, false
		}
		list, ok := c.compile(x.Arguments[0])
		if !ok {
			return nil, false
		}
		return func(f *frame) (any, bool) {
			v, ok := list(f)
			return orEmpty(v), ok
		}, true
	case madeLookup:
		if len(x.Arguments) != 1 {
			return nil, false
		}
		key, ok := c.compile(x.Arguments[0])
		if !ok {
			return nil, false
		}
		table := m.table
		return then(key, func(_ *frame, k any) (any, bool) {
			if s, isString := k.(string); isString {
				return table[s], true
			}
			return nil, true
		}), true
	case madeDirect:
		if len(x.Arguments) == 1 && fastFuncs[m.name] != nil {
			return c.chain(x, m.name)
		}
		switch {
		case len(x.Arguments) == 1 && m.one != nil:
			a, ok := c.compile(x.Arguments[0])
			if !ok {
				return nil, false
			}
			one := m.one
			return then(a, func(_ *frame, v any) (any, bool) {
				v, err := one(v)
				return v, err == nil && handled(v)
			}), true
		case len(x.Arguments) == 2 && m.name == "pluck":
			return c.both(x.Arguments, func(f *frame, v, w any) (any, bool) {
				return fastPluck(f.boxes, v, w)
			})
		case len(x.Arguments) == 2 && m.two != nil:
			two := m.two
			return c.both(x.Arguments, func(_ *frame, v, w any) (any, bool) {
				v, err := two(v, w)
				return v, err == nil && handled(v)
			})
		}
	}
	return nil, false
}

// loopBuiltins are the loops the fast path runs, as the compiler makes
// them (see loop).
var loopBuiltins = map[string]bool{
	"all": true, "none": true, "any": true, "one": true, "filter": true, "map": true,
	"count": true, "sum": true,
}

// loop compiles all, none, any, one, filter, map, count and sum over a
// list, as expr-lang's compiler does: the predicate must give a boolean
// (but for map and sum), each run of it counts one step (the tick the
// rewriter put first in its body), filter and map count their result's
// elements against the memory budget, and sum adds with runtime.Add
// starting from the int 0.
func (c *fastCompiler) loop(x *ast.BuiltinNode) (fastFn, bool) {
	name := x.Name
	if x.Map != nil || len(x.Arguments) < 1 || len(x.Arguments) > 2 ||
		len(x.Arguments) == 1 && name != "count" && name != "sum" {
		return nil, false
	}
	list, ok := c.compile(x.Arguments[0])
	if !ok {
		return nil, false
	}
	var pred fastFn
	if len(x.Arguments) == 2 {
		p, ok := x.Arguments[1].(*ast.PredicateNode)
		if !ok {
			return nil, false
		}
		seq, ok := p.Node.(*ast.SequenceNode)
		if !ok || len(seq.Nodes) != 2 {
			return nil, false
		}
		tick, ok := seq.Nodes[0].(*ast.CallNode)
		if !ok || c.calls[tick].kind != madeTick {
			return nil, false
		}
		if pred, ok = c.compile(seq.Nodes[1]); !ok {
			return nil, false
		}
	}
	c.loops = true
	return func(f *frame) (any, bool) {
		v, ok := list(f)
		items, isList := v.([]any)
		if !ok || !isList && v != nil {
			return nil, false
		}
		item, index := f.item, f.index
		defer func() { f.item, f.index = item, index }()
		count := 0
		var acc any = 0
		var out []any
		for i, it := range items {
			r := it
			if pred != nil {
				if f.steps++; f.steps > MaxSteps {
					return nil, false
				}
				f.item, f.index = it, i
				if r, ok = pred(f); !ok {
					return nil, false
				}
			}
			if name == "map" {
				out = append(out, r)
				continue
			}
			if name == "sum" {
				acc = runtime.Add(r, acc) // panics as in the VM: the caller recovers
				continue
			}
			b, isBool := r.(bool)
			if !isBool {
				return nil, false
			}
			switch {
			case name == "all" && !b:
				return false, true
			case name == "none" && b:
				return false, true
			case name == "any" && b:
				return true, true
			case b && name == "filter":
				out = append(out, it)
				count++
			case b:
				count++
			}
		}
		switch name {
		case "all", "none":
			return true, true
		case "any":
			return false, true
		case "one":
			return count == 1, true
		case "count":
			return count, true
		case "sum":
			return acc, handled(acc)
		}
		// map and filter: a new array, counted against the memory budget.
		if f.mem += uint(len(out)); f.mem >= MemoryBudget {
			return nil, false
		}
		if out == nil {
			out = []any{}
		}
		return out, true
	}, true
}

// vmBuiltins are the built-ins the compiler turns into loops, and those
// that read the clock.
var vmBuiltins = map[string]bool{
	"all": true, "none": true, "any": true, "one": true, "filter": true, "map": true,
	"count": true, "sum": true, "find": true, "findIndex": true, "findLast": true,
	"findLastIndex": true, "groupBy": true, "sortBy": true, "reduce": true,
	"now": true, "date": true, "duration": true, "timezone": true,
}

// chain compiles a call of a function of fastFuncs, and the calls of
// strFuncs directly inside it: sha256(lower(trim(x))) is one fastFn. When
// x gives a string, the inner functions run on the string itself, and only
// what the chain gives is boxed, not what each link gives; other values go
// through the links one by one, as separate calls would.
func (c *fastCompiler) chain(x *ast.CallNode, outer string) (fastFn, bool) {
	names := []string{outer} // outermost first
	arg := x.Arguments[0]
	for {
		call, ok := arg.(*ast.CallNode)
		if !ok {
			break
		}
		m, made := c.calls[call]
		if !made || m.kind != madeDirect || len(call.Arguments) != 1 || strFuncs[m.name] == nil {
			break
		}
		names = append(names, m.name)
		arg = call.Arguments[0]
	}
	base, ok := c.compile(arg)
	if !ok {
		return nil, false
	}
	slices.Reverse(names) // innermost first
	links := make([]func(*boxes, any) (any, bool), len(names))
	for i, name := range names {
		links[i] = fastFuncs[name]
	}
	// On a string: the strFuncs links, then sha256 of their string, or
	// the last link given their string boxed.
	var strs []func(*boxes, string) (string, bool)
	for _, name := range names {
		if fn := strFuncs[name]; fn != nil {
			strs = append(strs, fn)
		}
	}
	var last func(*boxes, any) (any, bool)
	if strFuncs[outer] == nil {
		last = links[len(links)-1]
	}
	hash := outer == "sha256"
	// A whole field of map: that is a hash is written by Apply straight
	// from the digest.
	digest := hash && c.leaf == ast.Node(x)
	return func(f *frame) (any, bool) {
		v, ok := base(f)
		if !ok {
			return nil, false
		}
		s, isString := v.(string)
		if !isString {
			for _, fn := range links {
				if v, ok = fn(f.boxes, v); !ok || !handled(v) {
					return nil, false
				}
			}
			return v, true
		}
		out := s
		for _, fn := range strs {
			if out, ok = fn(f.boxes, out); !ok {
				return nil, false
			}
		}
		switch {
		case digest && f.env == nil:
			return digestOf(f.boxes, out), true
		case hash:
			return sha256Of(f.boxes, out), true
		case last != nil:
			v, ok = last(f.boxes, f.boxes.restring(v, s, out))
			return v, ok && handled(v)
		}
		return f.boxes.restring(v, s, out), true
	}, true
}

// builtin compiles a call of one of expr-lang's other built-ins (flatten,
// first, keys, abs, ...) as the VM makes it: its Fast, Safe or Func form.
func (c *fastCompiler) builtin(x *ast.BuiltinNode) (fastFn, bool) {
	id, ok := builtin.Index[x.Name]
	if !ok || vmBuiltins[x.Name] || x.Map != nil {
		return nil, false
	}
	f := builtin.Builtins[id]
	args, ok := c.list(x.Arguments)
	if !ok {
		return nil, false
	}
	eval := func(fr *frame) ([]any, bool) {
		vals := make([]any, len(args))
		for i, a := range args {
			v, ok := a(fr)
			if !ok {
				return nil, false
			}
			vals[i] = v
		}
		return vals, true
	}
	switch {
	case f.Fast != nil && len(args) == 1:
		fast := f.Fast
		return func(fr *frame) (any, bool) {
			vals, ok := eval(fr)
			if !ok {
				return nil, false
			}
			v := fast(vals[0]) // may panic, like the VM: the caller recovers
			return v, handled(v)
		}, true
	case f.Fast == nil && f.Safe != nil:
		safe := f.Safe
		return func(fr *frame) (any, bool) {
			vals, ok := eval(fr)
			if !ok {
				return nil, false
			}
			v, mem, err := safe(vals...)
			if err != nil {
				return nil, false
			}
			if fr.mem += mem; fr.mem >= MemoryBudget {
				return nil, false
			}
			return v, handled(v)
		}, true
	case f.Fast == nil && f.Safe == nil && f.Func != nil:
		fn := f.Func
		return func(fr *frame) (any, bool) {
			vals, ok := eval(fr)
			if !ok {
				return nil, false
			}
			v, err := fn(vals...)
			return v, err == nil && handled(v)
		}, true
	}
	return nil, false
}

func (c *fastCompiler) binary(x *ast.BinaryNode) (fastFn, bool) {
	if x.Operator == "in" {
		// x in ["a", "b"]: the optimizer makes the list a set of strings,
		// in which only a string (or nil) can be looked up.
		list, ok := x.Right.(*ast.ArrayNode)
		if !ok || len(list.Nodes) == 0 {
			return nil, false
		}
		set := make(map[string]struct{}, len(list.Nodes))
		for _, n := range list.Nodes {
			s, ok := n.(*ast.StringNode)
			if !ok {
				return nil, false
			}
			set[s.Value] = struct{}{}
		}
		needle, ok := c.compile(x.Left)
		if !ok {
			return nil, false
		}
		return func(f *frame) (any, bool) {
			v, ok := needle(f)
			if !ok {
				return nil, false
			}
			// runtime.In looks nil up as the zero key, "".
			s, isString := v.(string)
			if !isString && v != nil {
				return nil, false
			}
			_, in := set[s]
			return in, true
		}, true
	}
	l, ok1 := c.compile(x.Left)
	r, ok2 := c.compile(x.Right)
	if !ok1 || !ok2 {
		return nil, false
	}
	switch x.Operator {
	case "??":
		return func(f *frame) (any, bool) {
			v, ok := l(f)
			if !ok {
				return nil, false
			}
			// A string, the usual value, is not nil: no call of isNil.
			if _, isString := v.(string); isString || !isNil(v) {
				return v, true
			}
			return r(f)
		}, true
	case "==", "!=":
		ne := x.Operator == "!="
		return both(l, r, func(_ *frame, a, b any) (any, bool) {
			// Strings, the usual case, as runtime.Equal compares them.
			if x, ok := a.(string); ok {
				if y, ok := b.(string); ok {
					return (x == y) != ne, true
				}
			}
			return runtime.Equal(a, b) != ne, true
		}), true
	case "&&", "and":
		// As OpJumpIfFalse: the left side must be a boolean; the right
		// side's value is the result whatever it is.
		return func(f *frame) (any, bool) {
			v, ok := l(f)
			b, isBool := v.(bool)
			switch {
			case !ok || !isBool:
				return nil, false
			case !b:
				return false, true
			}
			return r(f)
		}, true
	case "||", "or":
		return func(f *frame) (any, bool) {
			v, ok := l(f)
			b, isBool := v.(bool)
			switch {
			case !ok || !isBool:
				return nil, false
			case b:
				return true, true
			}
			return r(f)
		}, true
	}
	return nil, false
}

// fastProg is a Program's fast path (see Program.Apply).
type fastProg struct {
	when     fastFn      // when:, unless it is absent, a literal or runs on the VM
	whenVM   bool        // when: runs on the VM (Program.whenProg)
	leaves   []fastFn    // map:'s expressions; nil for those the VM evaluates
	slowProg *vm.Program // evaluates those, into an array; nil if none
	slowIdx  []int       // their indexes in leaves
	vmRoots  []string    // the fields the VM parts read
	proj     *projection
	states   sync.Pool // *fastState
	// sizes is what the last event boxed (box.go), to size the next
	// one's arrays in one go: in Apply, and in Map.
	sizes, envSizes sizeHint
	outSize         atomic.Int32 // the length of the last output of Apply
}

// sizeHint keeps boxSizes for the next evaluation.
type sizeHint [5]atomic.Int32

func (h *sizeHint) load() boxSizes {
	return boxSizes{int(h[0].Load()), int(h[1].Load()), int(h[2].Load()), int(h[3].Load()), int(h[4].Load())}
}

func (h *sizeHint) store(c boxSizes) {
	for i, n := range [5]int{c.strs, c.nums, c.lists, c.bytes, c.items} {
		// Loading first spares goroutines applying alike events the
		// writes to one shared cache line.
		if n := int32(min(n, 4096)); h[i].Load() != n {
			h[i].Store(n)
		}
	}
}

func (fp *fastProg) boxSizes() boxSizes      { return fp.sizes.load() }
func (fp *fastProg) keepSizes(c boxSizes)    { fp.sizes.store(c) }
func (fp *fastProg) envBoxSizes() boxSizes   { return fp.envSizes.load() }
func (fp *fastProg) keepEnvSizes(c boxSizes) { fp.envSizes.store(c) }

// fastBuilder collects the fast forms of a program's expressions as link
// checks them.
type fastBuilder struct {
	reads   []*access
	whenFn  fastFn
	whenVM  bool
	leafFns []fastFn
	roots   map[string]bool // fields the VM parts read
	usesEnv bool            // an expression reads $env: no fast path
}

func compileFast(n ast.Node, calls map[*ast.CallNode]made) (fastFn, []*access, bool, bool) {
	c := &fastCompiler{calls: calls}
	fn, ok := c.compile(n)
	return fn, c.accesses, c.loops, ok
}

// compileLeaf is compileFast for an expression of map:.
func compileLeaf(n ast.Node, calls map[*ast.CallNode]made) (fastFn, []*access, bool, bool) {
	c := &fastCompiler{calls: calls, leaf: n}
	fn, ok := c.compile(n)
	if ok {
		fn = c.outputContents(n, fn)
	}
	return fn, c.accesses, c.loops, ok
}

func (b *fastBuilder) when(nodes []ast.Node, calls map[*ast.CallNode]made) {
	fn, reads, _, ok := compileFast(nodes[0], calls)
	if !ok {
		b.whenVM = true
		b.vmReads(nodes[0])
		return
	}
	b.whenFn = fn
	b.reads = append(b.reads, reads...)
}

func (b *fastBuilder) leaves(nodes []ast.Node, calls map[*ast.CallNode]made) {
	b.leafFns = make([]fastFn, len(nodes))
	loops := make([]bool, len(nodes))
	reads := make([][]*access, len(nodes))
	vm := false
	for i, n := range nodes {
		fn, r, l, ok := compileLeaf(n, calls)
		if !ok {
			vm = true
			b.vmReads(n)
			continue
		}
		b.leafFns[i], loops[i], reads[i] = fn, l, r
	}
	for i, fn := range b.leafFns {
		if fn == nil {
			continue
		}
		if vm && loops[i] {
			// One evaluation of map: has one loop budget (MaxSteps); when
			// part of it runs on the VM, its loops all do, so the VM
			// counts them all.
			b.leafFns[i] = nil
			b.vmReads(nodes[i])
			continue
		}
		b.reads = append(b.reads, reads[i]...)
	}
}

// vmReads records the fields an expression the VM evaluates reads.
func (b *fastBuilder) vmReads(n ast.Node) {
	if b.roots == nil {
		b.roots = map[string]bool{}
	}
	ast.Walk(&n, identifiers(func(name string) {
		if name == "$env" {
			b.usesEnv = true
		} else if _, ok := fieldTypes[name]; ok {
			b.roots[name] = true
		}
	}))
}

type identifiers func(name string)

// Visit implements ast.Visitor.
func (f identifiers) Visit(n *ast.Node) {
	if id, ok := (*n).(*ast.IdentifierNode); ok {
		f(id.Value)
	}
}

// finish returns the program's fast path, or nil when it has none.
func (b *fastBuilder) finish(k *compiler, p *Program) *fastProg {
	if b.usesEnv {
		return nil
	}
	fp := &fastProg{when: b.whenFn, whenVM: b.whenVM, leaves: b.leafFns}
	for i, fn := range b.leafFns {
		if fn == nil {
			fp.slowIdx = append(fp.slowIdx, i)
		}
	}
	switch {
	case len(fp.slowIdx) == 0:
	case len(fp.slowIdx) == len(p.leaves):
		fp.slowProg = p.mapProg
	default:
		// The VM's share of map:, linked afresh: link rewrote the
		// expressions' trees in place.
		fresh := make([]*leaf, len(fp.slowIdx))
		for j, i := range fp.slowIdx {
			l := p.leaves[i]
			tree, _, err := k.check(l.tree.Source.String())
			if err != nil {
				return nil
			}
			fresh[j] = &leaf{tree: tree, node: l.node, fullPath: l.fullPath, path: l.path}
		}
		prog, err := k.link(fresh, false, nil)
		if err != nil {
			return nil
		}
		fp.slowProg = prog
	}
	for name := range b.roots {
		fp.vmRoots = append(fp.vmRoots, name)
	}
	slices.Sort(fp.vmRoots)
	fp.proj = newProjection(b.reads, fp.vmRoots)
	return fp
}

// fastMatch evaluates when: for an Env on the fast path; ok is false when
// the program has no fast when: or it bailed.
func (p *Program) fastMatch(env Env) (matched, ok bool) {
	if p.fast == nil || p.fast.when == nil {
		return false, false
	}
	defer func() {
		if recover() != nil {
			matched, ok = false, false
		}
	}()
	fb := &frameBoxes{}
	fb.frame = frame{env: envOrEmpty(env), boxes: &fb.boxes}
	v, ok := p.fast.when(&fb.frame)
	if !ok {
		return false, false
	}
	switch b := v.(type) {
	case bool:
		return b, true
	case nil:
		return false, true
	}
	return false, false
}

// frameBoxes is a frame and its boxes in one allocation, for Match and
// Map.
type frameBoxes struct {
	frame frame
	boxes boxes
}

// emptyEnv stands in for a nil Env (only read).
var emptyEnv = Env{}

func envOrEmpty(env Env) Env {
	if env == nil {
		return emptyEnv
	}
	return env
}

// fastValues evaluates map: for an Env on the fast path: ok is false when
// the program has none or it bailed.
func (p *Program) fastValues(env Env) (values []any, ok bool) {
	fp := p.fast
	if fp == nil || p.mapProg == nil {
		return nil, false
	}
	defer func() {
		if recover() != nil { // a function failing oddly: let the VM say how
			values, ok = nil, false
		}
	}()
	fb := &frameBoxes{}
	f := &fb.frame
	*f = frame{env: envOrEmpty(env), boxes: &fb.boxes}
	fb.boxes.sizes = fp.envBoxSizes()
	defer func() { fp.keepEnvSizes(fb.boxes.counts) }()
	values = make([]any, len(p.leaves))
	for i, e := range fp.leaves {
		if e == nil {
			continue
		}
		v, ok := e(f)
		if !ok || badFloat(v) {
			return nil, false
		}
		values[i] = v
	}
	if fp.slowProg != nil {
		machine, _ := p.vms.Get().(*vm.VM)
		if machine == nil {
			machine = &vm.VM{}
		}
		ok := fp.runSlow(machine, f.mem, map[string]any(env), values)
		p.vms.Put(machine)
		if !ok {
			return nil, false
		}
	}
	return values, true
}

// runSlow evaluates the leaves the fast path leaves to the VM into values.
// mem is what the fast leaves counted against the memory budget, which one
// evaluation of map: shares.
func (fp *fastProg) runSlow(machine *vm.VM, mem uint, env map[string]any, values []any) (ok bool) {
	if mem >= MemoryBudget {
		return false
	}
	machine.MemoryBudget = MemoryBudget - mem
	out, err := machine.Run(fp.slowProg, env)
	if err != nil {
		return false
	}
	vals, _ := out.([]any)
	if len(vals) != len(fp.slowIdx) {
		return false
	}
	for j, i := range fp.slowIdx {
		if badFloat(vals[j]) {
			return false
		}
		values[i] = vals[j]
	}
	return true
}

// fastState is the scratch memory of one Apply on the fast path.
type fastState struct {
	dec   decoder
	arena arena
	slots []any
	vals  []any
	env   Env // the fields the VM parts read
	vm    vm.VM
	frame frame
}

// release clears the state for the next event, and reports whether it is
// small enough to keep.
func (st *fastState) release() bool {
	clear(st.slots)
	clear(st.vals)
	clear(st.env)
	clear(st.dec.stack)
	clear(st.dec.keys)
	st.dec.boxes.reuse()
	// Field by field, to keep the boxes without copying them.
	d := &st.dec
	d.s, d.i, d.depth, d.strict, d.arena = "", 0, 0, false, nil
	d.stack, d.keys = d.stack[:0], d.keys[:0]
	clear(st.vm.Stack[:cap(st.vm.Stack)])
	clear(st.vm.Variables)
	st.frame = frame{}
	keep := st.arena.reset()
	return keep && cap(st.dec.stack) <= 1024 && cap(st.dec.keys) <= 1024
}

// applyFast is Apply on the fast path; ok is false when it gave up and the
// event must be applied the ordinary way.
func (p *Program) applyFast(data []byte) (out []byte, matched, ok bool) {
	fp := p.fast
	st, _ := fp.states.Get().(*fastState)
	if st == nil {
		st = &fastState{slots: make([]any, fp.proj.nslots), vals: make([]any, len(p.leaves)), env: Env{}}
	}
	defer func() {
		if r := recover(); r != nil { // a function failing oddly: let the VM say how
			out, matched, ok = nil, false, false
		}
		if st.release() {
			fp.states.Put(st)
		}
	}()
	// Speed: the event is read in place, not copied into a string as
	// NewEnv does. Nothing decoded from it outlives this call: the output
	// is a copy, and release clears every reference to it and readies the
	// boxes for the next event.
	d := &st.dec
	d.s, d.arena = unsafe.String(unsafe.SliceData(data), len(data)), &st.arena // the rest is as release left it
	d.boxes.sizes = fp.boxSizes()
	defer func() { fp.keepSizes(d.boxes.counts) }()
	if d.project(fp.proj, st.slots) != nil {
		return nil, false, false
	}
	f := &st.frame
	*f = frame{slots: st.slots, boxes: &d.boxes}
	if len(fp.vmRoots) > 0 {
		for _, name := range fp.vmRoots {
			if v := st.slots[fp.proj.roots[fieldIndex(name)].slot]; v != nil {
				st.env[name] = v
			}
		}
	}
	switch {
	case fp.when != nil:
		v, ok := fp.when(f)
		if !ok {
			return nil, false, false
		}
		switch b := v.(type) {
		case bool:
			matched = b
		case nil:
		default:
			return nil, false, false
		}
	case fp.whenVM:
		st.vm.MemoryBudget = MemoryBudget
		v, err := st.vm.Run(p.whenProg, map[string]any(st.env))
		if err != nil {
			return nil, false, false
		}
		switch b := v.(type) {
		case bool:
			matched = b
		case nil:
		default:
			return nil, false, false
		}
	default:
		matched = p.whenLit == nil || *p.whenLit
	}
	if !matched {
		return nil, false, true
	}
	if !p.mapped {
		return data, true, true
	}
	vals := st.vals
	f.mem, f.steps = 0, 0
	for i, e := range fp.leaves {
		if e == nil {
			continue
		}
		v, ok := e(f)
		if !ok || badFloat(v) {
			return nil, false, false
		}
		vals[i] = v
	}
	if fp.slowProg != nil && !fp.runSlow(&st.vm, f.mem, map[string]any(st.env), vals) {
		return nil, false, false
	}
	// The output is written straight into the slice returned, made at the
	// size of the last one (with room to spare) so that it rarely grows.
	size := fp.outSize.Load()
	b, wrote, err := appendShape(make([]byte, 0, size+size/16+16), p.out, vals)
	if err != nil {
		return nil, false, false
	}
	if !wrote {
		b = append(b[:0], "{}"...)
	}
	if n := int32(min(len(b), 1<<20)); n != size {
		fp.outSize.Store(n)
	}
	return b, true, true
}
