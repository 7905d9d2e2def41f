package jsonenc

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// randomValue is a value of the kinds Values knows, nested up to depth.
func randomValue(r *rand.Rand, depth int) any {
	strs := []string{"", "a", "<b>&", "é", "\u2028", "\xff", `"\`, "tab\t"}
	switch k := r.IntN(10); {
	case k == 0:
		return nil
	case k == 1:
		return strs[r.IntN(len(strs))]
	case k == 2:
		return r.IntN(2) == 0
	case k == 3:
		return r.IntN(1<<20) - 1<<19
	case k == 4:
		return int64(r.Uint64())
	case k == 5:
		return []float64{0, 1.5, -2e-7, 1e21, 123456.789, math.MaxFloat64}[r.IntN(6)]
	case k == 6:
		return json.Number([]string{"", "0", "-1.5e3", "12"}[r.IntN(4)])
	case k == 7:
		if r.IntN(4) == 0 {
			return []string(nil)
		}
		return []string{strs[r.IntN(len(strs))], strs[r.IntN(len(strs))]}
	case k == 8 && depth > 0:
		a := make([]any, r.IntN(4))
		for i := range a {
			a[i] = randomValue(r, depth-1)
		}
		return a
	case depth > 0:
		m := map[string]any{}
		for range r.IntN(5) {
			m[strs[r.IntN(len(strs))]] = randomValue(r, depth-1)
		}
		return m
	}
	return "leaf"
}

// TestValuesMatchesEncodingJSON compares Append with json.Marshal (HTML)
// and with an Encoder that does not escape HTML.
func TestValuesMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for range 20000 {
		v := randomValue(r, 4)
		for _, html := range []bool{true, false} {
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(html)
			if err := enc.Encode(v); err != nil {
				t.Fatal(err)
			}
			e := Values{HTML: html, MaxDepth: 10}
			got, err := e.Append([]byte("x"), v, 0)
			if err != nil || string(got) != "x"+string(bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
				t.Fatalf("html %v: Append(%#v) = %s, %v; want x%s", html, v, got, err, want.Bytes())
			}
		}
	}
}

func TestValuesErrors(t *testing.T) {
	e := Values{MaxDepth: 2}
	if _, err := e.Append(nil, []any{[]any{[]any{1}}}, 0); !errors.Is(err, ErrDepth) {
		t.Errorf("3 levels with MaxDepth 2: %v, want ErrDepth", err)
	}
	if _, err := e.Append(nil, []any{[]any{1}}, 0); err != nil {
		t.Errorf("2 levels with MaxDepth 2: %v", err)
	}
	var ne *NumberError
	if _, err := e.Append(nil, json.Number("1."), 0); !errors.As(err, &ne) || ne.Text != "1." {
		t.Errorf("bad json.Number: %v", err)
	}
	var ue *UnsupportedError
	if _, err := e.Append(nil, math.Inf(1), 0); !errors.As(err, &ue) || err.Error() != "the value +Inf cannot be sent as JSON" {
		t.Errorf("+Inf: %v", err)
	}
	if _, err := e.Append(nil, struct{}{}, 0); !errors.As(err, &ue) {
		t.Errorf("a struct without Other: %v", err)
	}
	e.Other = func(_ *Values, b []byte, v any, depth int) ([]byte, error) {
		return append(b, `"other"`...), nil
	}
	e.Float = func(b []byte, f float64) ([]byte, error) { return append(b, "1.0"...), nil }
	if got, err := e.Append(nil, map[string]any{"a": struct{}{}, "b": 2.5}, 0); err != nil || string(got) != `{"a":"other","b":1.0}` {
		t.Errorf("hooks: %s, %v", got, err)
	}
}
