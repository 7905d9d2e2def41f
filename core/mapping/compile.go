package mapping

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/checker"
	exprcompiler "github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/optimizer"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"

	"github.com/switchboard-cdp/switchboard/core/config"
)

// Limits on what one pipeline's expressions may cost. Compile enforces
// MaxExpressionBytes, MaxNodes and MaxOutputNodes; evaluating an event fails
// with an error wrapping ErrLimit when it reaches MemoryBudget, MaxSteps or
// MaxStringBytes.
const (
	// MaxExpressionBytes is the longest expression Compile accepts.
	MaxExpressionBytes = 16 << 10
	// MaxNodes is the most syntax-tree nodes one expression may have.
	MaxNodes = 2000
	// MaxOutputNodes is the most values (leaves, objects and arrays) one
	// map: may have, counting what YAML aliases expand to.
	MaxOutputNodes = 10000
	// MemoryBudget is expr-lang's VM memory budget for one evaluation of
	// a pipeline's when: or map:, counted in array and map elements
	// created (ranges such as 1..1000 included).
	MemoryBudget = 1 << 18
	// MaxSteps is the most loop iterations (map, filter, all, reduce, ...)
	// one evaluation may run, nested loops counting every inner iteration.
	MaxSteps = 1 << 18
	// MaxStringBytes is the most string bytes one evaluation may build
	// with +, replace, repeat, join, split, splitAfter, string, toJSON and
	// toBase64.
	MaxStringBytes = 1 << 20
)

// maxOutputDepth bounds the nesting of map:.
const maxOutputDepth = 32

// maxTotalBytes bounds the expressions of one pipeline together, counting
// what YAML aliases expand to.
const maxTotalBytes = 1 << 20

// The event environment expressions are type-checked against: Segment's
// field names with the Go types NewEnv gives them. A field missing from an
// event is nil whatever its type here.
var fieldTypes = map[string]any{
	"type": "", "event": "", "name": "", "category": "",
	"userId": "", "anonymousId": "", "groupId": "", "previousId": "", "messageId": "",
	"timestamp": time.Time{}, "originalTimestamp": time.Time{}, "sentAt": time.Time{}, "receivedAt": time.Time{},
	"properties": map[string]any{}, "traits": map[string]any{}, "context": map[string]any{}, "integrations": map[string]any{},
	"source": "",
}

// newConfig is the expr-lang configuration for one Compile: the typed event
// environment, the functions, the node limit. It holds caches, so it is
// not shared between calls.
func newConfig() *conf.Config {
	cfg := conf.CreateNew()
	cfg.WithEnv(fieldTypes)
	cfg.Strict = true
	cfg.MaxNodes = MaxNodes
	for name, f := range registry() {
		cfg.Functions[name] = f
	}
	return cfg
}

// Compile compiles a pipeline's when: and map: nodes, as kept by
// core/config. path is the pipeline's path in the file, such as
// "pipelines.web-to-meta"; problems are reported at FILE:LINE:COL of the
// expression inside the file with paths such as
// "pipelines.web-to-meta.map.user_data.em". Every problem is collected.
//
// when may be absent (a zero node) or null: every event matches. Otherwise it
// is a boolean expression, or the literal true or false.
//
// m may be absent or null: Map then returns the event's own fields and Apply
// the event unchanged. Otherwise it must be a mapping; see the package
// documentation for how its values are read.
func Compile(c *config.Config, path string, when, m *yaml.Node) (*Program, config.Problems) {
	if c == nil {
		c = &config.Config{}
	}
	k := &compiler{cfg: c, conf: newConfig()}
	p := &Program{}
	when, m = resolve(when), resolve(m)

	switch {
	case absent(when):
	case when.Kind == yaml.ScalarNode && when.ShortTag() == "!!bool":
		var b bool
		if err := when.Decode(&b); err != nil {
			k.problem(when, child(path, "when"), "not a valid boolean")
		}
		p.whenLit = &b
	case when.Kind == yaml.ScalarNode && isExpression(when):
		k.when = true
		if e, ok := k.expression(when, nil, child(path, "when"), "when"); ok {
			p.when = e
		}
	default:
		k.problem(when, child(path, "when"), "must be an expression that gives true or false, such as type == \"track\"")
	}

	switch {
	case absent(m):
	case m.Kind != yaml.MappingNode:
		k.problem(m, child(path, "map"), "must be a mapping of output fields to expressions")
	default:
		k.when = false
		p.out = k.shape(m, nil, child(path, "map"), "map", 0)
		p.mapped = true
	}

	if len(k.problems) > 0 {
		sort.SliceStable(k.problems, func(i, j int) bool {
			a, b := k.problems[i], k.problems[j]
			return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
		})
		return nil, k.problems
	}
	fb := &fastBuilder{}
	if p.when != nil {
		prog, err := k.link([]*leaf{p.when}, true, fb.when)
		if err != nil {
			k.problem(p.when.node, p.when.fullPath, "internal error: %v", err)
			return nil, k.problems
		}
		p.whenProg = prog
	}
	if len(k.leaves) > 0 {
		prog, err := k.link(k.leaves, false, fb.leaves)
		if err != nil {
			k.problem(m, child(path, "map"), "internal error: %v", err)
			return nil, k.problems
		}
		p.mapProg = prog
	}
	p.leaves = k.leaves
	p.fast = fb.finish(k, p)
	return p, nil
}

