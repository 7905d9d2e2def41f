package main

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestClusterBench measures end-to-end events/s — from the first
// /v1/batch call until the Meta emulator accepted the last event — of one
// serve on embedded JetStream (R1) and of two serves on the 3-node cluster
// (R3), in the same run on the same machine, and where the CPU went. Run
// by `make bench-cluster` and `make test-cluster`.
func TestClusterBench(t *testing.T) {
	if os.Getenv(clusterBenchEnv) == "" && os.Getenv(clusterLongEnv) == "" {
		t.Skipf("set %s=1 (make bench-cluster)", clusterBenchEnv)
	}
	n := 30000
	if v := os.Getenv("SWITCHBOARD_BENCH_CLUSTER_EVENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			t.Fatalf("SWITCHBOARD_BENCH_CLUSTER_EVENTS=%q: want a number ≥ 1000", v)
		}
	}
	const batch, conns, rounds = 100, 8, 2

	// Both set-ups run side by side; rounds alternate between them, so a
	// burst of other work on the machine hits both, and each is reported
	// by its best round.
	dir := t.TempDir()
	emb := clusterBenchSetup{name: "1 serve, embedded JetStream R1", emu: startClusterEmulator(t)}
	e1 := &clusterServe{name: "e1"}
	e1.cfg = clusterServeConfig(t, dir, e1.name, "  store_dir: "+dir+"/data\n  replicas: 1", emb.emu.url, 100*time.Millisecond)
	emb.ss = []*clusterServe{e1}

	clu := clusterBenchSetup{name: "2 serves, 3-node cluster R3", emu: startClusterEmulator(t)}
	clu.c = startClusterNATS(t, buildNATSServer(t), 3)
	natsSection := fmt.Sprintf("  url: %s\n  replicas: 3", clu.c.url())
	for _, name := range []string{"s1", "s2"} {
		s := &clusterServe{name: name}
		s.cfg = clusterServeConfig(t, dir, name, natsSection, clu.emu.url, 100*time.Millisecond)
		clu.ss = append(clu.ss, s)
	}
	startClusterServes(t, append(slices.Clone(emb.ss), clu.ss...)...)
	defer func() {
		for _, s := range append(emb.ss, clu.ss...) {
			s.kill(t)
		}
	}()
	for _, st := range []*clusterBenchSetup{&emb, &clu} {
		clusterWarmUp(t, st, batch)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "end-to-end: %d Segment track events per round in /v1/batch calls of %d over %d connections, each to the Meta emulator; %d CPUs\n",
		n, batch, conns, runtime.NumCPU())
	fmt.Fprintf(&b, "%-38s %12s %15s %9s  %s\n", "", "ingest ev/s", "end-to-end ev/s", "p50 call",
		"CPU seconds: nats-server | serve | plugin | harness (load+emulator) | whole machine")
	best := map[string]clusterBenchPhase{}
	for r := range rounds {
		for _, st := range []*clusterBenchSetup{&emb, &clu} {
			p := runClusterBenchPhase(t, st, fmt.Sprintf("r%d", r), n, batch, conns)
			fmt.Fprintf(&b, "%-38s %12.0f %15.0f %9s  %.1f | %.1f | %.1f | %.1f | %.1f\n", fmt.Sprintf("%s, round %d", st.name, r+1),
				p.ingestRate(), p.e2eRate(), p.p50.Round(time.Millisecond),
				p.cpuNATS.Seconds(), p.cpuServe.Seconds(), p.cpuPlugin.Seconds(), p.cpuHarness.Seconds(), p.cpuMachine.Seconds())
			if q, ok := best[st.name]; !ok || p.e2eRate() > q.e2eRate() {
				best[st.name] = p
			}
		}
	}
	e, c := best[emb.name], best[clu.name]
	fmt.Fprintf(&b, "best rounds, cluster/embedded: ingest %.0f/%.0f = %.2f, end-to-end %.0f/%.0f = %.2f\n",
		c.ingestRate(), e.ingestRate(), c.ingestRate()/e.ingestRate(), c.e2eRate(), e.e2eRate(), c.e2eRate()/e.e2eRate())
	perK := func(d time.Duration) float64 { return d.Seconds() * 1000 * 1000 / float64(n) }
	fmt.Fprintf(&b, "CPU ms per 1000 events: embedded %.0f (serve %.0f, plugin %.0f); cluster %.0f (nats-server %.0f, serves %.0f, plugins %.0f)\n",
		perK(e.cpuTotal()-e.cpuHarness), perK(e.cpuServe), perK(e.cpuPlugin),
		perK(c.cpuTotal()-c.cpuHarness), perK(c.cpuNATS), perK(c.cpuServe), perK(c.cpuPlugin))
	t.Log("\n" + b.String())
}

