package pluginhost

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/switchboard-cdp/switchboard/core/config"
	"github.com/switchboard-cdp/switchboard/plugins"
)

func testSpec(t testing.TB) plugins.Spec {
	t.Helper()
	spec, err := (&testDest{}).Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func TestPlaceFieldErrors(t *testing.T) {
	yml := oneDestination("test", `target: x
headers:
  X-Key: v
  a.b: dotted
tags: [p, q]
extra: {deep: {list: [{k: 1}]}}`)
	cfg, err := config.Parse("pipelines.yaml", []byte(yml), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Destinations["d"]
	c := checkSettings(cfg, "d", &d, testSpec(t))
	if len(c.problems) > 0 {
		t.Fatal(c.problems)
	}
	tests := []struct{ field, at, path string }{
		{"target", "7:15", "destinations.d.settings.target"},
		{"headers.X-Key", "9:16", "destinations.d.settings.headers.X-Key"},
		{"headers.a.b", "10:14", `destinations.d.settings.headers["a.b"]`},
		{"headers.missing", "9:9", "destinations.d.settings.headers.missing"},
		{"tags.1", "11:17", "destinations.d.settings.tags[1]"},
		{"tags[0]", "11:14", "destinations.d.settings.tags[0]"},
		{"extra.deep.list.0.k", "12:33", "destinations.d.settings.extra.deep.list[0].k"},
		{"nope", "7:7", "destinations.d.settings.nope"},
		{"", "7:7", "destinations.d.settings"},
	}
	for _, tc := range tests {
		n, path := c.place(tc.field)
		p := cfg.Problem(n, path, "x")
		if at := strings.Join([]string{itoa(p.Line), itoa(p.Col)}, ":"); at != tc.at || path != tc.path {
			t.Errorf("place(%q) = %s %s; want %s %s", tc.field, at, path, tc.at, tc.path)
		}
	}
}

func itoa(i int) string { return jsonNumber(i) }

func jsonNumber(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestSettingsWithoutASettingsBlock(t *testing.T) {
	yml := `sources:
  web: {type: segment, write_keys: [k]}
destinations:
  d: {plugin: test}
  e:
    plugin: test
    settings:
`
	cfg, err := config.Parse("pipelines.yaml", []byte(yml), nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"d": "pipelines.yaml:4:6: destinations.d.settings.target: required",
		"e": "pipelines.yaml:7:14: destinations.e.settings.target: required",
	} {
		d := cfg.Destinations[name]
		c := checkSettings(cfg, name, &d, testSpec(t))
		if got := c.problems.Error(); got != want {
			t.Errorf("%s: %s; want %s", name, got, want)
		}
	}
}

// FuzzCheckSettings feeds arbitrary settings blocks to the checker: it
// must not panic, every problem has a position, and settings without
// problems are a JSON object.
func FuzzCheckSettings(f *testing.F) {
	for _, seed := range []string{
		"target: x",
		"target: [x]\ncount: many",
		"<<: {target: merged}\nlevel: &l high\ntags: [*l]",
		"extra: {a: [1, 2, {b: .inf}]}",
		"headers: {A: ${X}}",
		"wait: 10",
		"target: x\nextra: &a [*a]",
	} {
		f.Add(seed, "headers.A")
	}
	spec := testSpec(f)
	f.Fuzz(func(t *testing.T, settings, field string) {
		yml := oneDestination("test", settings)
		cfg, err := config.Parse("pipelines.yaml", []byte(yml), nil)
		if err != nil {
			return
		}
		d, ok := cfg.Destinations["d"]
		if !ok {
			return
		}
		c := checkSettings(cfg, "d", &d, spec)
		for _, p := range c.problems {
			if p.Line < 1 || p.Col < 1 || !strings.HasPrefix(p.Path, "destinations.d.settings") {
				t.Errorf("problem %s", p)
			}
		}
		if len(c.problems) == 0 {
			var m map[string]any
			if err := json.Unmarshal(c.json, &m); err != nil {
				t.Errorf("settings JSON %q: %v", c.json, err)
			}
		}
		n, path := c.place(field)
		if p := cfg.Problem(n, path, "x"); p.Line < 1 || !strings.HasPrefix(path, "destinations.d.settings") {
			t.Errorf("place(%q) = %s", field, p)
		}
	})
}