// compiler holds the state of one Compile.
type compiler struct {
	cfg      *config.Config
	conf     *conf.Config
	problems config.Problems
	leaves   []*leaf
	nodes    int  // output values visited, for MaxOutputNodes
	bytes    int  // expression bytes compiled, for maxTotalBytes
	when     bool // compiling when: (a boolean is expected)
}

// leaf is one compiled expression: its checked syntax tree, and where it
// came from.
type leaf struct {
	tree     *parser.Tree
	node     *yaml.Node
	fullPath string // pipelines.NAME.map.a.b
	path     string // map.a.b, for evaluation errors
	from, to int    // rune offsets of its source in the linked program
}

func (k *compiler) problem(n *yaml.Node, path, format string, args ...any) {
	k.problems = append(k.problems, k.cfg.Problem(n, path, format, args...))
}

// show is n's value for a message, or instead when the value came from the
// environment (it may be a secret) or is long.
func (k *compiler) show(n *yaml.Node, instead string) string {
	if k.cfg.FromEnv(n) || len(n.Value) > 64 {
		return instead
	}
	return n.Value
}

// resolve follows YAML aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func absent(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// isExpression reports whether a scalar is read as an expression: every
// string, quoted or not. Numbers, booleans and null written plainly are
// literals.
func isExpression(n *yaml.Node) bool {
	return n.ShortTag() == "!!str"
}

// child is the path of key under path, quoting keys that are not plain
// names the way core/config does: map["Order Id"].
func child(path, key string) string {
	if plainName(key) {
		if path == "" {
			return key
		}
		return path + "." + key
	}
	return path + "[" + strconv.Quote(key) + "]"
}

func plainName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// shape reads one value of map:. key is the mapping key it is the value
// of (nil for sequence items), for positions in block scalars.
func (k *compiler) shape(n, key *yaml.Node, full, rel string, depth int) *shape {
	orig := n
	n = resolve(n)
	if k.nodes++; k.nodes > MaxOutputNodes {
		if k.nodes == MaxOutputNodes+1 {
			k.problem(orig, full, "map: has more than %d values (counting what aliases expand to)", MaxOutputNodes)
		}
		return nil
	}
	if depth > maxOutputDepth {
		k.problem(orig, full, "nested more than %d levels deep", maxOutputDepth)
		return nil
	}
	if n == nil || n.Kind == yaml.AliasNode {
		k.problem(orig, full, "alias does not resolve")
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		s := &shape{kind: objectShape}
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn, vn := resolve(n.Content[i]), n.Content[i+1]
			if kn == nil || kn.Kind != yaml.ScalarNode || kn.ShortTag() == "!!merge" {
				k.problem(n.Content[i], full, "output field names must be plain strings (merge keys << are not supported)")
				continue
			}
			if f := k.shape(vn, kn, child(full, kn.Value), child(rel, kn.Value), depth+1); f != nil {
				s.keys = append(s.keys, kn.Value)
				name := string(append(appendString([]byte{','}, kn.Value), ':'))
				var padded paddedName
				copy(padded[:], name)
				s.names = append(s.names, name)
				s.padded = append(s.padded, padded)
				s.fields = append(s.fields, f)
			}
		}
		return s
	case yaml.SequenceNode:
		s := &shape{kind: arrayShape}
		for i, item := range n.Content {
			seg := "[" + strconv.Itoa(i) + "]"
			if f := k.shape(item, nil, full+seg, rel+seg, depth+1); f != nil {
				s.fields = append(s.fields, f)
			}
		}
		return s
	case yaml.ScalarNode:
		return k.scalar(n, key, full, rel)
	}
	k.problem(orig, full, "unsupported YAML value")
	return nil
}

