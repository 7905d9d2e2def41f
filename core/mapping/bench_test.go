package mapping

import (
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
