package plugins_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cdp/switchboard/plugins"
	"github.com/switchboard-cdp/switchboard/plugins/destinationtest"
)

// benchPayload is a mapped event of about 300 bytes.
var benchPayload = json.RawMessage(`{"event_name":"Purchase","event_time":1767225600,"event_id":"0b7e3c2a-5f41-4d7e",` +
	`"event_source_url":"https://shop.example.com/done",` +
	`"user_data":{"em":"7b17fb0bd173f625b58636fb796407c22b3d16fc78302d79f0fd30c2fc2fc068","external_id":"u-1234"},` +
	`"custom_data":{"value":129.99,"currency":"EUR"}}`)

// discard delivers every event, for the benchmarks.
func discard() plugins.Destination {
	return &scripted{deliver: func(_ context.Context, batch []plugins.Event) ([]plugins.Result, error) {
		results := make([]plugins.Result, len(batch))
		for i, e := range batch {
			results[i] = plugins.Delivered(e.ID)
		}
		return results, nil
	}}
}

// BenchmarkRoundTrip measures Deliver from the host through the gRPC shim
// to a destination that delivers everything and back, with ~300-byte
// events: in process (plugin.TestPluginGRPCConn, no TLS) and to a real
// child process (AutoMTLS, as the host runs plugins), one batch at a time
// and with four batches in flight. ns/event is the amortised wall time of
// one event; allocations are the host side's (both sides' in process).
func BenchmarkRoundTrip(b *testing.B) {
	if len(benchPayload) < 280 || len(benchPayload) > 320 {
		b.Fatalf("payload is %d bytes, want about 300", len(benchPayload))
	}
	connections := []struct {
		name    string
		connect func(b *testing.B) (plugins.Destination, []int)
	}{
		{"inprocess", func(b *testing.B) (plugins.Destination, []int) {
			return destinationtest.Connect(b, discard()), []int{os.Getpid()}
		}},
		{"process", func(b *testing.B) (plugins.Destination, []int) {
			_, fixture := buildPlugins(b, b.TempDir())
			client, _ := launch(b, fixture, "discard")
			d, err := plugins.Dispense(client)
			if err != nil {
				b.Fatal(err)
			}
			return d, []int{os.Getpid(), client.ReattachConfig().Pid}
		}},
	}
	for _, c := range connections {
		b.Run(c.name, func(b *testing.B) {
			d, pids := c.connect(b)
			ctx := context.Background()
			if err := d.Configure(ctx, plugins.Config{Destination: "bench", Host: &destinationtest.MemoryHost{}}); err != nil {
				b.Fatal(err)
			}
			for _, n := range []int{1, 100, 1000} {
				batch := make([]plugins.Event, n)
				for i := range batch {
					batch[i] = plugins.Event{
						ID:        fmt.Sprintf("e%d", i),
						Payload:   benchPayload,
						Attempt:   1,
						MessageID: fmt.Sprintf("m%09d", i),
					}
				}
				b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
					b.ReportAllocs()
					b.SetBytes(int64(n * len(benchPayload)))
					cpu := startCPU(pids)
					for b.Loop() {
						results, err := d.Deliver(ctx, batch)
						if err != nil || len(results) != n {
							b.Fatalf("Deliver: %d results, %v", len(results), err)
						}
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
					cpu.report(b, b.N*n)
				})
			}
			// The host keeps several batches in flight per destination.
			batch := make([]plugins.Event, 1000)
			for i := range batch {
				batch[i] = plugins.Event{ID: fmt.Sprintf("e%d", i), Payload: benchPayload, Attempt: 1, MessageID: fmt.Sprintf("m%09d", i)}
			}
			b.Run("batch=1000/inflight=4", func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(batch) * len(benchPayload)))
				b.SetParallelism((4 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
				cpu := startCPU(pids)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						results, err := d.Deliver(ctx, batch)
						if err != nil || len(results) != len(batch) {
							b.Errorf("Deliver: %d results, %v", len(results), err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/event")
				cpu.report(b, b.N*len(batch))
			})
		})
	}
}

// cpuClock measures the CPU time (user and system) that processes spend,
// from /proc on Linux: on a busy machine it is a steadier measure of the
// cost of an event than wall time.
type cpuClock struct {
	pids  []int
	start time.Duration
	ok    bool
}

func startCPU(pids []int) *cpuClock {
	c := &cpuClock{pids: pids}
	c.start, c.ok = cpuTime(pids)
	return c
}

// report adds cpu-ns/event: the CPU time of host and plugin per event.
func (c *cpuClock) report(b *testing.B, events int) {
	end, ok := cpuTime(c.pids)
	if !c.ok || !ok || events == 0 {
		return
	}
	b.ReportMetric(float64((end-c.start).Nanoseconds())/float64(events), "cpu-ns/event")
}

// cpuTime sums utime and stime of pids, read from /proc/PID/stat in clock
// ticks (USER_HZ, 100 on Linux).
func cpuTime(pids []int) (time.Duration, bool) {
	if runtime.GOOS != "linux" {
		return 0, false
	}
	var total time.Duration
	for _, pid := range pids {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0, false
		}
		// Fields after the command name, which is in parentheses.
		i := bytes.LastIndexByte(raw, ')')
		fields := strings.Fields(string(raw[i+1:]))
		if len(fields) < 13 {
			return 0, false
		}
		utime, err1 := strconv.ParseInt(fields[11], 10, 64)
		stime, err2 := strconv.ParseInt(fields[12], 10, 64)
		if err1 != nil || err2 != nil {
			return 0, false
		}
		total += time.Duration(utime+stime) * (time.Second / 100)
	}
	return total, true
}
