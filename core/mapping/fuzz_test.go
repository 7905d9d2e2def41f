package mapping

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/expr-lang/expr"
	"gopkg.in/yaml.v3"

	"github.com/switchboard-cdp/switchboard/core/config"
)

// fuzzEvent is the event compiled fuzz expressions are evaluated on.
var fuzzEvent = []byte(`{"type":"track","event":"Order Completed","userId":"u","timestamp":"2024-06-10T15:30:22Z",` +
	`"properties":{"revenue":1.5,"n":3,"products":[{"sku":"a","price":2},{"id":1}],"s":"x"},"context":{"traits":{"email":"E"}}}`)

// FuzzCompile compiles random expressions, as when: and as a map: leaf, in
// each YAML scalar style. Compile must not panic, every problem must be
// placed inside the expression's lines of the file, and a compiled program
// must evaluate without panicking.
func FuzzCompile(f *testing.F) {
	seeds := []string{
		"userId", "type + 1", `type == "track" && event in ["a", "b"]`, `{"a": "b"}[event]`,
		"sha256(lower(trim(context.traits.email ?? traits.email)))", "unix(timestamp)", "contents(properties.products)",
		"map(properties.products, #.sku)", "reduce(1..10, #acc + #, 0)", "let x = 1; x + 1", "1..3 | map(# * 2)",
		`repeat("x", 3)`, "properties?.a?.b", "$env.type", `$env["type"]`, "now()", "1 +", `"unterminated`,
		"((((", "#", "# > 1", "nil.a", "[1,2][5]", "-", "timestamp.Year()", "properties.s[0:1]", "x\ny",
		"unix", `toJSON({"a": [1, 2]})`, "count(1..1000, # % 2 == 0)", "join(split(\"a,b\", \",\"), \";\")",
		"if true { 1 } else { 2 }", "type ?? 1", "é + 1", "\t type", "properties.n / 0", "properties.n % 0",
	}
	for _, s := range seeds {
		f.Add(s, uint8(0))
		f.Add(s, uint8(5))
	}
	f.Fuzz(func(t *testing.T, expr string, style uint8) {
		styles := []yaml.Style{0, yaml.SingleQuotedStyle, yaml.DoubleQuotedStyle, yaml.LiteralStyle, yaml.FoldedStyle}
		st := styles[int(style)%len(styles)]
		asWhen := style >= 5
		scalar := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: expr, Style: st}
		key := "x"
		if asWhen {
			key = "when"
		}
		doc := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: key}, scalar}}
		if !asWhen {
			doc = &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: "map"}, doc}}
		}
		body, err := yaml.Marshal(doc)
		if err != nil {
			return
		}
		var indented strings.Builder
		for _, line := range strings.SplitAfter(string(body), "\n") {
			if line != "" {
				indented.WriteString("    " + line)
			}
		}
		text := header + indented.String()
		if strings.Count(text, "\n") > 2000 {
			return
		}
		cfg, err := config.Parse("pipelines.yaml", []byte(text), nil)
		if err != nil {
			return // not a valid file (the scalar style did not fit the text)
		}
		pl := cfg.Pipelines["p"]
		start := time.Now()
		p, problems := Compile(cfg, "pipelines.p", &pl.When, &pl.Map)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Compile took %v for %q", d, expr)
		}
		lines := strings.Count(text, "\n") + 1
		for _, pr := range problems {
			if pr.File != "pipelines.yaml" || pr.Line < 9 || pr.Line > lines || pr.Col < 1 || !strings.HasPrefix(pr.Path, "pipelines.p.") || pr.Message == "" {
				t.Fatalf("badly placed problem %q for expression %q in\n%s", pr.String(), expr, text)
			}
		}
		if problems != nil {
			if p != nil {
				t.Fatal("Compile returned a program and problems")
			}
			return
		}
		if !asWhen {
			checkAgainstExpr(t, p, expr)
		}
		start = time.Now()
		out, matched, err := p.Apply(fuzzEvent)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Apply took %v for %q", d, expr)
		}
		var ee *EvalError
		switch {
		case err != nil && !errors.As(err, &ee):
			t.Fatalf("Apply error %v is %T, not *EvalError", err, err)
		case err == nil && matched && !json.Valid(out):
			t.Fatalf("Apply wrote invalid JSON %q", out)
		}
	})
}

