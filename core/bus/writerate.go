package bus

import (
	"context"
	"math"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// WriteRate is how fast the events stream is being written, in bytes per
// second, sampled from the stream's state (its last sequence and average
// stored message size). Pipelines pace their reads with it (see
// core/pipeline's Options.ReadBehind).
type WriteRate struct {
	bps atomic.Uint64 // math.Float64bits
}

// BytesPerSecond is the latest sampled rate, 0 before the second sample or
// while the stream is idle.
func (w *WriteRate) BytesPerSecond() float64 {
	if w == nil {
		return 0
	}
	return math.Float64frombits(w.bps.Load())
}

// WatchWriteRate samples the events stream every interval (250ms when 0)
// until ctx is done.
func (b *Bus) WatchWriteRate(ctx context.Context, every time.Duration) *WriteRate {
	if every <= 0 {
		every = 250 * time.Millisecond
	}
	w := &WriteRate{}
	go w.watch(ctx, b.js, b.stream, every)
	return w
}

func (w *WriteRate) watch(ctx context.Context, js jetstream.JetStream, stream string, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var lastSeq uint64
	var lastAt time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		qctx, cancel := context.WithTimeout(ctx, every)
		st, err := js.Stream(qctx, stream)
		cancel()
		if err != nil {
			w.bps.Store(0)
			lastAt = time.Time{}
			continue
		}
		info := st.CachedInfo()
		now := time.Now()
		seq, msgs, bytes := info.State.LastSeq, info.State.Msgs, info.State.Bytes
		if !lastAt.IsZero() && seq >= lastSeq && msgs > 0 {
			rate := float64(seq-lastSeq) / now.Sub(lastAt).Seconds() * float64(bytes) / float64(msgs)
			// Smoothed over about a second of samples, so one burst of
			// requests does not read as a fast stream.
			prev := math.Float64frombits(w.bps.Load())
			w.bps.Store(math.Float64bits(prev + (rate-prev)*0.3))
		}
		lastSeq, lastAt = seq, now
	}
}

// BlockBytes is the size of the events stream's file blocks as nats-server
// chooses it for the stream ensureStream creates: 4 MiB with no byte limit
// (the per-subject limit's side effect), else a quarter of MaxBytes,
// clamped to 32,000 bytes and 8 MiB, and 4 MiB in between (nats-server's
// autoTuneFileStorageBlockSize).
func (b *Bus) BlockBytes() int {
	return blockBytes(b.opts.MaxBytes)
}

func blockBytes(maxBytes int64) int {
	const (
		minBlock    = 32 * 1000
		mediumBlock = 4 << 20
		maxBlock    = 8 << 20
	)
	if maxBytes <= 0 {
		return mediumBlock
	}
	switch q := maxBytes/4 + 1; {
	case q <= minBlock:
		return minBlock
	case q >= maxBlock:
		return maxBlock
	default:
		return mediumBlock
	}
}
