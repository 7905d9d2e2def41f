package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/switchboard-cdp/switchboard/core/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// loadPipelines parses testdata/pipelines.yaml and compiles every pipeline.
func loadPipelines(t testing.TB) (*config.Config, map[string]*Program) {
	t.Helper()
	cfg, err := config.Load(filepath.Join("testdata", "pipelines.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	progs := map[string]*Program{}
	for name, pl := range cfg.Pipelines {
		p, problems := Compile(cfg, "pipelines."+name, &pl.When, &pl.Map)
		if problems != nil {
			t.Fatalf("pipeline %s: %v", name, problems)
		}
		progs[name] = p
	}
	return cfg, progs
}

// compileFile compiles pipeline p of a whole pipelines.yaml given as text.
func compileFile(t testing.TB, text string) (*Program, config.Problems) {
	t.Helper()
	cfg, err := config.Parse("pipelines.yaml", []byte(text), nil)
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	pl := cfg.Pipelines["p"]
	return Compile(cfg, "pipelines.p", &pl.When, &pl.Map)
}

// header is the start of every pipelines.yaml compileBody builds; the
// pipeline's own lines start at line 9.
const header = `sources:
  web: {type: segment, write_keys: [k]}
destinations:
  d: {plugin: webhook}
pipelines:
  p:
    from: [web]
    to: d
`

// compileBody compiles a pipeline whose when:/map: lines (indented by four
// spaces) are body.
func compileBody(t testing.TB, body string) (*Program, config.Problems) {
	t.Helper()
	return compileFile(t, header+body)
}

// mustCompile compiles body and fails the test on any problem.
func mustCompile(t testing.TB, body string) *Program {
	t.Helper()
	p, problems := compileBody(t, body)
	if problems != nil {
		t.Fatalf("compile:\n%v", problems)
	}
	return p
}

// mapOne compiles a map: with the single field x: expr and evaluates it.
func mapOne(t testing.TB, expr, event string) (any, error) {
	t.Helper()
	p := mustCompile(t, "    map:\n      x: "+expr+"\n")
	env, err := NewEnv([]byte(event))
	if err != nil {
		t.Fatalf("NewEnv: %v", err)
	}
	out, err := p.Map(env)
	if err != nil {
		return nil, err
	}
	return out["x"], nil
}

func TestGolden(t *testing.T) {
	_, progs := loadPipelines(t)
	events, err := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	if err != nil || len(events) == 0 {
		t.Fatalf("no events: %v", err)
	}
	names := make([]string, 0, len(progs))
	for name := range progs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		p := progs[name]
		for _, file := range events {
			event := strings.TrimSuffix(filepath.Base(file), ".json")
			t.Run(name+"/"+event, func(t *testing.T) {
				data, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				got := applyText(t, p, data)
				golden := filepath.Join("testdata", "golden", name, event+".json")
				if *update {
					if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if got != string(want) {
					t.Errorf("output differs from %s:\ngot:\n%s\nwant:\n%s", golden, got, want)
				}
			})
		}
	}
}

// applyText runs Apply and describes the outcome as golden files hold it:
// the indented JSON, "filtered", or "error: ...". It also checks that Map
// and Apply agree.
func applyText(t *testing.T, p *Program, data []byte) string {
	t.Helper()
	out, matched, err := p.Apply(data)
	switch {
	case err != nil:
		return "error: " + err.Error() + "\n"
	case !matched:
		return "filtered\n"
	}
	env, err := NewEnv(data)
	if err != nil {
		t.Fatal(err)
	}
	m, err := p.Map(env)
	if err != nil {
		t.Fatalf("Map fails where Apply does not: %v", err)
	}
	if p.Maps() {
		assertSameJSON(t, out, m)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, out, "", "  "); err != nil {
		t.Fatalf("Apply wrote invalid JSON %s: %v", out, err)
	}
	return buf.String() + "\n"
}

// assertSameJSON checks that the JSON out and encoding/json's encoding of v
// hold the same data.
func assertSameJSON(t *testing.T, out []byte, v any) {
	t.Helper()
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json.Marshal(Map): %v", err)
	}
	var a, b any
	if err := json.Unmarshal(out, &a); err != nil {
		t.Fatalf("Apply: %v in %s", err, out)
	}
	if err := json.Unmarshal(want, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("Apply and Map differ:\nApply: %s\nMap:   %s", out, want)
	}
}

// TestApplyOrder checks that Apply writes map:'s fields in file order.
func TestApplyOrder(t *testing.T) {
	p := mustCompile(t, `    map:
      z: 1
      a: '"x"'
      m: {c: 1, b: 2}
`)
	out, _, err := p.Apply([]byte(`{"type":"track"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"z":1,"a":"x","m":{"c":1,"b":2}}`; string(out) != want {
		t.Errorf("got %s, want %s", out, want)
	}
}

// TestApplyNames checks the field names Apply writes, which it copies
// padded when they are short (paddedName): of every length around the
// padding's, after and before fields that are left out, nested, and with
// characters JSON escapes.
func TestApplyNames(t *testing.T) {
	var body, fields strings.Builder
	body.WriteString("    map:\n      gone: properties.missing\n      o:\n")
	for n := 1; n <= 40; n++ {
		name := strings.Repeat("k", n)
		fmt.Fprintf(&body, "        %s: %d\n        %s_gone: properties.missing\n", name, n, name)
		fmt.Fprintf(&fields, ",%q:%d", name, n)
	}
	body.WriteString("        'q\"<&>': '\"x\"'\n      last: 1\n")
	want := `{"o":{` + fields.String()[1:] + `,"q\"<&>":"x"},"last":1}`
	p := mustCompile(t, body.String())
	for _, event := range []string{`{"type":"track"}`, `{"type":"track","properties":{"a":1}}`} {
		out, _, err := p.Apply([]byte(event))
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != want {
			t.Errorf("got  %s\nwant %s", out, want)
		}
	}
}

// TestPassThrough checks a pipeline without map:.
func TestPassThrough(t *testing.T) {
	p := mustCompile(t, "    when: event == \"A\"\n")
	if p.Maps() || !p.Filters() {
		t.Errorf("Maps() = %v, Filters() = %v; want false, true", p.Maps(), p.Filters())
	}
	data := []byte(`{"type":"track","event":"A","userId":"u","extra":[1]}`)
	out, matched, err := p.Apply(data)
	if err != nil || !matched || !bytes.Equal(out, data) {
		t.Errorf("Apply = %s, %v, %v; want the event unchanged", out, matched, err)
	}
	env, _ := NewEnv(data)
	m, err := p.Map(env)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"type": "track", "event": "A", "userId": "u"}; !reflect.DeepEqual(m, want) {
		t.Errorf("Map = %v, want %v", m, want)
	}
	_, matched, err = p.Apply([]byte(`{"type":"track","event":"B"}`))
	if matched || err != nil {
		t.Errorf("Apply of a filtered event = %v, %v", matched, err)
	}
}

// TestWhen covers when: forms and nil handling.
func TestWhen(t *testing.T) {
	tests := []struct {
		name, when, event string
		want              bool
		err               string
	}{
		{"absent", "", `{"type":"track"}`, true, ""},
		{"null", "    when:\n", `{"type":"track"}`, true, ""},
		{"literal true", "    when: true\n", `{}`, true, ""},
		{"literal false", "    when: false\n", `{"type":"track"}`, false, ""},
		{"design example", `    when: type == "track" && event in ["Order Completed", "Product Viewed"]` + "\n", `{"type":"track","event":"Product Viewed"}`, true, ""},
		{"missing event field is nil, not an error", `    when: type == "track" && event in ["Order Completed"]` + "\n", `{"type":"track"}`, false, ""},
		{"string equality with a missing field", `    when: event == "x"` + "\n", `{}`, false, ""},
		{"nil result does not match", "    when: properties.consent\n", `{"properties":{}}`, false, ""},
		{"unknown-typed true", "    when: properties.consent\n", `{"properties":{"consent":true}}`, true, ""},
		{"non-boolean at run time", "    when: properties.consent\n", `{"properties":{"consent":"yes"}}`, false, "when: gave a string, want true or false"},
		{"nil in a boolean operator", "    when: properties.consent && type == \"track\"\n", `{}`, false, "when: a value is nil where true or false is needed"},
		{"missing optional chain", "    when: context?.traits?.email != nil\n", `{}`, false, ""},
		{"nil-safe chain without ?.", "    when: context.traits.email == nil\n", `{}`, true, ""},
		{"time comparison", `    when: timestamp > date("2024-01-01T00:00:00Z")` + "\n", `{"timestamp":"2024-06-10T15:30:22Z"}`, true, ""},
		{"source", `    when: source == "web"` + "\n", `{"source":"web"}`, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustCompile(t, tt.when)
			env, err := NewEnv([]byte(tt.event))
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Match(env)
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Fatalf("Match error = %v, want prefix %q", err, tt.err)
				}
				var ee *EvalError
				if !errors.As(err, &ee) || ee.Path != "when" {
					t.Errorf("error %#v is not an *EvalError for when", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Match = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// TestConcurrentApply runs Apply on many goroutines at once (run it with
// -race): the pooled VMs, arenas and buffers must not leak between events.
func TestConcurrentApply(t *testing.T) {
	_, progs := loadPipelines(t)
	p := progs["meta-full"]
	files, _ := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	type result struct {
		out     string
		matched bool
		err     string
	}
	var inputs [][]byte
	var want []result
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out, matched, err := p.Apply(data)
		r := result{out: string(out), matched: matched}
		if err != nil {
			r.err = err.Error()
		}
		inputs = append(inputs, data)
		want = append(want, r)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				k := (g + i) % len(inputs)
				out, matched, err := p.Apply(inputs[k])
				got := result{out: string(out), matched: matched}
				if err != nil {
					got.err = err.Error()
				}
				if got != want[k] {
					t.Errorf("event %d: got %+v, want %+v", k, got, want[k])
					return
				}
			}
		}()
	}
	wg.Wait()
}