// FuzzApply maps random events with the pipelines of testdata: no panics,
// errors of the documented types, valid JSON that agrees with Map, and
// NewEnv agreeing with encoding/json.
func FuzzApply(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{`{}`, `{"type":"track","properties":{"products":[1,{"sku":null}]}}`, `[]`, `{"timestamp":"x"}`, "{\"event\":\"\xff\"}"} {
		f.Add([]byte(s))
	}
	for _, s := range fastEvents {
		f.Add([]byte(s))
	}
	_, progs := loadPipelines(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAgainstEncodingJSON(t, data)
		env, envErr := NewEnv(data)
		if envErr != nil && !errors.Is(envErr, ErrEvent) {
			t.Fatalf("NewEnv error %v does not wrap ErrEvent", envErr)
		}
		for name, p := range progs {
			if p.fast != nil && projects(p, data) != (envErr == nil) {
				t.Fatalf("%s: the projection takes the event: %v; NewEnv error: %v", name, envErr != nil, envErr)
			}
			out, matched, err := p.Apply(data)
			if envErr != nil {
				if err == nil || err.Error() != envErr.Error() {
					t.Fatalf("%s: Apply error %v, NewEnv error %v", name, err, envErr)
				}
				continue
			}
			var ee *EvalError
			if err != nil {
				if !errors.As(err, &ee) {
					t.Fatalf("%s: Apply error %v is %T", name, err, err)
				}
				continue
			}
			if !matched {
				continue
			}
			if !json.Valid(out) {
				t.Fatalf("%s: invalid JSON %q", name, out)
			}
			if p.Maps() {
				m, err := p.Map(env)
				if err != nil {
					t.Fatalf("%s: Map fails (%v) where Apply does not", name, err)
				}
				assertSameJSON(t, out, m)
			}
		}
	})
}

// checkAgainstExpr evaluates expr, compiled by Compile into p as the map:
// field x, and compiled by plain expr-lang, on fuzzEvent. Where expr-lang
// succeeds, both must give the same value: the rewriting only makes
// failures (nil objects, indexes out of range) into nil, and budgets.
func checkAgainstExpr(t *testing.T, p *Program, src string) {
	t.Helper()
	if strings.Contains(src, "now") || strings.Contains(src, "date") {
		return // time-dependent
	}
	env, err := NewEnv(fuzzEvent)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := expr.Compile(src, expr.Env(fieldTypes))
	if err != nil {
		return // uses our functions, or expr-lang's checker is stricter
	}
	want, err := expr.Run(plain, map[string]any(env))
	if err != nil {
		return
	}
	if _, err := json.Marshal(want); err != nil {
		return // NaN and such, which Map refuses
	}
	m, err := p.Map(env)
	if err != nil {
		if errors.Is(err, ErrLimit) {
			return
		}
		t.Fatalf("%q: expr-lang gives %#v, Map fails: %v", src, want, err)
	}
	got := m["x"]
	if want == nil || got == nil {
		if (want == nil) != (got == nil) {
			t.Fatalf("%q: Map gives %#v, expr-lang %#v", src, got, want)
		}
		return
	}
	a, errA := json.Marshal(got)
	b, errB := json.Marshal(want)
	if errA != nil || errB != nil {
		t.Fatalf("%q: cannot encode %#v or %#v", src, got, want)
	}
	if string(a) != string(b) {
		t.Fatalf("%q: Map gives %s, expr-lang %s", src, a, b)
	}
}
