package metacapi

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/switchboard-cdp/switchboard/destinations/metacapi/normalize"
	"github.com/switchboard-cdp/switchboard/internal/jsonenc"
)

// Speed: prepare decodes and encodes every event, and encoding/json's
// reflection dominated its cost. These are a decoder and an encoder for
// the values prepare works with that give exactly what encoding/json gives
// (a json.Decoder with UseNumber, and json.Marshal): the decoder declines
// anything out of the ordinary (escapes, invalid UTF-8, deep nesting, data
// after the object), and the encoder any type it does not know, and those
// go to encoding/json.

// maxFastDepth bounds the nesting decodePayload follows.
const maxFastDepth = 512

type jsonDecoder struct {
	s string
	i int
	// skip checks values without building them (value returns nil), for
	// object.parse.
	skip bool
}

func (d *jsonDecoder) space() { d.i = jsonenc.SpaceEnd(d.s, d.i) }

func (d *jsonDecoder) value(depth int) (any, bool) {
	d.space()
	if d.i >= len(d.s) {
		return nil, false
	}
	switch c := d.s[d.i]; {
	case c == '{':
		return d.object(depth + 1)
	case c == '[':
		return d.array(depth + 1)
	case c == '"':
		s, ok := d.str()
		if !ok || d.skip {
			return nil, ok
		}
		return s, true
	case c == '-' || '0' <= c && c <= '9':
		n, ok := d.number()
		if !ok || d.skip {
			return nil, ok
		}
		return n, true
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	}
	return nil, false
}

func (d *jsonDecoder) literal(word string) bool {
	if !strings.HasPrefix(d.s[d.i:], word) {
		return false
	}
	d.i += len(word)
	return true
}

func (d *jsonDecoder) object(depth int) (any, bool) {
	if depth > maxFastDepth {
		return nil, false
	}
	d.i++ // {
	var m map[string]any
	if !d.skip {
		m = make(map[string]any)
	}
	d.space()
	if d.i < len(d.s) && d.s[d.i] == '}' {
		d.i++
		return m, true
	}
	for {
		d.space()
		if d.i >= len(d.s) || d.s[d.i] != '"' {
			return nil, false
		}
		k, ok := d.str()
		if !ok {
			return nil, false
		}
		d.space()
		if d.i >= len(d.s) || d.s[d.i] != ':' {
			return nil, false
		}
		d.i++
		v, ok := d.value(depth)
		if !ok {
			return nil, false
		}
		if m != nil {
			m[k] = v
		}
		if more, ok := d.next('}'); !ok {
			return nil, false
		} else if !more {
			return m, true
		}
	}
}

// next reads what follows an object member (closer '}') or an array
// element (closer ']'): more is true after a comma, false after closer; ok
// is false for anything else.
func (d *jsonDecoder) next(closer byte) (more, ok bool) {
	d.i, more, ok = jsonenc.Next(d.s, d.i, closer)
	return more, ok
}

func (d *jsonDecoder) array(depth int) (any, bool) {
	if depth > maxFastDepth {
		return nil, false
	}
	d.i++ // [
	var a []any
	if !d.skip {
		a = []any{}
	}
	d.space()
	if d.i < len(d.s) && d.s[d.i] == ']' {
		d.i++
		return a, true
	}
	for {
		v, ok := d.value(depth)
		if !ok {
			return nil, false
		}
		if !d.skip {
			a = append(a, v)
		}
		if more, ok := d.next(']'); !ok {
			return nil, false
		} else if !more {
			return a, true
		}
	}
}

// str reads a string made only of printable ASCII other than the escape
// character, and valid UTF-8; it declines others (escapes, control
// characters, invalid UTF-8), which encoding/json decodes.
func (d *jsonDecoder) str() (string, bool) {
	d.i++ // "
	start := d.i
	for i := start; ; {
		if i = jsonenc.SkipPlain(d.s, i); i >= len(d.s) {
			return "", false
		}
		switch c := d.s[i]; {
		case c == '"':
			d.i = i + 1
			return d.s[start:i], true
		case c == '\\' || c < 0x20:
			return "", false
		}
		r, size := utf8.DecodeRuneInString(d.s[i:])
		if r == utf8.RuneError && size == 1 {
			return "", false
		}
		i += size
	}
}

