package config

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Defaults for fields a file may leave out.
const (
	defaultReadTimeout    = 30 * time.Second
	defaultWriteTimeout   = 30 * time.Second
	defaultIdleTimeout    = 120 * time.Second
	defaultMaxHeaderBytes = 64 << 10
	defaultShutdownGrace  = 25 * time.Second
	defaultQueueTimeout   = 5 * time.Second
	defaultDedupeWindow   = 30 * time.Second
	defaultRetention      = 168 * time.Hour
)

// maxDecodeDepth guards the decoder against runaway recursion; the Config
// types are a few levels deep.
const maxDecodeDepth = 32

var (
	nodeType     = reflect.TypeFor[yaml.Node]()
	durationType = reflect.TypeFor[time.Duration]()
	// validName is what source, destination and pipeline names (and the
	// stream name) must match: they become NATS subject tokens and consumer
	// names.
	validName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
)

func reflectValue(c *Config) reflect.Value { return reflect.ValueOf(c).Elem() }

// decode walks n against v's type, the way yaml.v3 would with KnownFields,
// but keeps going after a problem and gives every problem a position:
// structs take mappings and know their yaml-tagged fields, maps and slices
// recurse, yaml.Node fields keep the node as it is, and leaf values are
// decoded by yaml.v3 itself. A null value leaves the field (and its default)
// alone.
func (p *parser) decode(n *yaml.Node, v reflect.Value, path string, depth int) {
	if depth > maxDecodeDepth {
		p.fail(n, path, "nested too deeply")
		return
	}
	// Aliases can make the decoder visit a node many times; a budget linear
	// in the file's size keeps a small file from doing huge work.
	if p.budget--; p.budget < 0 {
		if p.budget == -1 {
			p.fail(n, path, "too many aliases: the file expands to far more values than it contains")
		}
		return
	}
	if v.Type() == nodeType {
		v.Set(reflect.ValueOf(*n))
		return
	}
	orig := n
	n = resolve(n)
	if n == nil || n.Kind == yaml.AliasNode {
		p.fail(orig, path, "alias does not resolve")
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		if v.Kind() == reflect.Struct {
			p.setNode(v, orig)
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		p.decodeStruct(orig, n, v, path, depth)
		return
	case reflect.Map:
		p.decodeMap(orig, n, v, path, depth)
		return
	case reflect.Slice:
		p.decodeSlice(orig, n, v, path, depth)
		return
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		p.decode(orig, v.Elem(), path, depth+1)
		return
	}
	p.decodeLeaf(orig, n, v, path)
}

// setNode fills a struct's `Node yaml.Node` field (tagged yaml:"-") with
// the node of the whole entry, for positions.
func (p *parser) setNode(v reflect.Value, n *yaml.Node) {
	if f, ok := v.Type().FieldByName("Node"); ok && f.Type == nodeType && f.Tag.Get("yaml") == "-" {
		v.FieldByIndex(f.Index).Set(reflect.ValueOf(*n))
	}
}

// fields maps the yaml names of t's fields to their indexes.
func fields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = i
	}
	return m
}

func (p *parser) decodeStruct(orig, n *yaml.Node, v reflect.Value, path string, depth int) {
	p.setNode(v, orig)
	if n.Kind != yaml.MappingNode {
		p.fail(orig, path, "must be a mapping, not %s", kindName(n))
		return
	}
	known := fields(v.Type())
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if !p.scalarKey(k, path) {
			continue
		}
		fpath := child(path, k.Value)
		idx, ok := known[k.Value]
		if !ok {
			msg := "unknown field"
			if s := Suggest(k.Value, keysOf(known)); s != "" {
				msg += " (did you mean " + s + "?)"
			}
			p.fail(k, fpath, "%s", msg)
			continue
		}
		p.keys[fpath] = k
		p.vals[fpath] = val
		p.decode(val, v.Field(idx), fpath, depth+1)
	}
}

