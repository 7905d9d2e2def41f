package pipeline

import (
	"testing"
	"time"
)

func TestPacerHoldsBackOnlyWhileABlockFillsWithinMaxDelay(t *testing.T) {
	var bps float64
	rb := ReadBehind{MaxDelay: 500 * time.Millisecond, BlockBytes: 4 << 20, WriteRate: func() float64 { return bps }}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	near := func(got, want time.Duration) bool { return got > want-ms(1) && got < want+ms(1) }

	p := newPacer(rb, 0)
	if d := p.delay(now, now); d != 0 {
		t.Errorf("idle stream: delay %v, want 0", d)
	}
	bps = 4 << 20 / 0.2 // a block fills in 200ms
	for _, tc := range []struct {
		age, want time.Duration
	}{{0, ms(200)}, {ms(150), ms(50)}, {ms(200), 0}, {ms(900), -ms(700)}} {
		if d := p.delay(now.Add(-tc.age), now); (tc.want > 0 && !near(d, tc.want)) || (tc.want <= 0 && d > 0) {
			t.Errorf("block in 200ms, event %v old: delay %v, want %v", tc.age, d, tc.want)
		}
	}
	bps = 4 << 20 / 0.8 // 800ms a block: more than MaxDelay, not worth holding
	if d := p.delay(now, now); d != 0 {
		t.Errorf("block in 800ms: delay %v, want 0", d)
	}

	// The events pulled beyond the one taken span window × the gap
	// between stored events: 1,000 events 100µs apart add 100ms.
	bps = 4 << 20 / 0.2
	p = newPacer(rb, 1000)
	at := now.Add(-time.Second)
	var d time.Duration
	for range 2000 {
		at = at.Add(100 * time.Microsecond)
		d = p.delay(at, at)
	}
	if !near(d, ms(300)) {
		t.Errorf("window 1000, events 100µs apart: delay %v, want 300ms", d)
	}

	for _, off := range []ReadBehind{{}, {MaxDelay: time.Second, BlockBytes: 1 << 20}, {BlockBytes: 1 << 20, WriteRate: rb.WriteRate}} {
		if p := newPacer(off, 10); p != nil {
			t.Errorf("newPacer(%+v) = %v, want nil (off)", off, p)
		}
	}
	var none *pacer
	if d := none.delay(now, now); d != 0 {
		t.Errorf("nil pacer: delay %v", d)
	}
}
