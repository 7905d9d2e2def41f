package pipeline

import (
	"context"
	"sync"
	"time"
)

// breakerThreshold is how many whole batches in a row must fail before a
// pipeline stops hammering its destination.
const breakerThreshold = 3

// breakerMaxInterval caps the time between probes of a destination that is
// down, so its recovery is noticed within half a minute.
const breakerMaxInterval = 30 * time.Second

// breaker keeps a pipeline whose destination is down from spending the
// machine on it: after breakerThreshold batches in a row failed as a whole
// (every event retried, none delivered or rejected), workers hold their
// batches and let one probe batch through per interval — the retry backoff,
// doubling up to breakerMaxInterval — until one succeeds. Held batches are
// neither mapped again nor sent, so their attempts are not spent, and the
// consumer stops fetching once its workers and ack-pending window are full;
// other pipelines get the CPU (the isolation the pipelines issue asks for).
type breaker struct {
	base, max time.Duration

	mu       sync.Mutex
	failures int // whole batches failed in a row
	interval time.Duration
	next     time.Time // when the next probe may go
	probing  bool      // a probe batch is out
	changed  chan struct{}
}

func newBreaker(base, ceiling time.Duration) *breaker {
	base = max(base, 10*time.Millisecond)
	return &breaker{base: base, max: min(max(ceiling, base), breakerMaxInterval), changed: make(chan struct{})}
}

// open tells whether the breaker holds batches now.
func (b *breaker) open() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.failures >= breakerThreshold
}

// wait returns when a batch may be sent: at once while the destination
// works, else when it is this batch's turn to probe. keepAlive is called
// every refresh while waiting, to keep the held messages' ack deadlines.
// ok is false when ctx ended first; probe is true when the batch goes as
// the probe of a destination that is down.
func (b *breaker) wait(ctx context.Context, refresh time.Duration, keepAlive func()) (ok, probe bool) {
	lastRefresh := time.Now()
	for {
		b.mu.Lock()
		if b.failures < breakerThreshold {
			b.mu.Unlock()
			return true, false
		}
		now := time.Now()
		if !b.probing && !now.Before(b.next) {
			b.probing = true
			b.mu.Unlock()
			return true, true
		}
		d := b.next.Sub(now)
		if b.probing || d <= 0 {
			d = refresh
		}
		changed := b.changed
		b.mu.Unlock()

		t := time.NewTimer(min(d, refresh))
		select {
		case <-ctx.Done():
			t.Stop()
			return false, false
		case <-changed:
		case <-t.C:
		}
		t.Stop()
		if refresh > 0 && time.Since(lastRefresh) >= refresh {
			keepAlive()
			lastRefresh = time.Now()
		}
	}
}

// record notes how a sent batch fared: failed means it failed as a whole;
// probe that wait let it go as the probe. It reports whether the breaker
// opened or closed with this batch.
func (b *breaker) record(failed, probe bool) (opened, closed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	wasOpen := b.failures >= breakerThreshold
	if probe {
		b.probing = false
	}
	if !failed {
		b.failures, b.interval = 0, 0
	} else {
		b.failures++
		if b.failures >= breakerThreshold {
			if b.interval == 0 {
				b.interval = b.base
			} else {
				b.interval = min(2*b.interval, b.max)
			}
			b.next = time.Now().Add(b.interval)
		}
	}
	isOpen := b.failures >= breakerThreshold
	close(b.changed)
	b.changed = make(chan struct{})
	return isOpen && !wasOpen, wasOpen && !isOpen
}
