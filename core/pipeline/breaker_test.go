package pipeline

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-cdp/switchboard/plugins"
)

func TestBreakerOpensAfterWholeBatchFailuresAndProbesOneAtATime(t *testing.T) {
	b := newBreaker(50*time.Millisecond, time.Second)
	ctx := t.Context()
	for i := range breakerThreshold {
		if ok, probe := b.wait(ctx, time.Second, func() {}); !ok || probe {
			t.Fatalf("closed breaker: wait = %v, %v", ok, probe)
		}
		opened, _ := b.record(true, false)
		if opened != (i == breakerThreshold-1) {
			t.Fatalf("failure %d: opened = %v", i+1, opened)
		}
	}
	if !b.open() {
		t.Fatal("not open after the threshold")
	}
	// Two workers wait: exactly one probes, the other is still held.
	start := time.Now()
	var probes atomic.Int32
	done := make(chan struct{})
	for range 2 {
		go func() {
			defer func() { done <- struct{}{} }()
			wctx, cancel := context.WithTimeout(ctx, 400*time.Millisecond)
			defer cancel()
			if ok, probe := b.wait(wctx, time.Second, func() {}); ok && probe {
				probes.Add(1)
			}
		}()
	}
	<-done
	<-done
	if probes.Load() != 1 {
		t.Fatalf("%d probes went, want 1", probes.Load())
	}
	if waited := time.Since(start); waited < 40*time.Millisecond {
		t.Fatalf("the probe went after %v, before the interval", waited)
	}
	// The probe succeeds: the breaker closes and nothing waits.
	if _, closed := b.record(false, true); !closed || b.open() {
		t.Fatal("a successful probe did not close the breaker")
	}
	if ok, probe := b.wait(ctx, time.Second, func() {}); !ok || probe {
		t.Fatalf("closed again: wait = %v, %v", ok, probe)
	}
}

func TestBreakerKeepsHeldMessagesAlive(t *testing.T) {
	b := newBreaker(time.Hour, time.Hour)
	for range breakerThreshold {
		b.record(true, false)
	}
	b.mu.Lock()
	b.next = time.Now().Add(300 * time.Millisecond)
	b.mu.Unlock()
	var refreshed atomic.Int32
	if ok, probe := b.wait(t.Context(), 50*time.Millisecond, func() { refreshed.Add(1) }); !ok || !probe {
		t.Fatalf("wait = %v, %v", ok, probe)
	}
	if refreshed.Load() < 2 {
		t.Fatalf("held messages refreshed %d times in 300ms at a 50ms refresh", refreshed.Load())
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if ok, _ := b.wait(ctx, time.Second, func() {}); ok {
		t.Fatal("wait returned ok after its context ended")
	}
}

// TestDestinationDownIsProbedNotHammered: while a destination fails every
// batch, the pipeline sends it one probe per interval instead of every
// retry of every event; when it recovers, everything is delivered and
// nothing was dead-lettered.
func TestDestinationDownIsProbedNotHammered(t *testing.T) {
	s := newSink(t) // unused: the destination below is in-process
	e := newEnv(t, yamlFor("array", false, pipelineYAML("p1", "web", "sink", `    batch: {max_events: 5, max_wait: 10ms}
    retry: {max_attempts: 1000, backoff: 20ms, max_backoff: 200ms}
`)), s)
	var calls atomic.Int64
	var up atomic.Bool
	dest := destFunc(func(_ context.Context, batch []plugins.Event) ([]plugins.Result, error) {
		calls.Add(1)
		if !up.Load() {
			return nil, fmt.Errorf("%w: connection refused", errTest)
		}
		rs := make([]plugins.Result, len(batch))
		for i, ev := range batch {
			rs[i] = plugins.Delivered(ev.ID)
		}
		return rs, nil
	})
	publish(t, e.bus, events("web", 0, 40, nil)...)
	opts := e.options("p1")
	opts.Destination = dest
	p := e.start(opts)
	// Down for 1.5s: 8 batches retried every 20–200ms would be well over a
	// hundred calls; held behind probes, at most threshold + one per 200ms.
	time.Sleep(1500 * time.Millisecond)
	if n := calls.Load(); n > 20 {
		t.Errorf("%d calls to a destination that is down in 1.5s", n)
	}
	up.Store(true)
	e.settled("p1", 30*time.Second)
	if st := p.Status(context.Background()); st.Delivered != 40 || st.DeadLettered != 0 {
		t.Fatalf("status = %+v", st)
	}
}
