package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cdp/switchboard/internal/jsonenc"
)

func TestNewEnv(t *testing.T) {
	ts := time.Date(2024, 6, 10, 15, 30, 22, 123e6, time.UTC)
	tests := []struct {
		name, json string
		want       Env
	}{
		{"empty", `{}`, Env{}},
		{"strings", `{"type":"track","event":"E","userId":"u","messageId":"m","source":"web"}`,
			Env{"type": "track", "event": "E", "userId": "u", "messageId": "m", "source": "web"}},
		{"empty string is kept", `{"userId":""}`, Env{"userId": ""}},
		{"null is absent", `{"userId":null,"properties":null,"timestamp":null}`, Env{}},
		{"number for a string field becomes its text", `{"userId":12345,"groupId":1.5}`, Env{"userId": "12345", "groupId": "1.5"}},
		{"times", `{"timestamp":"2024-06-10T15:30:22.123Z","sentAt":"2024-06-10T17:30:22.123+02:00"}`,
			Env{"timestamp": ts, "sentAt": ts.In(time.FixedZone("", 7200))}},
		{"zero or empty time is absent", `{"timestamp":"0001-01-01T00:00:00Z","receivedAt":""}`, Env{}},
		{"objects", `{"properties":{"a":1,"b":[true,false,null],"c":{"d":"e"}},"context":{},"traits":{"x":-0.5},"integrations":{"All":true}}`,
			Env{"properties": map[string]any{"a": 1, "b": []any{true, false, nil}, "c": map[string]any{"d": "e"}},
				"context": map[string]any{}, "traits": map[string]any{"x": -0.5}, "integrations": map[string]any{"All": true}}},
		{"other keys are dropped", `{"type":"t","extra":{"deep":[1,{"x":"\u00e9"}]},"writeKey":"secret","version":2}`, Env{"type": "t"}},
		{"duplicate keys: the last wins", `{"type":"a","type":"b","properties":{"x":1,"x":2}}`, Env{"type": "b", "properties": map[string]any{"x": 2}}},
		{"numbers", `{"properties":{"i":42,"neg":-7,"zero":0,"negzero":-0,"max":9223372036854775807,"min":-9223372036854775808,"over":9223372036854775808,"f":1.5,"e":1e3,"E":2E-2,"frac0":1.0}}`,
			Env{"properties": map[string]any{"i": 42, "neg": -7, "zero": 0, "negzero": 0, "max": math.MaxInt64, "min": math.MinInt64,
				"over": 9223372036854775808.0, "f": 1.5, "e": 1000.0, "E": 0.02, "frac0": 1.0}}},
		{"escapes", `{"event":"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00"}`, Env{"event": "a\"b\\c/d\b\f\n\r\t\u00e9\U0001F600"}},
		{"bad surrogates and UTF-8 become U+FFFD", "{\"event\":\"\\ud83d x \\ude00 \xff\"}", Env{"event": "\uFFFD x \uFFFD \uFFFD"}},
		{"whitespace", " \n\t{ \"type\" : \"t\" , \"properties\" : { } } \r\n", Env{"type": "t", "properties": map[string]any{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewEnv([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			assertEqual(t, got, tt.want)
		})
	}
}

func TestNewEnvErrors(t *testing.T) {
	deep := strings.Repeat(`{"a":`, maxDepth+1) + "1" + strings.Repeat("}", maxDepth+1)
	tests := []struct{ json, err string }{
		{``, "unexpected end of JSON"},
		{`[]`, "at byte 0: an event must be a JSON object"},
		{`{"type":"t"} x`, "at byte 13: unexpected data after the event"},
		{`{"type":"t"`, "unexpected end of JSON"},
		{`{"type":"t",}`, "at byte 12: want a string key"},
		{`{"type" "t"}`, "at byte 8: want : after an object key"},
		{`{"type":"t" "event":"e"}`, "at byte 12: want , or } after an object value"},
		{`{"properties":[1 2]}`, "at byte 17: want , or ] after an array value"},
		{`{"type":tru}`, "at byte 8: invalid literal, want true"},
		{`{"type":"a` + "\x01" + `"}`, "at byte 10: control character in a string"},
		{`{"type":"\x"}`, `at byte 10: invalid escape \x`},
		{`{"type":"\u12"}`, `at byte 11: invalid \u escape`},
		{`{"properties":{"n":01}}`, "at byte 20: want , or } after an object value"},
		{`{"properties":{"n":1.}}`, "at byte 21: invalid number: want a digit after the decimal point"},
		{`{"properties":{"n":1e}}`, "at byte 21: invalid number: want a digit in the exponent"},
		{`{"properties":{"n":-}}`, "at byte 20: invalid number"},
		{`{"properties":{"n":1e999}}`, "at byte 19: number 1e999 is out of range"},
		{`{"properties":{"n":+1}}`, `at byte 19: invalid character '+' looking for a value`},
		{`{"userId":{"a":1}}`, "at byte 10: userId must be a string, not an object"},
		{`{"userId":true}`, "at byte 10: userId must be a string, not a boolean"},
		{`{"properties":[1]}`, "at byte 14: properties must be an object, not an array"},
		{`{"timestamp":5}`, "at byte 13: timestamp must be an RFC 3339 time string, not a number"},
		{`{"timestamp":"yesterday"}`, "at byte 13: timestamp must be an RFC 3339 time such as 2024-06-10T15:30:22.123Z"},
		{`{"extra":[1,}`, "at byte 12: invalid character '}' looking for a value"},
		{`{"properties":` + deep + `}`, "at byte 2574: nested more than 512 levels deep"},
	}
	for _, tt := range tests {
		t.Run(tt.err, func(t *testing.T) {
			_, err := NewEnv([]byte(tt.json))
			if err == nil || !errors.Is(err, ErrEvent) || err.Error() != "invalid event: "+tt.err {
				t.Fatalf("error = %v, want invalid event: %s", err, tt.err)
			}
		})
	}
}

// TestNewEnvMatchesEncodingJSON decodes documents with NewEnv and with
// encoding/json (UseNumber, then numbers converted as NewEnv does) and
// compares the results.
func TestNewEnvMatchesEncodingJSON(t *testing.T) {
	docs := []string{
		`{"properties":{"a":[1,2.5,"x",null,true,{"b":{}}],"s":"\u0000\u001f\"\\ \u2028 é 😀"}}`,
		"{\"properties\":{\"bad\":\"\xff\xfe\xc3(\",\"k\xff\":1}}",
		`{"context":{"n":[123456789012345678,1234567890123456789,-12345678901234567890,0.1,1e-7,1E+30]}}`,
	}
	for _, doc := range docs {
		checkAgainstEncodingJSON(t, []byte(doc))
	}
}

// checkAgainstEncodingJSON compares NewEnv with encoding/json on data, when
// encoding/json accepts it.
func checkAgainstEncodingJSON(t *testing.T, data []byte) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var ref map[string]any
	refErr := dec.Decode(&ref)
	if !json.Valid(data) {
		refErr = errors.New("invalid JSON")
	}
	env, err := NewEnv(data)
	if refErr != nil {
		if err == nil && !json.Valid(data) {
			t.Fatalf("NewEnv accepts %q, which is not JSON", data)
		}
		return
	}
	if err != nil {
		if strings.Contains(err.Error(), "must be") || strings.Contains(err.Error(), "deep") || strings.Contains(err.Error(), "out of range") {
			return
		}
		t.Fatalf("NewEnv(%q) = %v; encoding/json accepts it", data, err)
	}
	for k, v := range ref {
		want := convertNumbers(v)
		got := env[k]
		kind := fields[k]
		switch {
		case kind == 0:
			if _, ok := env[k]; ok {
				t.Errorf("key %q kept", k)
			}
			continue
		case want == nil:
			if _, ok := env[k]; ok {
				t.Errorf("null %q kept", k)
			}
			continue
		case kind == stringField:
			if f, ok := want.(float64); ok {
				want = strconv.FormatFloat(f, 'f', -1, 64)
			} else if i, ok := want.(int); ok {
				want = strconv.Itoa(i)
			}
		case kind == timeField:
			continue
		}
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(want)
		if !bytes.Equal(a, b) {
			t.Errorf("key %q: NewEnv gives %s, encoding/json %s (input %q)", k, a, b, data)
		}
	}
}

var fields = map[string]int{}

func init() {
	for name := range fieldTypes {
		_, fields[name] = field(name)
	}
}

// convertNumbers turns json.Number into int or float64 as NewEnv does.
func convertNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil && !strings.ContainsAny(string(x), ".eE") {
			return int(i)
		}
		f, _ := strconv.ParseFloat(string(x), 64)
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = convertNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = convertNumbers(e)
		}
	}
	return v
}

