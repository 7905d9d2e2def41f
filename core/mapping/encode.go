package mapping

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// maxEncodeDepth bounds the nesting appendJSON follows.
const maxEncodeDepth = 1000

// appendShape appends the JSON of s built from the expressions' values, as
// build would make it, without building the maps: fields in the order
// map: lists them, nil values and empty objects and arrays left out. It
// reports whether it wrote anything (false: s is empty and nothing was
// appended).
func appendShape(b []byte, s *shape, values []any) ([]byte, bool, error) {
	switch s.kind {
	case literalShape:
		if s.value == nil {
			return b, false, nil
		}
		out, err := appendJSON(b, s.value, 0)
		return out, err == nil, err
	case exprShape:
		v := values[s.leaf]
		if v == nil {
			return b, false, nil
		}
		out, err := appendJSON(b, v, 0)
		return out, err == nil, err
	case objectShape, arrayShape:
		start := len(b)
		open, close := byte('{'), byte('}')
		if s.kind == arrayShape {
			open, close = '[', ']'
		}
		b = append(b, open)
		wrote := false
		for i, f := range s.fields {
			mark := len(b)
			if wrote {
				b = append(b, ',')
			}
			if s.kind == objectShape {
				b = append(b, s.names[i]...)
			}
			var ok bool
			var err error
			if b, ok, err = appendShape(b, f, values); err != nil {
				return b, false, err
			}
			if !ok {
				b = b[:mark]
				continue
			}
			wrote = true
		}
		if !wrote {
			return b[:start], false, nil
		}
		return append(b, close), true, nil
	}
	return b, false, nil
}

// appendJSON appends v as encoding/json would with HTML escaping off:
// object keys sorted, strings with invalid UTF-8 replaced. Types other than
// the ones JSON decoding and the functions make go through encoding/json.
func appendJSON(b []byte, v any, depth int) ([]byte, error) {
	if depth > maxEncodeDepth {
		return b, fmt.Errorf("value nested more than %d levels deep", maxEncodeDepth)
	}
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case float64:
		return appendFloat(b, x)
	case json.Number:
		if x == "" {
			return append(b, '0'), nil
		}
		if !validNumber(string(x)) {
			return b, fmt.Errorf("invalid number literal %s", quoteShort(string(x)))
		}
		return append(b, x...), nil
	case time.Time:
		t, err := x.MarshalJSON()
		if err != nil {
			return b, err
		}
		return append(b, t...), nil
	case contentsOutput:
		return appendContents(b, x)
	case map[string]any:
		if x == nil {
			return append(b, "null"...), nil
		}
		var buf [16]string
		keys := buf[:0]
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			var err error
			if b, err = appendJSON(b, x[k], depth+1); err != nil {
				return b, err
			}
		}
		return append(b, '}'), nil
	case []any:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSON(b, e, depth+1); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	}
	out, err := json.Marshal(v)
	if err != nil {
		return b, err
	}
	return append(b, out...), nil
}

// appendFloat formats f as encoding/json does (ES6 number formatting).
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, fmt.Errorf("the value %v cannot be sent as JSON", f)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

// validNumber reports whether s is a JSON number.
func validNumber(s string) bool {
	d := decoder{s: s}
	_, err := d.number(true)
	return err == nil && d.i == len(s)
}

const hexDigits = "0123456789abcdef"

// plain marks the bytes a JSON string holds as they are: printable ASCII
// but " and \.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// skipPlain returns the index of the first byte of s at or after i that
// is not plain (a control character, '"', '\\' or a non-ASCII byte), or
// len(s). It tests eight bytes at a time with the classic "has a byte less
// than n" and "has a zero byte" bit tricks: their lowest flagged byte is
// always exact (borrows only carry upwards), which is all it uses.
func skipPlain(s string, i int) int {
	for i+8 <= len(s) {
		if m := special8(load8(s, i)); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for i < len(s) && plain[s[i]] {
		i++
	}
	return i
}

// load8 reads the eight bytes of s at i (i+8 <= len(s)) as a little-endian
// word.
func load8(s string, i int) uint64 {
	return binary.LittleEndian.Uint64((*[8]byte)(unsafe.Pointer(unsafe.StringData(s[i:])))[:])
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// special8 flags the bytes of x (little-endian) that are not plain; the
// lowest flag is exact.
func special8(x uint64) uint64 {
	q := x ^ (lsb * '"')
	e := x ^ (lsb * '\\')
	return ((x-lsb*0x20)&^x | (q-lsb)&^q | (e-lsb)&^e | x) & msb
}

// appendString appends s as a JSON string, as encoding/json does with HTML
// escaping off.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if i = skipPlain(s, i); i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
