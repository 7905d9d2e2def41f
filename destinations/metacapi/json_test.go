package metacapi

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/switchboard-cdp/switchboard/destinations/metacapi/normalize"
)

// decodePayload and marshalJSON must give exactly what encoding/json gives.

var jsonSeeds = []string{
	`{}`, `{"a":1}`, ` {"a" : [1, 2.5, -0, 1e400, "x", true, false, null, {}, []]} `, `{"a":"\u00e9"}`, `{"a":"é<>&"}`,
	`{"a":"\ud800"}`, "{\"a\":\"\xff\"}", `{"a":1}x`, `{"a":1} {"b":2}`, `[1]`, `null`, `"x"`, `{"a":}`, `{"a":01}`,
	`{"a":1,}`, `{"a":1,"a":2}`, `{"a":truex}`, `{"a":-}`, `{"a":1.}`, `{"a":1e}`, `{"a":"` + "\t" + `"}`,
	`{"event_name":"Purchase","user_data":{"em":["a@b.co"],"ph":"+1 650 555 1212"},"custom_data":{"value":"1.5"}}`,
	`{"a":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`, `{"a":"\u2028\u2029"}`, `{"<":"&"}`,
	`{"a":12345678901234567890123,"b":-1.5e-7,"c":1E+2}`,
}

func stdDecode(data []byte) (map[string]any, bool) {
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, false
	}
	return obj, true
}

func checkJSON(t *testing.T, data []byte) {
	t.Helper()
	want, wantOK := stdDecode(data)
	if got, ok := decodePayload(data); ok {
		if !wantOK || !reflect.DeepEqual(got, want) {
			t.Fatalf("decodePayload(%q) = %#v; encoding/json %#v, %v", data, got, want, wantOK)
		}
	}
	if !wantOK {
		return
	}
	for _, v := range []any{want, map[string]any{"x": want, "l": []string{"a<", "\xff"}, "t": int64(-7), "f": 1.5e-9, "n": nil}} {
		wb, werr := json.Marshal(v)
		gb, gerr := marshalJSON(v)
		if !bytes.Equal(gb, wb) || (gerr == nil) != (werr == nil) {
			t.Fatalf("marshalJSON = %s, %v; json.Marshal %s, %v", gb, gerr, wb, werr)
		}
	}
}

func TestJSONMatchesEncodingJSON(t *testing.T) {
	for _, s := range jsonSeeds {
		checkJSON(t, []byte(s))
	}
	for _, f := range []float64{0, -0.0, 1, 1e20, 1e21, 1e-6, 1e-7, 123.456, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		wb, _ := json.Marshal(map[string]any{"f": f, "n": json.Number("")})
		gb, _ := marshalJSON(map[string]any{"f": f, "n": json.Number("")})
		if !bytes.Equal(gb, wb) {
			t.Errorf("%v: %s, want %s", f, gb, wb)
		}
	}
	for _, v := range []any{math.NaN(), json.Number("1x"), json.Number("-"), struct{ A int }{1}, []int{1}} {
		wb, werr := json.Marshal(map[string]any{"v": v})
		gb, gerr := marshalJSON(map[string]any{"v": v})
		if !bytes.Equal(gb, wb) || (gerr == nil) != (werr == nil) {
			t.Errorf("%#v: %s, %v; want %s, %v", v, gb, gerr, wb, werr)
		}
	}
	for c := 0; c < 256; c++ {
		s := "a" + string(rune(c)) + string([]byte{byte(c)}) + "b"
		wb, _ := json.Marshal(s)
		if gb, _ := marshalJSON(s); !bytes.Equal(gb, wb) {
			t.Errorf("%q: %s, want %s", s, gb, wb)
		}
	}
}

func FuzzJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkJSON)
}

func TestKeySet(t *testing.T) {
	if len(infoKeys) > 64 {
		t.Fatalf("%d customer information keys do not fit a keySet", len(infoKeys))
	}
	for i, k := range infoKeys {
		if keyBit(k) != 1<<i {
			t.Errorf("keyBit(%q) = %b, want bit %d", k, keyBit(k), i)
		}
	}
	for _, k := range slices.Concat(normalize.PassthroughKeys, []string{"other", "", "EM", "client_ip"}) {
		if keyBit(k) != 0 && !customerInfoKeys[k] {
			t.Errorf("keyBit(%q) = %b, want 0", k, keyBit(k))
		}
	}
	var s keySet
	m := map[string]bool{}
	for i, k := range infoKeys {
		if i%3 == 0 {
			s, m[k] = s.with(k), true
		}
	}
	for _, k := range append(infoKeys, "other") {
		if s.has(k) != m[k] {
			t.Errorf("has(%q) = %v", k, s.has(k))
		}
	}
	if got := strings.Join(s.sorted(), "+"); got != strings.Join(sortedKeysOf(m), "+") {
		t.Errorf("sorted = %s", got)
	}
	for _, combo := range invalidCombinations {
		sub := keySet(0)
		for _, k := range combo[:1] {
			sub = sub.with(k)
		}
		if !sub.within(combo) || s.within(combo) {
			t.Errorf("within %v", combo)
		}
	}
}

func sortedKeysOf(m map[string]bool) []string {
	var out []string
	for _, k := range infoKeys {
		if m[k] {
			out = append(out, k)
		}
	}
	return out
}

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

// within reports whether every key of s is in combo.
func (s keySet) within(combo []string) bool {
	var c keySet
	for _, k := range combo {
		c |= keyBit(k)
	}
	return s&^c == 0
}
