package pluginhost

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"

	"github.com/switchboard-cdp/switchboard/core/config"
	"github.com/switchboard-cdp/switchboard/destinations/webhook"
	"github.com/switchboard-cdp/switchboard/internal/syncio"
	"github.com/switchboard-cdp/switchboard/plugins"
)

// TestMain makes this test binary its own plugin executable, exactly as
// the switchboard binary is for built-ins: launched as `BINARY plugin
// NAME`, it serves one of the test plugins below instead of running the
// tests. PLUGINHOST_TEST_HOST=CONFIG makes it a host instead (for the
// orphan test).
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == "plugin" {
		os.Exit(servePlugin(os.Args[2]))
	}
	if cfg := os.Getenv("PLUGINHOST_TEST_HOST"); cfg != "" {
		os.Exit(runHost(cfg))
	}
	code := m.Run()
	builds.Range(func(_, v any) bool {
		if r := v.(*buildResult); r.path != "" {
			_ = os.RemoveAll(filepath.Dir(r.path))
		}
		return true
	})
	os.Exit(code)
}

// testBuiltins are the names the test binary serves as `plugin NAME`.
var testBuiltins = []string{"test", "webhook", "v99", "garbage", "silent"}

func servePlugin(name string) int {
	switch name {
	case "test":
		plugins.Serve(&testDest{})
	case "webhook":
		plugins.Serve(webhook.New())
	case "v99":
		// A plugin built against a future SDK that speaks only protocol 99.
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig:  plugin.HandshakeConfig{ProtocolVersion: 99, MagicCookieKey: plugins.Handshake.MagicCookieKey, MagicCookieValue: plugins.Handshake.MagicCookieValue},
			VersionedPlugins: map[int]plugin.PluginSet{99: {plugins.PluginName: &v99Plugin{}}},
			GRPCServer:       plugin.DefaultGRPCServer,
		})
	case "garbage":
		fmt.Println("Usage: garbage [options] — I am not a plugin")
		time.Sleep(30 * time.Second)
	case "silent":
		fmt.Fprintln(os.Stderr, "silent: refusing to start")
		return 3
	default:
		fmt.Fprintln(os.Stderr, "unknown test plugin", name)
		return 2
	}
	return 0
}

// runHost opens a host on the configuration at path, prints each plugin's
// pid and waits to be killed.
func runHost(path string) int {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	exe, _ := os.Executable()
	h, err := Open(context.Background(), cfg, Options{Executable: exe, Builtins: testBuiltins})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, name := range h.Destinations() {
		d, _ := h.Destination(name)
		fmt.Println("pid", d.pid())
	}
	select {}
}

// v99Plugin is a plugin of another protocol version; it serves nothing.
type v99Plugin struct{ plugin.NetRPCUnsupportedPlugin }

func (v99Plugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }
func (v99Plugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("unused")
}

// testDest is the test plugin. Each event's payload may carry an "op":
//
//	reject    rejected with code "nope"
//	omit      no result at all
//	sleep     sleeps "ms" milliseconds (or until the call's deadline), then delivered
//	panic     panics in Deliver (the SDK recovers)
//	crash     panics in a goroutine: the process dies
//	exit      os.Exit(3)
//	fail      the whole batch fails with an error
//	settings  delivered; the reason is the settings JSON received
//	pid       delivered; the reason is the process id
//	dedupe    StateCreate of "key": delivered if created, else rejected "duplicate"
//	count     AddCounters test_events_total{kind: "k"} += 1
//
// Anything else (including a payload without "op") is delivered. A batch
// with any op is answered in reverse order, one without in order.
type testDest struct {
	settings json.RawMessage
	host     plugins.Host
}

