package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cdp/switchboard/plugins"
	"github.com/switchboard-cdp/switchboard/plugins/destinationtest"
)

func TestContract(t *testing.T) {
	destinationtest.Run(t, destinationtest.Factory{
		New: func(testing.TB) plugins.Destination { return New() },
		Settings: func(_ testing.TB, r destinationtest.Remote) map[string]any {
			return map[string]any{"url": r.URL + "/hook", "headers": map[string]string{"Authorization": "Bearer s3cr3t-token"}}
		},
		Accept: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
		}),
		Refuse: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "bad event", http.StatusBadRequest)
		}),
	})
}

func TestContractArrayMode(t *testing.T) {
	destinationtest.Run(t, destinationtest.Factory{
		New: func(testing.TB) plugins.Destination { return New() },
		Settings: func(_ testing.TB, r destinationtest.Remote) map[string]any {
			return map[string]any{"url": r.URL, "mode": "array", "max_batch": 300}
		},
		Accept: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var arr []json.RawMessage
			if err := json.NewDecoder(r.Body).Decode(&arr); err != nil {
				http.Error(w, "want a JSON array", http.StatusBadRequest)
			}
		}),
		Refuse: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "bad batch", http.StatusUnprocessableEntity)
		}),
	})
}

// recorder is a remote side that records requests and answers with the
// handler the test sets.
type recorder struct {
	mu       sync.Mutex
	requests []recorded
	answer   func(w http.ResponseWriter, r *http.Request)
}

type recorded struct {
	method  string
	header  http.Header
	body    string
	path    string
	message string
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.requests = append(rec.requests, recorded{method: r.Method, header: r.Header.Clone(), body: string(b), path: r.URL.Path,
		message: r.Header.Get("X-Switchboard-Message-Id")})
	rec.mu.Unlock()
	if rec.answer != nil {
		rec.answer(w, r)
	}
}

func (rec *recorder) all() []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]recorded(nil), rec.requests...)
}

func configure(t *testing.T, settings map[string]any) *Webhook {
	t.Helper()
	w := New()
	raw, _ := json.Marshal(settings)
	if err := w.Configure(context.Background(), plugins.Config{Destination: "hook", Settings: raw, Host: &destinationtest.MemoryHost{}, Logger: destinationtest.Logger(t)}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	t.Cleanup(func() { _ = w.Close(context.Background()) })
	return w
}

func events(n int) []plugins.Event {
	out := make([]plugins.Event, n)
	for i := range out {
		out[i] = plugins.Event{ID: fmt.Sprintf("e%d", i), Payload: json.RawMessage(fmt.Sprintf(`{"n":%d,"big":12345678901234567890}`, i)), Attempt: 1, MessageID: fmt.Sprintf("m%d", i)}
	}
	return out
}

func byID(results []plugins.Result) map[string]plugins.Result {
	m := map[string]plugins.Result{}
	for _, r := range results {
		m[r.ID] = r
	}
	return m
}

func TestOutcomes(t *testing.T) {
	longBody := strings.Repeat("x", 500)
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name       string
		mode       string
		answer     func(w http.ResponseWriter, r *http.Request)
		outcome    plugins.Outcome
		code       string
		reason     string // substring
		retryAfter time.Duration
		tolerance  time.Duration
	}{
		{"200 delivered", "single", func(w http.ResponseWriter, _ *http.Request) {}, plugins.OutcomeDelivered, "", "", 0, 0},
		{"204 delivered", "array", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }, plugins.OutcomeDelivered, "", "", 0, 0},
		{"400 rejected with body", "single", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, `{"error":"field x is invalid"}`, 400)
		}, plugins.OutcomeRejected, "http_400", `HTTP 400 Bad Request: {"error":"field x is invalid"}`, 0, 0},
		{"404 rejected", "array", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(404) }, plugins.OutcomeRejected, "http_404", "HTTP 404 Not Found", 0, 0},
		{"422 body trimmed", "single", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(422)
			_, _ = io.WriteString(w, longBody)
		}, plugins.OutcomeRejected, "http_422", strings.Repeat("x", 199) + "…", 0, 0},
		{"301 rejected, not followed", "single", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusMovedPermanently)
		}, plugins.OutcomeRejected, "http_301", "HTTP 301", 0, 0},
		{"429 retry after seconds", "array", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(429)
		}, plugins.OutcomeRetry, "http_429", "HTTP 429", 7 * time.Second, 0},
		{"503 retry after date", "single", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", date)
			w.WriteHeader(503)
		}, plugins.OutcomeRetry, "http_503", "HTTP 503", 90 * time.Second, 3 * time.Second},
		{"500 retry", "single", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) }, plugins.OutcomeRetry, "http_500", "HTTP 500", 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{answer: tc.answer}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			w := configure(t, map[string]any{"url": srv.URL + "/in", "mode": tc.mode})
			batch := events(5)
			results, err := w.Deliver(context.Background(), batch)
			if err != nil {
				t.Fatal(err)
			}
			if len(results) != len(batch) {
				t.Fatalf("%d results for %d events", len(results), len(batch))
			}
			for _, r := range results {
				if r.Outcome != tc.outcome || r.Code != tc.code || !strings.Contains(r.Reason, tc.reason) {
					t.Errorf("result %+v; want outcome %v code %q reason containing %q", r, tc.outcome, tc.code, tc.reason)
				}
				if d := r.RetryAfter - tc.retryAfter; d < -tc.tolerance || d > tc.tolerance {
					t.Errorf("RetryAfter %s; want %s±%s", r.RetryAfter, tc.retryAfter, tc.tolerance)
				}
				if len([]rune(r.Reason)) > 260 {
					t.Errorf("reason of %d characters", len([]rune(r.Reason)))
				}
			}
			want := 5
			if tc.mode == "array" {
				want = 1
			}
			if got := len(rec.all()); got != want {
				t.Errorf("%d requests; want %d", got, want)
			}
		})
	}
}

