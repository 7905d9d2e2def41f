package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-cdp/switchboard/internal/syncio"
)

// bench all is `make bench`: every stage of the system measured in one run,
// each figure the median of several rounds with its spread, beside its
// ceiling and its target.

type benchAllOptions struct {
	rounds      int
	ingest      int     // events per ingest round
	e2e         int     // events per end-to-end throughput round
	isolation   int     // at least this many events per webhook and isolation round
	isolationS  float64 // and enough for about this many seconds each
	latencySecs float64
	latencyRate float64
	steadyRate  float64 // events/s of the sustained end-to-end round
	steadySecs  float64
	ingestRate  float64
	ingestSecs  float64
	connections int
	many        int // connections of the many-clients ingest round (0: none)
	micro       bool
	microCount  int
	repo        string
	out         string
	dir         string
	stages      []string
	cpuprofile  string
	pprofAddr   string
}

func newBenchAllCmd(g *globals) *cobra.Command {
	o := benchAllOptions{}
	cmd := &cobra.Command{
		Use:   "all",
		Short: "The whole-system benchmark of make bench: ceiling, ingest, end to end, micro",
		Long: `Measures, in one run on this machine:
  1. the ceiling: raw JetStream async publish and fetch+ack of the same
     messages on the same kind of store;
  2. ingest: Segment /v1/batch, 100 events per request, closed loop
     (throughput, RSS) at --connections and at --many-connections, and
     open loop at --ingest-rate for --ingest-seconds (request latency and
     RSS under sustained load);
  3. end to end: ingest → pipeline → meta-capi plugin → the Graph API
     emulator (throughput; sent→delivered latency at --latency-rate; and
     latency and serve's memory at --steady-rate for --steady-seconds),
     Segment → webhook (array mode) throughput, and the webhook pipeline's
     throughput while a second pipeline's destination answers only 500
     (isolation: its ratio to the mean of the webhook runs alone just
     before and after it, within each round);
  4. micro: mapping, normalise+hash, plugin round trip (go test -bench);
  5. each figure's ratio to its ceiling and its target, PASS or MISS.
Each figure is the median of --rounds rounds; the spread is min–max. The
table goes to stdout, the JSON to --out. Missed targets are a measurement,
not a failure: the exit status is 1 only if a stage could not run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBenchAll(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.rounds, "rounds", 3, "rounds; every figure is the median")
	f.IntVar(&o.ingest, "ingest-events", 300_000, "events per ingest round (and per raw ceiling round)")
	f.IntVar(&o.e2e, "e2e-events", 150_000, "events per end-to-end throughput round")
	f.IntVar(&o.isolation, "isolation-events", 300_000, "at least this many events per webhook run (alone, with the failing sibling, alone again)")
	f.Float64Var(&o.isolationS, "isolation-seconds", 10, "and enough for about this long each, judged from the round's end-to-end Meta rate (at most 2,000,000): the machine's speed drifts within 5 s runs by more than the 5% isolation measures, and the failing sibling's start-up cost weighs more in short runs")
	f.Float64Var(&o.ingestRate, "ingest-rate", 50_000, "offered events/s of the ingest latency round")
	f.Float64Var(&o.ingestSecs, "ingest-seconds", 30, "length of the ingest latency round (sustained load: JetStream's and the GC's steady state)")
	f.Float64Var(&o.latencyRate, "latency-rate", 5_000, "offered events/s of the end-to-end latency round")
	f.Float64Var(&o.latencySecs, "latency-seconds", 12, "length of the end-to-end latency round")
	f.Float64Var(&o.steadyRate, "steady-rate", 20_000, "offered events/s of the sustained end-to-end round (serve's memory at the end-to-end target rate)")
	f.Float64Var(&o.steadySecs, "steady-seconds", 15, "length of the sustained end-to-end round")
	f.IntVar(&o.connections, "connections", 16, "concurrent keep-alive connections")
	f.IntVar(&o.many, "many-connections", 256, "connections of a second closed-loop ingest round, as a load generator with many clients opens (0: no such round)")
	f.BoolVar(&o.micro, "micro", true, "run the micro-benchmarks (needs the source tree and go)")
	f.IntVar(&o.microCount, "micro-count", 3, "runs of each micro-benchmark")
	f.StringVar(&o.repo, "repo", ".", "the source tree, for the micro-benchmarks")
	f.StringVar(&o.out, "out", "results", "folder for the JSON results")
	f.StringVar(&o.dir, "dir", "", "parent of the temporary stores (default: the system temp dir)")
	f.StringSliceVar(&o.stages, "stages", []string{"ceiling", "ingest", "e2e", "micro"}, "stages to run")
	f.StringVar(&o.cpuprofile, "e2e-cpuprofile", "", "write serve's CPU profile of the last end-to-end meta round here (and its plugin's at FILE.plugin.PID)")
	f.StringVar(&o.pprofAddr, "e2e-pprof", "", "serve net/http/pprof on this HOST:PORT during the last end-to-end meta round (heap profiles of a live serve)")
	return cmd
}

// benchFigure is one row of the table.
type benchFigure struct {
	ID     string    `json:"id"`
	Stage  int       `json:"stage"`
	Name   string    `json:"name"`
	Unit   string    `json:"unit"`
	Values []float64 `json:"values"` // one per round
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	// Ratio is the median over the ceiling's median, when the figure has
	// a ceiling.
	Ceiling string  `json:"ceiling,omitempty"`
	Ratio   float64 `json:"ratio,omitempty"`
	// Target is a bound on the median (or on Ratio when RatioTarget):
	// Op is ">=" or "<=".
	Op          string  `json:"op,omitempty"`
	Target      float64 `json:"target,omitempty"`
	RatioTarget bool    `json:"ratio_target,omitempty"`
	Result      string  `json:"result,omitempty"` // PASS or MISS
}

// benchAllReport is the JSON written to --out.
type benchAllReport struct {
	Started    time.Time       `json:"started"`
	Seconds    float64         `json:"seconds"`
	Machine    benchMachine    `json:"machine"`
	Rounds     int             `json:"rounds"`
	Figures    []*benchFigure  `json:"figures"`
	Problems   []string        `json:"problems,omitempty"`
	E2EDetails []benchE2EEntry `json:"e2e_runs"`
}

type benchE2EEntry struct {
	Round  int            `json:"round"`
	Run    string         `json:"run"`
	Result benchE2EResult `json:"result"`
}

type benchMachine struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPUModel   string `json:"cpu_model,omitempty"`
	MemTotal   string `json:"mem_total,omitempty"`
	Go         string `json:"go"`
	OS         string `json:"os"`
}

func runBenchAll(ctx context.Context, g *globals, o benchAllOptions) error {
	if o.rounds < 1 || o.ingest < 1 || o.e2e < 1 || o.isolation < 1 || o.isolationS < 0 || o.connections < 1 || o.ingestRate <= 0 || o.ingestSecs <= 0 || o.latencyRate <= 0 || o.latencySecs <= 0 || o.steadyRate <= 0 || o.steadySecs <= 0 {
		return errors.New("bench: --rounds, --ingest-events, --e2e-events, --isolation-events, --connections, the rates, --latency-seconds and --steady-seconds must be positive")
	}
	run := map[string]bool{}
	for _, st := range o.stages {
		switch st {
		case "ceiling", "ingest", "e2e", "micro":
			run[st] = true
		default:
			return fmt.Errorf("bench: unknown stage %q (want ceiling, ingest, e2e or micro)", st)
		}
	}
	if !run["micro"] {
		o.micro = false
	}
	rep := &benchAllReport{Started: time.Now().UTC(), Rounds: o.rounds, Machine: benchMachineInfo()}
	tmp, err := os.MkdirTemp(o.dir, "switchboard-bench-*")
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(tmp)

	figs := map[string]*benchFigure{}
	var order []string
	fig := func(id string, stage int, name, unit string) *benchFigure {
		f, ok := figs[id]
		if !ok {
			f = &benchFigure{ID: id, Stage: stage, Name: name, Unit: unit}
			figs[id] = f
			order = append(order, id)
		}
		return f
	}
	add := func(id string, stage int, name, unit string, v float64) {
		f := fig(id, stage, name, unit)
		f.Values = append(f.Values, v)
	}
	// stderr takes this goroutine's progress lines and the child
	// processes' logs, which os/exec copies from other goroutines.
	stderr := &syncio.LockedWriter{W: g.stderr}
	progress := func(format string, a ...any) {
		fmt.Fprintf(stderr, "bench: "+format+"\n", a...)
	}
	problem := func(format string, a ...any) {
		msg := fmt.Sprintf(format, a...)
		progress("%s", msg)
		rep.Problems = append(rep.Problems, msg)
	}
	// Child processes' logs: only warnings and errors reach them; keep
	// them out of the table but visible.
	logs := stderr

	for r := range o.rounds {
		dir := filepath.Join(tmp, fmt.Sprintf("round-%d", r+1))
		progress("round %d/%d", r+1, o.rounds)
		rng := benchRand()
		warm := buildBenchPayload(rng, o.ingest/20, 100, false)
		meas := buildBenchPayload(rng, o.ingest, 100, false)

		// 1. The ceiling.
		if run["ceiling"] {
			progress("ceiling: raw JetStream publish and fetch+ack of %d messages", len(meas.events))
			raw, err := openBenchRaw(ctx, filepath.Join(dir, "raw"))
			if err != nil {
				return fmt.Errorf("bench: raw JetStream: %w", err)
			}
			raw.publish(ctx, warm)
			pr := raw.publish(ctx, meas)
			fr := raw.fetchAck(ctx, len(warm.events)+len(meas.events))
			raw.close()
			if pr.Failed > 0 || fr.Failed > 0 {
				problem("round %d: raw JetStream: %d publishes and %d fetches failed: %s", r+1, pr.Failed, fr.Failed, strings.Join(append(pr.Errors, fr.Errors...), "; "))
			}
			add("ceiling.publish", 1, "raw JetStream async publish", "msg/s", float64(pr.Published)/pr.Elapsed.Seconds())
			add("ceiling.fetch", 1, "raw JetStream fetch+ack", "msg/s", float64(fr.Published)/fr.Elapsed.Seconds())
			if err := os.RemoveAll(filepath.Join(dir, "raw")); err != nil {
				return fmt.Errorf("bench: %w", err)
			}
		}

		// 2. Ingest, closed then open loop.
		if run["ingest"] {
			// round runs one ingest round in dir/sub, described as what in the
			// progress lines and the problems.
			round := func(what, sub string, opts benchOptions, m *benchPayload) (benchRound, error) {
				progress("ingest: %d events, %s", opts.events, what)
				res, err := benchOneRound(ctx, g, opts, filepath.Join(dir, sub), false, warm, m, progress)
				if err == nil && res.Failed > 0 {
					problem("round %d: ingest, %s: %d requests failed: %s", r+1, what, res.Failed, strings.Join(res.Errors, "; "))
				}
				return res, err
			}
			ingestOpts := benchOptions{events: o.ingest, batch: 100, connections: o.connections, writeKey: benchDefaultWriteKey}
			closed, err := round("closed loop", "ingest", ingestOpts, meas)
			if err != nil {
				return err
			}
			add("ingest.rate", 2, "ingest /v1/batch, closed loop", "events/s", closed.EventsPerSec)
			add("ingest.p99closed", 2, "ingest p99 request latency, closed loop", "ms", closed.P99ms)
			add("ingest.rss", 2, "serve peak RSS, ingest", "MB", float64(closed.PeakRSS)/(1<<20))
			if o.many > 0 {
				manyOpts := ingestOpts
				manyOpts.connections = o.many
				many, err := round(fmt.Sprintf("closed loop, %d connections", o.many), "ingest-many", manyOpts, meas)
				if err != nil {
					return err
				}
				add("ingest.many.rate", 2, fmt.Sprintf("ingest, closed loop, %d connections", o.many), "events/s", many.EventsPerSec)
				add("ingest.many.p99", 2, fmt.Sprintf("ingest p99 request latency, %d connections", o.many), "ms", many.P99ms)
				add("ingest.many.rss", 2, fmt.Sprintf("serve peak RSS, ingest, %d connections", o.many), "MB", float64(many.PeakRSS)/(1<<20))
			}
			openEvents := int(o.ingestRate * o.ingestSecs)
			ingestOpts.rate, ingestOpts.events = o.ingestRate, openEvents
			open, err := round(fmt.Sprintf("offered at %.0f/s", o.ingestRate), "ingest-open", ingestOpts, buildBenchPayload(rng, openEvents, 100, false))
			if err != nil {
				return err
			}
			add("ingest.openrate", 2, fmt.Sprintf("ingest at %.0f/s offered: achieved", o.ingestRate), "events/s", open.EventsPerSec)
			add("ingest.p99open", 2, fmt.Sprintf("ingest p99 request latency at %.0f/s", o.ingestRate), "ms", open.P99ms)
			add("ingest.rssopen", 2, fmt.Sprintf("serve peak RSS, %.0f s at %.0f/s", o.ingestSecs, o.ingestRate), "MB", float64(open.PeakRSS)/(1<<20))
		}
		if !run["e2e"] {
			continue
		}

		// 3. End to end.
		e2e := func(run string, spec benchE2ESpec) (benchE2EResult, error) {
			progress("end to end, %s: %d events", run, spec.events)
			res, err := runBenchE2E(ctx, filepath.Join(dir, run), spec, logs, progress)
			if err != nil {
				return res, err
			}
			rep.E2EDetails = append(rep.E2EDetails, benchE2EEntry{Round: r + 1, Run: run, Result: res})
			if res.Failed > 0 || res.Missing > 0 {
				problem("round %d: end to end %s: %d requests failed, %d acknowledged events not delivered (the pipeline: %d pending, %d dead-lettered, %d retries)",
					r+1, run, res.Failed, res.Missing, res.Pending, res.DeadLettered, res.Retried)
			}
			return res, nil
		}
		base := benchE2ESpec{batch: 100, connections: o.connections, events: o.e2e}
		meta := base
		meta.dest = "meta"
		if r == o.rounds-1 && o.cpuprofile != "" {
			meta.cpuprofile, _ = filepath.Abs(o.cpuprofile)
		}
		if r == o.rounds-1 {
			meta.pprofAddr = o.pprofAddr
		}
		mr, err := e2e("meta", meta)
		if err != nil {
			return err
		}
		add("e2e.meta.rate", 3, "end to end → meta-capi → emulator", "events/s", mr.EventsPerSec)
		add("e2e.meta.serveRSS", 3, "serve peak RSS, end to end", "MB", float64(mr.ServeRSS)/(1<<20))
		add("e2e.meta.pluginRSS", 3, "meta-capi plugin peak RSS", "MB", float64(mr.PluginRSS)/(1<<20))
		add("e2e.meta.serveCPU", 3, "serve CPU, end to end", "cores", mr.ServeCores)
		add("e2e.meta.pluginCPU", 3, "meta-capi plugin CPU", "cores", mr.PluginCores)
		lat := meta
		lat.cpuprofile, lat.pprofAddr = "", ""
		lat.rate, lat.events = o.latencyRate, int(o.latencyRate*o.latencySecs)
		lr, err := e2e("meta-latency", lat)
		if err != nil {
			return err
		}
		add("e2e.meta.p50", 3, fmt.Sprintf("stored→delivered p50 at %.0f/s (meta)", o.latencyRate), "ms", lr.P50ms)
		add("e2e.meta.p99", 3, fmt.Sprintf("stored→delivered p99 at %.0f/s (meta)", o.latencyRate), "ms", lr.P99ms)
		add("e2e.meta.latencyRSS", 3, fmt.Sprintf("serve peak RSS at %.0f/s (meta)", o.latencyRate), "MB", float64(lr.ServeRSS)/(1<<20))
		steady := lat
		steady.rate, steady.events = o.steadyRate, int(o.steadyRate*o.steadySecs)
		sr, err := e2e("meta-steady", steady)
		if err != nil {
			return err
		}
		add("e2e.meta.steadyP99", 3, fmt.Sprintf("stored→delivered p99 at %.0f/s (meta)", o.steadyRate), "ms", sr.P99ms)
		add("e2e.meta.steadyRSS", 3, fmt.Sprintf("serve peak RSS at %.0f/s for %.0f s (meta)", o.steadyRate, o.steadySecs), "MB", float64(sr.ServeRSS)/(1<<20))
		ext := meta
		ext.cpuprofile, ext.pprofAddr, ext.externalNATS = "", "", true
		xr, err := e2e("meta-external-nats", ext)
		if err != nil {
			return err
		}
		add("e2e.metaext.rate", 3, "end to end → meta, separate nats-server", "events/s", xr.EventsPerSec)
		add("e2e.metaext.serveRSS", 3, "serve peak RSS, end to end, separate nats-server", "MB", float64(xr.ServeRSS)/(1<<20))
		hook := base
		hook.dest, hook.events = "webhook", isolationEvents(o, mr.EventsPerSec)
		hr, err := e2e("webhook", hook)
		if err != nil {
			return err
		}
		add("e2e.webhook.rate", 3, "end to end → webhook (array)", "events/s", hr.EventsPerSec)
		iso := hook
		iso.failingSibling = true
		ir, err := e2e("webhook-isolation", iso)
		if err != nil {
			return err
		}
		add("e2e.isolation.rate", 3, "webhook while a sibling pipeline gets 100% 500s", "events/s", ir.EventsPerSec)
		// The webhook alone again: the isolation run is compared with the
		// mean of the runs just before and just after it (A-B-A), so a
		// drift in the machine's speed during the three cancels out of
		// the ratio to first order; back to back A-B alone read 0.82 in
		// one round of a run whose other rounds read 0.98-0.99.
		hr2, err := e2e("webhook-after", hook)
		if err != nil {
			return err
		}
		add("e2e.webhook.rate", 3, "end to end → webhook (array)", "events/s", hr2.EventsPerSec)
		if alone := (hr.EventsPerSec + hr2.EventsPerSec) / 2; alone > 0 {
			add("e2e.isolation.ratio", 3, "isolation: that ÷ the webhook runs alone just before and after", "ratio", ir.EventsPerSec/alone)
		}
	}

	// 4. Micro.
	if o.micro {
		progress("micro-benchmarks: go test -bench, %d runs each", o.microCount)
		vals, err := runBenchMicro(ctx, o.repo, o.microCount, stderr)
		if err != nil {
			problem("%v", err)
		}
		for _, c := range benchMicroCases {
			for _, v := range vals[c.id] {
				add(c.id, 4, c.figure, "µs/event", v)
			}
		}
	}

	// 5. Ratios, targets, results.
	for _, id := range order {
		figs[id].summarize()
	}
	ratio := func(id, ceiling string) {
		f, c := figs[id], figs[ceiling]
		if f == nil || c == nil || c.Median == 0 {
			return
		}
		f.Ceiling, f.Ratio = c.Name, f.Median/c.Median
	}
	ratio("ingest.rate", "ceiling.publish")
	ratio("ingest.openrate", "ceiling.publish")
	ratio("ingest.many.rate", "ceiling.publish")
	ratio("e2e.meta.rate", "ceiling.fetch")
	ratio("e2e.webhook.rate", "ceiling.fetch")
	if f, c := figs["e2e.isolation.rate"], figs["e2e.webhook.rate"]; f != nil && c != nil && c.Median > 0 {
		f.Ceiling, f.Ratio = c.Name, f.Median/c.Median
	}
	target := func(id, op string, v float64, onRatio bool) {
		if f := figs[id]; f != nil {
			f.Op, f.Target, f.RatioTarget = op, v, onRatio
			f.judge()
		}
	}
	target("ingest.rate", ">=", 50_000, false)
	target("ingest.p99open", "<=", 25, false)
	target("ingest.rss", "<=", 150, false)
	target("ingest.many.rate", ">=", 50_000, false)
	target("ingest.many.rss", "<=", 150, false)
	target("ingest.rssopen", "<=", 150, false)
	target("e2e.meta.rate", ">=", 20_000, false)
	target("e2e.meta.p99", "<=", 2_000, false)
	target("e2e.meta.serveRSS", "<=", 150, false)
	target("e2e.meta.latencyRSS", "<=", 150, false)
	target("e2e.meta.steadyRSS", "<=", 150, false)
	target("e2e.metaext.serveRSS", "<=", 150, false)
	target("e2e.webhook.rate", ">=", 25_000, false)
	target("e2e.isolation.ratio", ">=", 0.95, false)
	target("micro.mapping", "<=", 5, false)
	target("micro.normalize", "<=", 3, false)
	target("micro.plugin.1000", "<=", 2, false)
	if f := figs["ingest.rate"]; f != nil && f.Ratio > 0 && f.Ratio < 0.5 {
		f.Result = "MISS"
	}
	for _, id := range order {
		rep.Figures = append(rep.Figures, figs[id])
	}
	rep.Seconds = time.Since(rep.Started).Seconds()

	writeBenchAllTable(g.stdout, rep)
	if o.out != "" {
		if err := os.MkdirAll(o.out, 0o750); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		path := filepath.Join(o.out, "bench-"+rep.Started.Format("20060102T150405Z")+".json")
		data, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(path, append(data, '\n'), 0o640); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		fmt.Fprintf(g.stdout, "JSON: %s\n", path)
	}
	if len(rep.Problems) > 0 {
		return exitError(1)
	}
	return nil
}

func (f *benchFigure) summarize() {
	if len(f.Values) == 0 {
		return
	}
	f.Median = benchMedian(f.Values)
	f.Min, f.Max = slices.Min(f.Values), slices.Max(f.Values)
}

func (f *benchFigure) judge() {
	if len(f.Values) == 0 {
		return
	}
	v := f.Median
	if f.RatioTarget {
		v = f.Ratio
	}
	ok := v >= f.Target
	if f.Op == "<=" {
		ok = v <= f.Target
	}
	f.Result = "MISS"
	if ok {
		f.Result = "PASS"
	}
}

// writeBenchAllTable prints the report as one table.
func writeBenchAllTable(w io.Writer, r *benchAllReport) {
	m := r.Machine
	fmt.Fprintf(w, "switchboard bench — %d CPUs (%s), %s RAM, %s, %s; medians of %d rounds, spread min–max; %.0f s\n",
		m.CPUs, m.CPUModel, m.MemTotal, m.Go, m.OS, r.Rounds, r.Seconds)
	fmt.Fprintf(w, "%-2s %-50s %12s %-21s %-10s %6s %-16s %s\n", "#", "figure", "median", "spread", "unit", "ratio", "target", "")
	for _, f := range r.Figures {
		if len(f.Values) == 0 {
			fmt.Fprintf(w, "%-2d %-50s %12s\n", f.Stage, f.Name, "n/a")
			continue
		}
		ratio, tgt := "", ""
		if f.Ceiling != "" {
			ratio = fmt.Sprintf("%.2f", f.Ratio)
		}
		if f.Op != "" {
			tgt = f.Op + " " + benchNum(f.Target)
			if f.RatioTarget {
				tgt = "ratio " + tgt
			} else if f.ID == "ingest.rate" {
				tgt += ", ratio >= 0.5"
			}
		}
		line := fmt.Sprintf("%-2d %-50s %12s %-21s %-10s %6s %-16s %s", f.Stage, f.Name, benchNum(f.Median),
			benchNum(f.Min)+"–"+benchNum(f.Max), f.Unit, ratio, tgt, f.Result)
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	fmt.Fprintln(w, "ratios: ingest to raw publish; end to end to raw fetch+ack; isolation to the webhook runs alone (median to median; the target is on the per-round ratio to the runs just before and after)")
	for _, p := range r.Problems {
		fmt.Fprintf(w, "PROBLEM: %s\n", p)
	}
}

// benchNum prints v with sensible precision.
func benchNum(v float64) string {
	switch a := max(v, -v); {
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// benchMachineInfo describes this machine from /proc.
func benchMachineInfo() benchMachine {
	m := benchMachine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb int64
				if _, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb); err == nil {
					m.MemTotal = fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
				}
			}
		}
	}
	return m
}

// isolationEvents is the number of events of each webhook run of a round:
// --isolation-events, or more when the round's end-to-end Meta rate says
// that many would take less than --isolation-seconds. The webhook pipeline
// runs about 1.3–1.6 times that rate (the Meta plugin hashes and the
// emulator parses); 1.5 is taken. On a machine where 300,000 events took
// 3.5 s the sibling's start (reading and mapping the events it holds,
// three failing batches before its breaker opens) read as 3–11% of the
// webhook's throughput; in ~10 s runs, 0.97–1.03.
func isolationEvents(o benchAllOptions, metaRate float64) int {
	n := min(int(metaRate*1.5*o.isolationS), 2_000_000)
	return max(n, o.isolation)
}