// TestAppendJSONMatchesEncodingJSON checks the encoder Apply uses against
// encoding/json.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	values := []any{
		nil, true, false, 0, -1, math.MaxInt64, int64(5), 0.1, 1e-7, 1e21, 123456789.125, -0.0, 1e20,
		"", "plain", "quote\" backslash\\ <tag> & \u2028\u2029 \x00\x1f\x7f é", "bad \xff utf8",
		json.Number("12345678901234567890"),
		time.Date(2024, 6, 10, 15, 30, 22, 5, time.FixedZone("", 3600)),
		map[string]any{"b": 1, "a": []any{map[string]any{}, []any{}}, "é": nil},
		[]any{}, map[string]any{}, []string{"x", "y"}, map[string]int{"z": 1},
	}
	for _, v := range values {
		got, err := appendJSON(nil, v, 0)
		if err != nil {
			t.Fatalf("appendJSON(%#v): %v", v, err)
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		if want := strings.TrimSuffix(buf.String(), "\n"); string(got) != want {
			t.Errorf("appendJSON(%#v) = %s, encoding/json %s", v, got, want)
		}
	}
	for _, v := range []any{math.NaN(), math.Inf(1), json.Number("1x")} {
		if _, err := appendJSON(nil, v, 0); err == nil {
			t.Errorf("appendJSON(%v) succeeded", v)
		}
	}
}

