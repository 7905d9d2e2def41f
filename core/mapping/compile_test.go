package mapping

import (
	"strings"
	"testing"

	"github.com/switchboard-cdp/switchboard/core/config"
)

// TestCompileProblems checks every kind of compile problem with its exact
// FILE:LINE:COL: path: message. The pipeline's lines start at line 9 (see
// header): in "    when: ...", the value starts at column 11; in
// "      a: ..." (under map:, line 10) at column 10.
func TestCompileProblems(t *testing.T) {
	long := strings.Repeat("x", MaxExpressionBytes+1)
	many := strings.Repeat("1+", MaxNodes) + "1"
	tests := []struct {
		name, body string
		want       []string
	}{
		{"unknown field, plain", "    map:\n      a: userID\n",
			[]string{"pipelines.yaml:10:10: pipelines.p.map.a: unknown name userID (did you mean userId?)"}},
		{"type error, plain", "    map:\n      a: type + 1\n",
			[]string{"pipelines.yaml:10:15: pipelines.p.map.a: invalid operation: + (mismatched types string and int)"}},
		{"type error, single-quoted", "    map:\n      a: 'type + 1'\n",
			[]string{"pipelines.yaml:10:16: pipelines.p.map.a: invalid operation: + (mismatched types string and int)"}},
		{"single-quoted with '' before the error", "    map:\n      a: 'event == ''x'' + 1'\n",
			[]string{"pipelines.yaml:10:26: pipelines.p.map.a: invalid operation: + (mismatched types string and int)"}},
		{"type error, double-quoted", "    map:\n      a: \"type + 1\"\n",
			[]string{"pipelines.yaml:10:16: pipelines.p.map.a: invalid operation: + (mismatched types string and int)"}},
		{"double-quoted with escapes before the error", "    map:\n      a: \"\\\"a\\\" + 1\"\n",
			[]string{"pipelines.yaml:10:17: pipelines.p.map.a: invalid operation: + (mismatched types string and int)"}},
		{"literal block, second line", "    map:\n      a: |\n        let x = 1;\n        x + type\n",
			[]string{"pipelines.yaml:12:11: pipelines.p.map.a: invalid operation: + (mismatched types int and string)"}},
		{"folded block: at its start", "    map:\n      a: >\n        type +\n        1\n",
			[]string{"pipelines.yaml:11:9: pipelines.p.map.a: invalid operation: + (mismatched types string and int)"}},
		{"when, plain", "    when: type == 1\n",
			[]string{"pipelines.yaml:9:16: pipelines.p.when: invalid operation: == (mismatched types string and int)"}},
		{"when, literal block", "    when: |\n      event == \"a\" &&\n      type + 1 == 2\n",
			[]string{"pipelines.yaml:11:12: pipelines.p.when: invalid operation: + (mismatched types string and int)"}},
		{"when, not boolean", "    when: event\n",
			[]string{"pipelines.yaml:9:11: pipelines.p.when: must give true or false, not a string"}},
		{"when, a mapping", "    when: {a: 1}\n",
			[]string{`pipelines.yaml:9:11: pipelines.p.when: must be an expression that gives true or false, such as type == "track"`}},
		{"when, a number", "    when: 1\n",
			[]string{`pipelines.yaml:9:11: pipelines.p.when: must be an expression that gives true or false, such as type == "track"`}},
		{"map, not a mapping", "    map: [1]\n",
			[]string{"pipelines.yaml:9:10: pipelines.p.map: must be a mapping of output fields to expressions"}},
		{"list item", "    map:\n      ids:\n        - userId\n        - userID\n",
			[]string{"pipelines.yaml:12:11: pipelines.p.map.ids[1]: unknown name userID (did you mean userId?)"}},
		{"list item, literal block", "    map:\n      ids:\n        - |\n          1 +\n          type\n",
			[]string{"pipelines.yaml:12:13: pipelines.p.map.ids[0]: invalid operation: + (mismatched types int and string)"}},
		{"nested field, function argument", "    map:\n      user_data:\n        em: lower(5)\n",
			[]string{"pipelines.yaml:11:19: pipelines.p.map.user_data.em: cannot use int as argument (type string) to call lower"}},
		{"quoted key in the path", "    map:\n      \"Order Id\": userID\n",
			[]string{`pipelines.yaml:10:19: pipelines.p.map["Order Id"]: unknown name userID (did you mean userId?)`}},
		{"a constant string written without expression quotes", "    map:\n      a: website\n",
			[]string{`pipelines.yaml:10:10: pipelines.p.map.a: unknown name website (the event's fields are anonymousId, category, context, event, groupId, integrations, messageId, name, originalTimestamp, previousId, properties, receivedAt, sentAt, source, timestamp, traits, type, userId; write a constant string as '"text"')`}},
		{"misspelt function", "    map:\n      a: sha265(userId)\n",
			[]string{"pipelines.yaml:10:10: pipelines.p.map.a: unknown function sha265 (did you mean sha256?)"}},
		{"unknown function", "    map:\n      a: md5(userId)\n",
			[]string{"pipelines.yaml:10:10: pipelines.p.map.a: unknown function md5 (the functions are listed in core/mapping/FUNCTIONS.md)"}},
		{"wrong argument count", "    map:\n      a: unix()\n",
			[]string{"pipelines.yaml:10:10: pipelines.p.map.a: unix takes 1 argument (a time or an RFC 3339 string), not 0"}},
		{"wrong argument type", "    map:\n      a: unix(5)\n",
			[]string{"pipelines.yaml:10:10: pipelines.p.map.a: unix needs a time or an RFC 3339 string, not int"}},
		{"a function, not called", "    map:\n      a: unix\n",
			[]string{"pipelines.yaml:10:10: pipelines.p.map.a: gives a function; call it, for example unix(...)"}},
		{"syntax error", "    map:\n      a: 'type =='\n",
			[]string{"pipelines.yaml:10:17: pipelines.p.map.a: unexpected token EOF"}},
		{"YAML comment in a plain expression", "    map:\n      a: map(properties.products, #.sku)\n",
			[]string{`pipelines.yaml:10:33: pipelines.p.map.a: unexpected token EOF (YAML reads " #" and what follows as a comment: if that was part of the expression, quote it)`}},
		{"empty expression", "    map:\n      a: \"\"\n",
			[]string{"pipelines.yaml:10:10: pipelines.p.map.a: empty expression (leave the value out, or write null, to send nothing)"}},
		{"plain date", "    map:\n      a: 2024-01-01\n",
			[]string{`pipelines.yaml:10:10: pipelines.p.map.a: a plain date is read as arithmetic; write the text as an expression string, such as '"2024-01-01"', or parseTime("2024-01-01")`}},
		{"NaN literal", "    map:\n      a: .nan\n",
			[]string{"pipelines.yaml:10:10: pipelines.p.map.a: .nan cannot be sent as JSON"}},
		{"unsupported tag", "    map:\n      a: !!binary aGVsbG8=\n",
			[]string{"pipelines.yaml:10:10: pipelines.p.map.a: YAML tag !!binary is not supported here; write an expression"}},
		{"too long", "    map:\n      a: " + long + "\n",
			[]string{"pipelines.yaml:10:10: pipelines.p.map.a: expression is longer than 16384 bytes"}},
		{"too many nodes", "    map:\n      a: " + many + "\n",
			[]string{"pipelines.yaml:10:2011: pipelines.p.map.a: compilation failed: expression exceeds maximum allowed nodes"}},
		{"merge key", "    map:\n      base: &b {x: 1}\n      out:\n        <<: *b\n",
			[]string{"pipelines.yaml:12:9: pipelines.p.map.out: output field names must be plain strings (merge keys << are not supported)"}},
		{"every problem is reported, in file order", "    when: event + 1 == 2\n    map:\n      a: userID\n      b:\n        c: lower(1)\n        d: 'unix(\"x\", 2)'\n",
			[]string{
				"pipelines.yaml:9:17: pipelines.p.when: invalid operation: + (mismatched types string and int)",
				"pipelines.yaml:11:10: pipelines.p.map.a: unknown name userID (did you mean userId?)",
				"pipelines.yaml:13:18: pipelines.p.map.b.c: cannot use int as argument (type string) to call lower",
				"pipelines.yaml:14:13: pipelines.p.map.b.d: unix takes 1 argument (a time or an RFC 3339 string), not 2",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, problems := compileBody(t, tt.body)
			if p != nil {
				t.Errorf("Compile returned a program along with problems")
			}
			got := make([]string, len(problems))
			for i, pr := range problems {
				got[i] = pr.String()
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestCompileFromEnv checks that an expression from ${...} is never shown.
func TestCompileFromEnv(t *testing.T) {
	cfg, err := config.Parse("pipelines.yaml", []byte(header+"    map:\n      a: ${EXPR}\n"), func(name string) (string, bool) {
		return "secretToken + 1", name == "EXPR"
	})
	if err != nil {
		t.Fatal(err)
	}
	pl := cfg.Pipelines["p"]
	_, problems := Compile(cfg, "pipelines.p", &pl.When, &pl.Map)
	want := "pipelines.yaml:10:10: pipelines.p.map.a: the expression from ${...} does not compile (its text is not shown)"
	if len(problems) != 1 || problems[0].String() != want {
		t.Fatalf("problems = %v, want %s", problems, want)
	}

	cfg, err = config.Parse("pipelines.yaml", []byte(header+"    map:\n      a: ${D}\n      b: ${N}\n"), func(name string) (string, bool) {
		return map[string]string{"D": "2031-12-31", "N": ".inf"}[name], true
	})
	if err != nil {
		t.Fatal(err)
	}
	pl = cfg.Pipelines["p"]
	_, problems = Compile(cfg, "pipelines.p", &pl.When, &pl.Map)
	if s := problems.Error(); len(problems) != 2 || strings.Contains(s, "2031") || strings.Contains(s, ".inf") {
		t.Errorf("problems show values from the environment: %v", s)
	}
}

// TestCompileLiterals checks which YAML scalars are literals and which are
// expressions.
func TestCompileLiterals(t *testing.T) {
	p := mustCompile(t, `    map:
      int: 42
      neg: -7
      hex: 0x1F
      float: 2.5
      yes: true
      no: false
      nothing: null
      tilde: ~
      quoted_number: "42"
      quoted_bool: 'true'
      expr_string: '"website"'
      plain_string_expr: type
      nested:
        list: [1, '"a"', {b: 2}, null]
`)
	env, err := NewEnv([]byte(`{"type":"track"}`))
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Map(env)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"int": 42, "neg": -7, "hex": 31, "float": 2.5, "yes": true, "no": false,
		"quoted_number": 42, "quoted_bool": true, "expr_string": "website", "plain_string_expr": "track",
		"nested": map[string]any{"list": []any{1, "a", map[string]any{"b": 2}}},
	}
	assertEqual(t, out, want)
}

// TestCompileAliases checks that YAML anchors and aliases work in map:
// and that an alias bomb is stopped.
func TestCompileAliases(t *testing.T) {
	p := mustCompile(t, `    map:
      a: &ids [messageId, userId]
      b: *ids
`)
	env, _ := NewEnv([]byte(`{"messageId":"m","userId":"u"}`))
	out, err := p.Map(env)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, out, map[string]any{"a": []any{"m", "u"}, "b": []any{"m", "u"}})

	bomb := `    map:
      a: &a [type, type, type, type, type, type, type, type, type, type]
      b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
      c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
      d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
      e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
`
	_, problems := compileBody(t, bomb)
	if len(problems) != 1 || !strings.Contains(problems[0].Message, "more than 10000 values") {
		t.Errorf("problems = %v, want one about too many values", problems)
	}
}

// TestCompileTotalSize checks the cap on a pipeline's expressions together.
func TestCompileTotalSize(t *testing.T) {
	expr := `"` + strings.Repeat("x", 8000) + `"` // below MaxExpressionBytes
	body := "    map:\n      a: &e '" + expr + "'\n      b: [" + strings.Repeat("*e, ", 200) + "*e]\n"
	_, problems := compileBody(t, body)
	if len(problems) != 1 || !strings.Contains(problems[0].String(), "pipelines.p.map.b[") ||
		!strings.Contains(problems[0].Message, "longer than 1048576 bytes together") {
		t.Errorf("problems = %v", problems)
	}
}

// TestCompileNil checks Compile's handling of absent nodes and a nil Config.
func TestCompileNil(t *testing.T) {
	p, problems := Compile(nil, "pipelines.p", nil, nil)
	if problems != nil || p == nil {
		t.Fatalf("Compile(nil...) = %v, %v", p, problems)
	}
	if p.Filters() || p.Maps() {
		t.Errorf("Filters, Maps = %v, %v; want false, false", p.Filters(), p.Maps())
	}
}
