package main

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cdp/switchboard/core/pipeline"
)

// Scale-out on a real NATS JetStream cluster: three nats-server processes
// clustered on loopback, two `switchboard serve` processes given all three
// seeds with nats.replicas 3, the Meta Graph API emulator as destination,
// load through both serves; then SIGKILL of NATS nodes and serves under
// load, and the account of every messageId answered with 200.
//
// TestClusterShort runs inside `make test`. `make test-cluster` runs
// TestClusterLong (more load, four faults one after another) and the
// benchmark; `make bench-cluster` only the benchmark.

// clusterEnv opts into the long runs.
const (
	clusterLongEnv  = "SWITCHBOARD_TEST_CLUSTER"
	clusterBenchEnv = "SWITCHBOARD_BENCH_CLUSTER"
)

// clusterFault is one thing the harness breaks under load, then repairs.
type clusterFault struct {
	name string
	// node: SIGKILL the NATS node leading this asset ("EVENTS", the
	// pipeline consumer, the Meta state bucket); empty: no node.
	node string
	// serve: SIGKILL this serve (index), -1: none.
	serve int
}

// clusterRun is one scenario's shape.
type clusterRun struct {
	workers  int           // concurrent callers
	batch    int           // events per /v1/batch call
	interval time.Duration // between one caller's calls
	warmup   int           // events at the emulator before the first fault
	during   int           // events acknowledged while a fault lasts
	after    int           // events acknowledged by a restarted serve before the next fault
	faults   []clusterFault
	drain    time.Duration // deadline for every acknowledged event to arrive
}

// TestClusterShort is the short case of the harness, inside `make test`:
// one NATS node (the events stream's leader) and one serve killed at the
// same moment under load, both restarted.
func TestClusterShort(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server and runs a 3-node cluster")
	}
	runCluster(t, clusterRun{
		workers: 2, batch: 10, interval: 100 * time.Millisecond,
		warmup: 200, during: 300, after: 100,
		faults: []clusterFault{{name: "events-stream leader node and serve s1 together", node: "EVENTS", serve: 0}},
		drain:  3 * time.Minute,
	})
}

// TestClusterLong is `make test-cluster`: more load and four faults in a
// row — the events stream's leader node, a serve, the node leading the
// pipeline consumer together with the other serve, the node leading the
// Meta dedupe bucket.
func TestClusterLong(t *testing.T) {
	if os.Getenv(clusterLongEnv) == "" {
		t.Skipf("set %s=1 (make test-cluster)", clusterLongEnv)
	}
	runCluster(t, clusterRun{
		workers: 4, batch: 25, interval: 100 * time.Millisecond,
		warmup: 2000, during: 3000, after: 1000,
		faults: []clusterFault{
			{name: "events-stream leader node", node: "EVENTS", serve: -1},
			{name: "serve s2", serve: 1},
			{name: "pipeline-consumer leader node and serve s1 together", node: "consumer", serve: 0},
			{name: "Meta dedupe-stream leader node", node: "state", serve: -1},
		},
		drain: 5 * time.Minute,
	})
}