// scalar reads a leaf of map:: a literal or an expression.
func (k *compiler) scalar(n, key *yaml.Node, full, rel string) *shape {
	switch tag := n.ShortTag(); tag {
	case "!!null":
		return &shape{kind: literalShape}
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			k.problem(n, full, "not a valid boolean")
			return nil
		}
		return literal(b)
	case "!!int":
		var v any
		if err := n.Decode(&v); err != nil {
			k.problem(n, full, "not a valid number")
			return nil
		}
		switch x := v.(type) {
		case int:
			return literal(x)
		case int64:
			return literal(int(x))
		case uint64:
			return literal(float64(x))
		case float64:
			return literal(x)
		}
		k.problem(n, full, "not a valid number")
		return nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			k.problem(n, full, "not a valid number")
			return nil
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			k.problem(n, full, "%s cannot be sent as JSON", k.show(n, "infinity or NaN"))
			return nil
		}
		return literal(f)
	case "!!str":
		l, ok := k.expression(n, key, full, rel)
		if !ok {
			return nil
		}
		k.leaves = append(k.leaves, l)
		if c, ok := l.tree.Node.(*ast.StringNode); ok {
			// A string constant, such as '"website"', is written as
			// a literal; the expression is still evaluated, as every
			// other, but its value is not needed.
			return literal(c.Value)
		}
		return &shape{kind: exprShape, leaf: len(k.leaves) - 1}
	case "!!timestamp":
		v := k.show(n, "2024-01-01")
		k.problem(n, full, "a plain date is read as arithmetic; write the text as an expression string, such as '\"%s\"', or parseTime(\"%s\")", v, v)
		return nil
	default:
		k.problem(n, full, "YAML tag %s is not supported here; write an expression", tag)
		return nil
	}
}

// literal is the shape of a literal value of map: other than null (a
// boolean, a finite number or a string), with its JSON, which Apply writes
// as it is.
func literal(v any) *shape {
	b, _ := appendJSON(nil, v, 0) // cannot fail for these values
	return &shape{kind: literalShape, value: v, json: string(b)}
}

// expression parses and type-checks one expression scalar.
func (k *compiler) expression(n, key *yaml.Node, full, rel string) (*leaf, bool) {
	src := n.Value
	switch {
	case strings.TrimSpace(src) == "":
		k.problem(n, full, "empty expression (leave the value out, or write null, to send nothing)")
		return nil, false
	case len(src) > MaxExpressionBytes:
		k.problem(n, full, "expression is longer than %d bytes", MaxExpressionBytes)
		return nil, false
	}
	if k.bytes += len(src); k.bytes > maxTotalBytes {
		if k.bytes-len(src) <= maxTotalBytes {
			k.problem(n, full, "the pipeline's expressions are longer than %d bytes together (counting what aliases expand to)", maxTotalBytes)
		}
		return nil, false
	}
	tree, t, err := k.check(src)
	if err == nil && k.when {
		if kind := t.Kind(); kind != reflect.Bool && kind != reflect.Interface {
			err = fmt.Errorf("must give true or false, not %s", typeWord(t))
		}
	}
	if err == nil && !k.when && t.Kind() == reflect.Func {
		err = fmt.Errorf("gives a function; call it, for example %s(...)", strings.TrimSpace(src))
	}
	if err != nil {
		k.exprProblem(n, key, full, src, err)
		return nil, false
	}
	return &leaf{tree: tree, node: n, fullPath: full, path: rel}, true
}

// check parses and type-checks src, turning any panic in expr-lang into an
// error.
func (k *compiler) check(src string) (tree *parser.Tree, t reflect.Type, err error) {
	defer func() {
		if r := recover(); r != nil {
			tree, t, err = nil, nil, fmt.Errorf("cannot compile this expression: %v", r)
		}
	}()
	tree, err = parser.ParseWithConfig(src, k.conf)
	if err != nil {
		return nil, nil, err
	}
	t, err = checker.Check(tree, k.conf)
	if err != nil {
		return nil, nil, err
	}
	return tree, t, nil
}

// typeWord names a checked type for messages.
func typeWord(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64, reflect.Float64:
		return "a number"
	case reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	if t == timeType {
		return "a time"
	}
	return t.String()
}

