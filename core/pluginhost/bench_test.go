package pluginhost

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkDeliver measures a host↔plugin round trip through a real child
// process (the test plugin, which delivers every event and does nothing
// else), per batch size.
func BenchmarkDeliver(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			opts := testOptions(b)
			opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			_, d := open(b, oneDestination("test", "target: bench"), opts)
			batch := many("e", n)
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(int64(len(batch[0].Payload) * n))
			cpu := startCPU(b, d.pid())
			for b.Loop() {
				if _, err := d.Deliver(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
			cpu.report(b, b.N*n)
		})
	}
}

// BenchmarkDeliverInFlight is BenchmarkDeliver with as many batches in
// flight as a destination allows by default (4), as a pipeline drives it:
// host and plugin then work at the same time, on different batches.
func BenchmarkDeliverInFlight(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			opts := testOptions(b)
			opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			_, d := open(b, oneDestination("test", "target: bench"), opts)
			batch := many("e", n)
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(int64(len(batch[0].Payload) * n))
			b.SetParallelism((DefaultMaxInFlight + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			cpu := startCPU(b, d.pid())
			defer func() { cpu.report(b, b.N*n) }()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := d.Deliver(ctx, batch); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
		})
	}
}

// BenchmarkRestart measures the time from kill -9 of a plugin until the
// host has it running and configured again.
func BenchmarkRestart(b *testing.B) {
	opts := testOptions(b)
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	opts.RestartBackoff = time.Millisecond
	_, d := open(b, oneDestination("test", "target: bench"), opts)
	var total time.Duration
	for b.Loop() {
		pid := d.pid()
		start := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		waitFor(b, 10*time.Second, "the restart", func() bool { p := d.pid(); return p != 0 && p != pid })
		total += time.Since(start)
		// The next kill must not come within stableAfter of this start, or
		// the backoff grows; measure the first restart after a stable run.
		d.mu.Lock()
		d.cur.started = time.Now().Add(-stableAfter)
		d.mu.Unlock()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/restart")
}

// cpuClock measures the CPU time the host (this process) and one plugin
// process spend, so that a benchmark on a busy machine still tells what a
// round trip costs each side.
type cpuClock struct {
	pid          int
	host, plugin time.Duration
}

func startCPU(b *testing.B, pid int) *cpuClock {
	b.Helper()
	return &cpuClock{pid: pid, host: selfCPU(), plugin: procCPU(pid)}
}

func (c *cpuClock) report(b *testing.B, events int) {
	if events == 0 {
		return
	}
	b.ReportMetric(float64((selfCPU()-c.host).Nanoseconds())/float64(events), "host-cpu-ns/event")
	b.ReportMetric(float64((procCPU(c.pid)-c.plugin).Nanoseconds())/float64(events), "plugin-cpu-ns/event")
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU reads a process's user+system time from /proc (clock ticks of
// 10ms).
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+2:])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
