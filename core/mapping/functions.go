package mapping

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/vm/runtime"
)

// The built-in functions are documented in doc.go (the package
// documentation) and FUNCTIONS.md; keep the three in step.

// fn is one function registered with the compiler: its implementation and
// the signatures the type checker accepts.
type fn struct {
	name string
	one  func(a any) (any, error)       // the function of one argument
	two  func(a, b any) (any, error)    // of two arguments
	many func(args ...any) (any, error) // of other counts; budgeted functions get the run state first
	// types are func values giving the accepted signatures.
	types []any
	// validate, when set, replaces types: it sees the argument types
	// (interface{} when unknown) and returns the result type.
	validate func(args []reflect.Type) (reflect.Type, error)
	charged  bool // takes the run state as a hidden first argument
}

var (
	anyType    = reflect.TypeFor[any]()
	stringType = reflect.TypeFor[string]()
	intType    = reflect.TypeFor[int]()
	timeType   = reflect.TypeFor[time.Time]()
)

// functions lists every function this package adds or replaces. Those
// expr-lang also defines keep its signatures and results, but give nil for
// a nil string; the charged ones count the bytes they build.
func functions() []fn {
	return []fn{
		{name: "unix", one: unixFn("unix", time.Time.Unix), validate: timeArg("unix", intType)},
		{name: "unixMilli", one: unixFn("unixMilli", time.Time.UnixMilli), validate: timeArg("unixMilli", intType)},
		{name: "parseTime", one: parseTime1, two: parseTime2, types: []any{new(func(string) time.Time), new(func(string, string) time.Time)}},
		{name: "lower", one: stringFn("lower", strings.ToLower), types: []any{new(func(string) string)}},
		{name: "upper", one: stringFn("upper", strings.ToUpper), types: []any{new(func(string) string)}},
		{name: "trim", one: trim1, two: trim2, types: []any{new(func(string) string), new(func(string, string) string)}},
		{name: "trimPrefix", two: string2Fn("trimPrefix", strings.TrimPrefix), types: []any{new(func(string, string) string)}},
		{name: "trimSuffix", two: string2Fn("trimSuffix", strings.TrimSuffix), types: []any{new(func(string, string) string)}},
		{name: "digits", one: digitsFn, types: []any{new(func(string) string)}},
		{name: "sha256", one: sha256Fn, types: []any{new(func(string) string)}},
		{name: "coalesce", many: coalesceFn, types: []any{new(func(...any) any)}},
		{name: "len", one: lenFn, validate: lenArgs},
		{name: "lookup", two: lookupFn, types: []any{new(func(any, string) any)}},
		{name: "pluck", two: pluckFn, types: []any{new(func(any, string) []any)}},
		{name: "contents", one: contentsFn, types: []any{new(func(any) []any)}},
		{name: "replace", many: replaceFn, types: []any{new(func(string, string, string) string)}, charged: true},
		{name: "repeat", many: repeatFn, types: []any{new(func(string, int) string)}, charged: true},
		{name: "join", many: joinFn, validate: joinArgs, charged: true},
		{name: "string", many: stringOfFn, types: []any{new(func(any) string)}, charged: true},
		{name: "toJSON", many: toJSONFn, types: []any{new(func(any) string)}, charged: true},
		{name: "toBase64", many: toBase64Fn, types: []any{new(func(string) string)}, charged: true},
		{name: "split", many: splitFn("split", strings.SplitN), types: []any{new(func(string, string) []string), new(func(string, string, int) []string)}, charged: true},
		{name: "splitAfter", many: splitFn("splitAfter", strings.SplitAfterN), types: []any{new(func(string, string) []string), new(func(string, string, int) []string)}, charged: true},
	}
}

// runName is the hidden variable holding an evaluation's run state. It
// starts with a NUL byte, which no expression can spell as an identifier;
// so do the names of the budgeted variants of functions.
const (
	internal = "\x00"
	runName  = internal + "run"
)

