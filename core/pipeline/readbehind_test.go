package pipeline

import (
	"testing"
	"time"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func near(got, want time.Duration) bool { return got > want-ms(1) && got < want+ms(1) }

func TestPacerHoldsBackOnlyWhileABlockFillsWithinMaxDelay(t *testing.T) {
	var bps float64
	rb := ReadBehind{MaxDelay: 500 * time.Millisecond, BlockBytes: 4 << 20, WriteRate: func() float64 { return bps }}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

	p := newPacer(rb, 0)
	if d := p.delay(now.Add(-ms(1)), now); d != 0 {
		t.Errorf("idle stream: delay %v, want 0", d)
	}
	bps = 4 << 20 / 0.2
	p = newPacer(rb, 0)
	if d := p.delay(now, now); d != 0 {
		t.Errorf("first event, no gap seen yet: delay %v, want 0", d)
	}
	p.delay(now.Add(-ms(1)), now) // older: not a gap
	if p.gaps != 0 {
		t.Errorf("an older event counted as a gap")
	}
	p.delay(now.Add(time.Microsecond), now.Add(time.Microsecond))
	// A block fills in 200ms; the pacer adds minPause (10ms).
	for _, tc := range []struct {
		age, want time.Duration
	}{{0, ms(210)}, {ms(150), ms(60)}, {ms(200), ms(10)}, {ms(205), 0}, {ms(900), 0}} {
		if d := p.delay(now.Add(-tc.age), now); !near(d, tc.want) && !(tc.want == 0 && d == 0) {
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
	if !near(d, ms(310)) {
		t.Errorf("window 1000, events 100µs apart: delay %v, want 310ms", d)
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

// TestPacersHoldBackOnlyTogether: while one pipeline of the group takes
// events as they come (too sparse to hold back within MaxDelay), the
// server keeps the blocks it reads anyway, and the others take theirs at
// once too; once it has been idle for pacerIdle, they hold back again.
func TestPacersHoldBackOnlyTogether(t *testing.T) {
	bps := float64(4<<20) / 0.2
	g := &PaceGroup{}
	rb := ReadBehind{MaxDelay: 500 * time.Millisecond, BlockBytes: 4 << 20, WriteRate: func() float64 { return bps }, Group: g}
	dense, sparse := newPacer(rb, 100), newPacer(rb, 100)
	start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

	// Over 3.5 s the dense pipeline takes an event every 10µs (100 pulled
	// ahead span 1ms); the sparse one every 100ms until 2 s (100 span
	// 10 s, beyond MaxDelay: it cannot hold back).
	var whileSparse, afterSparse time.Duration
	for step := time.Duration(0); step < 3500*time.Millisecond; step += 10 * time.Microsecond {
		at := start.Add(step)
		if step%(100*time.Millisecond) == 0 && step < 2*time.Second {
			if d := sparse.delay(at, at); d != 0 {
				t.Fatalf("sparse at %v: delay %v, want 0", step, d)
			}
		}
		d := dense.delay(at, at)
		switch step {
		case 1900 * time.Millisecond:
			whileSparse = d
		case 3400 * time.Millisecond: // the sparse one idle for 1.5 s
			afterSparse = d
		}
	}
	if whileSparse != 0 {
		t.Errorf("dense while the sparse one reads the head: delay %v, want 0", whileSparse)
	}
	if !near(afterSparse, ms(211)) {
		t.Errorf("dense once the sparse one is idle: delay %v, want 211ms", afterSparse)
	}
}