// number reads a JSON number as a json.Number of its text.
func (d *jsonDecoder) number() (json.Number, bool) {
	end, syn := jsonenc.NumberEnd(d.s, d.i)
	if syn != jsonenc.OK {
		return "", false
	}
	n := json.Number(d.s[d.i:end])
	d.i = end
	return n, true
}

// marshalJSON is json.Marshal(v) for the values prepare builds.
func marshalJSON(v any) ([]byte, error) {
	if b, ok := appendValue(make([]byte, 0, 1024), v, 0); ok {
		return b, nil
	}
	return json.Marshal(v)
}

// appendValue appends v as json.Marshal writes it; ok is false for values
// of other types, or that json.Marshal refuses.
func appendValue(b []byte, v any, depth int) ([]byte, bool) {
	b, err := marshalValues.Append(b, v, depth)
	return b, err == nil
}

// marshalValues writes values as json.Marshal does, HTML escaped.
var marshalValues = jsonenc.Values{HTML: true, MaxDepth: maxFastDepth}

// appendUserData appends a normalised user_data as marshalJSON writes its
// map: the JSON the Result writes itself, or else the map of it.
func appendUserData(b []byte, ud *normalize.Result) ([]byte, bool) {
	start := len(b)
	if b, ok := ud.AppendJSON(b, appendUserDataValue); ok {
		return b, true
	}
	return appendValue(b[:start], ud.Map(), 1)
}

// appendUserDataValue appends the value of an unhashed user_data key, two
// levels down in the body.
func appendUserDataValue(b []byte, v any) ([]byte, bool) { return appendValue(b, v, 2) }

// appendString appends s as a JSON string as json.Marshal does, escaping
// HTML characters too.
func appendString(b []byte, s string) []byte { return jsonenc.AppendString(b, s, true) }

// Speed: most of an event is only copied through to Meta, and decoding it
// into maps (an allocation per value) to encode it again, sorting keys,
// was a large part of prepare's cost. An object keeps each member as its
// JSON text, checked once by the decoder's rules, until prepare reads or
// replaces it, and appends the members it did not replace as they are,
// only made compact (appendCanonical). What it writes is what marshalJSON
// writes for the map decodePayload decodes (object_test.go checks this).

// object is a JSON object prepare reads and rewrites: its members sorted
// by key, one per key (the last, as encoding/json keeps). The members are
// in arr unless there were more than fit, then all are in big; an object
// never points into itself, so that it can stay on its user's stack.
type object struct {
	n   int
	arr [12]member
	big []member
	// src is the text o was read from, until o changes.
	src string
}

// memberKind says which field of a member holds its value.
type memberKind uint8

const (
	textMember     memberKind = iota // text is the value's JSON text
	stringMember                     // text is the value, a string
	intMember                        // n
	anyMember                        // val, a value as decodePayload makes them
	objectMember                     // nested.obj, given to appendJSON
	userDataMember                   // nested.ud, given to appendJSON
)

// member is one member of an object. Values prepare writes have fields of
// their own, so that they need not be boxed in an interface; an object
// member or a user_data member is a [nested] value given to appendJSON.
type member struct {
	key  string
	text string
	val  any
	n    int64
	kind memberKind
}

// nested holds the values of an object's objectMember and userDataMember
// members (one of each at most): an object cannot point to them without
// them all moving to the heap.
type nested struct {
	obj *object
	ud  *normalize.Result
}

// list returns o's members; it is o's own, good until o changes.
func (o *object) list() []member {
	if o.big != nil {
		return o.big
	}
	return o.arr[:o.n]
}