// registry builds the compiler's function table: the public functions and
// the budgeted variants the rewriter calls (public name prefixed with NUL,
// the run state as first argument).
func registry() map[string]*builtin.Function {
	out := map[string]*builtin.Function{}
	for _, f := range functions() {
		pub := &builtin.Function{Name: f.name, Validate: f.validate}
		for _, t := range f.types {
			pub.Types = append(pub.Types, reflect.TypeOf(t).Elem())
		}
		out[f.name] = pub
		if !f.charged {
			pub.Func = f.call
			continue
		}
		many := f.many
		// Called without a run state (the rewriter always adds one), the
		// function still works, within a budget of its own.
		pub.Func = func(args ...any) (any, error) {
			return many(append([]any{new(runState)}, args...)...)
		}
		hidden := &builtin.Function{Name: internal + f.name, Func: many}
		if f.validate != nil {
			v := f.validate
			hidden.Validate = func(args []reflect.Type) (reflect.Type, error) { return v(args[1:]) }
		}
		for _, t := range pub.Types {
			hidden.Types = append(hidden.Types, prepend(anyType, t))
		}
		out[hidden.Name] = hidden
	}
	return out
}

// call calls the function with args, whatever their number.
func (f fn) call(args ...any) (any, error) {
	switch {
	case len(args) == 1 && f.one != nil:
		return f.one(args[0])
	case len(args) == 2 && f.two != nil:
		return f.two(args[0], args[1])
	case f.many != nil:
		return f.many(args...)
	}
	return nil, fmt.Errorf("%s: wrong number of arguments (%d)", f.name, len(args))
}

// direct holds, for the functions of one or two arguments, forms that the
// VM calls without building an argument slice (func(any) any and
// func(any, any) any, failing by panicking with the error, which the VM
// turns back into an error). The rewriter calls them in place of the
// registered functions. Index 0 is unused.
var direct = func() map[string][3]any {
	m := map[string][3]any{}
	for _, f := range functions() {
		var d [3]any
		if one := f.one; one != nil {
			d[1] = func(a any) any { return must(one(a)) }
		}
		if two := f.two; two != nil {
			d[2] = func(a, b any) any { return must(two(a, b)) }
		}
		if d[1] != nil || d[2] != nil {
			m[f.name] = d
		}
	}
	return m
}()

// byName holds the functions of functions() by name.
var byName = func() map[string]fn {
	m := map[string]fn{}
	for _, f := range functions() {
		m[f.name] = f
	}
	return m
}()

// must returns v, or panics with err for the VM to report.
func must(v any, err error) any {
	if err != nil {
		panic(err)
	}
	return v
}

// prepend returns the function type t with an extra first parameter p.
func prepend(p, t reflect.Type) reflect.Type {
	in := []reflect.Type{p}
	for i := range t.NumIn() {
		in = append(in, t.In(i))
	}
	out := make([]reflect.Type, t.NumOut())
	for i := range out {
		out[i] = t.Out(i)
	}
	return reflect.FuncOf(in, out, t.IsVariadic())
}

// runState is the budget of one evaluation, shared by every budgeted
// function call in it through the hidden variable the rewriter declares.
type runState struct {
	steps int // loop iterations so far
	bytes int // string bytes built so far
}

// charge records n more string bytes and fails once the budget is spent.
func (r *runState) charge(n int) error {
	if n < 0 || n > MaxStringBytes-r.bytes {
		r.bytes = MaxStringBytes
		return fmt.Errorf("%w: expressions may build at most %d bytes of strings per event", ErrLimit, MaxStringBytes)
	}
	r.bytes += n
	return nil
}

// state is the run state passed as a budgeted function's first argument.
func state(v any) *runState {
	if r, ok := v.(*runState); ok && r != nil {
		return r
	}
	return new(runState)
}

// newRunState starts an evaluation's budget.
func newRunState() any { return new(runState) }

// tick counts one loop iteration.
func tick(run any) any {
	r := state(run)
	if r.steps++; r.steps > MaxSteps {
		panic(fmt.Errorf("%w: expressions may run at most %d loop iterations per event", ErrLimit, MaxSteps))
	}
	return nil
}