func TestSingleModeSendsEachEventAsItsBody(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	w := configure(t, map[string]any{"url": srv.URL + "/p", "method": "PUT",
		"headers": map[string]string{"Authorization": "Bearer tok", "X-Tenant": "acme"}})
	batch := events(20)
	results, err := w.Deliver(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Outcome != plugins.OutcomeDelivered {
			t.Fatalf("%+v", r)
		}
	}
	reqs := rec.all()
	if len(reqs) != 20 {
		t.Fatalf("%d requests", len(reqs))
	}
	bodies := map[string]string{}
	for _, r := range reqs {
		if r.method != "PUT" || r.path != "/p" || r.header.Get("Authorization") != "Bearer tok" || r.header.Get("X-Tenant") != "acme" ||
			r.header.Get("Content-Type") != "application/json" {
			t.Errorf("request %s %s headers %v", r.method, r.path, r.header)
		}
		bodies[r.message] = r.body
	}
	for _, e := range batch {
		if bodies[e.MessageID] != string(e.Payload) {
			t.Errorf("body for %s = %q; want %q", e.MessageID, bodies[e.MessageID], e.Payload)
		}
	}
}

func TestArrayModeSplitsAtMaxBatch(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	w := configure(t, map[string]any{"url": srv.URL, "mode": "array", "max_batch": 4})
	batch := events(10)
	if _, err := w.Deliver(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	sizes := map[int]int{}
	for _, r := range rec.all() {
		var arr []json.RawMessage
		if err := json.Unmarshal([]byte(r.body), &arr); err != nil {
			t.Fatalf("body %q: %v", r.body, err)
		}
		sizes[len(arr)]++
		for _, p := range arr {
			seen[string(p)] = true
		}
	}
	if sizes[4] != 2 || sizes[2] != 1 {
		t.Errorf("request sizes %v; want two of 4 and one of 2", sizes)
	}
	for _, e := range batch {
		if !seen[string(e.Payload)] {
			t.Errorf("payload %s not sent verbatim", e.Payload)
		}
	}
}

func TestArrayModeOneResponseDecidesTheChunk(t *testing.T) {
	var n sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Lock()
		calls++
		first := calls == 1
		n.Unlock()
		var arr []map[string]any
		_ = json.NewDecoder(r.Body).Decode(&arr)
		if first {
			w.WriteHeader(503)
		}
	}))
	defer srv.Close()
	w := configure(t, map[string]any{"url": srv.URL, "mode": "array", "max_batch": 5, "concurrency": 1})
	results, err := w.Deliver(context.Background(), events(10))
	if err != nil {
		t.Fatal(err)
	}
	count := map[plugins.Outcome]int{}
	for _, r := range results {
		count[r.Outcome]++
	}
	if count[plugins.OutcomeRetry] != 5 || count[plugins.OutcomeDelivered] != 5 {
		t.Errorf("outcomes %v; want 5 retried (first request) and 5 delivered", count)
	}
}

