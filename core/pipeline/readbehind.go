package pipeline

import (
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
}

// pacer applies a ReadBehind to one consumer.
type pacer struct {
	rb     ReadBehind
	window int     // events the consumer may have pulled beyond the last one taken
	gap    float64 // smoothed seconds between the stored times of consecutive new events
	last   time.Time
}

func newPacer(rb ReadBehind, window int) *pacer {
	if rb.MaxDelay <= 0 || rb.BlockBytes <= 0 || rb.WriteRate == nil {
		return nil
	}
	return &pacer{rb: rb, window: window}
}

// delay is how long to wait before taking the next event, after taking one
// stored at stored, at now.
func (p *pacer) delay(stored, now time.Time) time.Duration {
	if p == nil {
		return 0
	}
	if stored.After(p.last) {
		if !p.last.IsZero() {
			g := stored.Sub(p.last).Seconds()
			p.gap += (g - p.gap) / 64
		}
		p.last = stored
	}
	bps := p.rb.WriteRate()
	if bps <= 0 {
		return 0
	}
	// The event must be as old as a block takes to fill, plus the time
	// the events pulled beyond it span.
	need := time.Duration((float64(p.rb.BlockBytes)/bps + float64(p.window)*p.gap) * float64(time.Second))
	if need > p.rb.MaxDelay {
		return 0
	}
	return need - now.Sub(stored)
}
