package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/switchboard-cdp/switchboard/internal/jsonenc"
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
		if s.json == "" {
			return b, false, nil
		}
		return append(b, s.json...), true, nil
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
		for i, f := range s.fields {
			mark := len(b)
			if s.kind == objectShape {
				name := s.names[i]
				switch {
				case mark == start+1:
					b = append(b, name[1:]...) // the first field: no comma
				case len(name) <= len(paddedName{}) && cap(b)-mark >= len(paddedName{}):
					// The name padded, within b's capacity; the
					// padding is cut off and written over next.
					*(*paddedName)(b[mark : mark+len(paddedName{})]) = s.padded[i]
					b = b[:mark+len(name)]
				default:
					b = append(b, name...)
				}
			} else if mark > start+1 {
				b = append(b, ',')
			}
			var ok bool
			var err error
			// Most fields are expressions and literals: they are
			// written here, without a call of appendShape.
			switch f.kind {
			case literalShape:
				if f.json == "" {
					b = b[:mark]
					continue
				}
				b = append(b, f.json...)
				continue
			case exprShape:
				switch v := values[f.leaf].(type) {
				case nil:
					b = b[:mark]
					continue
				case string:
					b, ok = appendString(b, v), true
				case digestOutput:
					b, ok = appendDigest(b, v), true
				default:
					b, err = appendJSON(b, v, 0)
					ok = err == nil
				}
			default:
				b, ok, err = appendShape(b, f, values)
			}
			if err != nil {
				return b, false, err
			}
			if !ok {
				b = b[:mark]
			}
		}
		if len(b) == start+1 {
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
	b, err := outputValues.Append(b, v, depth)
	if err != nil {
		return b, encodeError(err)
	}
	return b, nil
}

// encodeError words an error of outputValues for a mapping's author.
func encodeError(err error) error {
	var ne *jsonenc.NumberError
	switch {
	case errors.Is(err, jsonenc.ErrDepth):
		return fmt.Errorf("value nested more than %d levels deep", maxEncodeDepth)
	case errors.As(err, &ne):
		return fmt.Errorf("invalid number literal %s", quoteShort(ne.Text))
	}
	return err
}

// outputValues is appendJSON's encoder.
var outputValues = jsonenc.Values{MaxDepth: maxEncodeDepth, Float: appendFloat, Other: appendOther}

// appendOther appends the values appendJSON's encoder does not know: the
// fast path's own outputs, times, and the rest through encoding/json.
func appendOther(e *jsonenc.Values, b []byte, v any, depth int) ([]byte, error) {
	switch x := v.(type) {
	case contentsOutput:
		return appendContents(e, b, x, depth)
	case digestOutput:
		return appendDigest(b, x), nil
	case time.Time:
		t, err := x.MarshalJSON()
		if err != nil {
			return b, err
		}
		return append(b, t...), nil
	}
	out, err := json.Marshal(v)
	if err != nil {
		return b, err
	}
	return append(b, out...), nil
}

// appendFloat formats f as encoding/json does (ES6 number formatting).
func appendFloat(b []byte, f float64) ([]byte, error) {
	if out, ok := appendDecimal(b, f); ok {
		return out, nil
	}
	b, ok := jsonenc.AppendFloat(b, f)
	if !ok {
		return b, fmt.Errorf("the value %v cannot be sent as JSON", f)
	}
	return b, nil
}

// appendDecimal appends f as appendFloat would when it is a decimal of at
// most 15 significant digits and at most 15 after the point, as prices
// and revenues are: f is then m/10^k for the smallest such k, computed
// as the decoder's number does, and those digits are the shortest that give f
// back (two decimals of 15 digits or fewer never round to the same
// float64), which is what strconv writes. ok is false for other numbers,
// and for those JSON writes with an exponent.
func appendDecimal(b []byte, f float64) ([]byte, bool) {
	a := math.Abs(f)
	if !(a >= 1e-6 && a < 1e15) {
		return b, false
	}
	for k, p := range pow10 {
		m := math.Round(a * p)
		if m >= 1e15 {
			break
		}
		if m/p != a {
			continue
		}
		if f < 0 {
			b = append(b, '-')
		}
		// The digits of m from the last, with the point k digits from
		// the end and at least one digit before it.
		var buf [24]byte
		i, u := len(buf), uint64(m)
		for d := 0; ; d++ {
			if d == k && k > 0 {
				i--
				buf[i] = '.'
			}
			i--
			buf[i] = byte('0' + u%10)
			if u /= 10; u == 0 && d >= k {
				break
			}
		}
		return append(b, buf[i:]...), true
	}
	return b, false
}

// appendString appends s as a JSON string, as encoding/json does with HTML
// escaping off. Most strings (hex digests, ids, URLs) need no escaping and
// are copied as they are.
func appendString(b []byte, s string) []byte {
	if jsonenc.SkipPlain(s, 0) == len(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	return jsonenc.AppendString(b, s, false)
}
