package main

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchSink is a stand-in /v1/batch: it checks auth, decodes the batch,
// counts events and remembers every messageId; every failEvery-th request
// is answered 503 instead.
type benchSink struct {
	key       string
	failEvery int64

	requests atomic.Int64
	events   atomic.Int64
	mu       sync.Mutex
	ids      map[string]int
}

func (s *benchSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.requests.Add(1)
	user, pass, ok := r.BasicAuth()
	if !ok || user != s.key || pass != "" || r.Method != http.MethodPost || r.URL.Path != "/v1/batch" {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	var body struct {
		Batch []map[string]any `json:"batch"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if s.failEvery > 0 && n%s.failEvery == 0 {
		http.Error(w, `{"success":false}`, http.StatusServiceUnavailable)
		return
	}
	s.mu.Lock()
	for _, e := range body.Batch {
		id, _ := e["messageId"].(string)
		s.ids[id]++
	}
	s.mu.Unlock()
	s.events.Add(int64(len(body.Batch)))
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"success":true}`))
}

func TestBenchLoadCountsEventsAndFailures(t *testing.T) {
	for _, tc := range []struct {
		name             string
		events, batch    int
		conns            int
		failEvery        int64
		wantReq, wantBad int
	}{
		{name: "all ok", events: 1234, batch: 100, conns: 4, wantReq: 13},
		{name: "every 5th fails", events: 1000, batch: 50, conns: 3, failEvery: 5, wantReq: 20, wantBad: 4},
		{name: "one connection", events: 10, batch: 3, conns: 1, wantReq: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := &benchSink{key: "k1", failEvery: tc.failEvery, ids: map[string]int{}}
			srv := httptest.NewServer(sink)
			defer srv.Close()

			p := buildBenchPayload(benchRand(), tc.events, tc.batch, false)
			if len(p.events) != tc.events || len(p.ids) != tc.events || len(p.bodies) != tc.wantReq {
				t.Fatalf("payload: %d events, %d ids, %d bodies", len(p.events), len(p.ids), len(p.bodies))
			}
			load := newBenchLoad(srv.URL+"/v1/batch", "k1", tc.conns)
			defer load.close()
			res := load.run(t.Context(), p, 0)

			if res.Requests != tc.wantReq || res.Failed != tc.wantBad || len(res.Latencies) != tc.wantReq {
				t.Errorf("requests %d failed %d latencies %d; want %d, %d, %d",
					res.Requests, res.Failed, len(res.Latencies), tc.wantReq, tc.wantBad, tc.wantReq)
			}
			if got := int(sink.events.Load()); res.Acked != got {
				t.Errorf("generator counted %d acked events, sink stored %d", res.Acked, got)
			}
			if tc.wantBad == 0 && res.Acked != tc.events {
				t.Errorf("acked %d of %d events", res.Acked, tc.events)
			}
			if tc.wantBad > 0 && (len(res.Errors) != 1 || !strings.Contains(res.Errors[0], "HTTP 503")) {
				t.Errorf("errors = %q, want one HTTP 503 line", res.Errors)
			}
			if int(sink.requests.Load()) != tc.wantReq {
				t.Errorf("sink saw %d requests, want %d", sink.requests.Load(), tc.wantReq)
			}
			for id, n := range sink.ids {
				if n != 1 {
					t.Errorf("messageId %s sent %d times", id, n)
				}
			}
			for i := 1; i < len(res.Latencies); i++ {
				if res.Latencies[i] < res.Latencies[i-1] {
					t.Fatal("latencies not sorted")
				}
			}
		})
	}
}

func TestBenchLoadOpenLoop(t *testing.T) {
	sink := &benchSink{key: "k", ids: map[string]int{}}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	load := newBenchLoad(srv.URL+"/v1/batch", "k", 2)
	defer load.close()
	const interval = 2 * time.Millisecond
	res := load.run(t.Context(), buildBenchPayload(benchRand(), 200, 10, false), interval)
	if res.Requests != 20 || res.Failed != 0 || res.Acked != 200 || sink.events.Load() != 200 {
		t.Errorf("requests %d failed %d acked %d, sink %d", res.Requests, res.Failed, res.Acked, sink.events.Load())
	}
	// The last request is not due before 19 intervals have passed.
	if res.Elapsed < 19*interval {
		t.Errorf("open loop finished in %v, before the last request was due", res.Elapsed)
	}
}

func TestBenchLoadWrongKeyIsFailure(t *testing.T) {
	sink := &benchSink{key: "right", ids: map[string]int{}}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	load := newBenchLoad(srv.URL+"/v1/batch", "wrong", 2)
	defer load.close()
	res := load.run(t.Context(), buildBenchPayload(benchRand(), 20, 10, false), 0)
	if res.Failed != 2 || res.Acked != 0 || len(res.Errors) != 1 || !strings.Contains(res.Errors[0], "2× HTTP 401") {
		t.Errorf("failed %d acked %d errors %q", res.Failed, res.Acked, res.Errors)
	}
}