func (p *parser) decodeMap(orig, n *yaml.Node, v reflect.Value, path string, depth int) {
	if n.Kind != yaml.MappingNode {
		p.fail(orig, path, "must be a mapping, not %s", kindName(n))
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		p.decodeLeaf(orig, n, v, path)
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if !p.scalarKey(k, path) {
			continue
		}
		epath := child(path, k.Value)
		p.keys[epath] = k
		p.vals[epath] = val
		elem := reflect.New(v.Type().Elem()).Elem()
		p.decode(val, elem, epath, depth+1)
		v.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), elem)
	}
}

// scalarKey reports whether k can name a field or entry, and reports why
// not otherwise.
func (p *parser) scalarKey(k *yaml.Node, path string) bool {
	switch {
	case isMerge(k):
		p.fail(k, path, "merge keys (<<) are not supported here")
		return false
	case resolve(k) == nil || resolve(k).Kind != yaml.ScalarNode:
		p.fail(k, path, "keys must be plain names, not %s", kindName(resolve(k)))
		return false
	}
	return true
}

func (p *parser) decodeSlice(orig, n *yaml.Node, v reflect.Value, path string, depth int) {
	if n.Kind != yaml.SequenceNode {
		p.fail(orig, path, "must be a list, not %s", kindName(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		ipath := path + indexSegment(i)
		p.vals[ipath] = item
		p.decode(item, s.Index(i), ipath, depth+1)
	}
	v.Set(s)
}

// decodeLeaf decodes a scalar n (orig, if that is an alias to it) with
// yaml.v3 and replaces its type errors, which quote the value, with messages
// that do not.
func (p *parser) decodeLeaf(orig, n *yaml.Node, v reflect.Value, path string) {
	want := describe(v.Type())
	if n.Kind != yaml.ScalarNode {
		p.fail(orig, path, "must be %s, not %s", want, kindName(n))
		return
	}
	if isInt(v.Kind()) && n.ShortTag() == "!!float" {
		// yaml.v3 would truncate 1.5 to 1.
		p.fail(orig, path, "must be %s", want)
		return
	}
	tmp := reflect.New(v.Type())
	tmp.Elem().Set(v)
	if err := safeNodeDecode(n, tmp.Interface()); err != nil {
		p.fail(orig, path, "must be %s", want)
		return
	}
	v.Set(tmp.Elem())
}

// safeNodeDecode is n.Decode that cannot panic.
func safeNodeDecode(n *yaml.Node, out any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: decode panicked")
		}
	}()
	return n.Decode(out)
}

func isInt(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// describe names what a field of type t accepts, for messages.
func describe(t reflect.Type) string {
	if t == durationType {
		return "a duration such as 30s, 10m or 168h"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return "a " + t.String()
}

// kindName names a node's kind for messages, without its value.
func kindName(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a single value"
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

// child is the path of key under path. Names that are not plain tokens are
// quoted, so paths stay unambiguous: sources["we b"].type.
func child(path, key string) string {
	if validName.MatchString(key) {
		if path == "" {
			return key
		}
		return path + "." + key
	}
	return path + "[" + strconv.Quote(key) + "]"
}

// keySegment is child's segment for a key node, as prepare builds paths.
func keySegment(k *yaml.Node) string {
	if k.Kind != yaml.ScalarNode {
		return "[?]"
	}
	if validName.MatchString(k.Value) {
		return "." + k.Value
	}
	return "[" + strconv.Quote(k.Value) + "]"
}

func indexSegment(i int) string { return "[" + strconv.Itoa(i) + "]" }

func keysOf(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Suggest returns the candidate closest to name, if one is close enough to
// be a likely typo (ignoring case, '_' and '-'), or "". Later stages use it
// for their own "did you mean" hints.
func Suggest(name string, candidates []string) string {
	if len(name) > 64 {
		return ""
	}
	norm := func(s string) string {
		return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s))
	}
	best, bestDist := "", 0
	for _, c := range candidates {
		d := distance(norm(name), norm(c))
		limit := max(1, min(len(name), len(c))/3)
		if d <= limit && (best == "" || d < bestDist) {
			best, bestDist = c, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
