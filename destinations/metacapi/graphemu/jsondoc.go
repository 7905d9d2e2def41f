package graphemu

import (
	"encoding/json"
	"sync/atomic"

	"github.com/switchboard-cdp/switchboard/internal/jsonenc"
)

// A request body is parsed once into a doc: a flat tree of jvals that point
// into the body's bytes, so an event's exact text (Event.Raw) is a slice of
// the body and nothing is re-scanned per field. The parser accepts exactly
// the documents encoding/json accepts (RFC 8259, invalid UTF-8 allowed in
// strings, nesting at most 10000 deep), and strings that hold an escape or a
// non-ASCII byte are decoded by encoding/json itself, so every value reads
// as json.Unmarshal would read it.

type jkind uint8

const (
	jAbsent jkind = iota // no such member
	jNull
	jFalse
	jTrue
	jNumber
	jString
	jObject
	jArray
)

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// jval is one JSON value of a doc.
type jval struct {
	kind jkind
	// esc: a string holding a backslash or a byte >= 0x80, which must be
	// decoded by encoding/json; otherwise its bytes are its value.
	esc bool
	// start, end delimit the value's text in doc.src (a string's quotes
	// included).
	start, end int
	// first, n: an object's or array's children are doc.kids[first:first+n];
	// an object's are key, value, key, value….
	first, n int
}

type doc struct {
	src   []byte
	kids  []jval
	stack []jval
	pos   int
	depth int
}

// docCache keeps one doc, and its grown arrays, from request to request.
// (A sync.Pool loses it at every other GC, which a large request's own
// garbage triggers often.) Concurrent requests that find it taken use
// their own.
type docCache struct{ p atomic.Pointer[doc] }

// maxCachedKids bounds the memory a cached doc keeps: about 40 MB.
const maxCachedKids = 1 << 20

func (c *docCache) get() *doc {
	if d := c.p.Swap(nil); d != nil {
		return d
	}
	return new(doc)
}

func (c *docCache) put(d *doc) {
	if d == nil || cap(d.kids) > maxCachedKids || cap(d.stack) > maxCachedKids {
		return
	}
	d.src = nil
	d.kids, d.stack = d.kids[:0], d.stack[:0]
	c.p.Store(d)
}

// parse parses src, which must hold one JSON value and nothing else but
// whitespace. ok is false where json.Unmarshal would report a syntax error.
func (d *doc) parse(src []byte) (v jval, ok bool) {
	d.src, d.pos, d.depth = src, 0, 0
	d.kids, d.stack = d.kids[:0], d.stack[:0]
	d.ws()
	if v, ok = d.value(); !ok {
		return jval{}, false
	}
	d.ws()
	if d.pos != len(d.src) {
		return jval{}, false
	}
	return v, true
}

func (d *doc) ws() { d.pos = jsonenc.SpaceEnd(jsonenc.Bytes(d.src), d.pos) }

func (d *doc) value() (jval, bool) {
	if d.pos >= len(d.src) {
		return jval{}, false
	}
	start := d.pos
	switch c := d.src[d.pos]; c {
	case '{':
		return d.object()
	case '[':
		return d.array()
	case '"':
		esc, ok := d.str()
		return jval{kind: jString, esc: esc, start: start, end: d.pos}, ok
	case 't':
		return d.lit("true", jTrue)
	case 'f':
		return d.lit("false", jFalse)
	case 'n':
		return d.lit("null", jNull)
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			ok := d.num()
			return jval{kind: jNumber, start: start, end: d.pos}, ok
		}
	}
	return jval{}, false
}

func (d *doc) lit(word string, k jkind) (jval, bool) {
	start := d.pos
	if len(d.src)-d.pos < len(word) || string(d.src[d.pos:d.pos+len(word)]) != word {
		return jval{}, false
	}
	d.pos += len(word)
	return jval{kind: k, start: start, end: d.pos}, true
}

// num scans the number at d.pos.
func (d *doc) num() bool {
	end, syn := jsonenc.NumberEnd(jsonenc.Bytes(d.src), d.pos)
	d.pos = end
	return syn == jsonenc.OK
}

// str scans the string at d.pos (its opening quote); esc: its value is not
// its bytes (escapes, or bytes >= 0x80, which decoding checks as UTF-8).
func (d *doc) str() (esc, ok bool) {
	end, form, syn := jsonenc.StringEnd(jsonenc.Bytes(d.src), d.pos)
	if syn != jsonenc.OK {
		return false, false
	}
	d.pos = end
	return form != 0, true
}