func TestBenchPayloadEvents(t *testing.T) {
	p := buildBenchPayload(benchRand(), 500, 100, false)
	seen := map[string]bool{}
	for i, raw := range p.events {
		var e struct {
			Type, Event, MessageID, UserID, AnonymousID, Timestamp string
			Properties                                             map[string]any
			Context                                                struct {
				IP, UserAgent string
				Page          struct{ URL string }
			}
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("event %d: %v: %s", i, err, raw)
		}
		if e.MessageID != p.ids[i] || seen[e.MessageID] {
			t.Fatalf("event %d: messageId %q, id %q, seen before %v", i, e.MessageID, p.ids[i], seen[e.MessageID])
		}
		seen[e.MessageID] = true
		if e.Type != "track" || (e.Event != "Order Completed" && e.Event != "Product Viewed") ||
			e.UserID == "" || e.AnonymousID == "" || e.Context.IP == "" || e.Context.UserAgent == "" ||
			e.Context.Page.URL == "" || e.Properties["revenue"] == nil || e.Properties["currency"] == nil {
			t.Errorf("event %d lacks a field: %s", i, raw)
		}
		if _, err := time.Parse(time.RFC3339Nano, e.Timestamp); err != nil {
			t.Errorf("event %d: timestamp: %v", i, err)
		}
	}
	for i, b := range p.bodies {
		var body struct{ Batch []json.RawMessage }
		if err := json.Unmarshal(b, &body); err != nil || len(body.Batch) != p.counts[i] {
			t.Fatalf("body %d: %v, %d events, want %d", i, err, len(body.Batch), p.counts[i])
		}
	}
	if mean := p.eventBytes() / len(p.events); mean < 530 || mean > 680 {
		t.Errorf("mean event size %d bytes, want about 600", mean)
	}
}

func TestBenchPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 99, 0},
		{"one", ms(7), 50, 7 * time.Millisecond},
		{"p50 of 1..100", ms(hundred...), 50, 50 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p100 is max", ms(hundred...), 100, 100 * time.Millisecond},
		{"p99 of 10 is max", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"p50 of 4", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"tiny p", ms(1, 2, 3), 0.001, 1 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := benchPercentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBenchMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := benchMedian(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestBenchReportTable(t *testing.T) {
	r := &benchReport{
		Events: 1000, Batch: 100, Connections: 2, GOMAXPROCS: 2, MeanEventBytes: 600, Server: "child",
		Targets: benchTargets{EventsPerSec: benchTargetEventsPerSec, P99ms: 25, PeakRSS: benchTargetRSS, Ratio: benchTargetRatio},
		Rounds: []benchRound{
			{EventsPerSec: 60000, P50ms: 3, P99ms: 12, PeakRSS: 90 << 20, RawPerSec: 100000, Ratio: 0.6, Requests: 10},
			{EventsPerSec: 40000, P50ms: 4, P99ms: 30, PeakRSS: 95 << 20, RawPerSec: 100000, Ratio: 0.4, Requests: 10},
			{EventsPerSec: 55000, P50ms: 3, P99ms: 14, PeakRSS: 93 << 20, RawPerSec: 110000, Ratio: 0.5, Requests: 10},
		},
	}
	r.summarize()
	if r.EventsPerSec != 55000 || r.P99ms != 14 || r.PeakRSS != 95<<20 || r.Ratio != 0.5 || !r.Met {
		t.Fatalf("summary: %+v", r)
	}
	var b strings.Builder
	writeBenchTable(&b, r)
	out := b.String()
	for _, want := range []string{
		"events/s (HTTP /v1/batch)       55000      >= 50000   ok",
		"p99 request latency             14.0 ms    <= 25 ms   ok",
		"server peak RSS                 95 MB      <= 150 MB  ok",
		"ratio to raw JetStream          0.50       >= 0.5     ok",
		"medians of 3 rounds",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// TestBenchIngestEndToEnd runs the real command on a few events: a serve
// child (this test binary, which TestMain turns into switchboard when
// SWITCHBOARD_TEST_MAIN=1), the load, the raw ceiling and the JSON report.
func TestBenchIngestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process and two JetStream stores")
	}
	t.Setenv("SWITCHBOARD_TEST_MAIN", "1")
	var stdout, stderr strings.Builder
	err := run(t.Context(), []string{"bench", "ingest", "--events", "2000", "--connections", "2", "--json", "--dir", t.TempDir()}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("bench ingest: %v\n%s", err, stderr.String())
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(stdout.String()), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, stdout.String())
	}
	if len(rep.Rounds) != 1 {
		t.Fatalf("rounds: %+v", rep.Rounds)
	}
	r := rep.Rounds[0]
	if r.AckedEvents != 2000 || r.Requests != 20 || r.Failed != 0 || r.PeakRSS <= 0 || r.RawPerSec <= 0 || r.RawFailed != 0 || r.Ratio <= 0 {
		t.Errorf("round: %+v\n%s", r, stderr.String())
	}
}

// TestBenchAllSmall runs make bench's command on a few events, without the
// micro-benchmarks: every stage runs, every acknowledged event reaches the
// emulator and the webhook once, and the JSON lands in --out.
func TestBenchAllSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts several server processes")
	}
	t.Setenv("SWITCHBOARD_TEST_MAIN", "1")
	out := t.TempDir()
	var stdout, stderr strings.Builder
	err := run(t.Context(), []string{"bench", "all", "--rounds", "1", "--ingest-events", "2000", "--e2e-events", "1500", "--isolation-events", "1500", "--isolation-seconds", "0",
		"--ingest-rate", "1000", "--ingest-seconds", "2", "--latency-rate", "1000", "--latency-seconds", "1", "--steady-rate", "1000", "--steady-seconds", "1", "--connections", "2",
		"--many-connections", "8", "--micro=false", "--out", out, "--dir", t.TempDir()}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("bench all: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	files, _ := filepath.Glob(filepath.Join(out, "bench-*.json"))
	if len(files) != 1 {
		t.Fatalf("JSON results: %v", files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var rep benchAllReport
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	got := map[string]*benchFigure{}
	for _, f := range rep.Figures {
		got[f.ID] = f
	}
	for _, id := range []string{"ceiling.publish", "ceiling.fetch", "ingest.rate", "ingest.many.rate", "ingest.many.rss", "ingest.p99open", "ingest.rssopen", "e2e.meta.rate", "e2e.meta.p99", "e2e.meta.steadyRSS", "e2e.metaext.rate", "e2e.metaext.serveRSS", "e2e.webhook.rate", "e2e.isolation.rate", "e2e.isolation.ratio"} {
		want := 1
		if id == "e2e.webhook.rate" {
			want = 2 // before and after the isolation run
		}
		if f := got[id]; f == nil || len(f.Values) != want || f.Median <= 0 {
			t.Errorf("figure %s: %+v", id, f)
		}
	}
	if iso, hook := got["e2e.isolation.ratio"], got["e2e.webhook.rate"]; iso != nil && hook != nil && len(hook.Values) == 2 {
		if want := got["e2e.isolation.rate"].Values[0] / ((hook.Values[0] + hook.Values[1]) / 2); math.Abs(iso.Values[0]-want) > 1e-9 {
			t.Errorf("isolation ratio %v, want the isolation run over the mean of the runs alone, %v", iso.Values[0], want)
		}
	}
	if f := got["ingest.rate"]; f != nil && (f.Ratio <= 0 || f.Result == "") {
		t.Errorf("ingest figure lacks ratio or result: %+v", f)
	}
	if len(rep.E2EDetails) != 7 {
		t.Fatalf("end-to-end runs: %+v", rep.E2EDetails)
	}
	for _, e := range rep.E2EDetails {
		r := e.Result
		if r.Acked == 0 || r.Delivered != r.Acked || r.Missing != 0 || r.Repeats != 0 || r.ServeRSS <= 0 || r.PluginRSS <= 0 {
			t.Errorf("%s: %+v", e.Run, r)
		}
	}
	if len(rep.Problems) != 0 {
		t.Errorf("problems: %v", rep.Problems)
	}
	for _, want := range []string{"raw JetStream fetch+ack", "end to end → meta-capi → emulator", "PASS"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, stdout.String())
		}
	}
}

func TestBenchMicroParsing(t *testing.T) {
	m := benchLine.FindStringSubmatch("BenchmarkRoundTrip/process/batch=1000-2   \t     546\t   2191744 ns/op\t 1180.50 ns/event\t 137.09 MB/s\t  1067 B/op\t      12 allocs/op")
	if m == nil || m[1] != "BenchmarkRoundTrip/process/batch=1000" {
		t.Fatalf("match: %q", m)
	}
	if v, ok := benchMetric(m[2], "ns/event"); !ok || v != 1180.5 {
		t.Errorf("ns/event = %v, %v", v, ok)
	}
	if v, ok := benchMetric(m[2], "ns/op"); !ok || v != 2191744 {
		t.Errorf("ns/op = %v, %v", v, ok)
	}
	if _, ok := benchMetric(m[2], "µs/op"); ok {
		t.Error("found a unit that is not there")
	}
	if got, want := benchMergePatterns([]string{"^A$/^p$/^b=1$", "^A$/^p$/^b=10$"}), "^A$/^p$/(?:(?:^b=1$)|(?:^b=10$))"; got != want {
		t.Errorf("merged = %q, want %q", got, want)
	}
}

func TestIsolationEventsLastAboutTheSecondsAsked(t *testing.T) {
	o := benchAllOptions{isolation: 300_000, isolationS: 10}
	for _, tc := range []struct {
		metaRate float64
		want     int
	}{
		{20_000, 300_000},      // 1.5 × 20,000 × 10 s = 300,000
		{10_000, 300_000},      // never fewer than --isolation-events
		{55_000, 825_000},      // a faster machine: ~10 s of the webhook's rate
		{1_000_000, 2_000_000}, // capped
	} {
		if got := isolationEvents(o, tc.metaRate); got != tc.want {
			t.Errorf("isolationEvents at %v/s = %d, want %d", tc.metaRate, got, tc.want)
		}
	}
	o.isolationS = 0
	if got := isolationEvents(o, 55_000); got != 300_000 {
		t.Errorf("with --isolation-seconds 0: %d, want --isolation-events", got)
	}
}