// add appends m to the members.
func (o *object) add(m member) {
	switch {
	case o.big == nil && o.n < len(o.arr):
		o.arr[o.n] = m
	default:
		if o.big == nil {
			o.big = make([]member, o.n, 2*len(o.arr))
			copy(o.big, o.arr[:])
		}
		o.big = append(o.big, m)
	}
	o.n++
}

// parse reads s into o, as decodePayload would decode it, but keeping the
// members' text; it reports false when s is not an object decodePayload
// accepts, and then o is unusable. The object values of the keys in sub
// are read into sub's objects in the same pass, rather than again from
// their text later. (Of a key given more than once, only the last member
// counts: member.object knows whether it was read.)
func (o *object) parse(s string, sub []subObject) bool {
	d := jsonDecoder{s: s, skip: true}
	d.space()
	if d.i >= len(s) || s[d.i] != '{' || !o.read(&d, 1, sub) {
		return false
	}
	d.space()
	return d.i == len(s)
}

// subObject names an object parse reads a member's object value into.
type subObject struct {
	key string
	o   *object
}

// read reads the object at d into o, its member values at the given depth
// (as jsonDecoder.value counts it), those of the keys in sub into sub's
// objects.
func (o *object) read(d *jsonDecoder, depth int, sub []subObject) bool {
	o.n, o.big, o.src = 0, nil, ""
	start := d.i
	ok := d.members(func(key string) bool {
		vstart := d.i
		var into *object
		if d.i < len(d.s) && d.s[d.i] == '{' {
			for _, n := range sub {
				if n.key == key {
					into = n.o
				}
			}
		}
		switch {
		case into != nil:
			if depth+1 > maxFastDepth || !into.read(d, depth+1, nil) {
				return false
			}
		default:
			if _, ok := d.value(depth); !ok {
				return false
			}
		}
		o.add(member{key: key, text: d.s[vstart:d.i]})
		return true
	})
	if !ok {
		return false
	}
	o.src = d.s[start:d.i]
	o.order()
	return true
}

// members reads the object at d, at its '{', as decodePayload would:
// member is called with each key in turn, d at the member's value, which
// member reads, reporting whether it could. members reports false when
// the object is not one decodePayload accepts.
func (d *jsonDecoder) members(member func(key string) bool) bool {
	d.i++ // {
	d.space()
	if d.i < len(d.s) && d.s[d.i] == '}' {
		d.i++
		return true
	}
	for {
		d.space()
		if d.i >= len(d.s) || d.s[d.i] != '"' {
			return false
		}
		k, ok := d.str()
		if !ok {
			return false
		}
		d.space()
		if d.i >= len(d.s) || d.s[d.i] != ':' {
			return false
		}
		d.i++
		d.space()
		if !member(k) {
			return false
		}
		if more, ok := d.next('}'); !ok {
			return false
		} else if !more {
			return true
		}
	}
}

// fromMap makes o the object of m's members, values as they are.
func (o *object) fromMap(m map[string]any) {
	o.n, o.big, o.src = 0, nil, ""
	for k, v := range m {
		o.add(member{key: k, val: v, kind: anyMember})
	}
	o.order()
}

// maxInsertionSort is the most members order sorts by insertion (a
// quadratic number of moves, so not for a client's object of thousands).
const maxInsertionSort = 24

// order sorts the members by key and keeps the last of each key.
func (o *object) order() {
	members := o.list()
	sorted := true
	for i := 1; i < len(members) && sorted; i++ {
		sorted = members[i-1].key < members[i].key // equal keys are not: one must go
	}
	if sorted {
		return
	}
	if len(members) <= maxInsertionSort {
		// A stable insertion sort that reads the keys in place:
		// slices.SortStableFunc, which sorts this few the same way,
		// passes both 64-byte members to its comparison by value.
		for i := 1; i < len(members); i++ {
			for j := i; j > 0 && members[j].key < members[j-1].key; j-- {
				members[j], members[j-1] = members[j-1], members[j]
			}
		}
	} else {
		slices.SortStableFunc(members, func(a, b member) int { return strings.Compare(a.key, b.key) })
	}
	w := 0
	for i := range members {
		if w > 0 && members[w-1].key == members[i].key {
			members[w-1] = members[i]
			continue
		}
		members[w] = members[i]
		w++
	}
	clear(members[w:])
	o.n = w
	if o.big != nil {
		o.big = o.big[:w]
	}
}

