package mapping

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// Program is a pipeline's compiled when: and map:. It is immutable and safe
// for concurrent use.
type Program struct {
	whenLit  *bool // when: true or false, written as a literal
	when     *leaf // when: as an expression
	whenProg *vm.Program
	mapped   bool   // map: is present
	out      *shape // what map: builds
	leaves   []*leaf
	mapProg  *vm.Program // evaluates every expression of map: into an array
	vms      sync.Pool   // *vm.VM
	arenas   sync.Pool   // *arena, for Apply
	bufs     sync.Pool   // *[]byte, for Apply
	fast     *fastProg   // the fast path (fast.go); nil if none
}

// shape is one value of map:: an object or array to build, a literal, or
// the result of one of the program's expressions.
type shape struct {
	kind   shapeKind
	keys   []string // objectShape: field names, in file order
	names  []string // objectShape: the names as JSON, with a comma before them and a colon after
	fields []*shape // objectShape: values; arrayShape: items
	value  any      // literalShape
	json   string   // literalShape: value as JSON; "" for null, which is left out
	leaf   int      // exprShape: index of its expression's value

	// objectShape: names, padded to be copied whole (see paddedName).
	padded []paddedName
}

// paddedName is a name of an object of map: as JSON (see shape.names)
// padded with zeros, unless it is longer. appendShape copies it whole, a
// value of fixed size, and then cuts the padding off: a few moves, where
// appending the name is a call of memmove for every field written.
type paddedName [32]byte

type shapeKind uint8

const (
	literalShape shapeKind = iota
	exprShape
	objectShape
	arrayShape
)

// Filters reports whether the program has a when: other than the literal
// true, so some events may not match.
func (p *Program) Filters() bool {
	return p.when != nil || p.whenLit != nil && !*p.whenLit
}

// Maps reports whether the program has a map:. Without one, Map returns the
// event's own fields and Apply returns the event unchanged.
func (p *Program) Maps() bool { return p.mapped }

// Match evaluates when: for the event. An absent when: matches every event.
// A when: that gives nil (a missing field, say) does not match; one that
// gives anything but true, false or nil is an error, as is a failure while
// evaluating it. Errors are *EvalError with Path "when".
func (p *Program) Match(env Env) (bool, error) {
	switch {
	case p.whenProg != nil:
	case p.whenLit != nil:
		return *p.whenLit, nil
	default:
		return true, nil
	}
	if matched, ok := p.fastMatch(env); ok {
		return matched, nil
	}
	v, err := p.run(p.whenProg, env, []*leaf{p.when})
	if err != nil {
		return false, err
	}
	switch b := v.(type) {
	case bool:
		return b, nil
	case nil:
		return false, nil
	}
	return false, &EvalError{Path: "when", Err: fmt.Errorf("gave %s, want true or false", typeName(v))}
}