// FuzzNumber checks the decoder's numbers against strconv: an integer
// that fits in an int is that int, as ParseInt reads it; any other number
// is the float64 ParseFloat gives, bit for bit, or an error where that is
// infinite. Decimals of at most 15 digits take a shortcut, the rest
// strconv itself.
func FuzzNumber(f *testing.F) {
	for _, s := range []string{"129.99", "-0.0", "0.1", "19.99", "90.01", "123456789012345.6", "1234567890123456.7",
		"9007199254740993.0", "0.000000000000001", "-999999999999999.", "1.5e3", "12", "1..2", ".5", "-",
		"-0", "0", "999999999999999999", "-999999999999999999", "9223372036854775807", "9223372036854775808",
		"-9223372036854775808", "1e400", "-1E-400", "0.1e1", "00", "1.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" || !jsonenc.ValidNumber(s) {
			// Not one JSON number: the decoder, called where a number
			// starts, must not read it whole.
			if d := (decoder{s: s}); s != "" && (s[0] == '-' || s[0] >= '0' && s[0] <= '9') {
				if _, err := d.number(false); err == nil && d.i == len(s) {
					t.Fatalf("number(%q) read an invalid number", s)
				}
			}
			return
		}
		d := decoder{s: s}
		got, err := d.number(false)
		if err == nil && d.i != len(s) {
			t.Fatalf("number(%q) stopped at byte %d", s, d.i)
		}
		if n, perr := strconv.ParseInt(s, 10, 64); perr == nil {
			if got != int(n) || err != nil {
				t.Fatalf("number(%q) = %#v, %v; want int %d", s, got, err, n)
			}
			return
		}
		want, perr := strconv.ParseFloat(s, 64)
		if perr != nil || math.IsInf(want, 0) {
			if err == nil {
				t.Fatalf("number(%q) = %#v; want an error (ParseFloat: %v, %v)", s, got, want, perr)
			}
			return
		}
		if f, ok := got.(float64); !ok || err != nil || math.Float64bits(f) != math.Float64bits(want) {
			t.Fatalf("number(%q) = %#v, %v; want float64 %v", s, got, err, want)
		}
	})
}