// find returns the index of key's member, or where it would go and false.
// An event has a dozen members or so: a loop comparing for equality (most
// keys differ in length) beats a binary search.
func (o *object) find(key string) (int, bool) {
	members := o.list()
	for i := range members {
		if members[i].key == key {
			return i, true
		}
	}
	for i := range members {
		if members[i].key > key {
			return i, false
		}
	}
	return len(members), false
}

// get returns key's member, or nil.
func (o *object) get(key string) *member {
	if i, ok := o.find(key); ok {
		return &o.list()[i]
	}
	return nil
}

// value returns the value of key as decodePayload decodes it, or nil.
func (o *object) value(key string) any { return o.get(key).value() }

// str returns the value of key when it is a string, without boxing it.
func (o *object) str(key string) (string, bool) { return o.get(key).str() }

// str returns m's value when it is a string, without boxing it.
func (m *member) str() (string, bool) {
	switch {
	case m == nil:
	case m.kind == textMember:
		// Checked by parse: a string's text holds no escapes.
		if len(m.text) >= 2 && m.text[0] == '"' {
			return m.text[1 : len(m.text)-1], true
		}
	case m.kind == stringMember:
		return m.text, true
	case m.kind == anyMember:
		s, ok := m.val.(string)
		return s, ok
	}
	return "", false
}

// set replaces the member of m.key, or adds it in its place.
func (o *object) set(m member) {
	o.src = ""
	i, ok := o.find(m.key)
	if !ok {
		o.add(member{})
		members := o.list()
		copy(members[i+1:], members[i:])
	}
	o.list()[i] = m
}

// value returns m's value as decodePayload decodes it; nil for a nil m
// and for the values only prepare writes (objects, user data).
func (m *member) value() any {
	if m == nil {
		return nil
	}
	switch m.kind {
	case textMember:
		return decodeText(m.text)
	case stringMember:
		return m.text
	case intMember:
		return m.n
	case anyMember:
		return m.val
	}
	return nil
}

// number returns m's value when it is a JSON number, without boxing it.
func (m *member) number() (json.Number, bool) {
	switch {
	case m == nil:
	case m.kind == textMember:
		if c := m.text[0]; c == '-' || '0' <= c && c <= '9' {
			return json.Number(m.text), true
		}
	case m.kind == anyMember:
		n, ok := m.val.(json.Number)
		return n, ok
	}
	return "", false
}

// normalizeMembers appends o's members to dst as normalize reads them: a
// string as itself, not boxed in an interface, any other value decoded.
func (o *object) normalizeMembers(dst []normalize.Member) []normalize.Member {
	members := o.list()
	for i := range members {
		m := &members[i]
		if s, ok := m.str(); ok {
			dst = append(dst, normalize.Member{Key: m.key, Str: s, IsString: true})
		} else {
			dst = append(dst, normalize.Member{Key: m.key, Value: m.value()})
		}
	}
	return dst
}

// decodeText decodes s, JSON text parse accepted.
func decodeText(s string) any {
	d := jsonDecoder{s: s}
	v, _ := d.value(0)
	return v
}

// object reads m into o when it is an object.
func (m *member) object(o *object) bool {
	switch {
	case m == nil:
		return false
	case m.kind == textMember:
		if o.src == m.text {
			return true // parse read it already
		}
		return len(m.text) > 0 && m.text[0] == '{' && o.parse(m.text, nil)
	case m.kind == anyMember:
		v, ok := m.val.(map[string]any)
		if ok {
			o.fromMap(v)
		}
		return ok
	}
	return false
}

