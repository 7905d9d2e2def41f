package metacapi

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
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

// decodePayload decodes a payload that is one JSON object, as
// json.NewDecoder(…).UseNumber().Decode does into a map[string]any. ok is
// false when the payload is anything else, or out of the ordinary: then
// encoding/json decides.
func decodePayload(data []byte) (obj map[string]any, ok bool) {
	// One copy of the payload as a string; the decoded strings are parts
	// of it rather than copies each.
	d := jsonDecoder{s: string(data)}
	d.space()
	if d.i >= len(d.s) || d.s[d.i] != '{' {
		return nil, false
	}
	v, ok := d.value(0)
	if !ok {
		return nil, false
	}
	d.space()
	if d.i != len(d.s) {
		return nil, false
	}
	obj, ok = v.(map[string]any)
	return obj, ok
}

type jsonDecoder struct {
	s string
	i int
}

func (d *jsonDecoder) space() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

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
		if !ok {
			return nil, false
		}
		return s, true
	case c == '-' || '0' <= c && c <= '9':
		return d.number()
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
	m := make(map[string]any)
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
		m[k] = v
		d.space()
		if d.i >= len(d.s) {
			return nil, false
		}
		c := d.s[d.i]
		d.i++
		if c == '}' {
			return m, true
		}
		if c != ',' {
			return nil, false
		}
	}
}

func (d *jsonDecoder) array(depth int) (any, bool) {
	if depth > maxFastDepth {
		return nil, false
	}
	d.i++ // [
	a := []any{}
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
		a = append(a, v)
		d.space()
		if d.i >= len(d.s) {
			return nil, false
		}
		c := d.s[d.i]
		d.i++
		if c == ']' {
			return a, true
		}
		if c != ',' {
			return nil, false
		}
	}
}

// str reads a string made only of printable ASCII other than the escape
// character, and valid UTF-8; it declines others (escapes, control
// characters, invalid UTF-8), which encoding/json decodes.
func (d *jsonDecoder) str() (string, bool) {
	d.i++ // "
	start := d.i
	ascii := true
	for i := start; i < len(d.s); i++ {
		switch c := d.s[i]; {
		case c == '"':
			d.i = i + 1
			if !ascii && !utf8.ValidString(d.s[start:i]) {
				return "", false
			}
			return d.s[start:i], true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", false
}

// number reads a JSON number as a json.Number of its text.
func (d *jsonDecoder) number() (any, bool) {
	s, i := d.s, d.i
	start := i
	if s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	default:
		return nil, false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return nil, false
		}
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return nil, false
		}
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	}
	d.i = i
	return json.Number(s[start:i]), true
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
	if depth > maxFastDepth {
		return b, false
	}
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), true
	case string:
		return appendString(b, x), true
	case bool:
		return strconv.AppendBool(b, x), true
	case json.Number:
		if x == "" {
			return append(b, '0'), true
		}
		if !validNumber(string(x)) {
			return b, false
		}
		return append(b, x...), true
	case json.RawMessage:
		// Only userDataJSON makes these: valid, compact JSON already
		// escaped as json.Marshal escapes it.
		return append(b, x...), true
	case int64:
		return strconv.AppendInt(b, x, 10), true
	case int:
		return strconv.AppendInt(b, int64(x), 10), true
	case float64:
		return jsonenc.AppendFloat(b, x)
	case []string:
		if x == nil {
			return append(b, "null"...), true
		}
		b = append(b, '[')
		for i, s := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		return append(b, ']'), true
	case []any:
		if x == nil {
			return append(b, "null"...), true
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = appendValue(b, e, depth+1); !ok {
				return b, false
			}
		}
		return append(b, ']'), true
	case map[string]any:
		if x == nil {
			return append(b, "null"...), true
		}
		var buf [32]string
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
			var ok bool
			if b, ok = appendValue(b, x[k], depth+1); !ok {
				return b, false
			}
		}
		return append(b, '}'), true
	}
	return b, false
}

// userDataJSON is a normalised user_data as marshalJSON should write it:
// the JSON the Result writes itself, or else the map of it, for
// encoding/json.
func userDataJSON(ud *normalize.Result) any {
	if b, ok := ud.AppendJSON(make([]byte, 0, 1024), appendUserDataValue); ok {
		return json.RawMessage(b)
	}
	return ud.Map()
}

// appendUserDataValue appends the value of an unhashed user_data key, two
// levels down in the body.
func appendUserDataValue(b []byte, v any) ([]byte, bool) { return appendValue(b, v, 2) }

// validNumber reports whether s is a JSON number.
func validNumber(s string) bool {
	d := jsonDecoder{s: s}
	_, ok := d.number()
	return ok && d.i == len(s)
}

// appendString appends s as a JSON string as json.Marshal does, escaping
// HTML characters too.
func appendString(b []byte, s string) []byte { return jsonenc.AppendString(b, s, true) }
