package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-cdp/switchboard/core/bus"
	"github.com/switchboard-cdp/switchboard/core/bus/bustest"
	"github.com/switchboard-cdp/switchboard/core/seen"
	"github.com/switchboard-cdp/switchboard/plugins"
)

func entries(prefix string, n int) []plugins.Entry {
	out := make([]plugins.Entry, n)
	for i := range out {
		out[i] = plugins.Entry{Key: fmt.Sprintf("%s:%d", prefix, i), Value: []byte(fmt.Sprintf("v%d", i))}
	}
	return out
}

func TestStateCreateIfAbsentInOneCall(t *testing.T) {
	b := bustest.Open(t, bus.Options{})
	s := &services{destination: "meta", state: newState(b, "meta", 1, time.Hour)}
	ctx := context.Background()

	first := entries("dedupe:Purchase", 1000)
	created, err := s.StateCreate(ctx, first, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := count(created); n != 1000 {
		t.Fatalf("first call created %d of 1000", n)
	}
	// Half old, half new, plus a key given twice in the same call.
	second := append(entries("dedupe:Purchase", 1000)[500:], entries("dedupe:Lead", 500)...)
	second = append(second, plugins.Entry{Key: "dedupe:Lead:0", Value: []byte("again")})
	created, err = s.StateCreate(ctx, second, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range created {
		if want := i >= 500 && i < 1000; c != want {
			t.Fatalf("created[%d] (%s) = %v; want %v", i, second[i].Key, c, want)
		}
	}
	got, err := s.StateGet(ctx, []string{"dedupe:Purchase:7", "dedupe:Lead:0", "absent"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got["dedupe:Purchase:7"]) != "v7" || string(got["dedupe:Lead:0"]) != "v0" {
		t.Errorf("StateGet = %q", got)
	}

	// The bucket is an ordinary KV bucket with the stream's replicas.
	kv, err := b.JetStream().KeyValue(ctx, "sb_state_meta")
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Values() != 1500 || st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Replicas != 1 {
		t.Errorf("bucket holds %d values", st.Values())
	}
}

// TestStateCreateLandsAfterTheCallerGaveUp: a create-if-absent whose
// caller stops waiting (a plugin's own bound, shorter than a leader
// election) still stores its entries.
func TestStateCreateLandsAfterTheCallerGaveUp(t *testing.T) {
	b := bustest.Open(t, bus.Options{})
	s := &services{destination: "meta", state: newState(b, "meta", 1, time.Hour)}
	if _, err := s.StateCreate(context.Background(), entries("warm", 1), 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _ = s.StateCreate(ctx, entries("late", 100), 0) // may or may not report success
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := s.StateGet(context.Background(), []string{"late:0", "late:99"})
		if err == nil && len(got) == 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("entries of a create whose caller gave up never landed: %v, %v", got, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func count(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

func TestStatePutGetDelete(t *testing.T) {
	b := bustest.Open(t, bus.Options{})
	s := &services{destination: "d", state: newState(b, "d", 1, time.Hour)}
	ctx := context.Background()
	weird := []string{"a.b", "a=2Eb", "x y", "é", "=", "..", "*", ">", strings.Repeat("k", 1000), "tab\there"}
	var es []plugins.Entry
	for i, k := range weird {
		es = append(es, plugins.Entry{Key: k, Value: []byte(fmt.Sprint(i))})
	}
	if err := s.StatePut(ctx, es, 0); err != nil {
		t.Fatal(err)
	}
	got, err := s.StateGet(ctx, weird)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range weird {
		if string(got[k]) != fmt.Sprint(i) {
			t.Errorf("key %q = %q; want %d (keys must not collide)", k, got[k], i)
		}
	}
	if err := s.StatePut(ctx, []plugins.Entry{{Key: "a.b", Value: []byte("new")}}, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.StateDelete(ctx, []string{"x y", "never-existed"}); err != nil {
		t.Fatal(err)
	}
	got, err = s.StateGet(ctx, []string{"a.b", "x y"})
	if err != nil {
		t.Fatal(err)
	}
	if string(got["a.b"]) != "new" || len(got) != 1 {
		t.Errorf("after put and delete: %q", got)
	}
	created, err := s.StateCreate(ctx, []plugins.Entry{{Key: "x y", Value: []byte("back")}, {Key: "a.b"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !created[0] || created[1] {
		t.Errorf("create after delete = %v; want [true false]", created)
	}
	if _, err := s.StateGet(ctx, []string{""}); err == nil {
		t.Error("an empty key is accepted")
	}
	if _, err := s.StateCreate(ctx, entries("x", maxStateEntries+1), 0); err == nil {
		t.Error("an oversized call is accepted")
	}
}

func TestStateTTLExpires(t *testing.T) {
	b := bustest.Open(t, bus.Options{})
	s := &services{destination: "d", state: newState(b, "d", 1, time.Hour)}
	ctx := context.Background()
	if _, err := s.StateCreate(ctx, []plugins.Entry{{Key: "short", Value: []byte("1")}}, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StateCreate(ctx, []plugins.Entry{{Key: "long", Value: []byte("1")}}, 0); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor(t, 10*time.Second, "the short-lived key to expire", func() bool {
		got, err := s.StateGet(ctx, []string{"short"})
		return err == nil && len(got) == 0
	})
	if since := time.Since(start); since < 500*time.Millisecond {
		t.Errorf("a 1s key expired after %s", since)
	}
	created, err := s.StateCreate(ctx, []plugins.Entry{{Key: "short", Value: []byte("2")}, {Key: "long"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !created[0] || created[1] {
		t.Errorf("create after expiry = %v; want [true false]", created)
	}
}

func TestStateWithoutJetStream(t *testing.T) {
	s := &services{destination: "d"}
	if _, err := s.StateGet(context.Background(), []string{"k"}); err != ErrNoState {
		t.Errorf("StateGet = %v", err)
	}
	if err := s.AddCounters(context.Background(), []plugins.Counter{{Name: "x", Delta: 1}}); err != nil {
		t.Errorf("AddCounters during validation = %v; want nil", err)
	}
}

func TestCounters(t *testing.T) {
	reg := prometheus.NewRegistry()
	cs := newCounterSet(reg)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(cs.add("meta", []plugins.Counter{
		{Name: "Events sent", Labels: map[string]string{"event-name": "Purchase"}, Delta: 3},
		{Name: "events_sent_total", Labels: map[string]string{"event_name": "Lead"}, Delta: 1},
		{Name: "dedupe.hits", Delta: 2},
	}))
	must(cs.add("meta2", []plugins.Counter{{Name: "events sent", Labels: map[string]string{"event_name": "Purchase"}, Delta: 0.5}}))
	if got := counterOf(t, reg, "switchboard_plugin_events_sent_total", map[string]string{"destination": "meta", "event_name": "Purchase"}); got != 3 {
		t.Errorf("events_sent{meta,Purchase} = %v", got)
	}
	if got := counterOf(t, reg, "switchboard_plugin_events_sent_total", map[string]string{"destination": "meta2"}); got != 0.5 {
		t.Errorf("events_sent{meta2} = %v", got)
	}
	if got := counterOf(t, reg, "switchboard_plugin_dedupe_hits_total", map[string]string{"destination": "meta"}); got != 2 {
		t.Errorf("dedupe_hits = %v", got)
	}

	bad := []struct {
		c    plugins.Counter
		want string
	}{
		{plugins.Counter{Name: "events_sent", Delta: 1}, "differ from the labels it was first reported with"},
		{plugins.Counter{Name: "x", Labels: map[string]string{"destination": "other"}, Delta: 1}, "reserved"},
		{plugins.Counter{Name: "x", Delta: -1}, "≥ 0"},
		{plugins.Counter{Name: "!!!", Delta: 1}, "no letters or digits"},
		{plugins.Counter{Name: "x", Labels: map[string]string{"a-b": "1", "a_b": "2"}, Delta: 1}, "collide"},
	}
	for _, tc := range bad {
		err := cs.add("meta", []plugins.Counter{{Name: "dedupe.hits", Delta: 1}, tc.c})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("add(%+v) = %v; want an error about %q", tc.c, err, tc.want)
		}
	}
	// A call with an invalid counter applies none of its counters.
	if got := counterOf(t, reg, "switchboard_plugin_dedupe_hits_total", map[string]string{"destination": "meta"}); got != 2 {
		t.Errorf("dedupe_hits = %v after refused calls; want 2", got)
	}
}

func TestPluginUsesStateAndCountersThroughTheHost(t *testing.T) {
	b := bustest.Open(t, bus.Options{})
	reg := prometheus.NewRegistry()
	opts := testOptions(t)
	opts.Bus, opts.Registerer = b, reg
	_, d := open(t, oneDestination("test", "target: here"), opts)
	results, err := d.Deliver(context.Background(), evs("s", `{"op":"dedupe","key":"k1"}`, `{"op":"dedupe","key":"k1"}`, `{"op":"count"}`,
		`{"op":"seen","key":"k2"}`, `{"op":"seen","key":"k2"}`, `{"op":"seen","key":"k3"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []plugins.Outcome{plugins.OutcomeDelivered, plugins.OutcomeRejected, plugins.OutcomeDelivered,
		plugins.OutcomeDelivered, plugins.OutcomeRejected, plugins.OutcomeDelivered}
	for i, r := range results {
		if r.Outcome != want[i] {
			t.Errorf("results[%d] = %+v; want %v", i, r, want[i])
		}
	}
	if got := counterOf(t, reg, "switchboard_plugin_test_events_total", map[string]string{"destination": "d", "kind": "k"}); got != 1 {
		t.Errorf("test_events_total = %v", got)
	}
}

func BenchmarkStateCreate1000(b *testing.B) {
	bu := bustest.Open(b, bus.Options{})
	s := newState(bu, "bench", 1, time.Hour)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		es := entries(fmt.Sprintf("b%d", i), 1000)
		i++
		if _, err := s.publish(ctx, es, 0, true); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/key")
}

// TestSeenServicesRefuseBadCalls: the plugin-facing Seen and MarkSeen
// apply the state services' limits, and need JetStream.
func TestSeenServicesRefuseBadCalls(t *testing.T) {
	b := bustest.Open(t, bus.Options{})
	s := &services{destination: "meta", seen: seen.New(b, seen.Options{Stream: "SB_SEEN_meta", Subject: "sb.seen.meta", TTL: time.Hour})}
	t.Cleanup(s.close)
	ctx := context.Background()
	if err := s.MarkSeen(ctx, []string{"ok", ""}, 0); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty key: %v", err)
	}
	keys := make([]string, maxStateEntries+1)
	for i := range keys {
		keys[i] = fmt.Sprint("k", i)
	}
	if _, err := s.Seen(ctx, keys); err == nil || !strings.Contains(err.Error(), "too many") {
		t.Errorf("too many keys: %v", err)
	}
	s.close()
	if err := s.MarkSeen(ctx, []string{"k"}, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("after close: %v", err)
	}
	var none services
	if _, err := none.Seen(ctx, []string{"k"}); !errors.Is(err, ErrNoState) {
		t.Errorf("without JetStream: %v", err)
	}
}
