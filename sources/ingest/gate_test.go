package ingest_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-cdp/switchboard/sources/ingest"
)

func newGate(t *testing.T, budget int64, wait time.Duration) (*ingest.Gate, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	g, err := ingest.NewGate(budget, wait, reg)
	if err != nil {
		t.Fatal(err)
	}
	return g, reg
}

// gathered is the value of the metric name on reg.
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// waitWaiting waits until n requests wait at the gate.
func waitWaiting(t *testing.T, reg *prometheus.Registry, n float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for gathered(t, reg, "switchboard_ingest_requests_waiting") != n {
		if time.Now().After(deadline) {
			t.Fatalf("never %v requests waiting", n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestGateBoundsBodiesInFlight(t *testing.T) {
	g, reg := newGate(t, 64<<10, time.Minute)
	ctx := context.Background()
	// Two bodies of 30 KiB fit, and small ones weigh 4 KiB each.
	w1, ok1 := g.Enter(ctx, 30<<10)
	w2, ok2 := g.Enter(ctx, 30<<10)
	if !ok1 || !ok2 || w1 != 30<<10 {
		t.Fatalf("two 30 KiB bodies in 64 KiB: %v %v (weight %d)", ok1, ok2, w1)
	}
	small, ok := g.Enter(ctx, 10)
	if !ok || small != 4<<10 {
		t.Fatalf("a 10-byte body: %v, weight %d, want 4096", ok, small)
	}
	// 60 KiB + 4 KiB is the budget: the next small one waits until a
	// 30 KiB one leaves.
	admitted := make(chan int64)
	go func() {
		w, ok := g.Enter(ctx, 1)
		if !ok {
			w = -1
		}
		admitted <- w
	}()
	waitWaiting(t, reg, 1)
	select {
	case w := <-admitted:
		t.Fatalf("admitted (%d) over the budget", w)
	case <-time.After(20 * time.Millisecond):
	}
	g.Leave(w1)
	if w := <-admitted; w != 4<<10 {
		t.Fatalf("after a Leave: weight %d", w)
	}
	waitWaiting(t, reg, 0)
	g.Leave(w2)
	g.Leave(small)
	g.Leave(4 << 10)

	// A body larger than the budget is admitted alone.
	big, ok := g.Enter(ctx, 1<<20)
	if !ok || big != 64<<10 {
		t.Fatalf("1 MiB body: %v, weight %d", ok, big)
	}
	g.Leave(big)
	if got := gathered(t, reg, "switchboard_ingest_requests_busy_total"); got != 0 {
		t.Fatalf("busy %v, want 0", got)
	}
}

func TestGateTurnsAwayAfterItsWait(t *testing.T) {
	g, reg := newGate(t, 4<<10, 30*time.Millisecond)
	ctx := context.Background()
	w, ok := g.Enter(ctx, 100)
	if !ok {
		t.Fatal("first request not admitted")
	}
	start := time.Now()
	if _, ok := g.Enter(ctx, 100); ok {
		t.Fatal("admitted while the gate is full")
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("turned away after %v, before the wait of 30ms", d)
	}
	if got := gathered(t, reg, "switchboard_ingest_requests_busy_total"); got != 1 {
		t.Fatalf("busy %v, want 1", got)
	}
	// A client that goes away while waiting is not counted as turned away.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, ok := g.Enter(cctx, 100); ok {
		t.Fatal("admitted with a cancelled context while full")
	}
	if got := gathered(t, reg, "switchboard_ingest_requests_busy_total"); got != 1 {
		t.Fatalf("busy %v after a cancelled wait, want 1", got)
	}
	g.Leave(w)
	if w, ok := g.Enter(ctx, 100); !ok {
		t.Fatal("not admitted once the gate emptied")
	} else {
		g.Leave(w)
	}

	// The 503 a turned-away request gets.
	rec := httptest.NewRecorder()
	if code := ingest.Busy(rec); code != 503 || rec.Code != 503 || rec.Header().Get("Retry-After") != "1" ||
		!strings.Contains(rec.Body.String(), `"success":false`) || !strings.Contains(rec.Body.String(), "nothing was stored") {
		t.Fatalf("Busy: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
}

func TestGateNilAndInvalid(t *testing.T) {
	var g *ingest.Gate
	if _, ok := g.Enter(context.Background(), 1<<30); !ok {
		t.Fatal("a nil gate refused")
	}
	g.Leave(0)
	for _, bad := range []struct {
		budget int64
		wait   time.Duration
	}{{0, time.Second}, {-1, time.Second}, {1, 0}} {
		if _, err := ingest.NewGate(bad.budget, bad.wait, nil); err == nil {
			t.Errorf("NewGate(%d, %v) accepted", bad.budget, bad.wait)
		}
	}
	// Two gates on one registry share the collectors (serve builds one;
	// tests build several).
	reg := prometheus.NewRegistry()
	a, err := ingest.NewGate(1<<20, time.Second, reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ingest.NewGate(1<<20, time.Second, reg); err != nil {
		t.Fatalf("a second gate on one registry: %v", err)
	}
	_, _ = a.Enter(context.Background(), 1)
	if got := gathered(t, reg, "switchboard_ingest_requests_waiting"); got != 0 {
		t.Fatalf("waiting %v", got)
	}
}
