package ingest_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-cdp/switchboard/core/bus"
	"github.com/switchboard-cdp/switchboard/core/event"
	"github.com/switchboard-cdp/switchboard/sources/ingest"
)

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

func TestReadBody(t *testing.T) {
	cases := []struct {
		name   string
		body   []byte
		enc    string
		want   string // the body read, when status is 0
		status int
		msg    string
	}{
		{name: "plain", body: []byte(`{"a":1}`), want: `{"a":1}`},
		{name: "gzip", body: gz([]byte(`{"a":1}`)), enc: "gzip", want: `{"a":1}`},
		{name: "x-gzip, any case", body: gz([]byte("hi")), enc: " X-GZIP ", want: "hi"},
		{name: "identity", body: []byte("x"), enc: "identity", want: "x"},
		{name: "at the cap", body: bytes.Repeat([]byte("a"), 64), want: strings.Repeat("a", 64)},
		{name: "over the cap", body: bytes.Repeat([]byte("a"), 65), status: 400, msg: "request body larger than 64 bytes"},
		{name: "gzip bomb", body: gz(bytes.Repeat([]byte(" "), 1<<20)), enc: "gzip", status: 400, msg: "request body larger than 64 bytes"},
		{name: "not gzip", body: []byte("plain"), enc: "gzip", status: 400, msg: "invalid gzip body"},
		{name: "truncated gzip", body: gz([]byte("hello world"))[:12], enc: "gzip", status: 400, msg: "invalid gzip body: truncated"},
		{name: "brotli", body: []byte("x"), enc: "br", status: 415, msg: `unsupported Content-Encoding "br"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(tc.body))
			if tc.enc != "" {
				r.Header.Set("Content-Encoding", tc.enc)
			}
			buf, err := ingest.ReadBody(r, 64)
			defer ingest.PutBuffer(buf)
			if tc.status == 0 {
				if err != nil || buf.String() != tc.want {
					t.Fatalf("ReadBody = %q, %v", buf, err)
				}
				return
			}
			if err == nil || err.Status != tc.status || !strings.HasPrefix(err.Msg, tc.msg) {
				t.Fatalf("err %+v, want %d %q", err, tc.status, tc.msg)
			}
		})
	}
}

func TestLimiter(t *testing.T) {
	for _, bad := range [][2]float64{{-1, 0}, {math.NaN(), 0}, {math.Inf(1), 0}, {1, -1}} {
		if _, err := ingest.NewLimiter(bad[0], int(bad[1])); err == nil {
			t.Errorf("NewLimiter(%v, %v) accepted", bad[0], bad[1])
		}
	}
	none, err := ingest.NewLimiter(0, 0)
	if err != nil || none != nil || !none.Allow(time.Now()) {
		t.Fatalf("rate 0: %v %v", none, err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l, err := ingest.NewLimiter(0.5, 0) // burst ceil(0.5) = 1
	if err != nil {
		t.Fatal(err)
	}
	if !l.Allow(now) || l.Allow(now) {
		t.Fatal("want one token, then none")
	}
	w := httptest.NewRecorder()
	if code := ingest.TooManyRequests(w, l, now); code != 429 || w.Code != 429 {
		t.Fatalf("code %d", code)
	}
	if w.Header().Get("Retry-After") != "2" || w.Header().Get("X-RateLimit-Reset") != "2" {
		t.Fatalf("headers %v", w.Header())
	}
	if !strings.Contains(w.Body.String(), `"success":false`) {
		t.Fatalf("body %s", w.Body)
	}
}

type fakePub struct{ err error }

func (p fakePub) Publish(_ context.Context, msgs []bus.Message) (bus.PublishResult, error) {
	return bus.PublishResult{Stored: len(msgs)}, p.err
}

func TestStoreAndAnswers(t *testing.T) {
	reg := prometheus.NewRegistry()
	met, err := ingest.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := ingest.NewMetrics(reg); err != nil || again.Requests != met.Requests {
		t.Fatalf("a second NewMetrics on one registry: %v", err)
	}
	msgs := []bus.Message{{Subject: "events.s.track", ID: "s:1", Data: []byte(`{}`)}}
	types := []event.Type{event.Track}
	ok := ingest.Store{Publisher: fakePub{}, Metrics: met}
	if err := ok.Publish(context.Background(), "s", msgs, types); err != nil {
		t.Fatal(err)
	}
	down := ingest.Store{Publisher: fakePub{err: errors.New("no JetStream")}, Metrics: met}
	if err := down.Publish(context.Background(), "s", msgs, types); err == nil {
		t.Fatal("a failed publish was nil")
	}
	w := httptest.NewRecorder()
	if ingest.Unavailable(w) != 503 || w.Header().Get("Retry-After") != "5" || !strings.Contains(w.Body.String(), "retry later") {
		t.Fatalf("Unavailable: %d %v %s", w.Code, w.Header(), w.Body)
	}
	w = httptest.NewRecorder()
	if ingest.WriteOK(w) != 200 || w.Body.String() != `{"success":true}` || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("WriteOK: %s", w.Body)
	}
	w = httptest.NewRecorder()
	ingest.WriteError(w, &ingest.Error{Status: 400, Msg: "events[2]: bad", Field: "x", Index: 2, HasIndex: true})
	if w.Body.String() != `{"success":false,"error":"events[2]: bad","field":"x","index":2}` {
		t.Fatalf("WriteError: %s", w.Body)
	}
	mfs, _ := reg.Gather()
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "switchboard_events_total" {
			for _, m := range mf.GetMetric() {
				got[m.GetLabel()[0].GetValue()] += m.GetCounter().GetValue() // outcome
			}
		}
	}
	if got["stored"] != 1 || got["unavailable"] != 1 {
		t.Fatalf("events by outcome %v", got)
	}
}

func TestCheckSourceName(t *testing.T) {
	for _, ok := range []string{"web", "tealium-1", "a_b"} {
		if err := ingest.CheckSourceName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a.b", "a b", "a*", "a>", "a\x00"} {
		if ingest.CheckSourceName(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestBaseOpenDefaults(t *testing.T) {
	def := ingest.Limits{Request: 500, Event: 32, Events: 7}
	b, err := ingest.Base{Limits: ingest.Limits{Request: 100, Event: -1}}.Open(nil, nil, def)
	if err != nil {
		t.Fatal(err)
	}
	if want := (ingest.Limits{Request: 100, Event: 32, Events: 7}); b.Limits != want {
		t.Errorf("limits = %+v, want %+v (positive kept, the rest from the defaults)", b.Limits, want)
	}
	if b.Log == nil || b.Now == nil || b.Metrics == nil || b.Store.Metrics != b.Metrics {
		t.Errorf("Open left a nil logger, clock or metrics: %+v", b)
	}
	if d := time.Since(b.Now()); d < 0 || d > time.Minute {
		t.Errorf("default clock is %v off time.Now", d)
	}
	// The metrics go on the registry given.
	reg := prometheus.NewRegistry()
	if _, err := (ingest.Base{}).Open(nil, reg, def); err != nil {
		t.Fatal(err)
	}
	ch := make(chan *prometheus.Desc, 64)
	reg.Describe(ch)
	close(ch)
	if len(ch) == 0 {
		t.Error("no metrics registered on the registry given")
	}
}
