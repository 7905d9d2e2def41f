package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-cdp/switchboard/core/bus"
)

// DeadLetterStream is the stream of dead letters, subjects dlq.<pipeline>.
const DeadLetterStream = "DLQ"

// DeadLetterSubject is the subject of a pipeline's dead letters.
func DeadLetterSubject(pipeline string) string { return "dlq." + pipeline }

// DeadLetter is one event a pipeline gave up on, as stored (JSON) in the
// dead-letter stream: the original event, what the mapping made of it,
// and why. Its Nats-Msg-Id is "<pipeline>:<stream_seq>:<attempts>", so a
// dead letter written twice (a crash between the write and the Term) is
// stored once.
type DeadLetter struct {
	Pipeline    string `json:"pipeline"`
	Destination string `json:"destination"`
	// Cause is mapping_error, rejected, retries_exhausted or max_age.
	Cause string `json:"cause"`
	// Reason is the mapping error, or the destination's last reason.
	Reason string `json:"reason"`
	// Code is the destination's short code for it ("http_400",
	// "batch_failed"), or mapping_error.
	Code string `json:"code,omitempty"`
	// Attempts is how often JetStream delivered the event to the pipeline.
	Attempts int `json:"attempts"`
	// FirstStoredAt is when the event was stored in the events stream (for
	// a replayed event: when the original was).
	FirstStoredAt  time.Time `json:"first_stored_at"`
	DeadLetteredAt time.Time `json:"dead_lettered_at"`
	// StreamSeq is the sequence of the message in the events stream.
	StreamSeq uint64 `json:"stream_seq"`
	// Subject is the event's subject, events.<source>.<type> (for a
	// replayed event, the original's).
	Subject   string `json:"subject"`
	MessageID string `json:"message_id,omitempty"`
	// Event is the stored event as it was; EventBytes holds it instead when
	// it is not valid JSON.
	Event      json.RawMessage `json:"event,omitempty"`
	EventBytes []byte          `json:"event_bytes,omitempty"`
	// Mapped is the payload the destination was given, if mapping
	// succeeded.
	Mapped json.RawMessage `json:"mapped,omitempty"`

	// Seq is the dead letter's own sequence in the dead-letter stream, set
	// when a dead letter is read back (never stored).
	Seq uint64 `json:"dlq_seq,omitempty"`
}

// event returns the original event's bytes.
func (d *DeadLetter) event() []byte {
	if d.Event != nil {
		return d.Event
	}
	return d.EventBytes
}

// deadLetter is a dead letter on its way, with the message to Term.
type deadLetter struct {
	it *item
	DeadLetter
}

// deadLetterOf describes why it is dead.
func (p *Pipeline) deadLetterOf(it *item, cause, code, reason string) deadLetter {
	d := DeadLetter{
		Pipeline:       p.opts.Name,
		Destination:    p.opts.DestinationName,
		Cause:          cause,
		Reason:         reason,
		Code:           code,
		Attempts:       it.attempt,
		FirstStoredAt:  it.stored,
		DeadLetteredAt: p.opts.Now(),
		StreamSeq:      it.seq,
		Subject:        it.msg.Subject(),
		MessageID:      messageID(it.msg),
		Mapped:         it.mapped,
	}
	if h := it.msg.Headers(); h != nil {
		if s := h.Get(HeaderReplaySubject); s != "" {
			d.Subject = s
		}
		if t, err := time.Parse(time.RFC3339Nano, h.Get(HeaderReplayStored)); err == nil {
			d.FirstStoredAt = t
		}
	}
	if data := it.msg.Data(); json.Valid(data) {
		d.Event = data
	} else {
		d.EventBytes = data
	}
	if d.Mapped != nil && !json.Valid(d.Mapped) {
		d.Mapped = nil
	}
	return deadLetter{it: it, DeadLetter: d}
}

