package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-cdp/switchboard/core/config"
	"github.com/switchboard-cdp/switchboard/plugins"
)

// benchProfile asks for a profiled child: its CPU profile written to CPU
// when it stops, net/http/pprof served on Addr.
type benchProfile struct{ CPU, Addr string }

// benchChild is a `switchboard serve` child process started for one round.
type benchChild struct {
	cmd  *exec.Cmd
	url  string // http://127.0.0.1:PORT
	done chan struct{}
	err  error // Wait's result, once done is closed
}

// startBenchChild writes a pipelines.yaml into dir (one segment source
// accepting writeKey; the nats-server at natsURL, or when it is empty the
// embedded JetStream storing under dir/store; then extraYAML: destinations
// and pipelines, if any), starts
// this executable serving it, and returns once /readyz answers 200.
// A prof with either field set runs the hidden `bench serve-profiled`
// instead of `serve`.
func startBenchChild(ctx context.Context, dir, writeKey, natsURL string, prof benchProfile, extraYAML string, logs io.Writer) (*benchChild, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("bench: locating this executable: %w", err)
	}
	port, err := benchFreePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	cfgPath := filepath.Join(dir, "pipelines.yaml")
	nats := fmt.Sprintf("store_dir: %q", filepath.Join(dir, "store"))
	if natsURL != "" {
		nats = fmt.Sprintf("url: %q", natsURL)
	}
	y := fmt.Sprintf(`# written by switchboard bench ingest
server:
  listen: %q
nats:
  %s
sources:
  bench:
    type: segment
    write_keys: [%q]
`, addr, nats, writeKey) + extraYAML
	if err := os.WriteFile(cfgPath, []byte(y), 0o600); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	args := []string{"serve", "-c", cfgPath, "--log-level", "warn"}
	if prof.CPU != "" || prof.Addr != "" {
		args = []string{"bench", "serve-profiled", "-c", cfgPath, "--log-level", "warn", "--cpuprofile", prof.CPU, "--pprof", prof.Addr}
	}
	cmd := exec.Command(exe, args...)
	if prof.CPU != "" {
		// Its plugins profile themselves too, into CPU.plugin.PID.
		cmd.Env = append(os.Environ(), plugins.CPUProfileEnv+"="+prof.CPU+".plugin")
	}
	cmd.Stdout = logs
	cmd.Stderr = logs
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: starting %s serve: %w", exe, err)
	}
	c := &benchChild{cmd: cmd, url: "http://" + addr, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	if err := waitBenchReady(ctx, c.url, 60*time.Second, c.done); err != nil {
		c.stop()
		if c.err != nil {
			return nil, fmt.Errorf("bench: serve exited before it was ready (%v): %w", c.err, err)
		}
		return nil, err
	}
	return c, nil
}

// stop sends SIGTERM and waits for the child to exit (SIGKILL after 60s).
func (c *benchChild) stop() error {
	select {
	case <-c.done:
		return c.err
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(60 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
		return errors.New("bench: serve did not stop within 60s of SIGTERM; killed")
	}
	return c.err
}

// benchFreePort asks the kernel for a free loopback port. Closing the
// listener frees it again; the child binds it a moment later.
func benchFreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("bench: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitBenchReady polls base/readyz until it answers 200, exited is closed,
// or timeout passes.
func waitBenchReady(ctx context.Context, base string, timeout time.Duration, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	last := errors.New("no answer yet")
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(body))
		} else if ctx.Err() == nil {
			last = err
		}
		select {
		case <-exited:
			return fmt.Errorf("bench: %s/readyz: %w", base, last)
		case <-ctx.Done():
			return fmt.Errorf("bench: %s/readyz not 200 within %s: %w", base, timeout, last)
		case <-tick.C:
		}
	}
}

// benchPeakRSS reads a process's peak resident set size (VmHWM) in bytes.
func benchPeakRSS(pid int) (int64, error) { return benchStatusBytes(pid, "VmHWM:") }

// benchStatusBytes reads a "NAME:   123 kB" line of /proc/PID/status.
func benchStatusBytes(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		rest, ok := strings.CutPrefix(line, field)
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s %q: %w", field, rest, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no %s in /proc/PID/status", field)
}