// exprProblem reports an expression's compile error at its position in the
// file.
func (k *compiler) exprProblem(n, key *yaml.Node, full, src string, err error) {
	line, col, msg := 1, 0, err.Error()
	var fe *file.Error
	if errors.As(err, &fe) {
		line, col, msg = fe.Line, fe.Column, fe.Message
		if line < 1 {
			line, col = 1, 0
		}
	}
	msg = cleanMessage(msg)
	if name, ok := strings.CutPrefix(msg, "unknown name "); ok {
		call := isCall(src, line, col, name)
		if call {
			msg = "unknown function " + name
		}
		switch s := suggest(name, k.names()); {
		case s != "":
			msg += " (did you mean " + s + "?)"
		case call:
			msg += " (the functions are listed in core/mapping/FUNCTIONS.md)"
		case !k.when:
			msg += " (the event's fields are " + strings.Join(fieldNames(), ", ") + `; write a constant string as '"text"')`
		}
	}
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle|yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) == 0 &&
		n.LineComment != "" && strings.Contains(msg, "EOF") {
		msg += ` (YAML reads " #" and what follows as a comment: if that was part of the expression, quote it)`
	}
	if k.cfg.FromEnv(n) {
		// The text came from the environment and may be secret.
		k.problem(n, full, "the expression from ${...} does not compile (its text is not shown)")
		return
	}
	l, c := k.position(n, key, src, line, col)
	k.problems = append(k.problems, config.Problem{File: k.cfg.File, Line: l, Col: c, Path: full, Message: msg})
}

// position maps a 1-based line and 0-based rune column inside the
// expression src, the value of scalar n, to a 1-based line and column in
// the file.
//
// Plain, single-quoted and double-quoted scalars on one line are exact
// (quotes and escapes are accounted for). A literal block scalar (|) is
// exact in lines; its columns assume the usual indentation, two spaces past
// its key (past the "- " of a list item). A folded block scalar (>) loses
// its line breaks in the value, so its errors are placed at the start of
// its text; so does a plain or quoted scalar folded over several lines,
// which cannot be told apart from one on a single line: its errors are
// placed as if the text were all on its first line.
func (k *compiler) position(n, key *yaml.Node, src string, line, col int) (int, int) {
	switch {
	case n.Style&yaml.LiteralStyle != 0:
		return n.Line + line, k.blockIndent(n, key) + 1 + col
	case n.Style&yaml.FoldedStyle != 0:
		return n.Line + 1, k.blockIndent(n, key) + 1
	case n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0:
		at := runeOffset(src, line, col)
		c := n.Column + 1 // past the opening quote
		i := 0
		for _, r := range src {
			if i == at {
				break
			}
			c += escapedWidth(r, n.Style&yaml.DoubleQuotedStyle != 0)
			i++
		}
		return n.Line, c
	default:
		if line > 1 {
			return n.Line, n.Column
		}
		return n.Line, n.Column + col
	}
}

// blockIndent guesses the 0-based column where a block scalar's lines
// start: two spaces past its key, or for a list item past the "- ".
func (k *compiler) blockIndent(n, key *yaml.Node) int {
	if key == nil && k.when {
		key = k.keyOf(n)
	}
	if key != nil && key.Line == n.Line {
		return key.Column - 1 + 2
	}
	// A list item: "- |" with the dash two columns before the indicator.
	return max(n.Column-1, 0)
}

// keyOf finds the key whose value is n among the pipelines' entries, for
// when: (Compile is given only its value).
func (k *compiler) keyOf(n *yaml.Node) *yaml.Node {
	for _, p := range k.cfg.Pipelines {
		c := p.Node.Content
		for i := 0; i+1 < len(c); i += 2 {
			if v := c[i+1]; v.Line == n.Line && v.Column == n.Column {
				return c[i]
			}
		}
	}
	return nil
}

// runeOffset converts a 1-based line and 0-based rune column in src into a
// rune offset.
func runeOffset(src string, line, col int) int {
	off, l := 0, 1
	for _, r := range src {
		if l == line {
			break
		}
		if r == '\n' {
			l++
		}
		off++
	}
	return off + col
}