// charge counts the bytes of a string built by +.
func charge(run, v any) any {
	if s, ok := v.(string); ok {
		if err := state(run).charge(len(s)); err != nil {
			panic(err)
		}
	}
	return v
}

// fetchPath returns member access along a fixed path of keys (a.b.c is
// fetchPath("b", "c") applied to a), made safe for missing data: it gives
// nil when an object on the way is nil, a key is absent or an index is out
// of range, instead of failing.
func fetchPath(keys []any) func(obj any) any {
	if len(keys) == 1 {
		if k, ok := keys[0].(string); ok {
			return func(obj any) any {
				if m, ok := obj.(map[string]any); ok {
					return m[k]
				}
				return must(fetch1(obj, k))
			}
		}
	}
	return func(obj any) any {
		for _, k := range keys {
			if m, ok := obj.(map[string]any); ok {
				if s, ok := k.(string); ok {
					if obj = m[s]; obj == nil {
						return nil
					}
					continue
				}
			}
			if obj = must(fetch1(obj, k)); obj == nil {
				return nil
			}
		}
		return obj
	}
}

// fetch is member access with a key computed at run time, a[k], made safe
// like fetchPath.
func fetch(obj, key any) any { return must(fetch1(obj, key)) }

func fetch1(obj, key any) (any, error) {
	switch o := obj.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		switch k := key.(type) {
		case string:
			return o[k], nil
		case nil:
			return nil, nil
		}
		return nil, fmt.Errorf("cannot use %s as a key of an object", typeName(key))
	case []any:
		i, ok := index(key)
		if !ok {
			if key == nil {
				return nil, nil
			}
			return nil, fmt.Errorf("cannot use %s as an array index", typeName(key))
		}
		if i < 0 {
			i += len(o)
		}
		if i < 0 || i >= len(o) {
			return nil, nil
		}
		return o[i], nil
	case string, bool, int, float64, time.Time:
		if key == nil {
			return nil, nil
		}
		return nil, fmt.Errorf("cannot get %s from %s", describeKey(key), typeName(obj))
	}
	return slowFetch(obj, key)
}

// slowFetch is expr-lang's own member access, for values of other types
// (typed maps and slices from Go callers), with its panic turned into an
// error and missing map keys giving nil.
func slowFetch(obj, key any) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("%v", r)
		}
	}()
	v := reflect.ValueOf(obj)
	if v.Kind() == reflect.Map {
		k := reflect.ValueOf(key)
		if !k.IsValid() || !k.Type().AssignableTo(v.Type().Key()) {
			return nil, nil
		}
		if e := v.MapIndex(k); e.IsValid() {
			return e.Interface(), nil
		}
		return nil, nil
	}
	if v.Kind() == reflect.Slice || v.Kind() == reflect.Array {
		i, ok := index(key)
		if !ok {
			return nil, fmt.Errorf("cannot use %s as an array index", typeName(key))
		}
		if i < 0 {
			i += v.Len()
		}
		if i < 0 || i >= v.Len() {
			return nil, nil
		}
		return v.Index(i).Interface(), nil
	}
	return runtime.Fetch(obj, key), nil
}

// index reads an array index: an int, or a float64 with no fraction.
func index(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int(n), true
		}
	}
	return 0, false
}

func describeKey(k any) string {
	if s, ok := k.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(k)
}

// typeName names a runtime value's type for messages, in the words of the
// JSON it came from where possible.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "nil"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, float64, json.Number:
		return "a number"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case time.Time:
		return "a time"
	}
	return fmt.Sprintf("%T", v)
}

// text reads a string argument; numbers are read as their decimal text.
// ok is false for nil.
func text(name string, v any) (s string, ok bool, err error) {
	switch x := v.(type) {
	case nil:
		return "", false, nil
	case string:
		return x, true, nil
	case int:
		return strconv.Itoa(x), true, nil
	case int64:
		return strconv.FormatInt(x, 10), true, nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true, nil
	case json.Number:
		return string(x), true, nil
	}
	return "", false, fmt.Errorf("%s: want a string, got %s", name, typeName(v))
}

