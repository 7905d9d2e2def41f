package metacapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-cdp/switchboard/plugins"
)

// Retry delays by class of failure.
const (
	throttleDelay  = 60 * time.Second // 4, 17, 32, 341, 613, 80000–80014
	transientDelay = 5 * time.Second  // 1, 2, is_transient, 5xx
	blockedDelay   = 5 * time.Minute  // 368: temporarily blocked
	configDelay    = 10 * time.Minute // token, permission, unknown pixel
)

// recordTimeout bounds recording sent events and counters once Meta has
// accepted them; longer than a NATS leader election (4–9 s after a node is
// lost), so the dedupe marks survive one.
const recordTimeout = 20 * time.Second

// bisectBudget bounds the extra requests spent isolating invalid events in
// one chunk; events still unresolved are retried, and isolated further on
// the next attempt.
const bisectBudget = 64

// fate is the outcome of one prepared event.
type fate struct {
	result   plugins.Result
	accepted bool // Meta accepted it in this call
}

// Deliver normalises, validates, deduplicates and sends the batch, and
// returns one result per event.
func (d *Destination) Deliver(ctx context.Context, batch []plugins.Event) ([]plugins.Result, error) {
	c := d.config()
	if c == nil {
		return nil, ErrNotConfigured
	}
	if len(batch) == 0 {
		return nil, nil
	}
	now := c.now()
	stats := newStats(c.pixelID)
	results := make([]plugins.Result, 0, len(batch))

	// Normalise and validate each event on its own.
	ready := make([]*prepared, 0, len(batch))
	for _, e := range batch {
		p, prob := c.prepare(e, now)
		if prob != nil {
			results = append(results, plugins.Rejected(e.ID, prob.code, c.scrub(prob.reason())))
			stats.final(p, false)
			stats.rejected(p.name, prob.code)
			continue
		}
		ready = append(ready, p)
	}
	if len(ready) == 0 {
		c.flush(ctx, stats)
		return results, nil
	}

	// Dedupe: one Seen call for the batch's keys. leader maps each key to
	// the index in send of its first event, or seenBefore.
	const seenBefore = -2
	keys := make([]string, 0, len(ready))
	leader := make(map[string]int, len(ready))
	for _, p := range ready {
		if _, ok := leader[p.key]; !ok {
			leader[p.key] = -1
			keys = append(keys, p.key)
		}
	}
	seen, err := c.host.Seen(ctx, keys)
	if err != nil {
		for _, p := range ready {
			results = append(results, plugins.Retry(p.ev.ID, 0, CodeStateError, "cannot check for duplicates: "+c.scrub(err.Error())))
		}
		c.flush(ctx, stats)
		return results, nil
	}
	for i, k := range keys {
		if seen[i] {
			leader[k] = seenBefore
		}
	}
	var send []*prepared
	var followers []*prepared
	for _, p := range ready {
		switch l := leader[p.key]; {
		case l == seenBefore:
			results = append(results, duplicate(p))
			stats.final(p, false)
			stats.dedupeHit(p.name)
		case l >= 0:
			followers = append(followers, p) // same key earlier in this batch
		default:
			leader[p.key] = len(send)
			send = append(send, p)
		}
	}

	// Send in chunks of max_batch, a few at a time.
	fates := make([]fate, len(send))
	var warned atomic.Bool
	var wg sync.WaitGroup
	sem := make(chan struct{}, concurrency)
	for start := 0; start < len(send); start += c.maxBatch {
		end := min(start+c.maxBatch, len(send))
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			s := &sender{c: c, fates: fates, budget: bisectBudget, warned: &warned}
			s.send(ctx, send[start:end], start)
		}()
	}
	wg.Wait()

	// Mark what Meta accepted: one MarkSeen, only after acceptance.
	var accepted []string
	for i, p := range send {
		f := fates[i]
		results = append(results, f.result)
		if !pending(f.result) {
			stats.final(p, f.accepted)
		}
		if f.accepted {
			accepted = append(accepted, p.key)
		}
		if f.result.Outcome == plugins.OutcomeRejected {
			stats.rejected(p.name, f.result.Code)
		}
	}
	for _, p := range followers {
		f := fates[leader[p.key]]
		r := f.result
		r.ID = p.ev.ID
		if r.Outcome == plugins.OutcomeDelivered {
			r.Code, r.Reason = CodeDuplicate, "same (event_name, event_id) as another event of the batch, sent once"
			stats.dedupeHit(p.name)
		}
		if !pending(r) {
			stats.final(p, false)
		}
		results = append(results, r)
	}
	// Meta has these events even if the caller gave up meanwhile: record
	// them regardless of ctx's cancellation, within a bound.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if len(accepted) > 0 {
		if err := c.host.MarkSeen(rctx, accepted, c.dedupeWindow); err != nil {
			// Meta has the events; only our record of them is missing,
			// and Meta deduplicates a resend by event_id.
			c.log.Warn("cannot record sent events for deduplication", "events", len(accepted), "error", c.scrub(err.Error()))
			stats.add(statKey{name: CounterStateErrors}, 1)
		}
	}
	c.flush(rctx, stats)
	return results, nil
}

