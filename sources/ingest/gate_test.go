package ingest

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// value is the gauge's or counter's value.
func value(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if g := m.GetGauge(); g != nil {
		return g.GetValue()
	}
	return m.GetCounter().GetValue()
}

func newGate(t *testing.T, budget int64, wait time.Duration) *Gate {
	t.Helper()
	g, err := NewGate(budget, wait, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// waitWaiting waits until n requests wait at the gate.
func waitWaiting(t *testing.T, g *Gate, n float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for value(t, g.waiting) != n {
		if time.Now().After(deadline) {
			t.Fatalf("never %v requests waiting", n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestGateBoundsBodiesInFlight(t *testing.T) {
	g := newGate(t, 64<<10, time.Minute)
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
	waitWaiting(t, g, 1)
	select {
	case w := <-admitted:
		t.Fatalf("admitted (%d) over the budget", w)
	case <-time.After(20 * time.Millisecond):
	}
	g.Leave(w1)
	if w := <-admitted; w != 4<<10 {
		t.Fatalf("after a Leave: weight %d", w)
	}
	waitWaiting(t, g, 0)
	g.Leave(w2)
	g.Leave(small)
	g.Leave(4 << 10)

	// A body larger than the budget is admitted alone.
	big, ok := g.Enter(ctx, 1<<20)
	if !ok || big != 64<<10 {
		t.Fatalf("1 MiB body: %v, weight %d", ok, big)
	}
	g.Leave(big)
	if got := value(t, g.busy); got != 0 {
		t.Fatalf("busy %v, want 0", got)
	}
}

func TestGateTurnsAwayAfterItsWait(t *testing.T) {
	g := newGate(t, 4<<10, 30*time.Millisecond)
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
	if got := value(t, g.busy); got != 1 {
		t.Fatalf("busy %v, want 1", got)
	}
	// A client that goes away while waiting is not counted as turned away.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, ok := g.Enter(cctx, 100); ok {
		t.Fatal("admitted with a cancelled context while full")
	}
	if got := value(t, g.busy); got != 1 {
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
	if code := Busy(rec); code != 503 || rec.Code != 503 || rec.Header().Get("Retry-After") != "1" ||
		!strings.Contains(rec.Body.String(), `"success":false`) || !strings.Contains(rec.Body.String(), "nothing was stored") {
		t.Fatalf("Busy: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
}

func TestGateNilAndInvalid(t *testing.T) {
	var g *Gate
	if _, ok := g.Enter(context.Background(), 1<<30); !ok {
		t.Fatal("a nil gate refused")
	}
	g.Leave(0)
	for _, bad := range []struct {
		budget int64
		wait   time.Duration
	}{{0, time.Second}, {-1, time.Second}, {1, 0}} {
		if _, err := NewGate(bad.budget, bad.wait, nil); err == nil {
			t.Errorf("NewGate(%d, %v) accepted", bad.budget, bad.wait)
		}
	}
	// Two gates on one registry share the collectors (serve builds one;
	// tests build several).
	reg := prometheus.NewRegistry()
	a, err := NewGate(1<<20, time.Second, reg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewGate(1<<20, time.Second, reg)
	if err != nil {
		t.Fatalf("a second gate on one registry: %v", err)
	}
	if a.waiting != b.waiting || a.busy != b.busy {
		t.Fatal("two gates on one registry do not share their collectors")
	}
}