func (d *testDest) Describe(context.Context) (plugins.Spec, error) {
	return plugins.Spec{
		Name: "test", Version: "0.0.1", Description: "test destination",
		Settings: []plugins.Setting{
			{Name: "target", Type: plugins.TypeString, Required: true, Description: "where"},
			{Name: "level", Type: plugins.TypeString, Default: "low", Enum: []string{"low", "high"}, Description: "how much"},
			{Name: "count", Type: plugins.TypeInt, Default: 3, Description: "how many"},
			{Name: "ratio", Type: plugins.TypeFloat, Description: "what share"},
			{Name: "on", Type: plugins.TypeBool, Default: false, Description: "whether"},
			{Name: "wait", Type: plugins.TypeDuration, Default: 2 * time.Second, Description: "how long"},
			{Name: "tags", Type: plugins.TypeStringList, Description: "labels"},
			{Name: "headers", Type: plugins.TypeStringMap, Secret: true, Description: "secret headers"},
			{Name: "token", Type: plugins.TypeString, Secret: true, Description: "a secret"},
			{Name: "extra", Type: plugins.TypeObject, Description: "anything"},
		},
		Batch: plugins.BatchLimits{MaxEvents: 1000},
	}, nil
}

func (d *testDest) Configure(_ context.Context, cfg plugins.Config) error {
	var s struct {
		Target  string            `json:"target"`
		Token   string            `json:"token"`
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(cfg.Settings, &s); err != nil {
		return err
	}
	if s.Target == "refuse" {
		// A careless plugin that echoes secrets: the host must hide them.
		return plugins.FieldErrors{
			{Field: "target", Message: "refused"},
			{Field: "headers.X-Key", Message: "bad key " + s.Headers["X-Key"] + " with token " + s.Token},
			{Field: "extra.deep.field", Message: "not allowed"},
		}
	}
	if s.Target == "error" {
		return fmt.Errorf("cannot reach %s with %s", s.Target, s.Token)
	}
	d.settings, d.host = cfg.Settings, cfg.Host
	cfg.Logger.Info("test plugin configured", "target", s.Target)
	return nil
}

var opPrefix = []byte(`{"op"`)

func (d *testDest) Deliver(ctx context.Context, batch []plugins.Event) ([]plugins.Result, error) {
	out := make([]plugins.Result, 0, len(batch))
	ops := false
	for _, e := range batch {
		if !bytes.HasPrefix(e.Payload, opPrefix) {
			out = append(out, plugins.Delivered(e.ID))
			continue
		}
		ops = true
		var p struct {
			Op  string `json:"op"`
			MS  int    `json:"ms"`
			Key string `json:"key"`
		}
		_ = json.Unmarshal(e.Payload, &p)
		switch p.Op {
		case "reject":
			out = append(out, plugins.Rejected(e.ID, "nope", "rejected on request"))
		case "omit":
		case "sleep":
			select {
			case <-time.After(time.Duration(p.MS) * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			out = append(out, plugins.Delivered(e.ID))
		case "panic":
			panic("test plugin panics on request")
		case "crash":
			done := make(chan struct{})
			go func() { panic("test plugin crashes on request") }()
			<-done
		case "exit":
			os.Exit(3)
		case "fail":
			return nil, errors.New("the whole batch failed on request")
		case "settings":
			out = append(out, plugins.Result{ID: e.ID, Outcome: plugins.OutcomeDelivered, Reason: string(d.settings)})
		case "pid":
			out = append(out, plugins.Result{ID: e.ID, Outcome: plugins.OutcomeDelivered, Reason: strconv.Itoa(os.Getpid())})
		case "dedupe":
			created, err := d.host.StateCreate(ctx, []plugins.Entry{{Key: p.Key, Value: []byte(e.ID)}}, 0)
			if err != nil {
				return nil, err
			}
			if created[0] {
				out = append(out, plugins.Delivered(e.ID))
			} else {
				out = append(out, plugins.Rejected(e.ID, "duplicate", "seen before"))
			}
		case "seen":
			// Seen, then marked: the first event of a key passes.
			seen, err := d.host.Seen(ctx, []string{p.Key})
			if err != nil {
				return nil, err
			}
			if seen[0] {
				out = append(out, plugins.Rejected(e.ID, "duplicate", "seen before"))
				break
			}
			if err := d.host.MarkSeen(ctx, []string{p.Key}, time.Hour); err != nil {
				return nil, err
			}
			out = append(out, plugins.Delivered(e.ID))
		case "count":
			if err := d.host.AddCounters(ctx, []plugins.Counter{{Name: "test events", Labels: map[string]string{"kind": "k"}, Delta: 1}}); err != nil {
				return nil, err
			}
			out = append(out, plugins.Delivered(e.ID))
		default:
			out = append(out, plugins.Delivered(e.ID))
		}
	}
	if ops {
		// Answer in reverse order: the host must match results by ID.
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out, nil
}

func (d *testDest) Close(context.Context) error { return nil }

// ---- helpers ----

// value reads a counter's or gauge's current value.
func value(m prometheus.Metric) float64 {
	var pb dto.Metric
	if err := m.Write(&pb); err != nil {
		panic(err)
	}
	if c := pb.GetCounter(); c != nil {
		return c.GetValue()
	}
	return pb.GetGauge().GetValue()
}

// pid returns the current plugin process id, 0 while down (tests only).
func (d *Destination) pid() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cur == nil {
		return 0
	}
	return d.cur.pid
}

func testLogger(t testing.TB) (*slog.Logger, *syncio.Buffer) {
	t.Helper()
	lb := &syncio.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", lb.String())
		}
	})
	return slog.New(slog.NewJSONHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

func testOptions(t testing.TB) Options {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	log, _ := testLogger(t)
	return Options{Executable: exe, Builtins: testBuiltins, Logger: log, RestartBackoff: 50 * time.Millisecond}
}

// parse parses a pipelines.yaml held in a string, written to dir.
func parse(t testing.TB, dir, yml string, env map[string]string) *config.Config {
	t.Helper()
	path := filepath.Join(dir, "pipelines.yaml")
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(path, []byte(yml), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return cfg
}

// oneDestination is a configuration with a single destination "d".
func oneDestination(plugin, settings string) string {
	return fmt.Sprintf(`sources:
  web: {type: segment, write_keys: [k]}
destinations:
  d:
    plugin: %s
    settings:
%s
`, plugin, indent(settings, "      "))
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}

// open opens a host on yml and closes it when the test ends.
func open(t testing.TB, yml string, opts Options) (*Host, *Destination) {
	t.Helper()
	cfg := parse(t, t.TempDir(), yml, nil)
	h, err := Open(context.Background(), cfg, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	d, err := h.Destination("d")
	if err != nil {
		t.Fatal(err)
	}
	return h, d
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// evs builds a batch from payloads.
func evs(prefix string, payloads ...string) []plugins.Event {
	out := make([]plugins.Event, len(payloads))
	for i, p := range payloads {
		out[i] = plugins.Event{ID: fmt.Sprintf("%s-%d", prefix, i), Payload: json.RawMessage(p), Attempt: 1, MessageID: fmt.Sprintf("%s-m%d", prefix, i)}
	}
	return out
}

// many builds a batch of n plain events.
func many(prefix string, n int) []plugins.Event {
	p := make([]string, n)
	for i := range p {
		p[i] = fmt.Sprintf(`{"event_name":"Purchase","event_time":1767225600,"event_id":"%s-%d","user_data":{"em":"309a0a5c3e211326ae75ca18196d301a9bdbd1a882a4d2569511033da23f0abd"},"custom_data":{"value":42.5,"currency":"EUR"}}`, prefix, i)
	}
	return evs(prefix, p...)
}

// builds holds main packages built for tests, once per test binary.
var builds sync.Map

type buildResult struct {
	path string
	err  error
	once sync.Once
}

func build(t testing.TB, pkg string) string {
	t.Helper()
	v, _ := builds.LoadOrStore(pkg, &buildResult{})
	r := v.(*buildResult)
	r.once.Do(func() {
		dir, err := os.MkdirTemp("", "pluginhost-build-")
		if err != nil {
			r.err = err
			return
		}
		r.path = filepath.Join(dir, filepath.Base(pkg))
		out, err := exec.Command("go", "build", "-o", r.path, pkg).CombinedOutput()
		if err != nil {
			r.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	})
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.path
}

// alive reports whether a process exists (and is not a zombie).
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		if _, statErr := os.Stat("/proc/self"); statErr != nil { // no procfs
			return syscall.Kill(pid, 0) == nil
		}
		return false
	}
	// The state follows the command name in parentheses.
	s := string(data)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// readPids reads "pid N" lines from r until it has n of them.
func readPids(t testing.TB, sc *bufio.Scanner, n int) []int {
	t.Helper()
	var pids []int
	for len(pids) < n && sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "pid" {
			pid, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			pids = append(pids, pid)
		}
	}
	if len(pids) < n {
		t.Fatalf("read %d pids, want %d", len(pids), n)
	}
	return pids
}