// str reads an argument that must be a string (or nil).
func str(name string, v any) (string, bool, error) {
	switch x := v.(type) {
	case nil:
		return "", false, nil
	case string:
		return x, true, nil
	}
	return "", false, fmt.Errorf("%s: want a string, got %s", name, typeName(v))
}

// timeArg validates the argument of unix and unixMilli at compile time: a
// time, a string, or something not known until run time.
func timeArg(name string, result reflect.Type) func([]reflect.Type) (reflect.Type, error) {
	return func(args []reflect.Type) (reflect.Type, error) {
		if len(args) != 1 {
			return nil, fmt.Errorf("%s takes 1 argument (a time or an RFC 3339 string), not %d", name, len(args))
		}
		switch t := args[0]; {
		case t == timeType, t.Kind() == reflect.String, t.Kind() == reflect.Interface:
			return result, nil
		default:
			return nil, fmt.Errorf("%s needs a time or an RFC 3339 string, not %s", name, t)
		}
	}
}

// toTime reads a time argument: a time.Time or a string parseTime accepts.
// ok is false for nil.
func toTime(name string, v any) (time.Time, bool, error) {
	switch x := v.(type) {
	case nil:
		return time.Time{}, false, nil
	case time.Time:
		return x, true, nil
	case string:
		t, err := parseTime(x)
		if err != nil {
			return time.Time{}, false, fmt.Errorf("%s: %w", name, err)
		}
		return t, true, nil
	}
	return time.Time{}, false, fmt.Errorf("%s: want a time or an RFC 3339 string, got %s", name, typeName(v))
}

func unixFn(name string, conv func(time.Time) int64) func(a any) (any, error) {
	return func(a any) (any, error) {
		t, ok, err := toTime(name, a)
		if !ok {
			return nil, err
		}
		return int(conv(t)), nil
	}
}

// timeLayouts are what parseTime tries without a layout, in order.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"}

// parseTime reads RFC 3339 (with or without fractional seconds), or a date
// and time without a zone, or a date, both taken as UTC.
func parseTime(s string) (time.Time, error) {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot read %s as a time (want RFC 3339, such as 2024-06-10T15:30:22Z)", quoteShort(s))
}

func parseTime1(a any) (any, error) {
	s, ok, err := str("parseTime", a)
	if !ok {
		return nil, err
	}
	t, err := parseTime(s)
	if err != nil {
		return nil, fmt.Errorf("parseTime: %w", err)
	}
	return t, nil
}

func parseTime2(a, b any) (any, error) {
	s, ok, err := str("parseTime", a)
	if !ok {
		return nil, err
	}
	layout, ok, err := str("parseTime", b)
	if !ok {
		if err == nil {
			err = fmt.Errorf("parseTime: the layout is nil")
		}
		return nil, err
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return nil, fmt.Errorf("parseTime: cannot read %s with layout %s", quoteShort(s), quoteShort(layout))
	}
	return t, nil
}

// quoteShort quotes s for a message, cut to a readable length.
func quoteShort(s string) string {
	const limit = 64
	if len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "..."
	}
	return strconv.Quote(s)
}

func stringFn(name string, f func(string) string) func(a any) (any, error) {
	return func(a any) (any, error) {
		s, ok, err := str(name, a)
		if !ok {
			return nil, err
		}
		return same(a, s, f(s)), nil
	}
}

// same returns the boxed argument arg (holding s) when out is s, so
// unchanged strings are not boxed again.
func same(arg any, s, out string) any {
	if len(out) == len(s) && out == s {
		return arg
	}
	return out
}

func string2Fn(name string, f func(string, string) string) func(a, b any) (any, error) {
	return func(a, b any) (any, error) {
		s, ok, err := str(name, a)
		if !ok {
			return nil, err
		}
		p, ok, err := str(name, b)
		if !ok {
			if err != nil {
				return nil, err
			}
			return a, nil
		}
		return same(a, s, f(s, p)), nil
	}
}

func trim1(a any) (any, error) {
	s, ok, err := str("trim", a)
	if !ok {
		return nil, err
	}
	return same(a, s, strings.TrimSpace(s)), nil
}

