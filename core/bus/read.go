package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stored is one message read back from the events stream.
type Stored struct {
	Seq     uint64
	Subject string
	Time    time.Time
	Data    []byte
}

// Recent returns up to limit of the most recent messages whose subject
// matches filter (a NATS subject filter such as "events.web.>"), oldest
// first. It reads with ephemeral ordered consumers, widening the window
// backwards from the stream's end until it has enough or reaches the start.
func (b *Bus) Recent(ctx context.Context, filter string, limit int) ([]Stored, error) {
	if limit <= 0 {
		return nil, nil
	}
	st, err := b.js.Stream(ctx, b.stream)
	if err != nil {
		return nil, fmt.Errorf("%w: stream %s: %v", ErrUnavailable, b.stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: stream info: %v", ErrUnavailable, err)
	}
	first, last := info.State.FirstSeq, info.State.LastSeq
	if info.State.Msgs == 0 || last == 0 {
		return nil, nil
	}
	window := uint64(limit) * 4
	if window < 256 {
		window = 256
	}
	for {
		start := first
		if last >= window && last-window+1 > first {
			start = last - window + 1
		}
		got, err := b.readRange(ctx, st, filter, start, last, limit)
		if err != nil {
			return nil, err
		}
		if len(got) >= limit || start <= first {
			return got, nil
		}
		window *= 8
	}
}

// readRange reads messages matching filter with sequence in [start, end],
// keeping the last limit of them.
func (b *Bus) readRange(ctx context.Context, st jetstream.Stream, filter string, start, end uint64, limit int) ([]Stored, error) {
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    start,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: reader: %v", ErrUnavailable, err)
	}
	// Delete the reader's consumer when done: JetStream would keep it for
	// 5 minutes, and a stream takes at most 1,000 consumers (pipelines'
	// included), which `tail --follow` polling /api/events would fill.
	defer func() {
		if ci := cons.CachedInfo(); ci != nil {
			dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = st.DeleteConsumer(dctx, ci.Name)
			cancel()
		}
	}()
	ring := make([]Stored, 0, limit)
	for {
		batch, err := cons.FetchNoWait(500)
		if err != nil {
			return nil, fmt.Errorf("%w: fetch: %v", ErrUnavailable, err)
		}
		n := 0
		done := false
		for msg := range batch.Messages() {
			n++
			md, err := msg.Metadata()
			if err != nil {
				continue
			}
			if md.Sequence.Stream > end {
				done = true
				continue
			}
			s := Stored{Seq: md.Sequence.Stream, Subject: msg.Subject(), Time: md.Timestamp, Data: msg.Data()}
			if len(ring) == limit {
				copy(ring, ring[1:])
				ring = ring[:limit-1]
			}
			ring = append(ring, s)
			if md.NumPending == 0 || md.Sequence.Stream == end {
				done = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, fmt.Errorf("%w: fetch: %v", ErrUnavailable, err)
		}
		if done || n == 0 {
			return ring, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}
