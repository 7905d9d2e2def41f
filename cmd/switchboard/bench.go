package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func newBenchCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure Switchboard on this machine",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newBenchAllCmd(g), newBenchSoakCmd(g), newBenchIngestCmd(g), newBenchServeProfiledCmd(g))
	return cmd
}

// benchOptions are bench ingest's flags.
type benchOptions struct {
	events      int
	batch       int
	connections int
	rate        float64
	rounds      int
	warmup      float64
	server      string
	writeKey    string
	dir         string
	cpuprofile  string
	raw         bool
	json        bool
}

// The targets, for 100 events of ~600 bytes per request.
const (
	benchTargetEventsPerSec = 50_000
	benchTargetP99          = 25 * time.Millisecond
	benchTargetRSS          = 150 << 20
	benchTargetRatio        = 0.5
	benchDefaultWriteKey    = "bench-write-key"
)

func newBenchIngestCmd(g *globals) *cobra.Command {
	o := benchOptions{}
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Whole-system ingest benchmark: /v1/batch with durable acks vs raw JetStream async publish",
		Long: `Starts "switchboard serve" as a child process on a fresh store (or drives
--server), posts pre-built Segment track events of ~600 bytes to /v1/batch
over --connections keep-alive connections, then stops the server and
async-publishes the same messages straight to an embedded JetStream with the
same stream config, the ceiling. Prints events/s, request latency, the
server's peak RSS and the ratio to the ceiling against the targets, and how
much CPU other programs took meanwhile (a busy machine understates results).

By default the load is a closed loop, as in the peer comparison: latency then
follows from throughput (16 connections x 100 events in flight at 50,000
events/s is 32 ms on average). --rate offers a fixed load instead and counts
each request's latency from when it was due.

Missed targets are a measurement, not a failure: the exit status is 0 unless
requests or raw publishes failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBenchIngest(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.events, "events", 300_000, "events to send in the measured phase")
	f.IntVar(&o.batch, "batch", 100, "events per /v1/batch request")
	f.IntVar(&o.connections, "connections", 16, "concurrent keep-alive connections")
	f.Float64Var(&o.rate, "rate", 0, "open loop: offer this many events/s and measure latency from when each request was due (0: closed loop, as fast as the server answers)")
	f.IntVar(&o.rounds, "rounds", 1, "rounds to run (each: fresh server and store, then the raw ceiling); medians are reported")
	f.Float64Var(&o.warmup, "warmup", 0.05, "extra events sent first, as a fraction of --events, not measured")
	f.StringVar(&o.server, "server", "", "drive this running server (http://HOST:PORT) instead of starting one; no RSS then")
	f.StringVar(&o.writeKey, "write-key", "", "write key of a source on --server")
	f.StringVar(&o.dir, "dir", "", "parent of the temporary directory holding the stores (default: the system temp dir)")
	f.StringVar(&o.cpuprofile, "cpuprofile", "", "write the server child's CPU profile to this file (last round)")
	f.BoolVar(&o.raw, "raw", true, "also measure the raw JetStream ceiling")
	f.BoolVar(&o.json, "json", false, "print the results as JSON")
	return cmd
}

// benchRound is one round's measurement.
type benchRound struct {
	EventsPerSec  float64  `json:"events_per_sec"`
	AckedEvents   int      `json:"acked_events"`
	Requests      int      `json:"requests"`
	Failed        int      `json:"failed_requests"`
	Seconds       float64  `json:"seconds"`
	P50ms         float64  `json:"p50_ms"`
	P90ms         float64  `json:"p90_ms"`
	P99ms         float64  `json:"p99_ms"`
	Maxms         float64  `json:"max_ms"`
	ServerCores   float64  `json:"server_cpu_cores,omitempty"`
	LoadCores     float64  `json:"generator_cpu_cores"`
	OtherCores    float64  `json:"other_processes_cpu_cores"` // -1: unknown
	PeakRSS       int64    `json:"server_peak_rss_bytes,omitempty"`
	RawPerSec     float64  `json:"raw_publish_per_sec,omitempty"`
	RawFailed     int      `json:"raw_failed,omitempty"`
	RawOtherCores float64  `json:"raw_other_processes_cpu_cores,omitempty"` // -1: unknown
	Ratio         float64  `json:"ratio,omitempty"`
	Errors        []string `json:"errors,omitempty"`
	RawErrors     []string `json:"raw_errors,omitempty"`
	ServerExitErr string   `json:"server_exit_error,omitempty"`
}

// benchReport is the whole result; the summary fields are medians over the
// rounds (peak RSS: the maximum; failures: the sum).
type benchReport struct {
	Events         int          `json:"events"`
	Batch          int          `json:"batch"`
	Connections    int          `json:"connections"`
	Rate           float64      `json:"rate,omitempty"` // offered events/s (open loop); 0: closed loop
	GOMAXPROCS     int          `json:"gomaxprocs"`
	MeanEventBytes int          `json:"mean_event_bytes"`
	Server         string       `json:"server"` // "child" or the --server URL
	Rounds         []benchRound `json:"rounds"`

	EventsPerSec float64 `json:"events_per_sec"`
	P50ms        float64 `json:"p50_ms"`
	P99ms        float64 `json:"p99_ms"`
	PeakRSS      int64   `json:"server_peak_rss_bytes,omitempty"`
	RawPerSec    float64 `json:"raw_publish_per_sec,omitempty"`
	Ratio        float64 `json:"ratio,omitempty"`
	Failed       int     `json:"failed_requests"`

	Targets benchTargets `json:"targets"`
	Met     bool         `json:"targets_met"`
}

type benchTargets struct {
	EventsPerSec float64 `json:"events_per_sec_min"`
	P99ms        float64 `json:"p99_ms_max"`
	PeakRSS      int64   `json:"server_peak_rss_bytes_max"`
	Ratio        float64 `json:"ratio_min"`
}

func runBenchIngest(ctx context.Context, g *globals, o benchOptions) error {
	switch {
	case o.events < 1 || o.batch < 1 || o.connections < 1 || o.rounds < 1:
		return errors.New("bench: --events, --batch, --connections and --rounds must be at least 1")
	case o.rate < 0:
		return errors.New("bench: --rate must not be negative")
	case o.warmup < 0 || o.warmup > 1:
		return errors.New("bench: --warmup is a fraction between 0 and 1")
	case o.server != "" && o.writeKey == "":
		return errors.New("bench: --server needs --write-key, a write key of one of its segment sources")
	case o.server != "" && o.cpuprofile != "":
		return errors.New("bench: --cpuprofile profiles the server child; it cannot be used with --server")
	case o.server == "" && o.writeKey == "":
		o.writeKey = benchDefaultWriteKey
	}
	tmp, err := os.MkdirTemp(o.dir, "switchboard-bench-*")
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(tmp)

	if o.server != "" {
		o.server = strings.TrimSuffix(o.server, "/")
		if err := waitBenchReady(ctx, o.server, 10*time.Second, nil); err != nil {
			return err
		}
	}

	rep := &benchReport{
		Events: o.events, Batch: o.batch, Connections: o.connections, Rate: o.rate,
		GOMAXPROCS: runtime.GOMAXPROCS(0), Server: "child",
		Targets: benchTargets{
			EventsPerSec: benchTargetEventsPerSec,
			P99ms:        benchMillis(benchTargetP99),
			PeakRSS:      benchTargetRSS,
			Ratio:        benchTargetRatio,
		},
	}
	if o.server != "" {
		rep.Server = o.server
	}
	progress := func(format string, a ...any) {
		fmt.Fprintf(g.stderr, "bench: "+format+"\n", a...)
	}
	for r := range o.rounds {
		progress("round %d/%d: building %d events (+%.0f%% warm-up)", r+1, o.rounds, o.events, o.warmup*100)
		rng := benchRand()
		warm := buildBenchPayload(rng, int(float64(o.events)*o.warmup), o.batch, false)
		meas := buildBenchPayload(rng, o.events, o.batch, false)
		rep.MeanEventBytes = meas.eventBytes() / len(meas.events)
		round, err := benchOneRound(ctx, g, o, filepath.Join(tmp, fmt.Sprintf("round-%d", r+1)), r == o.rounds-1, warm, meas, progress)
		if err != nil {
			return err
		}
		rep.Rounds = append(rep.Rounds, round)
	}
	rep.summarize()
	if o.json {
		if err := writeBenchJSON(g.stdout, rep); err != nil {
			return err
		}
	} else {
		writeBenchTable(g.stdout, rep)
	}
	rawFailed := 0
	for _, rd := range rep.Rounds {
		rawFailed += rd.RawFailed
	}
	if rep.Failed > 0 || rawFailed > 0 {
		if !o.json {
			fmt.Fprintf(g.stdout, "FAILED: %d requests were not answered 200; %d raw publishes were not acknowledged\n", rep.Failed, rawFailed)
		}
		return exitError(1)
	}
	return nil
}

// benchOneRound runs one round in dir: the server phase (warm-up, then the
// measured load), the server's shutdown, then the raw ceiling.
func benchOneRound(ctx context.Context, g *globals, o benchOptions, dir string, last bool,
	warm, meas *benchPayload, progress func(string, ...any)) (benchRound, error) {
	var round benchRound
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return round, fmt.Errorf("bench: %w", err)
	}
	base := o.server
	var child *benchChild
	if base == "" {
		prof := ""
		if last && o.cpuprofile != "" {
			prof, _ = filepath.Abs(o.cpuprofile)
		}
		progress("starting switchboard serve")
		var err error
		child, err = startBenchChild(ctx, filepath.Join(dir, "serve"), o.writeKey, "", benchProfile{CPU: prof}, "", g.stderr)
		if err != nil {
			return round, err
		}
		defer child.stop()
		base = child.url
	}

	load := newBenchLoad(base+"/v1/batch", o.writeKey, o.connections)
	defer load.close()
	if len(warm.bodies) > 0 {
		progress("warm-up: %d events", len(warm.events))
		res := load.run(ctx, warm, 0)
		if err := ctx.Err(); err != nil {
			return round, err
		}
		if res.Failed > 0 {
			progress("warm-up: %d of %d requests failed: %s", res.Failed, res.Requests, strings.Join(res.Errors, "; "))
		}
	}

	if o.rate > 0 {
		progress("measuring: %d events, %d per request, %d connections, open loop at %.0f events/s", len(meas.events), o.batch, o.connections, o.rate)
	} else {
		progress("measuring: %d events, %d per request, %d connections, closed loop", len(meas.events), o.batch, o.connections)
	}
	var srvCPU0 time.Duration
	if child != nil {
		srvCPU0, _ = benchProcCPU(child.cmd.Process.Pid)
	}
	var interval time.Duration
	if o.rate > 0 {
		interval = time.Duration(float64(o.batch) / o.rate * float64(time.Second))
	}
	selfCPU0 := benchSelfCPU()
	allCPU0, allErr := benchMachineCPU()
	res := load.run(ctx, meas, interval)
	selfCPU := benchSelfCPU() - selfCPU0
	allCPU, allErr2 := benchMachineCPU()
	if err := ctx.Err(); err != nil {
		return round, err
	}
	secs := res.Elapsed.Seconds()
	round = benchRound{
		EventsPerSec: float64(res.Acked) / secs,
		AckedEvents:  res.Acked,
		Requests:     res.Requests,
		Failed:       res.Failed,
		Seconds:      secs,
		P50ms:        benchMillis(benchPercentile(res.Latencies, 50)),
		P90ms:        benchMillis(benchPercentile(res.Latencies, 90)),
		P99ms:        benchMillis(benchPercentile(res.Latencies, 99)),
		Maxms:        benchMillis(benchPercentile(res.Latencies, 100)),
		LoadCores:    selfCPU.Seconds() / secs,
		OtherCores:   -1,
		Errors:       res.Errors,
	}
	load.close()
	if child != nil {
		pid := child.cmd.Process.Pid
		if cpu, err := benchProcCPU(pid); err == nil {
			round.ServerCores = (cpu - srvCPU0).Seconds() / secs
			if allErr == nil && allErr2 == nil {
				round.OtherCores = max(0, (allCPU-allCPU0).Seconds()/secs-round.ServerCores-round.LoadCores)
			}
		}
		rss, err := benchPeakRSS(pid)
		if err != nil {
			return round, fmt.Errorf("bench: reading the server's peak RSS: %w", err)
		}
		round.PeakRSS = rss
		progress("stopping switchboard serve")
		if err := child.stop(); err != nil {
			round.ServerExitErr = err.Error()
			progress("serve exited with %v", err)
		}
		if err := os.RemoveAll(filepath.Join(dir, "serve")); err != nil {
			return round, fmt.Errorf("bench: %w", err)
		}
	}

	if !o.raw {
		return round, nil
	}
	progress("raw JetStream ceiling: %d messages", len(meas.events))
	raw, err := openBenchRaw(ctx, filepath.Join(dir, "raw"))
	if err != nil {
		return round, fmt.Errorf("bench: raw JetStream: %w", err)
	}
	defer raw.close()
	if len(warm.events) > 0 {
		raw.publish(ctx, warm)
	}
	selfCPU0 = benchSelfCPU()
	allCPU0, allErr = benchMachineCPU()
	rr := raw.publish(ctx, meas)
	selfCPU = benchSelfCPU() - selfCPU0
	allCPU, allErr2 = benchMachineCPU()
	round.RawOtherCores = -1
	if allErr == nil && allErr2 == nil {
		round.RawOtherCores = max(0, (allCPU-allCPU0-selfCPU).Seconds()/rr.Elapsed.Seconds())
	}
	if err := ctx.Err(); err != nil {
		return round, err
	}
	round.RawPerSec = float64(rr.Published) / rr.Elapsed.Seconds()
	round.RawFailed = rr.Failed
	round.RawErrors = rr.Errors
	if round.RawPerSec > 0 {
		round.Ratio = round.EventsPerSec / round.RawPerSec
	}
	return round, nil
}

// summarize fills the report's summary from its rounds.
func (r *benchReport) summarize() {
	pick := func(f func(benchRound) float64) float64 {
		v := make([]float64, len(r.Rounds))
		for i, rd := range r.Rounds {
			v[i] = f(rd)
		}
		return benchMedian(v)
	}
	r.EventsPerSec = pick(func(b benchRound) float64 { return b.EventsPerSec })
	r.P50ms = pick(func(b benchRound) float64 { return b.P50ms })
	r.P99ms = pick(func(b benchRound) float64 { return b.P99ms })
	r.RawPerSec = pick(func(b benchRound) float64 { return b.RawPerSec })
	r.Ratio = pick(func(b benchRound) float64 { return b.Ratio })
	r.PeakRSS, r.Failed = 0, 0
	for _, rd := range r.Rounds {
		r.PeakRSS = max(r.PeakRSS, rd.PeakRSS)
		r.Failed += rd.Failed
	}
	r.Met = r.Failed == 0 &&
		r.EventsPerSec >= r.Targets.EventsPerSec &&
		r.P99ms <= r.Targets.P99ms &&
		(r.PeakRSS == 0 || r.PeakRSS <= r.Targets.PeakRSS) &&
		(r.RawPerSec == 0 || r.Rate > 0 || r.Ratio >= r.Targets.Ratio)
}

// benchMedian returns the median of v (the mean of the middle two when
// even), or 0 for none.
func benchMedian(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func benchMillis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