func runCluster(t *testing.T, r clusterRun) {
	start := time.Now()
	bin := buildNATSServer(t)
	t.Logf("nats-server built in %s", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	c := startClusterNATS(t, bin, 3)
	emu := startClusterEmulator(t)
	dir := t.TempDir()
	natsSection := fmt.Sprintf("  url: %s\n  replicas: 3", c.url())

	// Both serves start right after the nodes: they wait for the
	// cluster to elect leaders rather than fail.
	serves := []*clusterServe{{name: "s1"}, {name: "s2"}}
	for _, s := range serves {
		s.cfg = clusterServeConfig(t, dir, s.name, natsSection, emu.url, 50*time.Millisecond)
	}
	load := newClusterLoad(r.batch, r.interval)
	clusterDiag = func() string {
		var b strings.Builder
		load.mu.Lock()
		fmt.Fprintf(&b, "load: %d acknowledged, %d calls failed, per serve %v, targets %v\n", len(load.acked), load.failed, load.perName, load.targets)
		load.mu.Unlock()
		fmt.Fprintf(&b, "Meta received %d\n", emu.received())
		for _, name := range []string{"EVENTS", pipeline.DeadLetterStream, "SB_SEEN_meta"} {
			if info := c.streamInfo(name); info != nil {
				fmt.Fprintf(&b, "stream %s: %d messages; %s\n", name, info.State.Msgs, clusterPlacement(info.Cluster))
			}
		}
		for _, nd := range c.nodes {
			if nd.cmd != nil {
				fmt.Fprintf(&b, "--- nats-server %s log tail:\n%s\n", nd.name, clusterTail(nd.logs.String(), 15))
			}
		}
		for _, s := range serves {
			if s.p != nil {
				fmt.Fprintf(&b, "--- serve %s log tail:\n%s\n", s.name, clusterTail(s.p.logs.String(), 40))
			}
		}
		return b.String()
	}
	defer func() { clusterDiag = nil }()
	startClusterServes(t, serves...)
	t.Logf("3 NATS nodes and 2 serves ready in %s", time.Since(start).Round(time.Millisecond))
	killedAt := map[string]time.Time{}
	load.setTargets(serves...)
	load.start(r.workers)
	stopped := false
	defer func() {
		if !stopped {
			load.halt()
		}
	}()
	clusterWait(t, 2*time.Minute, 250*time.Millisecond, "deliveries under way", func() bool { return emu.received() >= r.warmup })
	clusterCheckReplicas(t, c) // the Meta state bucket exists once deliveries began

	for fi, f := range r.faults {
		t.Logf("fault %d: SIGKILL %s (acknowledged so far %d, at Meta %d)", fi+1, f.name, load.ackedCount(), emu.received())
		node := -1
		if f.node != "" {
			node = c.index(clusterLeaderOf(t, c, f.node))
		}
		var victim *clusterServe
		if f.serve >= 0 {
			victim = serves[f.serve]
		}
		// Kill together: the node first, then the serve, back to back.
		if node >= 0 {
			c.kill(node)
			t.Logf("  killed NATS node %s (leader of %s)", c.nodes[node].name, f.node)
		}
		if victim != nil {
			victim.kill(t)
			killedAt[victim.name] = victim.killed
			load.setTargets(serves...)
			t.Logf("  killed serve %s", victim.name)
		}
		at := load.ackedCount()
		clusterWait(t, 2*time.Minute, 250*time.Millisecond, fmt.Sprintf("%d more events acknowledged during the fault", r.during),
			func() bool { return load.ackedCount() >= at+r.during })
		if node >= 0 {
			c.start(node)
			t.Logf("  restarted NATS node %s", c.nodes[node].name)
		}
		if victim != nil {
			// The restarted serve is a new incarnation: a new name for
			// the emulator's attribution.
			victim.name = clusterNextIncarnation(victim.name)
			victim.cfg = clusterServeConfig(t, dir, victim.name, natsSection, emu.url, 50*time.Millisecond)
			startClusterServes(t, victim)
			load.setTargets(serves...)
			t.Logf("  restarted serve as %s", victim.name)
			clusterWait(t, 2*time.Minute, 250*time.Millisecond, fmt.Sprintf("%d events through %s", r.after, victim.name),
				func() bool { return load.countFor(victim.name) >= r.after })
		}
		clusterWait(t, 2*time.Minute, 500*time.Millisecond, "the events stream whole again", func() bool {
			info := c.streamInfo("EVENTS")
			return info != nil && clusterWhole(info.Cluster, 3)
		})
		for _, s := range serves {
			s.scrape()
		}
	}
	load.halt()
	stopped = true
	acked := load.ackedCount()
	t.Logf("load stopped: %d events acknowledged with 200 (%d calls failed — %d of them answered 503 — and were sent again to a serve; %d events never acknowledged)",
		acked, load.failed, load.refused, load.gaveUp)
	drainStart := time.Now()

	// Every acknowledged event must reach Meta or the dead-letter stream.
	var missing []string
	var dlq map[string]bool
	var got map[string]*clusterDelivery
	clusterWait(t, r.drain, time.Second, "every acknowledged event delivered or dead-lettered", func() bool {
		if emu.received() < acked-len(dlq) {
			return false
		}
		var err error
		if dlq, err = c.deadLetteredIDs(); err != nil {
			return false
		}
		got = emu.deliveries()
		missing = missing[:0]
		load.mu.Lock()
		for id := range load.acked {
			if got[id] == nil && !dlq[id] {
				missing = append(missing, id)
			}
		}
		load.mu.Unlock()
		return len(missing) == 0
	})
	t.Logf("every acknowledged event accounted for %s after the load stopped", time.Since(drainStart).Round(time.Millisecond))
	reportCluster(t, c, emu, load, serves, got, dlq, killedAt)
}

// clusterNextIncarnation names a serve's next process: s1 → s1b → s1c.
func clusterNextIncarnation(name string) string {
	if last := name[len(name)-1]; last >= 'b' && last < 'z' && len(name) > 2 {
		return name[:len(name)-1] + string(last+1)
	}
	return name + "b"
}

// clusterLeaderOf names the NATS node leading an asset: "EVENTS", "consumer"
// (the pipeline's) or "state" (the Meta destination's bucket).
func clusterLeaderOf(t *testing.T, c *clusterNATS, asset string) string {
	t.Helper()
	var leader string
	clusterWait(t, time.Minute, 250*time.Millisecond, "the leader of "+asset, func() bool {
		switch asset {
		case "consumer":
			if info := c.consumerInfo("EVENTS", pipeline.ConsumerName(clusterPipeline)); info != nil && info.Cluster != nil {
				leader = info.Cluster.Leader
			}
		case "state":
			if info := c.streamInfo("SB_SEEN_meta"); info != nil && info.Cluster != nil {
				leader = info.Cluster.Leader
			}
		default:
			if info := c.streamInfo(asset); info != nil && info.Cluster != nil {
				leader = info.Cluster.Leader
			}
		}
		return leader != ""
	})
	return leader
}

// clusterCheckReplicas checks every JetStream asset Switchboard made has three
// replicas: the events stream, the pipeline's consumer, the dead-letter
// stream and the Meta dedupe bucket.
func clusterCheckReplicas(t *testing.T, c *clusterNATS) {
	t.Helper()
	clusterWait(t, 2*time.Minute, 250*time.Millisecond, "events, DLQ and state streams and the pipeline consumer at R3", func() bool {
		for _, name := range []string{"EVENTS", pipeline.DeadLetterStream, "SB_SEEN_meta"} {
			info := c.streamInfo(name)
			if info == nil || info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
				return false
			}
		}
		info := c.consumerInfo("EVENTS", pipeline.ConsumerName(clusterPipeline))
		return info != nil && info.Cluster != nil && len(info.Cluster.Replicas) == 2
	})
	for _, name := range []string{"EVENTS", pipeline.DeadLetterStream, "SB_SEEN_meta"} {
		t.Logf("stream %s: R3, %s", name, clusterPlacement(c.streamInfo(name).Cluster))
	}
	t.Logf("consumer %s: R3, %s", pipeline.ConsumerName(clusterPipeline),
		clusterPlacement(c.consumerInfo("EVENTS", pipeline.ConsumerName(clusterPipeline)).Cluster))
}

