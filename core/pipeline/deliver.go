package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-cdp/switchboard/plugins"
)

// Headers of messages re-published for a pipeline by the replay functions.
// They carry what the original message said, so dead letters of a replayed
// event still name the original subject, message id and storage time.
const (
	HeaderReplaySubject = "Switchboard-Replay-Subject"
	HeaderReplayStored  = "Switchboard-Replay-Stored"
	HeaderMessageID     = "Switchboard-Message-Id"
)

// Causes of a dead letter (DeadLetter.Cause).
const (
	CauseMappingError     = "mapping_error"
	CauseRejected         = "rejected"
	CauseRetriesExhausted = "retries_exhausted"
	CauseMaxAge           = "max_age"
)

// item is one event of a batch.
type item struct {
	msg     jetstream.Msg
	seq     uint64    // stream sequence
	attempt int       // JetStream delivery count, 1 on the first delivery
	stored  time.Time // when this message was stored in the stream
	fetched time.Time // when it was read from the consumer
	mapped  []byte    // the payload for the destination
	mapErr  error     // why it could not be mapped
}

// batch is what one worker delivers: events to hand to the destination and
// events that failed mapping, to dead-letter.
type batch struct {
	items []*item
	bytes int
	bySeq map[uint64]int
}

func newBatch(n int) *batch {
	return &batch{items: make([]*item, 0, min(n, 1024)), bySeq: make(map[uint64]int, min(n, 1024))}
}

// add appends it. A message JetStream redelivered while its first delivery
// still waits in the batch replaces it, so event IDs stay unique.
func (b *batch) add(it *item) {
	if i, ok := b.bySeq[it.seq]; ok {
		b.bytes += len(it.mapped) - len(b.items[i].mapped)
		b.items[i] = it
		return
	}
	b.bySeq[it.seq] = len(b.items)
	b.items = append(b.items, it)
	b.bytes += len(it.mapped)
}

// nakAll hands every event back to JetStream for immediate redelivery.
func (b *batch) nakAll() {
	for _, it := range b.items {
		_ = it.msg.Nak()
	}
}

// deliver hands the batch to the destination and settles every event.
func (p *Pipeline) deliver(ctx context.Context, b *batch) {
	var send []*item
	var dead []deadLetter
	for _, it := range b.items {
		if it.mapErr != nil {
			p.mappingErrors.Add(1)
			p.m.mappingError.Inc()
			dead = append(dead, p.deadLetterOf(it, CauseMappingError, CauseMappingError, it.mapErr.Error()))
			continue
		}
		send = append(send, it)
	}
	if len(send) > 0 {
		// While the destination is down, hold the batch until it may
		// probe; keep the held messages' ack deadlines meanwhile.
		ok, probe := p.brk.wait(ctx, p.ackWait/3, func() {
			for _, it := range send {
				_ = it.msg.InProgress()
			}
		})
		if !ok {
			for _, it := range send {
				_ = it.msg.Nak()
			}
			send = nil
		} else {
			d, failed := p.send(ctx, send)
			dead = append(dead, d...)
			if opened, closed := p.brk.record(failed, probe); opened {
				p.log.Warn("destination down: holding its batches and probing it with one at a time", "after_failed_batches", breakerThreshold)
			} else if closed {
				p.log.Info("destination probe succeeded: delivering again")
			}
		}
	}
	if len(dead) > 0 {
		p.deadLetter(ctx, dead)
	}
}

