package pipeline

import (
	"sync"
	"sync/atomic"
	"time"
)

// ReadBehind paces a pipeline's reads while the events stream is written
// fast, so that the JetStream server reads no event from the block it is
// still writing. nats-server keeps a block's buffer in memory until 10 s
// after the block's last write once a consumer read from it while it was
// being written: a pipeline keeping up with ingest makes the server hold
// the last 10 s of the stream (~190 MB at 20,000 events/s). An event read
// after BlockBytes more bytes were stored behind it comes from a sealed
// block, which the server reads back from disk and frees at once.
type ReadBehind struct {
	// MaxDelay bounds how long an event waits for it; the pacing applies
	// only while the stream is written fast enough for a block to fill in
	// less (0: off).
	MaxDelay time.Duration
	// BlockBytes is the stream's block size.
	BlockBytes int
	// WriteRate reports the bytes per second the stream is written at.
	WriteRate func() float64
	// Group holds the pipelines reading the stream in this process (nil:
	// this one alone). One pipeline that reads as events come — its
	// events are too sparse in the stream for its pulled-ahead events to
	// be held back within MaxDelay — keeps every block it reads in the
	// server's memory, so while one does, the others do not hold back
	// either: it would cost them latency and save nothing.
	Group *PaceGroup
}

// PaceGroup is the set of pipelines of one process that pace their reads
// of one stream together (see ReadBehind.Group).
type PaceGroup struct {
	mu      sync.Mutex
	members []*pacer
}

// pacerIdle is how long a pipeline that took no event counts as not
// reading the stream's head.
const pacerIdle = time.Second

// minPause is the shortest wait a pacer asks for.
const minPause = 10 * time.Millisecond

// pacer applies a ReadBehind to one consumer. delay is called from one
// goroutine; the atomics are read by the group's other pacers.
type pacer struct {
	rb     ReadBehind
	window int     // events the consumer may have pulled beyond the last one taken
	gap    float64 // smoothed seconds between the stored times of consecutive new events
	gaps   int     // gaps seen
	last   time.Time

	took    atomic.Int64 // unix ns of the last event taken
	holding atomic.Int64 // unix ns of the last event it could hold back
}

func newPacer(rb ReadBehind, window int) *pacer {
	if rb.MaxDelay <= 0 || rb.BlockBytes <= 0 || rb.WriteRate == nil {
		return nil
	}
	p := &pacer{rb: rb, window: window}
	if g := rb.Group; g != nil {
		g.mu.Lock()
		g.members = append(g.members, p)
		g.mu.Unlock()
	}
	return p
}

// behind reports whether p is not reading the stream's head at now: it
// holds its events back, or took none lately.
func (p *pacer) behind(now int64) bool {
	return now-p.took.Load() > int64(pacerIdle) || now-p.holding.Load() <= int64(pacerIdle)
}

// othersBehind reports whether every other pacer of p's group is behind.
func (p *pacer) othersBehind(now int64) bool {
	g := p.rb.Group
	if g == nil {
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, o := range g.members {
		if o != p && !o.behind(now) {
			return false
		}
	}
	return true
}

// delay is how long to wait before taking the next event, after taking one
// stored at stored, at now.
func (p *pacer) delay(stored, now time.Time) time.Duration {
	if p == nil {
		return 0
	}
	p.took.Store(now.UnixNano())
	if stored.After(p.last) {
		if !p.last.IsZero() {
			g := stored.Sub(p.last).Seconds()
			if p.gaps == 0 {
				p.gap = g
			}
			p.gap += (g - p.gap) / 64
			p.gaps++
		}
		p.last = stored
	}
	bps := p.rb.WriteRate()
	if bps <= 0 || p.gaps == 0 {
		return 0 // an idle stream, or nothing known yet of this consumer's pace
	}
	// The event must be as old as a block takes to fill, plus the time
	// the events pulled beyond it span, plus minPause: waits shorter than
	// that are not worth a timer each and are skipped.
	need := time.Duration((float64(p.rb.BlockBytes)/bps+float64(p.window)*p.gap)*float64(time.Second)) + minPause
	if need > p.rb.MaxDelay {
		return 0
	}
	p.holding.Store(now.UnixNano())
	if d := need - now.Sub(stored); d >= minPause && p.othersBehind(now.UnixNano()) {
		return d
	}
	return 0
}
