package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-cdp/switchboard/core/bus"
	"github.com/switchboard-cdp/switchboard/core/bus/bustest"
	"github.com/switchboard-cdp/switchboard/core/config"
	"github.com/switchboard-cdp/switchboard/core/event"
	"github.com/switchboard-cdp/switchboard/core/mapping"
	"github.com/switchboard-cdp/switchboard/core/pluginhost"
	"github.com/switchboard-cdp/switchboard/destinations/webhook"
	"github.com/switchboard-cdp/switchboard/plugins"
)

// TestMain makes the test binary its own plugin executable, as the
// switchboard binary is for built-ins: launched as `BINARY plugin webhook`
// it serves the real webhook destination.
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == "plugin" {
		switch os.Args[2] {
		case "webhook":
			plugins.Serve(webhook.New())
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "unknown test plugin", os.Args[2])
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// checkFor polls f until it returns nil or timeout passes, as nats-server's
// tests do.
func checkFor(t testing.TB, timeout, interval time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(interval)
	}
	t.Fatalf("still failing after %s: %v\n%s", timeout, err, pipelineStacks())
}

// pipelineStacks are the stacks of the goroutines running this package's
// code, to show where a test got stuck.
func pipelineStacks() string {
	var buf bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&buf, 2)
	var out []string
	for _, g := range strings.Split(buf.String(), "\n\n") {
		if strings.Contains(g, "core/pipeline.(*Pipeline)") || strings.Contains(g, "jetstream.(*pullSubscription)") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// openBus starts an embedded JetStream in a temporary directory.
func openBus(t testing.TB) *bus.Bus {
	return bustest.Open(t, bus.Options{DuplicateWindow: time.Minute})
}

// testEvent is event i of source src: a track call "Buy" (every third one
// "Look") with properties n = i.
func testEvent(src string, i int, mod func(*event.Event)) event.Event {
	name := "Buy"
	if i%3 == 2 {
		name = "Look"
	}
	e := event.Event{
		MessageID:  fmt.Sprintf("%s-%d", src, i),
		Type:       event.Track,
		Event:      name,
		UserID:     fmt.Sprintf("u%d", i%7),
		Timestamp:  time.Now().UTC(),
		ReceivedAt: time.Now().UTC(),
		Properties: map[string]any{"n": i},
		Source:     src,
	}
	if mod != nil {
		mod(&e)
	}
	return e
}

// publish stores events as the sources do.
func publish(t testing.TB, b *bus.Bus, events ...event.Event) {
	t.Helper()
	msgs := make([]bus.Message, len(events))
	for i := range events {
		data, err := json.Marshal(&events[i])
		if err != nil {
			t.Fatal(err)
		}
		msgs[i] = bus.Message{Subject: event.Subject(events[i].Source, events[i].Type), ID: events[i].DedupeID(), Data: data}
	}
	for len(msgs) > 0 {
		n := min(len(msgs), 1000)
		if _, err := b.Publish(context.Background(), msgs[:n]); err != nil {
			t.Fatalf("publish: %v", err)
		}
		msgs = msgs[n:]
	}
}

func events(src string, from, n int, mod func(*event.Event)) []event.Event {
	out := make([]event.Event, n)
	for i := range out {
		out[i] = testEvent(src, from+i, mod)
	}
	return out
}

// sink is an httptest destination that records the ids it accepted.
type sink struct {
	srv *http.Server
	url string

	mu       sync.Mutex
	got      map[string]int // id → times accepted
	requests int
	// status decides the answer to a request carrying ids (nil: 200).
	status func(ids []string) int
	delay  time.Duration
}

func newSink(t testing.TB) *sink {
	s := &sink{got: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

func (s *sink) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var payloads []map[string]any
	if bytes.HasPrefix(body, []byte("[")) {
		_ = json.Unmarshal(body, &payloads)
	} else {
		var one map[string]any
		_ = json.Unmarshal(body, &one)
		payloads = append(payloads, one)
	}
	ids := make([]string, len(payloads))
	for i, p := range payloads {
		ids[i], _ = p["id"].(string)
	}
	s.mu.Lock()
	s.requests++
	status, delay := http.StatusOK, s.delay
	if s.status != nil {
		status = s.status(ids)
	}
	s.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	if status == http.StatusOK {
		s.mu.Lock()
		for _, id := range ids {
			s.got[id]++
		}
		s.mu.Unlock()
	}
	w.WriteHeader(status)
	fmt.Fprintf(w, "status %d", status)
}

func (s *sink) setStatus(f func(ids []string) int) {
	s.mu.Lock()
	s.status = f
	s.mu.Unlock()
}

// counts returns how many distinct ids were accepted, and how many
// acceptances repeated one.
func (s *sink) counts() (distinct, dups int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.got {
		distinct++
		dups += n - 1
	}
	return distinct, dups
}

func (s *sink) has(id string) bool { return s.count(id) > 0 }

// count is how often id was accepted.
func (s *sink) count(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got[id]
}

// env is one test's JetStream, configuration and plugin host.
type env struct {
	t    testing.TB
	bus  *bus.Bus
	js   jetstream.JetStream
	cfg  *config.Config
	host *pluginhost.Host
	reg  *prometheus.Registry
}

// newEnv parses yaml (with the sinks' URLs substituted for URL0, URL1, ...)
// and starts its destinations as real plugin processes.
func newEnv(t testing.TB, yaml string, sinks ...*sink) *env {
	t.Helper()
	for i, s := range sinks {
		yaml = strings.ReplaceAll(yaml, fmt.Sprintf("URL%d", i), s.url)
	}
	cfg, err := config.Parse("pipelines.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	b := openBus(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h, err := pluginhost.Open(ctx, cfg, pluginhost.Options{
		Executable: exe,
		Builtins:   []string{"webhook"},
		Bus:        b,
		Logger:     testLogger(t),
		// Slow under -race on a busy machine.
		StartTimeout: 60 * time.Second,
	})
	if err != nil {
		t.Fatalf("plugin host: %v", err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	return &env{t: t, bus: b, js: b.JetStream(), cfg: cfg, host: h, reg: prometheus.NewRegistry()}
}

// testLogger logs warnings and errors into the test's output.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// options are a pipeline's Options as serve builds them: compiled mapping,
// the host's destination, its limits.
func (e *env) options(name string) Options {
	e.t.Helper()
	pc, ok := e.cfg.Pipelines[name]
	if !ok {
		e.t.Fatalf("no pipeline %s", name)
	}
	prog, problems := mapping.Compile(e.cfg, "pipelines."+name, &pc.When, &pc.Map)
	if len(problems) > 0 {
		e.t.Fatalf("compile %s: %v", name, problems)
	}
	d, err := e.host.Destination(pc.To)
	if err != nil {
		e.t.Fatal(err)
	}
	return Options{
		Name:             name,
		Config:           pc,
		Mapper:           prog,
		JetStream:        e.js,
		Stream:           e.bus.Stream(),
		Destination:      d,
		DestinationName:  pc.To,
		DestinationBatch: d.Spec().Batch,
		MaxInFlight:      d.Limits().MaxInFlight,
		CallTimeout:      d.Limits().CallTimeout,
		Logger:           testLogger(e.t),
		Registerer:       e.reg,
	}
}

// running is a Pipeline whose Run goroutine the test controls.
type running struct {
	*Pipeline
	cancel context.CancelFunc
	done   chan error
}

// start runs a pipeline until the test ends or stop is called.
func (e *env) start(opts Options) *running {
	e.t.Helper()
	p, err := New(opts)
	if err != nil {
		e.t.Fatalf("new: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Pipeline: p, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx) }()
	e.t.Cleanup(func() { r.stop(e.t) })
	return r
}

// stop cancels Run and waits for it to return.
func (r *running) stop(t testing.TB) {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			t.Errorf("run: %v", err)
		}
		if ok {
			close(r.done)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("Run did not return 60s after its context ended")
	}
}

// settled waits until the pipeline's consumer has acknowledged (or
// terminated) every message of its filter subjects stored so far: its ack
// floor has reached the last of them and nothing is pending. (Zero pending
// alone is not enough: a consumer being created reports zero.)
func (e *env) settled(name string, timeout time.Duration) {
	e.t.Helper()
	ctx := context.Background()
	stable := 0 // polls in a row that found it settled
	checkFor(e.t, timeout, 20*time.Millisecond, func() error {
		cons, err := e.js.Consumer(ctx, e.bus.Stream(), ConsumerName(name))
		if err != nil {
			return err
		}
		info, err := cons.Info(ctx)
		if err != nil {
			return err
		}
		st, err := e.js.Stream(ctx, e.bus.Stream())
		if err != nil {
			return err
		}
		var last uint64
		for _, f := range info.Config.FilterSubjects {
			m, err := st.GetLastMsgForSubject(ctx, f)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			last = max(last, m.Sequence)
		}
		if info.NumPending != 0 || info.NumAckPending != 0 || info.NumRedelivered != 0 || info.AckFloor.Stream < last ||
			last > 0 && (info.Delivered.Consumer == 0 || info.Delivered.Stream < last) {
			stable = 0
			return fmt.Errorf("consumer %s: %d pending, %d awaiting ack, %d redelivered, %d pull requests waiting; delivered %+v, ack floor %+v, last message %d",
				name, info.NumPending, info.NumAckPending, info.NumRedelivered, info.NumWaiting, info.Delivered, info.AckFloor, last)
		}
		if stable++; stable < 2 {
			return errors.New("settled once; checking again")
		}
		e.t.Logf("settled: consumer %s: delivered %+v, ack floor %+v, last message %d", name, info.Delivered, info.AckFloor, last)
		return nil
	})
}

// deadLetters lists a pipeline's dead letters.
func (e *env) deadLetters(name string) []DeadLetter {
	e.t.Helper()
	dls, err := ListDeadLetters(context.Background(), e.js, name, 10000)
	if err != nil {
		e.t.Fatalf("list dead letters: %v", err)
	}
	return dls
}

// destFunc is a Destination made of a function, for wrapping the host's.
type destFunc func(ctx context.Context, batch []plugins.Event) ([]plugins.Result, error)

func (f destFunc) Deliver(ctx context.Context, batch []plugins.Event) ([]plugins.Result, error) {
	return f(ctx, batch)
}

// attempts wraps d and records the highest Event.Attempt it saw.
func attempts(d Destination, maxSeen *atomic.Int64) Destination {
	return destFunc(func(ctx context.Context, batch []plugins.Event) ([]plugins.Result, error) {
		for _, e := range batch {
			for {
				cur := maxSeen.Load()
				if int64(e.Attempt) <= cur || maxSeen.CompareAndSwap(cur, int64(e.Attempt)) {
					break
				}
			}
		}
		return d.Deliver(ctx, batch)
	})
}

var errTest = errors.New("test")