func (d *doc) object() (jval, bool) {
	start := d.pos
	d.pos++
	if d.depth++; d.depth > maxDepth {
		return jval{}, false
	}
	base := len(d.stack)
	d.ws()
	if d.pos < len(d.src) && d.src[d.pos] == '}' {
		d.pos++
		return d.close(jObject, start, base), true
	}
	for {
		if d.pos >= len(d.src) || d.src[d.pos] != '"' {
			return jval{}, false
		}
		ks := d.pos
		esc, ok := d.str()
		if !ok {
			return jval{}, false
		}
		d.stack = append(d.stack, jval{kind: jString, esc: esc, start: ks, end: d.pos})
		d.ws()
		if d.pos >= len(d.src) || d.src[d.pos] != ':' {
			return jval{}, false
		}
		d.pos++
		d.ws()
		v, ok := d.value()
		if !ok {
			return jval{}, false
		}
		d.stack = append(d.stack, v)
		var more bool
		if d.pos, more, ok = jsonenc.Next(jsonenc.Bytes(d.src), d.pos, '}'); !ok {
			return jval{}, false
		}
		if !more {
			return d.close(jObject, start, base), true
		}
		d.ws()
	}
}

func (d *doc) array() (jval, bool) {
	start := d.pos
	d.pos++
	if d.depth++; d.depth > maxDepth {
		return jval{}, false
	}
	base := len(d.stack)
	d.ws()
	if d.pos < len(d.src) && d.src[d.pos] == ']' {
		d.pos++
		return d.close(jArray, start, base), true
	}
	for {
		v, ok := d.value()
		if !ok {
			return jval{}, false
		}
		d.stack = append(d.stack, v)
		var more bool
		if d.pos, more, ok = jsonenc.Next(jsonenc.Bytes(d.src), d.pos, ']'); !ok {
			return jval{}, false
		}
		if !more {
			return d.close(jArray, start, base), true
		}
		d.ws()
	}
}

// close moves a container's children from the stack to kids, where they
// are contiguous.
func (d *doc) close(k jkind, start, base int) jval {
	d.depth--
	first := len(d.kids)
	d.kids = append(d.kids, d.stack[base:]...)
	n := len(d.stack) - base
	d.stack = d.stack[:base]
	return jval{kind: k, start: start, end: d.pos, first: first, n: n}
}

// raw is v's text.
func (d *doc) raw(v jval) []byte { return d.src[v.start:v.end:v.end] }

// children are an object's key, value pairs or an array's elements.
func (d *doc) children(v jval) []jval {
	if v.kind != jObject && v.kind != jArray {
		return nil
	}
	return d.kids[v.first : v.first+v.n]
}

// strBytes is string v's value. Decoded strings are new; plain ones are
// d.src's bytes and must not be kept.
func (d *doc) strBytes(v jval) []byte {
	if !v.esc {
		return d.src[v.start+1 : v.end-1]
	}
	return []byte(d.decode(v))
}

// text is string v's value.
func (d *doc) text(v jval) string {
	if !v.esc {
		return string(d.src[v.start+1 : v.end-1])
	}
	return d.decode(v)
}

func (d *doc) decode(v jval) string {
	var s string
	_ = json.Unmarshal(d.src[v.start:v.end], &s)
	return s
}

// emptyStr reports whether string v is "".
func emptyStr(v jval) bool { return v.end-v.start == 2 }

// scalar reads v as the validator's scalarString does: a string, a number
// (its text) or null (""), as json.Unmarshal into a string and then a
// json.Number would. Plain strings' bytes are d.src's.
func (d *doc) scalar(v jval) ([]byte, bool) {
	switch v.kind {
	case jString:
		return d.strBytes(v), true
	case jNull:
		return nil, true
	case jNumber:
		return d.raw(v), true
	}
	return nil, false
}

// stringList reads v as a string or a list of strings, as json.Unmarshal
// into a string, a json.Number, a []*string (nulls dropped) and then a
// []json.Number would, appending the values to out[:0].
func (d *doc) stringList(v jval, out [][]byte) ([][]byte, bool) {
	out = out[:0]
	switch v.kind {
	case jNull:
		return out, true
	case jString, jNumber:
		s, _ := d.scalar(v)
		return append(out, s), true
	case jArray:
	default:
		return nil, false
	}
	elems := d.children(v)
	strs := true
	for _, e := range elems {
		switch e.kind {
		case jString:
			out = append(out, d.strBytes(e))
		case jNull:
		default:
			strs = false
		}
		if !strs {
			break
		}
	}
	if strs {
		return out, true
	}
	// []json.Number: numbers, strings that are valid numbers, null as "".
	out = out[:0]
	for _, e := range elems {
		switch e.kind {
		case jNumber:
			out = append(out, d.raw(e))
		case jNull:
			out = append(out, nil)
		case jString:
			s := d.strBytes(e)
			if !jsonenc.ValidNumber(jsonenc.Bytes(s)) {
				return nil, false
			}
			out = append(out, s)
		default:
			return nil, false
		}
	}
	return out, true
}
