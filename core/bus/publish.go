package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Message is one event to store: its subject, its dedupe id (sent as
// Nats-Msg-Id unless Options.NoMsgIDs) and its JSON.
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
// a request of many events costs one round trip, not one per event. With
// Options.BatchPublish the messages go as one fast batch, which JetStream
// acknowledges once, after it stored the last of them.
//
// Across a leader election or a reconnect to another node it publishes
// again what was not acknowledged (see PublishAll), until
// Options.PublishTimeout or ctx ends; only then, or on an error a retry
// cannot fix (the stream is full), does the error wrap ErrUnavailable. The
// caller must then not claim any of them stored (some may be; the dedupe id
// makes the client's retry harmless, through JetStream's window or, with
// Options.NoMsgIDs, the caller's own dedupe).
//
// A message published again after an attempt whose outcome is unknown
// counts as Stored even when JetStream reports it a duplicate: the
// duplicate is most likely Publish's own first attempt.
func (b *Bus) Publish(ctx context.Context, msgs []Message) (PublishResult, error) {
	var res PublishResult
	if len(msgs) == 0 {
		return res, nil
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.PublishTimeout)
	defer cancel()
	if b.batches != nil && len(msgs) > 1 {
		err := b.batches.publish(ctx, b.nc, msgs)
		if err == nil {
			return PublishResult{Stored: len(msgs)}, nil
		}
		if !errors.Is(err, errBatchRefused) {
			return res, err
		}
		// Nothing was stored: publish them one by one.
	}
	// Only the counts leave this function, so the call's memory is reused.
	p, _ := publishingPool.Get().(*publishing)
	if p == nil {
		p = &publishing{}
	}
	p.outs, p.lastErr = resize(p.outs, len(msgs)), nil
	c, err := b.publish(ctx, p, messageAt(msgs, !b.opts.NoMsgIDs))
	defer func() {
		b.acks.release(c)
		publishingPool.Put(p)
	}()
	if err != nil {
		return res, err
	}
	for _, o := range p.outs {
		switch {
		case o.Err != nil:
			return PublishResult{}, fmt.Errorf("%w: %v", ErrUnavailable, o.Err)
		case o.Ack.Duplicate && !o.Resent:
			res.Duplicates++
		default:
			res.Stored++
		}
	}
	return res, nil
}

// publishingPool holds the publishing state of ended Publish calls.
var publishingPool sync.Pool

// messageAt returns message i of msgs as a nats.Msg, with its ID as
// Nats-Msg-Id when withIDs, through one reused nats.Msg and header (valid
// until the next call): a Msg, a header map and its slice per event were a
// fifth of ingest's allocations.
func messageAt(msgs []Message, withIDs bool) func(i int) *nats.Msg {
	id := []string{""}
	withID := nats.Header{jetstream.MsgIDHeader: id}
	var scratch nats.Msg
	return func(i int) *nats.Msg {
		scratch.Subject, scratch.Data, scratch.Header = msgs[i].Subject, msgs[i].Data, nil
		if withIDs && msgs[i].ID != "" {
			id[0] = msgs[i].ID
			scratch.Header = withID
		}
		return &scratch
	}
}

// publish publishes len(p.outs) messages, message i as msg(i) gives it
// (valid until the next call), with their acknowledgements collected on
// the Bus's inbox into p.outs. The caller ends the returned call with
// acks.unregister, or acks.release once it no longer needs p.outs.
func (b *Bus) publish(ctx context.Context, p *publishing, msg func(i int) *nats.Msg) (*ackCall, error) {
	c := b.acks.register(p)
	return c, p.run(ctx, func(ctx context.Context, todo []int, stall time.Duration) ([]int, error) {
		return c.attempt(ctx, b.nc, todo, stall, msg)
	})
}

// Outcome is what became of one message given to PublishAll: Ack when
// JetStream stored it (or recognised it as a duplicate), else Err, an error
// JetStream answered for it that a retry cannot fix (the stream is full, an
// expected-sequence check failed).
type Outcome struct {
	Ack *jetstream.PubAck
	Err error
	// Resent is true when the message was published again after an
	// attempt whose outcome is unknown (its acknowledgement timed out or
	// was lost in a disconnect): a Duplicate acknowledgement, or a failed
	// expected-sequence check, may then be the message's own first copy.
	Resent bool
}

const (
	// ackStall is how long PublishAll waits without any acknowledgement
	// arriving before it publishes the unacknowledged messages again: a
	// message sent to a stream leader that died meanwhile is never
	// answered. It doubles on each further attempt.
	ackStall = 2 * time.Second
	// publishBackoff is the first pause before publishing again after a
	// failed attempt; it doubles up to maxPublishBackoff.
	publishBackoff    = 50 * time.Millisecond
	maxPublishBackoff = time.Second
)

// PublishAll publishes msgs asynchronously — one round trip for all of
// them — and waits for each one's outcome. In a NATS cluster a stream may
// be electing a leader (for seconds after a node is lost) or the client
// reconnecting to another node: acknowledgements then fail (no responders,
// disconnected) or never come. PublishAll publishes such messages again,
// unchanged (the same Nats-Msg-Id dedupes them, the same expectation
// headers check them), backing off, until every message has an outcome or
// ctx ends; then the error wraps ErrUnavailable and the outcomes are
// partial. PublishAll sets each message's Reply subject.
func (b *Bus) PublishAll(ctx context.Context, msgs []*nats.Msg) ([]Outcome, error) {
	p := &publishing{outs: make([]Outcome, len(msgs))}
	c, err := b.publish(ctx, p, func(i int) *nats.Msg { return msgs[i] })
	b.acks.unregister(c)
	return p.outs, err
}

// run makes attempts until every message has an outcome, backing off
// between them, or ctx ends.
func (p *publishing) run(ctx context.Context, attempt func(ctx context.Context, todo []int, stall time.Duration) ([]int, error)) error {
	p.todo = resize(p.todo, len(p.outs))
	for i := range p.todo {
		p.todo[i] = i
	}
	todo := p.todo
	stall, backoff := ackStall, publishBackoff
	for {
		again, err := attempt(ctx, todo, stall)
		if err != nil {
			return err
		}
		if len(again) == 0 {
			return nil
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return p.unavailable(ctx)
		case <-t.C:
		}
		todo = again
		stall = 2 * stall
		backoff = min(2*backoff, maxPublishBackoff)
	}
}

// publishing is the state of one PublishAll call across its attempts.
type publishing struct {
	outs    []Outcome
	lastErr error
	todo    []int // the first attempt's messages: all
}

// unavailable is the error of a PublishAll that ran out of time.
func (p *publishing) unavailable(ctx context.Context) error {
	if p.lastErr != nil {
		return fmt.Errorf("%w: %w (last error: %v)", ErrUnavailable, ctx.Err(), p.lastErr)
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
}

// settle records an answer's error: a transient one puts i back in again
// (noting whether its first copy may have been stored), any other is the
// message's outcome.
func (p *publishing) settle(i int, err error, again []int) []int {
	if !Transient(err) {
		p.outs[i].Err = err
		return again
	}
	p.lastErr = err
	if !errors.Is(err, jetstream.ErrNoStreamResponse) {
		p.outs[i].Resent = true // no answer is no proof it was not stored
	}
	return append(again, i)
}