// benchClockTick is USER_HZ, the unit of /proc/PID/stat times; 100 on every
// Linux architecture Go supports.
const benchClockTick = 100

// benchProcCPU returns the user+system CPU time a process (all its threads)
// has used so far.
func benchProcCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces and parentheses; fields follow the last ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc/PID/stat format")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc/PID/stat format")
	}
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * time.Second / benchClockTick, nil
}

// benchMachineCPU returns the CPU time all processes on the machine have
// used so far (the busy columns of /proc/stat's first line), so that what
// other programs took during a measurement can be reported.
func benchMachineCPU() (time.Duration, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, errors.New("unexpected /proc/stat format")
	}
	var ticks int64
	// user nice system idle iowait irq softirq [steal ...]: all but idle and iowait.
	for i, v := range f[1:min(len(f), 9)] {
		if i == 3 || i == 4 {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / benchClockTick, nil
}

// benchSelfCPU returns the user+system CPU time this process used so far.
func benchSelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// newBenchServeProfiledCmd is the hidden `serve` that `bench ingest
// --cpuprofile` starts as its child: serve with a CPU profile written when it
// stops and, with --pprof, the net/http/pprof handlers on a separate
// listener, so an engineer can take heap profiles of a live server driven by
// `bench ingest --server`.
func newBenchServeProfiledCmd(g *globals) *cobra.Command {
	var file, cpuprofile, pprofAddr string
	cmd := &cobra.Command{
		Use:    "serve-profiled -c FILE [--cpuprofile OUT] [--pprof HOST:PORT]",
		Short:  "serve with profiling (started by bench ingest --cpuprofile)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			log, err := g.logger()
			if err != nil {
				return err
			}
			cfg, err := config.Load(file)
			if err != nil {
				return err
			}
			if pprofAddr != "" {
				ln, err := net.Listen("tcp", pprofAddr)
				if err != nil {
					return fmt.Errorf("--pprof: %w", err)
				}
				srv := &http.Server{Handler: benchPprofHandler(), ReadHeaderTimeout: 10 * time.Second}
				go func() { _ = srv.Serve(ln) }()
				defer srv.Close()
			}
			if cpuprofile != "" {
				f, err := os.Create(cpuprofile)
				if err != nil {
					return err
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					f.Close()
					return err
				}
				defer func() {
					pprof.StopCPUProfile()
					err = errors.Join(err, f.Close())
				}()
			}
			return serve(cmd.Context(), cfg, log, nil)
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "pipelines.yaml", "pipelines.yaml to serve")
	cmd.Flags().StringVar(&cpuprofile, "cpuprofile", "", "write the CPU profile here when serve stops")
	cmd.Flags().StringVar(&pprofAddr, "pprof", "", "serve net/http/pprof on this address")
	return cmd
}

// benchPprofHandler serves /debug/pprof/profile?seconds=N (CPU),
// /debug/pprof/trace?seconds=N (an execution trace for go tool trace; run
// a CPU profile at the same time and the trace holds its samples, with
// their times) and /debug/pprof/NAME (heap, allocs, goroutine, ...) in the
// format `go tool pprof URL` reads, without net/http/pprof's registration
// on http.DefaultServeMux.
func benchPprofHandler() http.Handler {
	mux := http.NewServeMux()
	during := func(start func(io.Writer) error, stop func()) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			secs, err := strconv.Atoi(r.URL.Query().Get("seconds"))
			if err != nil || secs <= 0 {
				secs = 30
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			if err := start(w); err != nil {
				http.Error(w, err.Error(), http.StatusConflict)
				return
			}
			select {
			case <-time.After(time.Duration(secs) * time.Second):
			case <-r.Context().Done():
			}
			stop()
		}
	}
	mux.HandleFunc("GET /debug/pprof/profile", during(pprof.StartCPUProfile, pprof.StopCPUProfile))
	mux.HandleFunc("GET /debug/pprof/trace", during(trace.Start, trace.Stop))
	mux.HandleFunc("GET /debug/pprof/{name}", func(w http.ResponseWriter, r *http.Request) {
		p := pprof.Lookup(r.PathValue("name"))
		if p == nil {
			http.NotFound(w, r)
			return
		}
		if r.URL.Query().Get("gc") != "" {
			runtime.GC()
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_ = p.WriteTo(w, 0)
	})
	return mux
}