// clusterBenchSetup is one configuration under measurement.
type clusterBenchSetup struct {
	name string
	emu  *clusterEmulator
	ss   []*clusterServe
	c    *clusterNATS // nil: embedded
}

// clusterWarmUp sends 2,000 events through st and waits for them at the
// emulator: streams, consumers, buckets, connections and plugins exist.
func clusterWarmUp(t *testing.T, st *clusterBenchSetup, batch int) {
	t.Helper()
	l := newClusterLoad(batch, 0)
	for i := 0; i < 2000/batch; i++ {
		_, body := l.body("warm")
		if !clusterPost(clusterBenchClient, st.ss[i%len(st.ss)].p.url, body) {
			t.Fatalf("%s: warm-up call refused", st.name)
		}
	}
	clusterWait(t, 2*time.Minute, 50*time.Millisecond, st.name+": warm-up delivered", func() bool { return st.emu.accepted.Load() >= 2000 })
}

// clusterBenchPhase is one measured configuration.
type clusterBenchPhase struct {
	name                                     string
	events                                   int
	ingest, e2e, p50                         time.Duration
	cpuNATS, cpuServe, cpuPlugin, cpuHarness time.Duration
	cpuMachine                               time.Duration
}

func (p clusterBenchPhase) ingestRate() float64 { return float64(p.events) / p.ingest.Seconds() }
func (p clusterBenchPhase) e2eRate() float64    { return float64(p.events) / p.e2e.Seconds() }
func (p clusterBenchPhase) cpuTotal() time.Duration {
	return p.cpuNATS + p.cpuServe + p.cpuPlugin + p.cpuHarness
}

// runClusterBenchPhase sends n events as fast as conns closed-loop connections
// go, spread over the setup's serves, and waits until the emulator
// accepted all of them.
func runClusterBenchPhase(t *testing.T, st *clusterBenchSetup, prefix string, n, batch, conns int) clusterBenchPhase {
	t.Helper()
	name, emu, ss, c := st.name, st.emu, st.ss, st.c
	l := newClusterLoad(batch, 0)
	var work [][]byte
	for sent := 0; sent < n; sent += batch {
		_, body := l.body(prefix)
		work = append(work, body)
	}
	n = len(work) * batch
	base := emu.accepted.Load()

	cpu := func() (nats, serve, plugin time.Duration) {
		if c != nil {
			for _, nd := range c.nodes {
				if nd.cmd != nil {
					nats += clusterProcCPU(nd.cmd.Process.Pid)
				}
			}
		}
		for _, s := range ss {
			serve += clusterProcCPU(s.pid())
			for _, ch := range clusterChildPIDs(s.pid()) {
				plugin += clusterProcCPU(ch)
			}
		}
		return
	}
	n0, s0, p0 := cpu()
	h0 := clusterProcCPU(os.Getpid())
	m0 := clusterMachineCPU()

	start := time.Now()
	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	for w := range conns {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(work) {
					return
				}
				t0 := time.Now()
				for !clusterPost(clusterBenchClient, ss[(i+w)%len(ss)].p.url, work[i]) {
					time.Sleep(10 * time.Millisecond)
				}
				mu.Lock()
				lat = append(lat, time.Since(t0))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	ingest := time.Since(start)
	clusterWait(t, 10*time.Minute, 5*time.Millisecond, name+": every event at the emulator", func() bool {
		return emu.accepted.Load() >= base+int64(n)
	})
	e2e := time.Since(start)
	n1, s1, p1 := cpu()
	p := clusterBenchPhase{
		name: name, events: n, ingest: ingest, e2e: e2e, p50: clusterMedian(lat),
		cpuNATS: n1 - n0, cpuServe: s1 - s0, cpuPlugin: p1 - p0,
		cpuHarness: clusterProcCPU(os.Getpid()) - h0, cpuMachine: clusterMachineCPU() - m0,
	}
	t.Logf("%s: %d events ingested in %s, at Meta after %s", name, n, ingest.Round(time.Millisecond), e2e.Round(time.Millisecond))
	return p
}

var clusterBenchClient = &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func clusterMedian(v []time.Duration) time.Duration {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// clusterMachineCPU is the CPU time every process on the machine used so far
// (user+nice+system+irq+softirq from /proc/stat), to show what else ran.
func clusterMachineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7} {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		ticks += v
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}