// appendJSON appends o as marshalJSON writes o.toMap(sub) at the given depth;
// ok is false when marshalJSON would go to encoding/json.
func (o *object) appendJSON(b []byte, depth int, sub nested) (_ []byte, ok bool) {
	if depth > maxFastDepth {
		return b, false
	}
	b = append(b, '{')
	members := o.list()
	for i := range members {
		m := &members[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, m.key)
		b = append(b, ':')
		// A string is written from its value, whatever its kind: the
		// text of one holds no escapes to decode (parse checked it).
		switch s, isString := m.str(); {
		case isString:
			b, ok = appendString(b, s), true
		case m.kind == textMember:
			start := len(b)
			d := jsonDecoder{s: m.text, skip: true}
			if b, ok = d.appendCanonical(b); !ok {
				b, ok = appendValue(b[:start], m.value(), depth+1)
			}
		case m.kind == intMember:
			b, ok = strconv.AppendInt(b, m.n, 10), true
		case m.kind == anyMember:
			b, ok = appendValue(b, m.val, depth+1)
		case m.kind == objectMember:
			b, ok = sub.obj.appendJSON(b, depth+1, nested{})
		case m.kind == userDataMember:
			b, ok = appendUserData(b, sub.ud)
		}
		if !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

// toMap returns o as a map, for encoding/json.
func (o *object) toMap(sub nested) map[string]any {
	members := o.list()
	out := make(map[string]any, len(members))
	for i := range members {
		m := &members[i]
		switch m.kind {
		case objectMember:
			out[m.key] = sub.obj.toMap(nested{})
		case userDataMember:
			out[m.key] = sub.ud.Map()
		default:
			out[m.key] = m.value()
		}
	}
	return out
}

// bodyBufs holds the buffers encode writes in before it copies the body
// out at its size: a body's size is not known before, and a buffer large
// enough for most cost more than the copy.
var bodyBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBody bounds the buffers kept in bodyBufs.
const maxPooledBody = 64 << 10

// encode is json.Marshal(o.toMap(sub)).
func (o *object) encode(sub nested) ([]byte, error) {
	buf := bodyBufs.Get().(*[]byte)
	b, ok := o.appendJSON((*buf)[:0], 0, sub)
	if ok {
		body := bytes.Clone(b)
		if cap(b) <= maxPooledBody {
			*buf = b
			bodyBufs.Put(buf)
		}
		return body, nil
	}
	return marshalJSON(o.toMap(sub))
}

// appendCanonical appends the value at d, text parse accepted, as
// appendValue writes its decoded value: compact, with strings escaped as
// json.Marshal escapes them. ok is false for an object whose keys are not
// in increasing order, which needs sorting (or a duplicate dropped): the
// caller decodes such a value instead.
func (d *jsonDecoder) appendCanonical(b []byte) (_ []byte, ok bool) {
	d.space()
	if d.i >= len(d.s) {
		return b, false
	}
	switch c := d.s[d.i]; c {
	case '{', '[':
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		d.i++
		b = append(b, c)
		prev := ""
		for n := 0; ; n++ {
			d.space()
			if d.i < len(d.s) && d.s[d.i] == end {
				d.i++
				return append(b, end), true
			}
			if n > 0 {
				if d.i >= len(d.s) || d.s[d.i] != ',' {
					return b, false
				}
				d.i++
				b = append(b, ',')
				d.space()
			}
			if c == '{' {
				if d.i >= len(d.s) || d.s[d.i] != '"' {
					return b, false
				}
				k, ok := d.str()
				if !ok || n > 0 && k <= prev {
					return b, false
				}
				prev = k
				b = append(appendString(b, k), ':')
				d.space()
				if d.i >= len(d.s) || d.s[d.i] != ':' {
					return b, false
				}
				d.i++
			}
			if b, ok = d.appendCanonical(b); !ok {
				return b, false
			}
		}
	case '"':
		s, ok := d.str()
		return appendString(b, s), ok
	}
	start := d.i
	if _, ok := d.value(0); !ok {
		return b, false
	}
	return append(b, d.s[start:d.i]...), true
}