// clusterInFlightWindow bounds how long before its SIGKILL a serve may have sent
// an event to Meta without having recorded it yet in the dedupe bucket:
// one delivery call (destination timeout 10s, the recording included),
// with slack for a loaded machine.
const clusterInFlightWindow = 15 * time.Second

// reportCluster logs the account of the run and checks Meta's side: an
// event may reach Meta twice only when the serve that sent it first was
// SIGKILLed right after Meta accepted it and before the dedupe record was
// written — that process is gone, and the event's redelivery to another
// process finds no record (Meta itself discards the copy by event_id).
// Any other duplicate fails the test: dedupe state is shared by every
// process through JetStream.
func reportCluster(t *testing.T, c *clusterNATS, emu *clusterEmulator, load *clusterLoad,
	serves []*clusterServe, got map[string]*clusterDelivery, dlq map[string]bool, killedAt map[string]time.Time) {
	t.Helper()
	load.mu.Lock()
	acked := len(load.acked)
	perName := map[string]int{}
	for k, v := range load.perName {
		perName[k] = v
	}
	load.mu.Unlock()

	// Who delivered what, by serve incarnation (partner_agent).
	delivered := map[string]int{}
	var dups []string
	inFlight := map[string]int{} // killed serve → its unrecorded in-flight events sent again
	for id, d := range got {
		for _, by := range d.by {
			delivered[by]++
		}
		if d.copies == 1 {
			continue
		}
		killed, ok := killedAt[d.by[0]]
		if ok && d.copies == 2 && !d.first.After(killed) && killed.Sub(d.first) < clusterInFlightWindow {
			inFlight[d.by[0]]++
			continue
		}
		dups = append(dups, fmt.Sprintf("%s ×%d by %s, first at %s", id, d.copies, strings.Join(d.by, ","), d.first.Format("15:04:05.000")))
	}
	names := map[string]bool{}
	for n := range perName {
		names[n] = true
	}
	for n := range delivered {
		names[n] = true
	}
	var sorted []string
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	var b strings.Builder
	fmt.Fprintf(&b, "account: %d events acknowledged with 200; %d distinct at Meta (%d sent beyond the acknowledged ones, from calls whose answer was lost), %d dead-lettered; 0 missing\n",
		acked, len(got), max(len(got)-acked, 0), len(dlq))
	fmt.Fprintf(&b, "%-6s %12s %18s  %s\n", "serve", "acked (200)", "delivered to Meta", "")
	for _, n := range sorted {
		note := ""
		if k, ok := killedAt[n]; ok {
			note = fmt.Sprintf("SIGKILLed at %s; %d events it sent in its last moments, before recording them, were sent again by another process",
				k.Format("15:04:05.000"), inFlight[n])
		}
		fmt.Fprintf(&b, "%-6s %12d %18d  %s\n", n, perName[n], delivered[n], note)
	}
	for _, s := range serves {
		if s.scrape() {
			fmt.Fprintf(&b, "%s /metrics: %s\n", s.name, s.last)
		}
	}
	for _, name := range []string{"EVENTS", pipeline.DeadLetterStream, "SB_SEEN_meta"} {
		if info := c.streamInfo(name); info != nil {
			fmt.Fprintf(&b, "stream %s: %d messages, %d bytes per replica; %s\n", name, info.State.Msgs, info.State.Bytes, clusterPlacement(info.Cluster))
		}
	}
	// What the live serves warned about while riding through the faults.
	for _, s := range serves {
		if s.p == nil {
			continue
		}
		var warns []string
		for _, line := range strings.Split(s.p.logs.String(), "\n") {
			if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
				warns = append(warns, line)
			}
		}
		fmt.Fprintf(&b, "%s logged %d warnings/errors", s.name, len(warns))
		if len(warns) > 0 {
			fmt.Fprintf(&b, ", the last ones:\n  %s", strings.Join(warns[max(len(warns)-8, 0):], "\n  "))
		}
		b.WriteString("\n")
	}
	t.Log(b.String())
	if len(dups) > 0 {
		slices.Sort(dups)
		t.Errorf("Meta received %d events more than once, not explained by a serve's SIGKILL in flight:\n%s",
			len(dups), strings.Join(dups[:min(len(dups), 20)], "\n"))
	}
}