func trim2(a, b any) (any, error) {
	s, ok, err := str("trim", a)
	if !ok {
		return nil, err
	}
	cut, ok, err := str("trim", b)
	if !ok {
		if err != nil {
			return nil, err
		}
		return trim1(a)
	}
	return same(a, s, strings.Trim(s, cut)), nil
}

func digitsFn(a any) (any, error) {
	s, ok, err := text("digits", a)
	if !ok {
		return nil, err
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	if n == len(s) {
		if _, ok := a.(string); ok {
			return a, nil
		}
		return s, nil
	}
	b := make([]byte, 0, n)
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b = append(b, s[i])
		}
	}
	return string(b), nil
}

func sha256Fn(a any) (any, error) {
	s, ok, err := text("sha256", a)
	if !ok || s == "" {
		return nil, err
	}
	sum := sha256.Sum256([]byte(s))
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum[:])
	return string(out[:]), nil
}

func lenArgs(args []reflect.Type) (reflect.Type, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("len takes 1 argument, not %d", len(args))
	}
	switch args[0].Kind() {
	case reflect.String, reflect.Slice, reflect.Array, reflect.Map, reflect.Interface:
		return intType, nil
	}
	return nil, fmt.Errorf("len needs a string, an array or an object, not %s", args[0])
}

// lenFn is expr-lang's len (bytes of a string, items of an array or
// object) with len(nil) = 0.
func lenFn(a any) (any, error) {
	switch x := a.(type) {
	case nil:
		return 0, nil
	case string:
		return len(x), nil
	case []any:
		return len(x), nil
	case map[string]any:
		return len(x), nil
	}
	v := reflect.ValueOf(a)
	switch v.Kind() {
	case reflect.String, reflect.Slice, reflect.Array, reflect.Map:
		return v.Len(), nil
	}
	return nil, fmt.Errorf("len: want a string, an array or an object, got %s", typeName(a))
}

func coalesceFn(args ...any) (any, error) {
	for _, a := range args {
		switch x := a.(type) {
		case nil:
			continue
		case string:
			if x == "" {
				continue
			}
		}
		return a, nil
	}
	return nil, nil
}

// maxPathSegments bounds a lookup path.
const maxPathSegments = 64

func lookupFn(obj, p any) (any, error) {
	path, ok, err := str("lookup", p)
	if !ok {
		if err == nil {
			err = fmt.Errorf("lookup: the path is nil")
		}
		return nil, err
	}
	v := obj
	for n := 0; path != "" && v != nil; n++ {
		if n == maxPathSegments {
			return nil, fmt.Errorf("lookup: the path has more than %d parts", maxPathSegments)
		}
		seg, rest, _ := strings.Cut(path, ".")
		path = rest
		switch x := v.(type) {
		case map[string]any:
			v = x[seg]
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil {
				return nil, nil
			}
			if i < 0 {
				i += len(x)
			}
			if i < 0 || i >= len(x) {
				return nil, nil
			}
			v = x[i]
		default:
			return nil, nil
		}
	}
	return v, nil
}

// items reads an array argument; ok is false for nil.
func items(name string, v any) ([]any, bool, error) {
	switch x := v.(type) {
	case nil:
		return nil, false, nil
	case []any:
		return x, true, nil
	case []map[string]any:
		out := make([]any, len(x))
		for i, m := range x {
			out[i] = m
		}
		return out, true, nil
	}
	return nil, false, fmt.Errorf("%s: want an array, got %s", name, typeName(v))
}

func pluckFn(a, f any) (any, error) {
	list, ok, err := items("pluck", a)
	if !ok {
		return nil, err
	}
	field, ok, err := str("pluck", f)
	if !ok {
		if err == nil {
			err = fmt.Errorf("pluck: the field name is nil")
		}
		return nil, err
	}
	var out []any
	for _, it := range list {
		if m, ok := it.(map[string]any); ok {
			if v := m[field]; v != nil {
				if out == nil {
					out = make([]any, 0, len(list))
				}
				out = append(out, v)
			}
		}
	}
	if out == nil {
		return nil, nil
	}
	return out, nil
}

