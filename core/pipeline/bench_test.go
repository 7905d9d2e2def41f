package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-cdp/switchboard/core/bus"
	"github.com/switchboard-cdp/switchboard/core/event"
	"github.com/switchboard-cdp/switchboard/destinations/webhook"
	"github.com/switchboard-cdp/switchboard/plugins"
)

// benchPipeline is a Meta-style pipeline: a when: and a dozen mapped
// fields, batches of up to 1000.
const benchPipeline = `  bench:
    from: [web]
    to: sink
    when: type == "track"
    map:
      id: messageId
      event_name: '{"Buy": "Purchase", "Look": "ViewContent"}[event]'
      event_time: unix(timestamp)
      action_source: '"website"'
      event_source_url: context?.page?.url
      user_data:
        em: context?.traits?.email ?? traits?.email
        client_ip_address: context?.ip
        client_user_agent: context?.userAgent
        external_id: userId
      custom_data:
        value: properties.revenue
        currency: properties.currency
    batch: {max_events: 1000, max_wait: 50ms}
`

func benchEvent(e *event.Event) {
	e.Properties["revenue"] = 129.99
	e.Properties["currency"] = "USD"
	e.Context = map[string]any{
		"ip":        "203.0.113.7",
		"userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15",
		"page":      map[string]any{"url": "https://shop.example.com/checkout/complete"},
		"traits":    map[string]any{"email": "jane.doe@example.com"},
	}
}

// countingSink counts the events of the JSON arrays posted to it.
func countingSink(b *testing.B, n *atomic.Int64) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var items []json.RawMessage
		_ = json.Unmarshal(body, &items)
		n.Add(int64(len(items)))
	}))
	b.Cleanup(srv.Close)
	return srv.URL
}

// BenchmarkEndToEnd measures stored events → pipeline → destination → HTTP
// sink, counted at the sink: b.N events are stored first, then the
// pipeline starts and the clock runs until the sink has them all.
//
//	go test -run '^$' -bench EndToEnd -benchtime 50000x ./core/pipeline/
func BenchmarkEndToEnd(b *testing.B) {
	b.Run("plugin", func(b *testing.B) { benchEndToEnd(b, false) })
	b.Run("in-process", func(b *testing.B) { benchEndToEnd(b, true) })
}

func benchEndToEnd(b *testing.B, inProcess bool) {
	var got atomic.Int64
	s := &sink{url: countingSink(b, &got)}
	e := newEnv(b, yamlFor("array", false, benchPipeline), s)
	publish(b, e.bus, events("web", 0, b.N, benchEvent)...)
	opts := e.options("bench")
	if inProcess {
		w := webhook.New()
		settings, _ := json.Marshal(map[string]any{"url": s.url, "mode": "array", "max_batch": 1000})
		if err := w.Configure(context.Background(), plugins.Config{Destination: "sink", Settings: settings}); err != nil {
			b.Fatal(err)
		}
		opts.Destination = w
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	e.start(opts)
	checkFor(b, 10*time.Minute, time.Millisecond, func() error {
		if n := got.Load(); n < int64(b.N) {
			return fmt.Errorf("%d of %d delivered", n, b.N)
		}
		return nil
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}

// BenchmarkLatencyAtRate publishes b.N events at 5,000 events/s (50 every
// 10ms) into a running pipeline (the real webhook plugin, batches of up to
// 1000 or 50ms) and reports the stored → accepted latency's p50 and p99,
// as the upper bounds of the delivery latency histogram's buckets.
//
//	go test -run '^$' -bench LatencyAtRate -benchtime 50000x ./core/pipeline/
func BenchmarkLatencyAtRate(b *testing.B) {
	var got atomic.Int64
	s := &sink{url: countingSink(b, &got)}
	e := newEnv(b, yamlFor("array", false, benchPipeline), s)
	e.start(e.options("bench"))
	evs := events("web", 0, b.N, benchEvent)
	b.ResetTimer()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for len(evs) > 0 {
		<-tick.C
		n := min(len(evs), 50)
		publish(b, e.bus, evs[:n]...)
		evs = evs[n:]
	}
	checkFor(b, 10*time.Minute, time.Millisecond, func() error {
		if n := got.Load(); n < int64(b.N) {
			return fmt.Errorf("%d of %d delivered", n, b.N)
		}
		return nil
	})
	b.StopTimer()
	b.ReportMetric(metricQuantile(e, 0.5), "p50-latency-s")
	b.ReportMetric(metricQuantile(e, 0.99), "p99-latency-s")
}

// metricQuantile estimates a quantile of the delivery latency histogram
// (the upper bound of the bucket it falls in).
func metricQuantile(e *env, q float64) float64 {
	mfs, err := e.reg.Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() != "switchboard_pipeline_delivery_latency_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			want := q * float64(h.GetSampleCount())
			for _, bk := range h.GetBucket() {
				if float64(bk.GetCumulativeCount()) >= want {
					return bk.GetUpperBound()
				}
			}
		}
	}
	return 0
}

// BenchmarkReplay measures how fast the replay functions re-publish: from a
// point in time (ReplaySince) and from the dead-letter stream
// (ReplayDeadLetters, deleting what it replayed). No pipeline runs.
//
//	go test -run '^$' -bench Replay -benchtime 50000x ./core/pipeline/
func BenchmarkReplay(b *testing.B) {
	b.Run("since", func(b *testing.B) {
		b.ReportAllocs()
		bu := openBus(b)
		publish(b, bu, events("web", 0, b.N, benchEvent)...)
		b.ResetTimer()
		start := time.Now()
		n, err := ReplaySince(context.Background(), bu.JetStream(), "bench", []string{"web"}, time.Time{})
		if err != nil || n != b.N {
			b.Fatalf("ReplaySince = %d, %v", n, err)
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
	})
	b.Run("dead-letters", func(b *testing.B) {
		b.ReportAllocs()
		bu := openBus(b)
		js := bu.JetStream()
		ctx := context.Background()
		if err := ensureDLQ(ctx, js, 1, time.Hour); err != nil {
			b.Fatal(err)
		}
		evs := events("web", 0, b.N, benchEvent)
		var msgs []bus.Message
		for i := range evs {
			data, _ := json.Marshal(&evs[i])
			d, _ := json.Marshal(&DeadLetter{Pipeline: "bench", Destination: "sink", Cause: CauseRejected, Reason: "HTTP 400",
				Attempts: 1, StreamSeq: uint64(i + 1), Subject: "events.web.track", MessageID: evs[i].MessageID, Event: data})
			msgs = append(msgs, bus.Message{Subject: DeadLetterSubject("bench"), Data: d})
		}
		for len(msgs) > 0 {
			n := min(len(msgs), 1000)
			if _, err := bu.Publish(ctx, msgs[:n]); err != nil {
				b.Fatal(err)
			}
			msgs = msgs[n:]
		}
		b.ResetTimer()
		start := time.Now()
		n, err := ReplayDeadLetters(ctx, js, "bench", nil)
		if err != nil || n != b.N {
			b.Fatalf("ReplayDeadLetters = %d, %v", n, err)
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
		if left, _ := CountDeadLetters(ctx, js, "bench"); left != 0 {
			b.Fatalf("%d dead letters left", left)
		}
	})
}