// FuzzUTCTime checks the decoder's shortcut for timestamps against
// time.Parse: where it reads a time, time.Parse must read the same one;
// and validTimestamp, which a projection checks unread timestamps with,
// must accept exactly what parseTimestamp accepts.
func FuzzUTCTime(f *testing.F) {
	for _, s := range []string{"2024-06-10T15:30:22.123Z", "2024-06-10T15:30:22Z", "2024-02-29T00:00:00Z",
		"2023-02-29T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.9999999999999Z", "2024-06-10T24:00:00Z",
		"2024-06-10T15:30:60Z", "2024-06-10T15:30:22.Z", "2024-06-10T15:30:22.1x3Z", "2024-06-10T15:30:22+02:00",
		"2024-06-10 15:30:22Z", "2024-6-10T15:30:22Z", "+024-06-10T15:30:22Z", "2024-06-10T15:30:22.000000001Z"} {
		f.Add(s)
	}
	for _, s := range []string{"2024-06-10T15:30:22.123Z", "2024-06-10T15:30:22Z", "2024-02-29T23:59:59.123456789123Z"} {
		if _, ok := utcTime(s); !ok {
			f.Fatalf("utcTime(%q) leaves the usual form to time.Parse", s)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, perr := parseTimestamp(s)
		if valid := validTimestamp(s); valid != (perr == nil) {
			t.Fatalf("validTimestamp(%q) = %v; parseTimestamp gives error %v", s, valid, perr)
		}
		got, ok := utcTime(s)
		if !ok {
			return
		}
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatalf("utcTime(%q) = %v; time.Parse fails: %v", s, got, err)
		}
		if got != want {
			t.Fatalf("utcTime(%q) = %v, time.Parse %v", s, got, want)
		}
	})
}

// FuzzAppendDecimal checks the encoder's shortcut for decimal numbers
// against jsonenc.AppendFloat (encoding/json's formatting), byte for byte,
// on the number and on it rounded to a few decimal places.
func FuzzAppendDecimal(f *testing.F) {
	for _, x := range []float64{129.99, 19.99, 90.01, 0.1, 0.3, 1e-6, 1.5e-6, 999999999999999, 99999999999999.9,
		123456789012345, 0.000001, 1e15, 5e-324, -2.5, 0.1 + 0.2, 1 << 53, 100, 1e21, -0.0} {
		f.Add(x)
	}
	for _, x := range []float64{129.99, 0.005, -19.5, 12} {
		if _, ok := appendDecimal(nil, x); !ok {
			f.Fatalf("appendDecimal(%v) leaves it to strconv", x)
		}
	}
	f.Fuzz(func(t *testing.T, x float64) {
		for _, v := range []float64{x, math.Round(x*100) / 100, math.Round(x*1e6) / 1e6, float64(int64(x)) / 1000} {
			got, ok := appendDecimal(nil, v)
			if !ok {
				continue
			}
			want, _ := jsonenc.AppendFloat(nil, v)
			if string(got) != string(want) {
				t.Fatalf("appendDecimal(%v) = %s, AppendFloat %s", v, got, want)
			}
		}
	})
}