func duplicate(p *prepared) plugins.Result {
	r := plugins.Delivered(p.ev.ID)
	r.Code, r.Reason = CodeDuplicate, "already accepted by Meta within dedupe_window; not sent again"
	return r
}

// flush adds the batch's counters with one call.
func (c *config) flush(ctx context.Context, s *stats) {
	counters := s.counters()
	if len(counters) == 0 {
		return
	}
	if err := c.host.AddCounters(ctx, counters); err != nil {
		c.log.Debug("cannot add counters", "error", c.scrub(err.Error()))
	}
}

// sender sends one chunk, bisecting it when Meta refuses an event in it.
type sender struct {
	c      *config
	fates  []fate
	budget int
	warned *atomic.Bool
}

// send posts events (whose first is send[offset]) and records their fates.
func (s *sender) send(ctx context.Context, events []*prepared, offset int) {
	o := s.c.post(ctx, events)
	switch {
	case o.ok:
		for i, p := range events {
			s.fates[offset+i] = fate{result: plugins.Delivered(p.ev.ID), accepted: true}
		}
	case o.invalid && len(events) == 1:
		s.fates[offset] = fate{result: plugins.Rejected(events[0].ev.ID, o.code, o.reason)}
	case o.invalid && s.budget >= 2:
		s.budget -= 2
		mid := len(events) / 2
		s.send(ctx, events[:mid], offset)
		s.send(ctx, events[mid:], offset+mid)
	case o.invalid:
		for i, p := range events {
			s.fates[offset+i] = fate{result: plugins.Retry(p.ev.ID, 0, CodeBisectExceeded,
				"Meta refused a request holding this event and the invalid events were not isolated yet: "+o.reason)}
		}
	default:
		if o.config && s.warned.CompareAndSwap(false, true) {
			s.c.log.Error(o.action, "pixel", s.c.pixelID, "graph_code", o.graphCode, "graph_subcode", o.subcode,
				"graph_message", o.reason, "fbtrace_id", o.trace, "events_held", len(events), "retry_in", o.retryAfter.String())
		}
		for i, p := range events {
			r := plugins.Retry(p.ev.ID, o.retryAfter, o.code, o.reason)
			if o.config {
				// A person must fix the token, permission or pixel: hold
				// the events rather than spend their attempts.
				r = plugins.Hold(p.ev.ID, o.retryAfter, o.code, o.reason)
			}
			s.fates[offset+i] = fate{result: r}
		}
	}
}

// body builds the request body: {"data":[…],"access_token":…,…}.
func (c *config) body(events []*prepared) []byte {
	size := 128
	for _, p := range events {
		size += len(p.body) + 1
	}
	var b bytes.Buffer
	b.Grow(size)
	b.WriteString(`{"data":[`)
	for i, p := range events {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(p.body)
	}
	b.WriteString(`],"access_token":`)
	writeString(&b, string(c.token))
	if c.proof != "" {
		b.WriteString(`,"appsecret_proof":`)
		writeString(&b, c.proof)
	}
	if c.testEventCode != "" {
		b.WriteString(`,"test_event_code":`)
		writeString(&b, c.testEventCode)
	}
	if c.partnerAgent != "" {
		b.WriteString(`,"partner_agent":`)
		writeString(&b, c.partnerAgent)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// post sends one request and classifies the answer.
func (c *config) post(ctx context.Context, events []*prepared) outcome {
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.endpoint, bytes.NewReader(c.body(events)))
	if err != nil {
		return outcome{code: CodeNetwork, reason: c.scrub(err.Error())}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "switchboard-meta-capi/"+Version)
	resp, err := c.client.Do(req)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return outcome{code: CodeCanceled, reason: "delivery was canceled"}
		case errors.Is(err, context.DeadlineExceeded) || rctx.Err() != nil:
			return outcome{code: CodeTimeout, reason: fmt.Sprintf("Meta did not answer within %s", c.timeout)}
		}
		return outcome{code: CodeNetwork, reason: c.scrub(err.Error())}
	}
	defer resp.Body.Close()
	return c.classify(resp)
}

// pending tells whether r leaves the event to be delivered again.
func pending(r plugins.Result) bool {
	return r.Outcome == plugins.OutcomeRetry || r.Outcome == plugins.OutcomeHold
}
