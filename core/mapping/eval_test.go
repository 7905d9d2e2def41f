package mapping

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestNilOmission checks what Map leaves out.
func TestNilOmission(t *testing.T) {
	p := mustCompile(t, `    map:
      id: userId
      missing: traits.nothing ?? traits.other
      literal_null: null
      empty_string: traits.empty
      zero: traits.zero
      no: traits.no
      user:
        email: traits.email
        phone: traits.phone
      all_nil:
        a: traits.a
        b:
          c: traits.c
      list: [traits.a, traits.zero, traits.b]
      nil_list: [traits.a, {b: traits.b}]
      from_expression: '{"kept": nil}'
`)
	env, err := NewEnv([]byte(`{"userId":"u","traits":{"empty":"","zero":0,"no":false,"phone":"555"}}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Map(env)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"id": "u", "empty_string": "", "zero": 0, "no": false,
		"user": map[string]any{"phone": "555"},
		"list": []any{0},
		// Values computed by an expression are kept as they are.
		"from_expression": map[string]any{"kept": nil},
	}
	assertEqual(t, got, want)

	out, _, err := p.Apply([]byte(`{"userId":"u","traits":{"empty":"","zero":0,"no":false,"phone":"555"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if w := `{"id":"u","empty_string":"","zero":0,"no":false,"user":{"phone":"555"},"list":[0],"from_expression":{"kept":null}}`; string(out) != w {
		t.Errorf("Apply = %s\nwant   %s", out, w)
	}

	// Everything nil: an empty object.
	p = mustCompile(t, "    map:\n      a: userId\n      b: {c: [traits.x]}\n")
	env, _ = NewEnv([]byte(`{}`))
	got, err = p.Map(env)
	if err != nil || len(got) != 0 {
		t.Errorf("Map of an empty event = %v, %v; want an empty map", got, err)
	}
	out, _, err = p.Apply([]byte(`{}`))
	if err != nil || string(out) != "{}" {
		t.Errorf("Apply of an empty event = %s, %v; want {}", out, err)
	}
}

// TestAbsentVersusEmpty checks that a missing field is nil and an empty
// one is "", in the idioms mappings use.
func TestAbsentVersusEmpty(t *testing.T) {
	tests := []struct {
		expr, event string
		want        any
	}{
		{`userId ?? "anon"`, `{}`, "anon"},
		{`userId ?? "anon"`, `{"userId":""}`, ""},
		{`userId ?? "anon"`, `{"userId":null}`, "anon"},
		{`coalesce(userId, "anon")`, `{"userId":""}`, "anon"},
		{`userId == nil`, `{}`, true},
		{`userId == ""`, `{}`, false},
		{`userId == ""`, `{"userId":""}`, true},
		{`len(userId ?? "")`, `{}`, 0},
		{`properties.revenue`, `{"properties":{}}`, nil},
		{`properties.revenue`, `{"properties":{"revenue":0}}`, 0},
		{`properties.revenue ?? -1`, `{"properties":{"revenue":null}}`, -1},
		{`properties?.revenue`, `{}`, nil},
		{`context.traits.email ?? traits.email`, `{"traits":{"email":"t"}}`, "t"},
		{`context.traits.email ?? traits.email`, `{"context":{"traits":{"email":""}},"traits":{"email":"t"}}`, ""},
		{`timestamp == nil`, `{"timestamp":"0001-01-01T00:00:00Z"}`, true},
		{`timestamp == nil`, `{"timestamp":""}`, true},
		{`event in ["a"]`, `{}`, false},
		{`"a" in properties`, `{}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.expr+" "+tt.event, func(t *testing.T) {
			got, err := mapOne(t, quoteYAML(tt.expr), tt.event)
			if err != nil {
				t.Fatal(err)
			}
			assertEqual(t, got, tt.want)
		})
	}
}

// TestRuntimeErrors checks that an evaluation error names its leaf.
func TestRuntimeErrors(t *testing.T) {
	const event = `{"type":"track","properties":{"count":3,"s":"x","list":[1,"a"]},"context":{"page":"home"}}`
	tests := []struct{ body, err string }{
		{"    map:\n      user_data:\n        em: lower(properties.count)\n",
			"map.user_data.em: lower: want a string, got a number"},
		{"    map:\n      a: type\n      ids: [type, 'unix(\"soon\")']\n",
			`map.ids[1]: unix: cannot read "soon" as a time (want RFC 3339, such as 2024-06-10T15:30:22Z)`},
		{"    map:\n      list:\n        - {a: type}\n        - {b: 'properties.count + properties.s'}\n",
			"map.list[1].b: invalid operation: int + string"},
		{"    map:\n      \"Order Id\": properties.count % 0\n",
			`map["Order Id"]: runtime error: integer divide by zero`},
		{"    map:\n      a: properties.count / 0\n",
			"map.a: the value +Inf cannot be sent as JSON"},
		{"    map:\n      a: context.page.url\n",
			`map.a: cannot get "url" from a string`},
		{"    map:\n      a: properties.list[0] + 1\n      b: '\"s\" + properties.list[0]'\n",
			"map.b: invalid operation: string + int"},
		{"    map:\n      a: 'sum(properties.list)'\n",
			"map.a: invalid operation: string + int"},
		{"    map:\n      a: '!properties.nothing'\n",
			"map.a: a value is nil where true or false is needed (compare it, e.g. x == true, or give a default with ??)"},
		{"    when: properties.s\n",
			"when: gave a string, want true or false"},
		{"    when: 'lower(properties.count) == \"x\"'\n",
			"when: lower: want a string, got a number"},
	}
	for _, tt := range tests {
		t.Run(tt.err, func(t *testing.T) {
			p := mustCompile(t, tt.body)
			_, _, err := p.Apply([]byte(event))
			if err == nil || err.Error() != tt.err {
				t.Fatalf("error = %v\nwant    %s", err, tt.err)
			}
			var ee *EvalError
			if !errors.As(err, &ee) || !strings.HasPrefix(tt.err, ee.Path+": ") {
				t.Errorf("error is %T with path %q", err, ee.Path)
			}
		})
	}
}

// TestLimits checks that expressions that would use too much memory or time
// fail fast with ErrLimit.
func TestLimits(t *testing.T) {
	items := "[" + strings.Repeat("1,", 999) + "1]"
	event := `{"properties":{"items":` + items + `,"s":"` + strings.Repeat("x", 10000) + `"}}`
	tests := []struct{ name, expr, err string }{
		{"a huge range", `map(1..1000000, #)`, "memory budget exceeded"},
		{"a huge array from a range", `len(1..100000000)`, "memory budget exceeded"},
		{"nested loops over event data", `count(properties.items, count(properties.items, # == 2) > 0)`, "at most 262144 loop iterations"},
		{"nested loops over ranges", `count(1..600, count(1..600, # == 1) > 0)`, "memory budget exceeded"},
		{"string doubling in a loop", `reduce(1..64, #acc + #acc, "x")`, "at most 1048576 bytes"},
		{"string doubling with variables", `let a = properties.s + properties.s; let b = a + a; let c = b + b; let d = c + c; let e = d + d; let f = e + e; let g = f + f; g + g`, "at most 1048576 bytes"},
		{"repeat", `repeat("x", 10000000)`, "at most 1048576 bytes"},
		{"repeat of a repeat", `repeat(repeat("ab", 400000), 1000000)`, "at most 1048576 bytes"},
		{"replace that grows", `replace(properties.s, "", properties.s)`, "at most 1048576 bytes"},
		{"join of shared strings", `join(map(1..200, properties.s), ",")`, "at most 1048576 bytes"},
		{"toJSON of shared strings", `toJSON(map(1..200, properties.s))`, "at most 1048576 bytes"},
		{"string of shared strings", `string(map(1..200, properties.s))`, "at most 1048576 bytes"},
		{"split into many parts", `len(split(repeat(properties.s, 50), ""))`, "at most 1048576 bytes"},
		{"nested toBase64", `toBase64(toBase64(toBase64(toBase64(toBase64(toBase64(repeat(properties.s, 30)))))))`, "at most 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := mapOne(t, quoteYAML(tt.expr), event)
			if err == nil || !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error = %v, want ErrLimit mentioning %q", err, tt.err)
			}
			if !strings.HasPrefix(err.Error(), "map.x: limit exceeded: ") {
				t.Errorf("error = %v, want it to start with map.x: limit exceeded:", err)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
	// Within the limits, the same kind of work succeeds.
	if v, err := mapOne(t, quoteYAML(`len(map(1..1000, #))`), event); err != nil || v != 1000 {
		t.Errorf("a small range = %v, %v", v, err)
	}
	if v, err := mapOne(t, quoteYAML(`count(properties.items, # == 1)`), event); err != nil || v != 1000 {
		t.Errorf("a loop over 1000 items = %v, %v", v, err)
	}
}
