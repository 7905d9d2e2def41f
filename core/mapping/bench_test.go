package mapping

import (
	"github.com/switchboard-cdp/switchboard/core/config"
	"os"
	"path/filepath"
	"testing"
)

// The benchmarks map testdata/events/order-completed.json (a ~750-byte
// Segment track call) with the meta-full pipeline of testdata/pipelines.yaml:
// a 22-field Meta Conversions API mapping (event_name lookup, unix(timestamp),
// messageId, user_data hashed with sha256/lower/trim/digits, custom_data
// with value, currency, content_ids, contents, num_items).

func benchSetup(b *testing.B) (*Program, []byte) {
	b.Helper()
	_, progs := loadPipelines(b)
	data, err := os.ReadFile(filepath.Join("testdata", "events", "order-completed.json"))
	if err != nil {
		b.Fatal(err)
	}
	return progs["meta-full"], data
}

// BenchmarkEvent is the per-event cost as the issue defines it: NewEnv of the
// stored JSON, when:, and map: into a map[string]any.
func BenchmarkEvent(b *testing.B) {
	p, data := benchSetup(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		env, err := NewEnv(data)
		if err != nil {
			b.Fatal(err)
		}
		if ok, err := p.Match(env); !ok || err != nil {
			b.Fatal(ok, err)
		}
		if _, err := p.Map(env); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApply is the same work from JSON to JSON, the way a pipeline
// maps stored events.
func BenchmarkApply(b *testing.B) {
	p, data := benchSetup(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := p.Apply(data); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkApplyParallel is Apply on every core.
func BenchmarkApplyParallel(b *testing.B) {
	p, data := benchSetup(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok, err := p.Apply(data); !ok || err != nil {
				b.Error(ok, err)
				return
			}
		}
	})
}

func BenchmarkNewEnv(b *testing.B) {
	_, data := benchSetup(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewEnv(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMap is map: alone, on an already decoded event.
func BenchmarkMap(b *testing.B) {
	p, data := benchSetup(b)
	env, err := NewEnv(data)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Map(env); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMatch is when: alone.
func BenchmarkMatch(b *testing.B) {
	p, data := benchSetup(b)
	env, err := NewEnv(data)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := p.Match(env); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkCompile is loading the meta-full pipeline (once per start).
func BenchmarkCompile(b *testing.B) {
	cfg, _ := loadPipelines(b)
	pl := cfg.Pipelines["meta-full"]
	b.ReportAllocs()
	for b.Loop() {
		if _, problems := Compile(cfg, "pipelines.meta-full", &pl.When, &pl.Map); problems != nil {
			b.Fatal(problems)
		}
	}
}

// The Default benchmarks measure the target exactly: the web-to-meta
// pipeline of the repository's default pipelines.yaml (a 24-field Meta
// mapping: event_name by lookup, unix(timestamp), 13 user_data fields and 6
// custom_data fields with pluck and contents), on a full Order Completed
// event with every user_data trait (testdata/bench/order-completed-full.json,
// ~1.3 KB, as a stored core/event.Event).
//
//	go test -run '^$' -bench Default -benchmem -count=5 ./core/mapping/
func defaultSetup(b *testing.B) (*Program, []byte) {
	b.Helper()
	cfg, err := config.Load(filepath.Join("..", "..", "pipelines.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	pl, ok := cfg.Pipelines["web-to-meta"]
	if !ok {
		b.Fatal("no web-to-meta pipeline in the default pipelines.yaml")
	}
	p, problems := Compile(cfg, "pipelines.web-to-meta", &pl.When, &pl.Map)
	if problems != nil {
		b.Fatal(problems)
	}
	data, err := os.ReadFile(filepath.Join("testdata", "bench", "order-completed-full.json"))
	if err != nil {
		b.Fatal(err)
	}
	return p, data
}

// BenchmarkDefaultApply is what a pipeline does per stored event: decode,
// when:, map:, encode the output JSON.
func BenchmarkDefaultApply(b *testing.B) {
	p, data := defaultSetup(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := p.Apply(data); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkDefaultMap is map: alone on an already decoded event.
func BenchmarkDefaultMap(b *testing.B) {
	p, data := defaultSetup(b)
	env, err := NewEnv(data)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Map(env); err != nil {
			b.Fatal(err)
		}
	}
}