// Map evaluates map: for the event and builds the output object. A leaf
// whose value is nil is left out, and so is an object or array of map:
// that ends up empty; the empty string, 0 and false are kept. Errors are
// *EvalError naming the leaf, such as "map.user_data.em".
func (p *Program) Map(env Env) (map[string]any, error) {
	if !p.mapped {
		out := make(map[string]any, len(env))
		for k, v := range env {
			if v != nil {
				out[k] = v
			}
		}
		return out, nil
	}
	values, ok := p.fastValues(env)
	if !ok {
		var err error
		if values, err = p.values(env); err != nil {
			return nil, err
		}
	}
	out, _ := build(p.out, values).(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	return out, nil
}

// values evaluates every expression of map: for the event.
func (p *Program) values(env Env) ([]any, error) {
	if p.mapProg == nil {
		return nil, nil
	}
	v, err := p.run(p.mapProg, env, p.leaves)
	if err != nil {
		return nil, err
	}
	values, _ := v.([]any)
	if len(values) != len(p.leaves) {
		return nil, &EvalError{Path: "map", Err: errors.New("internal error: wrong number of values")}
	}
	for i, v := range values {
		if err := jsonReady(v); err != nil {
			return nil, &EvalError{Path: p.leaves[i].path, Err: err}
		}
	}
	return values, nil
}

// Apply decodes a stored event, evaluates when: and, if it matches, map:,
// and returns the output as JSON. matched is false, with a nil out and
// error, when when: filters the event out. Without a map: the event is
// returned as it was given (data itself). Data that is not an event gives
// an error wrapping ErrEvent; evaluation errors are *EvalError.
//
// The JSON is what encoding/json makes of Map's result with HTML escaping
// off, except that the fields map: lists are written in the order it lists
// them (objects that come from the event or from expressions have their
// keys sorted). json.Number values are written verbatim. Apply reuses its
// scratch memory, so it is the fast way to map stored events.
func (p *Program) Apply(data []byte) (out []byte, matched bool, err error) {
	if p.fast != nil {
		if out, matched, ok := p.applyFast(data); ok {
			return out, matched, nil
		}
	}
	return p.applySlow(data)
}

// applySlow is Apply the ordinary way: decode the whole event, evaluate on
// the VM. It decides every event the fast path gives up on.
func (p *Program) applySlow(data []byte) (out []byte, matched bool, err error) {
	a, _ := p.arenas.Get().(*arena)
	if a == nil {
		a = &arena{env: make(Env, 16)}
	}
	defer func() {
		if a.reset() {
			p.arenas.Put(a)
		}
	}()
	env := a.env
	if err := decodeEnv(env, data, a); err != nil {
		return nil, false, err
	}
	if matched, err = p.Match(env); err != nil || !matched {
		return nil, false, err
	}
	if !p.mapped {
		return data, true, nil
	}
	values, err := p.values(env)
	if err != nil {
		return nil, true, err
	}
	buf, _ := p.bufs.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	b, wrote, err := appendShape((*buf)[:0], p.out, values)
	if err != nil {
		return nil, true, &EvalError{Path: "map", Err: err}
	}
	if !wrote {
		b = append(b[:0], "{}"...)
	}
	out = append([]byte(nil), b...)
	if cap(b) <= 64<<10 {
		*buf = b
		p.bufs.Put(buf)
	}
	return out, true, nil
}

// run evaluates a compiled program on a pooled VM and attributes an error
// to the expression it came from.
func (p *Program) run(prog *vm.Program, env Env, leaves []*leaf) (out any, err error) {
	machine, _ := p.vms.Get().(*vm.VM)
	if machine == nil {
		machine = &vm.VM{}
	}
	machine.MemoryBudget = MemoryBudget
	defer func() {
		if r := recover(); r != nil { // vm.Run recovers; this is belt and braces
			out, err = nil, &EvalError{Path: leaves[0].path, Err: fmt.Errorf("%v", r)}
		}
	}()
	out, err = machine.Run(prog, map[string]any(env))
	p.vms.Put(machine)
	if err != nil {
		return nil, evalError(err, leaves)
	}
	return out, nil
}

// evalError names the expression an evaluation error came from and cleans
// up its message.
func evalError(err error, leaves []*leaf) error {
	path := "map"
	if len(leaves) == 1 && leaves[0].path == "when" {
		path = "when"
	}
	var fe *file.Error
	msg := err.Error()
	if errors.As(err, &fe) {
		for _, l := range leaves {
			if fe.From >= l.from && fe.From < l.to {
				path = l.path
				break
			}
		}
		msg = fe.Message
	}
	var inner error = errors.New(runtimeMessage(cleanMessage(msg)))
	if errors.Is(err, ErrLimit) || strings.Contains(msg, "memory budget exceeded") {
		inner = fmt.Errorf("%w: %s", ErrLimit, strings.TrimPrefix(runtimeMessage(cleanMessage(msg)), ErrLimit.Error()+": "))
	}
	return &EvalError{Path: path, Err: inner}
}

// runtimeMessage rewords Go runtime panics that leak through expr-lang
// for people who write expressions.
func runtimeMessage(msg string) string {
	switch {
	case strings.HasPrefix(msg, "interface conversion: interface {} is nil, not bool"):
		return "a value is nil where true or false is needed (compare it, e.g. x == true, or give a default with ??)"
	case strings.HasPrefix(msg, "interface conversion: interface {} is nil, not "):
		return "a value is nil where " + strings.TrimPrefix(msg, "interface conversion: interface {} is nil, not ") + " is needed (give a default with ??)"
	case strings.HasPrefix(msg, "interface conversion: interface {} is "):
		rest := strings.TrimPrefix(msg, "interface conversion: interface {} is ")
		got, want, _ := strings.Cut(rest, ", not ")
		return "a value is " + got + " where " + want + " is needed"
	case strings.HasPrefix(msg, "cannot fetch ") && strings.HasSuffix(msg, " from <nil>"):
		return "cannot call " + strings.TrimSuffix(strings.TrimPrefix(msg, "cannot fetch "), " from <nil>") + " on nil (a missing value)"
	case msg == "memory budget exceeded":
		return fmt.Sprintf("memory budget exceeded: expressions may create at most %d array and map elements per event", MemoryBudget)
	}
	return msg
}

// jsonReady rejects the float values JSON cannot carry.
func jsonReady(v any) error {
	if badFloat(v) {
		return fmt.Errorf("the value %v cannot be sent as JSON", v)
	}
	return nil
}

// badFloat reports whether v is a float value JSON cannot carry. Unlike
// jsonReady it inlines, for the fast path's loops.
func badFloat(v any) bool {
	f, ok := v.(float64)
	return ok && (math.IsNaN(f) || math.IsInf(f, 0))
}

// build makes the value of s from the expressions' values, leaving out nil
// values and objects and arrays that end up empty (build then returns nil).
func build(s *shape, values []any) any {
	switch s.kind {
	case literalShape:
		return s.value
	case exprShape:
		return values[s.leaf]
	case objectShape:
		var m map[string]any
		for i, f := range s.fields {
			if v := build(f, values); v != nil {
				if m == nil {
					m = make(map[string]any, len(s.fields)-i)
				}
				m[s.keys[i]] = v
			}
		}
		if m == nil {
			return nil
		}
		return m
	case arrayShape:
		var a []any
		for _, f := range s.fields {
			if v := build(f, values); v != nil {
				if a == nil {
					a = make([]any, 0, len(s.fields))
				}
				a = append(a, v)
			}
		}
		if a == nil {
			return nil
		}
		return a
	}
	return nil
}
