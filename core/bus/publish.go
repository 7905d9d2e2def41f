package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Message is one event to store: its subject, its dedupe id (Nats-Msg-Id)
// and its JSON.
type Message struct {
	Subject string
	ID      string
	Data    []byte
}

// PublishResult tells how many messages were newly stored and how many were
// recognised as duplicates within the dedupe window (stored earlier).
type PublishResult struct {
	Stored     int
	Duplicates int
}

// Publish stores every message and returns only after JetStream acknowledged
// each one. It publishes all of them asynchronously first and then waits, so
// a request of many events costs one round trip, not one per event. If any
// message is not acknowledged the error wraps ErrUnavailable: the caller
// must not claim any of them stored (some may be; the dedupe id makes the
// client's retry harmless).
func (b *Bus) Publish(ctx context.Context, msgs []Message) (PublishResult, error) {
	var res PublishResult
	if len(msgs) == 0 {
		return res, nil
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.PublishTimeout)
	defer cancel()
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for i := range msgs {
		m := &nats.Msg{Subject: msgs[i].Subject, Data: msgs[i].Data}
		if msgs[i].ID != "" {
			m.Header = nats.Header{jetstream.MsgIDHeader: []string{msgs[i].ID}}
		}
		f, err := b.js.PublishMsgAsync(m)
		if err != nil {
			return res, fmt.Errorf("%w: publish: %v", ErrUnavailable, err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				res.Duplicates++
			} else {
				res.Stored++
			}
		case err := <-f.Err():
			return res, fmt.Errorf("%w: %v", ErrUnavailable, err)
		case <-ctx.Done():
			err := ctx.Err()
			if errors.Is(err, context.DeadlineExceeded) {
				return res, fmt.Errorf("%w: no acknowledgement within %s", ErrUnavailable, b.opts.PublishTimeout)
			}
			return res, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
	}
	return res, nil
}