// contentsFn turns Segment products into Meta's contents: id from
// product_id, sku or id (as text), quantity (default 1) and item_price from
// price. Entries that are not objects, or have no id, are skipped; an empty
// result is nil.
func contentsFn(a any) (any, error) {
	list, ok, err := items("contents", a)
	if !ok {
		return nil, err
	}
	var out []any
	for _, it := range list {
		id, quantity, price, ok := contentsItem(it)
		if !ok {
			continue
		}
		c := make(map[string]any, 3)
		c["id"], c["quantity"] = id, quantity
		if price != nil {
			c["item_price"] = price
		}
		if out == nil {
			out = make([]any, 0, len(list))
		}
		out = append(out, c)
	}
	if out == nil {
		return nil, nil
	}
	return out, nil
}

// contentsItem reads one Segment product as contents takes it: id from
// product_id, sku or id (as text), quantity (default 1) and price (nil
// when absent). ok is false for an entry that is not an object or has no
// id.
func contentsItem(it any) (id, quantity, price any, ok bool) {
	p, ok := it.(map[string]any)
	if !ok {
		return nil, nil, nil, false
	}
	if id = firstOf(p, "product_id", "sku", "id"); id == nil {
		return nil, nil, nil, false
	}
	if _, isText := id.(string); !isText {
		if s, ok, _ := text("", id); ok {
			id = s
		}
	}
	if quantity = p["quantity"]; quantity == nil {
		quantity = 1
	}
	return id, quantity, p["price"], true
}

func firstOf(m map[string]any, keys ...string) any {
	for _, k := range keys {
		if v := m[k]; v != nil {
			if s, ok := v.(string); ok && s == "" {
				continue
			}
			return v
		}
	}
	return nil
}

func replaceFn(args ...any) (any, error) {
	s, ok, err := str("replace", args[1])
	if !ok {
		return nil, err
	}
	old, ok1, err := str("replace", args[2])
	if err != nil {
		return nil, err
	}
	repl, ok2, err := str("replace", args[3])
	if err != nil {
		return nil, err
	}
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("replace: the old and new strings must not be nil")
	}
	n := strings.Count(s, old)
	if size := len(s) + n*(len(repl)-len(old)); n > 0 && len(repl) > len(old) {
		if n > MaxStringBytes || size > MaxStringBytes {
			return nil, state(args[0]).charge(-1)
		}
		if err := state(args[0]).charge(size); err != nil {
			return nil, err
		}
	}
	return strings.ReplaceAll(s, old, repl), nil
}

func repeatFn(args ...any) (any, error) {
	s, ok, err := str("repeat", args[1])
	if !ok {
		return nil, err
	}
	n, ok := index(args[2])
	if !ok || n < 0 {
		return nil, fmt.Errorf("repeat: the count must be a whole number ≥ 0")
	}
	if n > 0 && len(s) > MaxStringBytes/n {
		return nil, state(args[0]).charge(-1)
	}
	if err := state(args[0]).charge(len(s) * n); err != nil {
		return nil, err
	}
	return strings.Repeat(s, n), nil
}

func joinArgs(args []reflect.Type) (reflect.Type, error) {
	if len(args) < 1 || len(args) > 2 {
		return nil, fmt.Errorf("join takes an array and an optional separator, not %d arguments", len(args))
	}
	switch args[0].Kind() {
	case reflect.Slice, reflect.Array, reflect.Interface:
	default:
		return nil, fmt.Errorf("join needs an array, not %s", args[0])
	}
	if len(args) == 2 && args[1].Kind() != reflect.String && args[1].Kind() != reflect.Interface {
		return nil, fmt.Errorf("join needs a string separator, not %s", args[1])
	}
	return stringType, nil
}