// send delivers items and settles those that are not dead letters; it
// returns those, and whether the batch failed as a whole (none delivered or
// refused: the destination, not the events, is the problem).
func (p *Pipeline) send(ctx context.Context, items []*item) ([]deadLetter, bool) {
	// Events that waited long for a free slot get a fresh ack deadline.
	oldest := items[0].fetched
	for _, it := range items[1:] {
		if it.fetched.Before(oldest) {
			oldest = it.fetched
		}
	}
	if time.Since(oldest) > p.ackWait/3 {
		for _, it := range items {
			_ = it.msg.InProgress()
		}
	}
	events := make([]plugins.Event, len(items))
	for i, it := range items {
		events[i] = plugins.Event{
			ID:        strconv.FormatUint(it.seq, 10),
			Payload:   it.mapped,
			Attempt:   it.attempt,
			MessageID: messageID(it.msg),
		}
	}
	p.m.batchSize.Observe(float64(len(events)))
	cctx, cancel := context.WithTimeout(ctx, p.opts.CallTimeout+5*time.Second)
	results, err := p.opts.Destination.Deliver(cctx, events)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			// Shutting down: not the destination's fault, not an attempt
			// to count against the event beyond JetStream's own.
			for _, it := range items {
				_ = it.msg.Nak()
			}
			return nil, false
		}
		reason := err.Error()
		p.destinationFailed(reason)
		code := "batch_failed"
		if errors.Is(err, context.DeadlineExceeded) {
			code = "timeout"
		}
		var dead []deadLetter
		jitter := rand.Float64()
		for _, it := range items {
			if dl, ok := p.retry(it, plugins.Result{Outcome: plugins.OutcomeRetry, Reason: reason, Code: code}, jitter); !ok {
				dead = append(dead, dl)
			}
		}
		return dead, true
	}

	byID := make(map[string]int, len(results))
	for i, r := range results {
		byID[r.ID] = i
	}
	var dead []deadLetter
	delivered, rejected, failed := 0, 0, ""
	jitter := rand.Float64()
	for i, it := range items {
		j, ok := byID[events[i].ID]
		if !ok {
			failed = "the destination gave no result for the event"
			if dl, ok := p.retry(it, plugins.Result{Outcome: plugins.OutcomeRetry, Reason: failed, Code: "no_result"}, jitter); !ok {
				dead = append(dead, dl)
			}
			continue
		}
		r := results[j]
		switch r.Outcome {
		case plugins.OutcomeDelivered:
			_ = it.msg.Ack()
			delivered++
			p.delivered.Add(1)
			p.m.delivered.Inc()
			p.m.latency.Observe(max(p.opts.Now().Sub(it.stored), 0).Seconds())
		case plugins.OutcomeRejected:
			reason := r.Reason
			if reason == "" {
				reason = "rejected by the destination"
			}
			rejected++
			dead = append(dead, p.deadLetterOf(it, CauseRejected, r.Code, reason))
		default: // retry, and any outcome this version does not know
			failed = r.Reason
			if dl, ok := p.retry(it, r, jitter); !ok {
				dead = append(dead, dl)
			}
		}
	}
	switch {
	case failed != "":
		p.destinationFailed(failed)
	case delivered > 0:
		p.destinationOK()
	}
	return dead, failed != "" && delivered == 0 && rejected == 0
}

// retry naks it for a later attempt, or returns its dead letter when its
// attempts (not for a held event) or age are used up.
// retry naks it with the backoff of its attempt, jittered by jitter (one
// draw per batch: the batch's events are due again at one time, and
// JetStream scans a consumer's whole pending list once per distinct
// redelivery time — with a draw per event, a destination that is down made
// that scan a tenth of serve's CPU).
func (p *Pipeline) retry(it *item, r plugins.Result, jitter float64) (deadLetter, bool) {
	reason := r.Reason
	if reason == "" {
		reason = "the destination asked to retry"
	}
	// A held event waits for a person to fix the destination: its
	// attempts are not counted, only its age.
	if it.attempt >= p.lim.maxAttempts && r.Outcome != plugins.OutcomeHold {
		return p.deadLetterOf(it, CauseRetriesExhausted, r.Code, reason), false
	}
	if p.lim.maxAge > 0 && p.opts.Now().Sub(it.stored) > p.lim.maxAge {
		return p.deadLetterOf(it, CauseMaxAge, r.Code, reason), false
	}
	_ = it.msg.NakWithDelay(p.delay(it.attempt, r.RetryAfter, jitter))
	p.retried.Add(1)
	p.m.retried.Inc()
	return deadLetter{}, true
}

// delay is the wait before the attempt after attempt: retry.backoff
// doubling per attempt up to retry.max_backoff, with jitter in [0, 1)
// placing it between half and all of that; a destination's longer
// retry-after wins, up to Options.MaxRetryAfter.
func (p *Pipeline) delay(attempt int, retryAfter time.Duration, jitter float64) time.Duration {
	d := p.lim.backoff
	for i := 1; i < attempt && d < p.lim.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, p.lim.maxBackoff)
	if half := d / 2; half > 0 {
		d = half + time.Duration(jitter*float64(d-half))
	}
	if retryAfter > d {
		d = min(retryAfter, max(p.opts.MaxRetryAfter, d))
	}
	return d
}

// messageID is the original event's messageId, from the headers the
// sources and the replay functions set: Switchboard-Message-Id, else the
// Nats-Msg-Id "<source>:<messageId>", else (ingest sends no Nats-Msg-Id
// with the embedded server) the event's JSON.
func messageID(m jetstream.Msg) string {
	h := m.Headers()
	if id := h.Get(HeaderMessageID); id != "" {
		return id
	}
	if _, id, ok := strings.Cut(h.Get(jetstream.MsgIDHeader), ":"); ok {
		return id
	}
	return eventMessageID(m.Data())
}

// storedPrefix starts every event the sources store: event.Event's JSON,
// and the Segment source's, write messageId first.
const storedPrefix = `{"messageId":"`

// eventMessageID reads the messageId of a stored event: at once when it
// comes first and has no escapes, else by decoding the event.
func eventMessageID(data []byte) string {
	if rest, ok := bytes.CutPrefix(data, []byte(storedPrefix)); ok {
		if end := bytes.IndexByte(rest, '"'); end >= 0 && bytes.IndexByte(rest[:end], '\\') < 0 {
			return string(rest[:end])
		}
	}
	var e struct {
		MessageID string `json:"messageId"`
	}
	_ = json.Unmarshal(data, &e)
	return e.MessageID
}