func TestInvalidPayloadRejectedAlone(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	w := configure(t, map[string]any{"url": srv.URL, "mode": "array"})
	batch := events(3)
	batch[1].Payload = json.RawMessage(`{"broken":`)
	results, err := w.Deliver(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	m := byID(results)
	if m["e1"].Outcome != plugins.OutcomeRejected || m["e0"].Outcome != plugins.OutcomeDelivered || m["e2"].Outcome != plugins.OutcomeDelivered {
		t.Errorf("results %+v", results)
	}
	if reqs := rec.all(); len(reqs) != 1 || !json.Valid([]byte(reqs[0].body)) {
		t.Errorf("requests %+v", reqs)
	}
}

func TestNetworkErrorsRetry(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL + "/secret-path?token=abc123"
		srv.Close()
		w := configure(t, map[string]any{"url": url})
		results, err := w.Deliver(context.Background(), events(2))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range results {
			if r.Outcome != plugins.OutcomeRetry || r.Code != "network" {
				t.Errorf("%+v", r)
			}
			if strings.Contains(r.Reason, "abc123") {
				t.Errorf("reason %q reveals the URL", r.Reason)
			}
		}
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer srv.Close()
		defer close(release)
		w := configure(t, map[string]any{"url": srv.URL, "timeout": "100ms"})
		start := time.Now()
		results, err := w.Deliver(context.Background(), events(1))
		if err != nil {
			t.Fatal(err)
		}
		if r := results[0]; r.Outcome != plugins.OutcomeRetry || r.Reason != "no response within 100ms" {
			t.Errorf("%+v", r)
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("took %s", time.Since(start))
		}
	})
}

func TestConfigureErrors(t *testing.T) {
	tests := []struct {
		settings string
		fields   []string
	}{
		{`{}`, []string{"url"}},
		{`{"url":"ftp://x"}`, []string{"url"}},
		{`{"url":"/relative"}`, []string{"url"}},
		{`{"url":"http://x","method":"GET"}`, []string{"method"}},
		{`{"url":"http://x","mode":"batch"}`, []string{"mode"}},
		{`{"url":"http://x","timeout":"soon"}`, []string{"timeout"}},
		{`{"url":"http://x","timeout":"-1s"}`, []string{"timeout"}},
		{`{"url":"http://x","max_batch":0}`, []string{"max_batch"}},
		{`{"url":"http://x","concurrency":1000}`, []string{"concurrency"}},
		{`{"url":"http://x","headers":{"Bad Name":"v"}}`, []string{"headers.Bad Name"}},
		{`{"url":"http://x","headers":{"X-Token":"sec\nret-value"}}`, []string{"headers.X-Token"}},
		{`{"url":"http://x","max_batch":"many"}`, []string{"max_batch"}},
		{`{"url":"http://x","colour":"red"}`, []string{"colour"}},
	}
	for _, tc := range tests {
		t.Run(tc.settings, func(t *testing.T) {
			err := New().Configure(context.Background(), plugins.Config{Settings: json.RawMessage(tc.settings), Host: &destinationtest.MemoryHost{}})
			var fe plugins.FieldErrors
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T); want FieldErrors", err, err)
			}
			var got []string
			for _, e := range fe {
				got = append(got, e.Field)
				if strings.Contains(e.Message, "ret-value") {
					t.Errorf("message %q reveals a header value", e.Message)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
				t.Errorf("fields %q; want %q", got, tc.fields)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-5", 0},
		{"120", 2 * time.Minute},
		{" 3 ", 3 * time.Second},
		{"Sun, 01 Mar 2026 12:00:30 GMT", 30 * time.Second},
		{"Sun, 01 Mar 2026 11:00:00 GMT", 0},
		{"soon", 0},
		{"99999999999", 7 * 24 * time.Hour},
	}
	for _, tc := range tests {
		if got := retryAfter(tc.in, now); got != tc.want {
			t.Errorf("retryAfter(%q) = %s; want %s", tc.in, got, tc.want)
		}
	}
}

func TestTrim(t *testing.T) {
	if got := trim("  a\n\tb  ", 10); got != "a b" {
		t.Errorf("%q", got)
	}
	if got := trim(strings.Repeat("é", 300), 200); len([]rune(got)) != 200 || !strings.HasSuffix(got, "…") {
		t.Errorf("%q", got)
	}
	if got := trim("a\xff\xfeb", 10); got != "a\uFFFDb" {
		t.Errorf("%q", got)
	}
}

func BenchmarkArrayDeliver(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }))
	defer srv.Close()
	w := New()
	raw, _ := json.Marshal(map[string]any{"url": srv.URL, "mode": "array", "max_batch": 1000})
	if err := w.Configure(context.Background(), plugins.Config{Settings: raw, Host: &destinationtest.MemoryHost{}}); err != nil {
		b.Fatal(err)
	}
	batch := events(1000)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := w.Deliver(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/event")
}
