package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"
)

// bench soak is the opt-in long run: the end-to-end Meta pipeline at a
// steady offered load for minutes, sampling serve's and the plugin's
// resident memory, to show whether anything grows without bound.

type benchSoakOptions struct {
	duration time.Duration
	rate     float64
	every    time.Duration
	dest     string
	json     bool
	dir      string
	pprof    string
}

func newBenchSoakCmd(g *globals) *cobra.Command {
	o := benchSoakOptions{}
	cmd := &cobra.Command{
		Use:   "soak",
		Short: "Long end-to-end run at a steady load, sampling serve's and the plugin's memory",
		Long: `Starts serve with the Meta pipeline (or --dest webhook) into the emulator in
this process, offers --rate events/s for --duration, and samples the resident
memory (VmRSS) of serve and of its plugin every --every. Prints the samples,
the growth over the second half of the run (MB per minute, least squares) and
whether every acknowledged event was delivered.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBenchSoak(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.duration, "duration", 5*time.Minute, "how long to offer load")
	f.Float64Var(&o.rate, "rate", 5000, "offered events/s")
	f.DurationVar(&o.every, "every", 10*time.Second, "sampling interval")
	f.StringVar(&o.dest, "dest", "meta", "destination: meta or webhook")
	f.BoolVar(&o.json, "json", false, "print the result as JSON")
	f.StringVar(&o.pprof, "pprof", "", "serve net/http/pprof of the serve child on this address (e.g. 127.0.0.1:6060)")
	f.StringVar(&o.dir, "dir", "", "parent of the temporary store (default: the system temp dir)")
	return cmd
}

type benchSample struct {
	Seconds   float64 `json:"seconds"`
	Delivered int     `json:"delivered"`
	ServeRSS  int64   `json:"serve_rss_bytes"`
	PluginRSS int64   `json:"plugin_rss_bytes"`
}

type benchSoakReport struct {
	Dest            string        `json:"dest"`
	Rate            float64       `json:"rate"`
	Seconds         float64       `json:"seconds"`
	Acked           int           `json:"acked_events"`
	Failed          int           `json:"failed_requests"`
	Delivered       int           `json:"delivered_events"`
	Samples         []benchSample `json:"samples"`
	ServeSlopeMBMin float64       `json:"serve_rss_growth_mb_per_min"` // second half
	PluginSlopeMB   float64       `json:"plugin_rss_growth_mb_per_min"`
	ServePeakRSS    int64         `json:"serve_peak_rss_bytes"`
	PluginPeakRSS   int64         `json:"plugin_peak_rss_bytes"`
}

func runBenchSoak(ctx context.Context, g *globals, o benchSoakOptions) error {
	if o.duration <= 0 || o.rate <= 0 || o.every <= 0 {
		return errors.New("bench soak: --duration, --rate and --every must be positive")
	}
	if o.dest != "meta" && o.dest != "webhook" {
		return fmt.Errorf("bench soak: --dest %q: want meta or webhook", o.dest)
	}
	tmp, err := os.MkdirTemp(o.dir, "switchboard-soak-*")
	if err != nil {
		return fmt.Errorf("bench soak: %w", err)
	}
	defer os.RemoveAll(tmp)

	spec := benchE2ESpec{dest: o.dest, batch: 100, connections: 8, rate: o.rate}
	var recv benchReceiver
	if o.dest == "meta" {
		recv = newMetaReceiver()
	} else {
		recv = newHookReceiver(false)
	}
	defer recv.close()
	child, err := startBenchChild(ctx, tmp, benchDefaultWriteKey, "", benchProfile{Addr: o.pprof}, benchE2EConfig(spec, recv.url(), ""), g.stderr)
	if err != nil {
		return err
	}
	defer child.stop()
	servePID := child.cmd.Process.Pid
	pluginPID, err := benchPluginPID(servePID)
	if err != nil {
		return err
	}

	// The receiver keeps what it got; counting and forgetting in chunks
	// keeps this process's memory flat over a long run.
	var (
		mu        sync.Mutex
		delivered int
	)
	drainCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		delivered += recv.count()
		recv.reset()
		return delivered
	}
	rep := &benchSoakReport{Dest: o.dest, Rate: o.rate}
	start := time.Now()
	sample := func() {
		s := benchSample{Seconds: time.Since(start).Seconds(), Delivered: drainCount()}
		s.ServeRSS, _ = benchRSS(servePID)
		s.PluginRSS, _ = benchRSS(pluginPID)
		rep.Samples = append(rep.Samples, s)
		fmt.Fprintf(g.stderr, "bench soak: %4.0fs delivered %d, serve RSS %d MB, plugin RSS %d MB\n",
			s.Seconds, s.Delivered, s.ServeRSS>>20, s.PluginRSS>>20)
	}
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(o.every)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				sample()
			case <-stop:
				return
			}
		}
	}()

	// Offer the load in chunks of 10 s, each built just before it is sent.
	load := newBenchLoad(child.url+"/v1/batch", benchDefaultWriteKey, spec.connections)
	defer load.close()
	rng := benchRand()
	interval := time.Duration(float64(spec.batch) / o.rate * float64(time.Second))
	for time.Since(start) < o.duration && ctx.Err() == nil {
		n := int(o.rate * min(10, (o.duration-time.Since(start)).Seconds()))
		if n < spec.batch {
			break
		}
		lr := load.run(ctx, buildBenchPayload(rng, n, spec.batch, o.dest == "meta"), interval)
		rep.Acked += lr.Acked
		rep.Failed += lr.Failed
	}
	// Drain: until everything arrived or nothing more for 30 s.
	last, lastChange := -1, time.Now()
	for ctx.Err() == nil {
		n := drainCount()
		if n >= rep.Acked {
			break
		}
		if n != last {
			last, lastChange = n, time.Now()
		} else if time.Since(lastChange) > 30*time.Second {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	<-sampled
	sample()
	rep.Seconds = time.Since(start).Seconds()
	rep.Delivered = drainCount()
	rep.ServePeakRSS, _ = benchPeakRSS(servePID)
	rep.PluginPeakRSS, _ = benchPeakRSS(pluginPID)
	rep.ServeSlopeMBMin, rep.PluginSlopeMB = benchSlopes(rep.Samples)
	if err := ctx.Err(); err != nil {
		return err
	}

	if o.json {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		writeBenchSoak(g.stdout, rep)
	}
	if rep.Failed > 0 || rep.Delivered < rep.Acked {
		return exitError(1)
	}
	return nil
}

// benchSlopes fits RSS against time over the second half of the samples
// and returns serve's and the plugin's growth in MB per minute.
func benchSlopes(s []benchSample) (serve, plugin float64) {
	half := s[len(s)/2:]
	if len(half) < 2 {
		return 0, 0
	}
	fit := func(y func(benchSample) float64) float64 {
		var sx, sy, sxx, sxy float64
		for _, p := range half {
			x := p.Seconds / 60
			sx += x
			sy += y(p)
			sxx += x * x
			sxy += x * y(p)
		}
		n := float64(len(half))
		d := n*sxx - sx*sx
		if d == 0 {
			return 0
		}
		return (n*sxy - sx*sy) / d
	}
	serve = fit(func(p benchSample) float64 { return float64(p.ServeRSS) / (1 << 20) })
	plugin = fit(func(p benchSample) float64 { return float64(p.PluginRSS) / (1 << 20) })
	return serve, plugin
}

func writeBenchSoak(w io.Writer, r *benchSoakReport) {
	fmt.Fprintf(w, "switchboard bench soak — %s, %.0f events/s offered for %.0f s\n", r.Dest, r.Rate, r.Seconds)
	fmt.Fprintf(w, "%8s %10s %10s %10s\n", "seconds", "delivered", "serve MB", "plugin MB")
	for _, s := range r.Samples {
		fmt.Fprintf(w, "%8.0f %10d %10d %10d\n", s.Seconds, s.Delivered, s.ServeRSS>>20, s.PluginRSS>>20)
	}
	fmt.Fprintf(w, "acknowledged %d, delivered %d, failed requests %d\n", r.Acked, r.Delivered, r.Failed)
	fmt.Fprintf(w, "peak RSS: serve %d MB, plugin %d MB\n", r.ServePeakRSS>>20, r.PluginPeakRSS>>20)
	fmt.Fprintf(w, "RSS growth over the second half: serve %+.2f MB/min, plugin %+.2f MB/min\n", r.ServeSlopeMBMin, r.PluginSlopeMB)
}

// benchRSS reads a process's current resident set size (VmRSS) in bytes.
func benchRSS(pid int) (int64, error) { return benchStatusBytes(pid, "VmRSS:") }