// deadLetter stores every dead letter and, once JetStream acknowledged it,
// terminates the original message. One that cannot be stored is naked
// instead, to be tried again later: nothing is lost.
func (p *Pipeline) deadLetter(ctx context.Context, dead []deadLetter) {
	js := p.opts.JetStream
	maxPayload := int(js.Conn().MaxPayload())
	futures := make([]jetstream.PubAckFuture, len(dead))
	errs := make([]error, len(dead))
	for i := range dead {
		d := &dead[i]
		body, err := encodeDeadLetter(&d.DeadLetter, maxPayload-1024)
		if err != nil {
			errs[i] = err
			continue
		}
		m := &nats.Msg{
			Subject: DeadLetterSubject(p.opts.Name),
			Data:    body,
			Header: nats.Header{jetstream.MsgIDHeader: []string{
				p.opts.Name + ":" + strconv.FormatUint(d.StreamSeq, 10) + ":" + strconv.Itoa(d.Attempts)}},
		}
		futures[i], errs[i] = js.PublishMsgAsync(m, jetstream.WithExpectStream(DeadLetterStream))
	}
	for i := range dead {
		d := &dead[i]
		if errs[i] == nil {
			select {
			case <-futures[i].Ok():
			case errs[i] = <-futures[i].Err():
			case <-ctx.Done():
				errs[i] = ctx.Err()
			}
		}
		if err := errs[i]; err != nil {
			p.noteError(fmt.Sprintf("dead-letter stream: %v", err))
			if ctx.Err() == nil {
				p.log.Error("could not store a dead letter; the event will be redelivered", "stream_seq", d.StreamSeq, "error", err)
			}
			_ = d.it.msg.NakWithDelay(p.delay(d.Attempts, 0, rand.Float64()))
			continue
		}
		_ = d.it.msg.TermWithReason("dead-lettered: " + d.Cause)
		p.deadLettered.Add(1)
		p.m.deadLettered.Inc()
		p.log.Debug("event dead-lettered", "stream_seq", d.StreamSeq, "cause", d.Cause, "code", d.Code, "reason", d.Reason)
	}
}

// encodeDeadLetter gives the JSON of d, leaving out the mapped payload and
// then the event when it would not fit in limit bytes (the event stays in
// the events stream at StreamSeq until its retention ends).
func encodeDeadLetter(d *DeadLetter, limit int) ([]byte, error) {
	body, err := json.Marshal(d)
	if err != nil || limit <= 0 || len(body) <= limit {
		return body, err
	}
	c := *d
	c.Mapped = nil
	if body, err = json.Marshal(&c); err != nil || len(body) <= limit {
		return body, err
	}
	c.Event, c.EventBytes = nil, nil
	c.Reason = trimReason(c.Reason, 1000) + fmt.Sprintf(" (event too large for the dead-letter stream: read it at sequence %d of the events stream)", c.StreamSeq)
	return json.Marshal(&c)
}

func trimReason(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ensureDLQ creates or updates the dead-letter stream, retrying while the
// cluster has no leader for it (or another pipeline creates it at the same
// moment) until ctx ends.
func ensureDLQ(ctx context.Context, js jetstream.JetStream, replicas int, retention time.Duration) error {
	return ensureDLQLogged(ctx, js, replicas, retention, nil)
}

// ensureDLQLogged is ensureDLQ noting each retry in log.
func ensureDLQLogged(ctx context.Context, js jetstream.JetStream, replicas int, retention time.Duration, log *slog.Logger) error {
	cfg := jetstream.StreamConfig{
		Name:        DeadLetterStream,
		Description: "Switchboard dead letters: events a pipeline gave up on, with the reason; replayable",
		Subjects:    []string{DeadLetterSubject(">")},
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		MaxAge:      retention,
		Duplicates:  2 * time.Minute,
		Discard:     jetstream.DiscardOld,
	}
	_, err := bus.EnsureStream(ctx, js, cfg, log)
	return err
}