// escapedWidth is how many characters r takes inside a quoted scalar: a
// single quote is written twice in single quotes; in double quotes, a
// double quote, a backslash and control characters are escaped.
func escapedWidth(r rune, double bool) int {
	if !double {
		if r == '\'' {
			return 2
		}
		return 1
	}
	switch {
	case r == '"' || r == '\\':
		return 2
	case r == '\n' || r == '\t' || r == '\r' || r == 0 || r == '\a' || r == '\b' || r == '\v' || r == '\f' || r == 0x1b:
		return 2
	case r < 0x20 || r == 0x7f:
		return 4 // \xNN
	}
	return 1
}

// link rewrites the checked expressions for safe evaluation (see
// rewrite.go), puts them in one program whose result is the array of their
// values, and compiles it.
//
// When fast is not nil it is given each expression's rewritten and checked
// tree, before expr-lang's optimizer changes it, with what the rewriter
// recorded of the calls it made.
func (k *compiler) link(leaves []*leaf, single bool, fast func(nodes []ast.Node, calls map[*ast.CallNode]made)) (prog *vm.Program, err error) {
	defer func() {
		if r := recover(); r != nil {
			prog, err = nil, fmt.Errorf("%v", r)
		}
	}()
	rw := &rewriter{}
	var src strings.Builder
	offset := 0
	nodes := make([]ast.Node, len(leaves))
	for i, l := range leaves {
		s := l.tree.Source.String()
		l.from = offset
		l.to = offset + utf8.RuneCountInString(s)
		rw.shift = offset
		node := l.tree.Node
		rw.walk(&node)
		nodes[i] = node
		src.WriteString(s)
		src.WriteByte('\n')
		offset = l.to + 1
	}
	outside := file.Location{From: offset, To: offset}
	var root ast.Node
	if single {
		root = nodes[0]
	} else {
		root = &ast.ArrayNode{Nodes: nodes}
		root.SetLocation(outside)
	}
	if rw.usesRun {
		call := &ast.CallNode{Callee: &ast.ConstantNode{Value: newRunState}}
		call.SetLocation(outside)
		call.Callee.SetLocation(outside)
		decl := &ast.VariableDeclaratorNode{Name: runName, Value: call, Expr: root}
		decl.SetLocation(outside)
		root = decl
	}
	tree := &parser.Tree{Node: root, Source: file.NewSource(src.String())}
	if _, err := checker.Check(tree, k.conf); err != nil {
		return nil, err
	}
	if fast != nil {
		top := tree.Node
		if decl, ok := top.(*ast.VariableDeclaratorNode); ok && rw.usesRun {
			top = decl.Expr
		}
		checked := []ast.Node{top}
		if !single {
			arr, ok := top.(*ast.ArrayNode)
			if !ok || len(arr.Nodes) != len(leaves) {
				return nil, errors.New("linked program has an unexpected shape")
			}
			checked = arr.Nodes
		}
		fast(checked, rw.calls)
	}
	if err := optimizer.Optimize(&tree.Node, k.conf); err != nil {
		return nil, err
	}
	prog, err = exprcompiler.Compile(tree, k.conf)
	if err != nil {
		return nil, err
	}
	loosen(prog)
	return prog, nil
}

// loosen replaces the equality opcodes that assume both sides have their
// checked type (int == int, string == string) with the general one: a field
// missing from the event is nil even where the environment declares a
// string, and event == "x" must then be false, not a failure.
func loosen(p *vm.Program) {
	for i, op := range p.Bytecode {
		if op == vm.OpEqualInt || op == vm.OpEqualString {
			p.Bytecode[i] = vm.OpEqual
		}
	}
}

// names are the identifiers an expression may use, for suggestions.
func (k *compiler) names() []string {
	names := fieldNames()
	for name := range k.conf.Functions {
		if !strings.HasPrefix(name, internal) {
			names = append(names, name)
		}
	}
	for name := range k.conf.Builtins {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// fieldNames lists the event's fields, sorted.
func fieldNames() []string {
	names := make([]string, 0, len(fieldTypes))
	for name := range fieldTypes {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// suggest returns the candidate closest to name when it is close enough to
// be a likely typo, or "".
func suggest(name string, candidates []string) string {
	return config.Suggest(name, candidates)
}

// isCall reports whether the identifier name at line and col of src is
// followed by an opening parenthesis.
func isCall(src string, line, col int, name string) bool {
	rest := []rune(src)
	off := runeOffset(src, line, col) + utf8.RuneCountInString(name)
	if off > len(rest) {
		return false
	}
	after := strings.TrimLeft(string(rest[off:]), " \t\r\n")
	return strings.HasPrefix(after, "(")
}
