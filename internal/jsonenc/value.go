package jsonenc

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// Values appends the values JSON decoding makes — nil, string, bool, int,
// int64, float64, json.Number, []string, []any and map[string]any (keys
// sorted) — as json.Marshal writes them, without reflection. Its hooks
// take floats and the types it does not know.
type Values struct {
	// HTML escapes '<', '>' and '&' in strings as json.Marshal does; an
	// Encoder with SetEscapeHTML(false) writes them as they are.
	HTML bool
	// MaxDepth is how deep values may nest; deeper is ErrDepth.
	MaxDepth int
	// Float appends a float64; nil: AppendFloat, and an UnsupportedError
	// for NaN and ±Inf.
	Float func(b []byte, f float64) ([]byte, error)
	// Other appends a value of any other type, nested depth deep, through
	// e for the values inside it; nil: an UnsupportedError.
	Other func(e *Values, b []byte, v any, depth int) ([]byte, error)
}

// ErrDepth is a value nested deeper than Values.MaxDepth.
var ErrDepth = errors.New("value nested too deep")

// A NumberError is a json.Number whose text is not a JSON number.
type NumberError struct{ Text string }

func (e *NumberError) Error() string { return "invalid number literal " + strconv.Quote(e.Text) }

// An UnsupportedError is a value JSON cannot hold.
type UnsupportedError struct{ Value any }

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("the value %v cannot be sent as JSON", e.Value)
}

// Append appends v, found depth levels down in what is being written.
func (e *Values) Append(b []byte, v any, depth int) ([]byte, error) {
	if depth > e.MaxDepth {
		return b, ErrDepth
	}
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return AppendString(b, x, e.HTML), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case float64:
		if e.Float != nil {
			return e.Float(b, x)
		}
		out, ok := AppendFloat(b, x)
		if !ok {
			return b, &UnsupportedError{x}
		}
		return out, nil
	case json.Number:
		switch {
		case x == "":
			return append(b, '0'), nil // as encoding/json writes it
		case !ValidNumber(string(x)):
			return b, &NumberError{string(x)}
		}
		return append(b, x...), nil
	case []string:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, s := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendString(b, s, e.HTML)
		}
		return append(b, ']'), nil
	case []any:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, el := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = e.Append(b, el, depth+1); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		if x == nil {
			return append(b, "null"...), nil
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
			b = append(AppendString(b, k, e.HTML), ':')
			var err error
			if b, err = e.Append(b, x[k], depth+1); err != nil {
				return b, err
			}
		}
		return append(b, '}'), nil
	}
	if e.Other != nil {
		return e.Other(e, b, v, depth)
	}
	return b, &UnsupportedError{v}
}
