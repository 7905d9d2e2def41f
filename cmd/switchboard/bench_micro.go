package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// The micro stage runs the hot paths' Go benchmarks with `go test` (so it
// needs the source tree and a Go toolchain, as `make bench` has) and reads
// their figures back from the standard benchmark output format.

// benchMicroCase is one Go benchmark and the figure taken from it.
type benchMicroCase struct {
	id     string // figure id in the report
	pkg    string // package directory, e.g. ./core/mapping
	bench  string // -bench pattern
	name   string // benchmark name as printed, without the -GOMAXPROCS suffix
	unit   string // unit read from the line: "ns/op" or a custom metric
	perOp  int    // events per op when unit is ns/op (1: one event per op)
	figure string
}

var benchMicroCases = []benchMicroCase{
	{id: "micro.mapping", pkg: "./core/mapping", bench: "^BenchmarkApply$", name: "BenchmarkApply", unit: "ns/op", perOp: 1,
		figure: "mapping, 22-field Meta mapping (µs/event)"},
	{id: "micro.normalize", pkg: "./destinations/metacapi/normalize", bench: "^BenchmarkUserData$", name: "BenchmarkUserData", unit: "ns/op", perOp: 1,
		figure: "normalise+hash full user_data (µs/event)"},
	{id: "micro.plugin.1", pkg: "./plugins", bench: "^BenchmarkRoundTrip$/^process$/^batch=1$", name: "BenchmarkRoundTrip/process/batch=1", unit: "ns/event",
		figure: "plugin round trip, batch 1 (µs/event)"},
	{id: "micro.plugin.100", pkg: "./plugins", bench: "^BenchmarkRoundTrip$/^process$/^batch=100$", name: "BenchmarkRoundTrip/process/batch=100", unit: "ns/event",
		figure: "plugin round trip, batch 100 (µs/event)"},
	{id: "micro.plugin.1000", pkg: "./plugins", bench: "^BenchmarkRoundTrip$/^process$/^batch=1000$", name: "BenchmarkRoundTrip/process/batch=1000", unit: "ns/event",
		figure: "plugin round trip, batch 1,000 (µs/event)"},
}

// benchLine matches one result line: name-procs, iterations, then pairs of
// value and unit.
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// runBenchMicro runs every case count times and returns each case's values
// in µs per event, keyed by id. Output of go test goes to logs.
func runBenchMicro(ctx context.Context, dir string, count int, logs io.Writer) (map[string][]float64, error) {
	if _, err := os.Stat(dir + "/go.mod"); err != nil {
		return nil, fmt.Errorf("bench: micro-benchmarks need the source tree (no go.mod in %s); run make bench from the repository", dir)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("bench: micro-benchmarks need the Go toolchain: %w", err)
	}
	// One go test per package, with the package's patterns joined.
	type pkgRun struct {
		pkg      string
		patterns []string
	}
	var runs []pkgRun
	for _, c := range benchMicroCases {
		if len(runs) == 0 || runs[len(runs)-1].pkg != c.pkg {
			runs = append(runs, pkgRun{pkg: c.pkg})
		}
		runs[len(runs)-1].patterns = append(runs[len(runs)-1].patterns, c.bench)
	}
	out := map[string][]float64{}
	for _, r := range runs {
		pattern := r.patterns[0]
		if len(r.patterns) > 1 {
			// Same top level and level two: merge the last level.
			pattern = benchMergePatterns(r.patterns)
		}
		cmd := exec.CommandContext(ctx, goBin, "test", "-run", "^$", "-bench", pattern, "-benchmem",
			"-count", strconv.Itoa(count), r.pkg)
		cmd.Dir = dir
		cmd.Stderr = logs
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("bench: go test %s: %w", r.pkg, err)
		}
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logs, line)
			m := benchLine.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			for _, c := range benchMicroCases {
				if c.pkg != r.pkg || c.name != m[1] {
					continue
				}
				if v, ok := benchMetric(m[2], c.unit); ok {
					per := float64(max(1, c.perOp))
					out[c.id] = append(out[c.id], v/per/1000) // ns → µs
				}
			}
		}
		if err := cmd.Wait(); err != nil {
			return out, fmt.Errorf("bench: go test %s: %w", r.pkg, err)
		}
	}
	return out, nil
}

// benchMergePatterns merges patterns that differ only in their last
// '/'-separated element, such as ^A$/^b$/^c=1$ and ^A$/^b$/^c=2$, into one.
func benchMergePatterns(patterns []string) string {
	var head string
	var lasts []string
	for _, p := range patterns {
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			return strings.Join(patterns, "|")
		}
		if head != "" && p[:i] != head {
			return strings.Join(patterns, "|")
		}
		head = p[:i]
		lasts = append(lasts, "(?:"+p[i+1:]+")")
	}
	// Parenthesised: go test splits a pattern at a top-level '|' too.
	return head + "/(?:" + strings.Join(lasts, "|") + ")"
}

// benchMetric finds the value printed before unit in the value/unit pairs
// of a benchmark line.
func benchMetric(fields, unit string) (float64, bool) {
	f := strings.Fields(fields)
	for i := 0; i+1 < len(f); i += 2 {
		if f[i+1] == unit {
			v, err := strconv.ParseFloat(f[i], 64)
			return v, err == nil
		}
	}
	return 0, false
}