func joinFn(args ...any) (any, error) {
	sep := ""
	if len(args) == 3 {
		s, ok, err := str("join", args[2])
		if err != nil {
			return nil, err
		}
		if ok {
			sep = s
		}
	}
	var parts []string
	switch x := args[1].(type) {
	case nil:
		return nil, nil
	case []string:
		parts = x
	case []any:
		parts = make([]string, len(x))
		for i, v := range x {
			s, ok, err := text("join", v)
			if err != nil {
				return nil, err
			}
			if ok {
				parts[i] = s
			}
		}
	default:
		return nil, fmt.Errorf("join: want an array, got %s", typeName(args[1]))
	}
	size := 0
	for _, p := range parts {
		if size += len(p) + len(sep); size > MaxStringBytes {
			return nil, state(args[0]).charge(-1)
		}
	}
	if err := state(args[0]).charge(size); err != nil {
		return nil, err
	}
	return strings.Join(parts, sep), nil
}

func stringOfFn(args ...any) (any, error) {
	r := state(args[0])
	if err := r.charge(estimate(args[1], MaxStringBytes-r.bytes+1)); err != nil {
		return nil, err
	}
	return fmt.Sprintf("%v", args[1]), nil
}

func toJSONFn(args ...any) (any, error) {
	r := state(args[0])
	if err := r.charge(estimate(args[1], MaxStringBytes-r.bytes+1)); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(args[1], "", "  ")
	if err != nil {
		return nil, fmt.Errorf("toJSON: %w", err)
	}
	return string(b), nil
}

// splitFn is split or splitAfter; the parts are charged 16 bytes each (a
// string header) besides the text.
func splitFn(name string, f func(s, sep string, n int) []string) func(args ...any) (any, error) {
	return func(args ...any) (any, error) {
		s, ok, err := str(name, args[1])
		if !ok {
			return nil, err
		}
		sep, ok, err := str(name, args[2])
		if !ok {
			if err == nil {
				err = fmt.Errorf("%s: the separator is nil", name)
			}
			return nil, err
		}
		n := -1
		if len(args) == 4 {
			if n, ok = index(args[3]); !ok {
				return nil, fmt.Errorf("%s: the count must be a whole number", name)
			}
		}
		parts := strings.Count(s, sep) + 1
		if sep == "" {
			parts = utf8.RuneCountInString(s)
		}
		if n >= 0 {
			parts = min(parts, n)
		}
		if err := state(args[0]).charge(len(s) + 16*parts); err != nil {
			return nil, err
		}
		return f(s, sep, n), nil
	}
}

func toBase64Fn(args ...any) (any, error) {
	s, ok, err := str("toBase64", args[1])
	if !ok {
		return nil, err
	}
	if len(s) > MaxStringBytes {
		return nil, state(args[0]).charge(-1)
	}
	if err := state(args[0]).charge(base64.StdEncoding.EncodedLen(len(s))); err != nil {
		return nil, err
	}
	return base64.StdEncoding.EncodeToString([]byte(s)), nil
}

// estimate is an upper bound of the size of v printed with %v or as
// indented JSON, counting no further than limit: values may share parts,
// so their printed size can be far larger than the memory they use.
func estimate(v any, limit int) int {
	n := 0
	var walk func(v any, depth int)
	walk = func(v any, depth int) {
		if n > limit {
			return
		}
		n += 2 * depth // indentation
		switch x := v.(type) {
		case string:
			n += 6*len(x) + 2
		case []string:
			n += 2
			for _, e := range x {
				if n += 6*len(e) + 4 + 2*depth; n > limit {
					return
				}
			}
		case map[string]any:
			n += 2
			for k, e := range x {
				n += 6*len(k) + 4
				walk(e, depth+1)
				if n > limit {
					return
				}
			}
		case []any:
			n += 2
			for _, e := range x {
				n += 2
				walk(e, depth+1)
				if n > limit {
					return
				}
			}
		default:
			rv := reflect.ValueOf(v)
			switch rv.Kind() {
			case reflect.Slice, reflect.Array, reflect.Map, reflect.Struct, reflect.Pointer:
				// Other composite values: bounded by their memory, which
				// the VM's memory budget already counts.
				n += 64 * (1 + lenOf(rv))
			default:
				n += 40
			}
		}
	}
	walk(v, 0)
	return n
}

func lenOf(v reflect.Value) int {
	switch v.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map:
		return v.Len()
	}
	return 1
}
