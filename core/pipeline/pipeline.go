package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-cdp/switchboard/core/bus"
)

// ConsumerName is the durable consumer of a pipeline on the events stream.
func ConsumerName(pipeline string) string { return "pipeline_" + pipeline }

// ReplaySubject is the subject replays for a pipeline are published on; only
// that pipeline's consumer reads it.
func ReplaySubject(pipeline string) string { return bus.ReplayPrefix + pipeline }

// Pipeline is one configured pipeline: a durable consumer, its batching and
// its deliveries. New prepares it, Run runs it once; Status may be called at
// any time, also from other goroutines.
type Pipeline struct {
	opts     Options
	lim      limits
	log      *slog.Logger
	m        *pipelineMetrics
	consumer string
	subjects []string
	ackWait  time.Duration
	brk      *breaker // holds batches while the destination is down
	prefetch int
	pace     *pacer // nil: reads as events come
	ran      atomic.Bool

	consumed, filtered, delivered, retried, deadLettered, mappingErrors atomic.Uint64

	mu        sync.Mutex
	lastErr   string
	lastErrAt time.Time
	failing   bool // the destination's last batch failed: logged once until it recovers
}

// New checks opts and prepares a Pipeline; it does no I/O. Metrics are
// registered with opts.Registerer (shared with other pipelines).
func New(opts Options) (*Pipeline, error) {
	opts.defaults()
	if err := opts.check(); err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: metrics: %w", opts.Name, err)
	}
	p := &Pipeline{
		opts:     opts,
		lim:      opts.limits(),
		log:      opts.Logger.With("pipeline", opts.Name, "destination", opts.DestinationName),
		m:        m.forPipeline(opts.Name, opts.DestinationName),
		consumer: ConsumerName(opts.Name),
	}
	for _, src := range opts.Config.From {
		p.subjects = append(p.subjects, bus.SubjectsPrefix+src+".>")
	}
	p.subjects = append(p.subjects, ReplaySubject(opts.Name))
	p.ackWait = opts.AckWait
	if p.ackWait <= 0 {
		p.ackWait = 2*p.lim.maxWait + 3*opts.CallTimeout + 10*time.Second
	}
	p.prefetch = min(2*p.lim.maxEvents, p.maxAckPending())
	p.brk = newBreaker(p.lim.backoff, p.lim.maxBackoff)
	// Beyond the event batchLoop's reader takes, the iterator may hold
	// up to the prefetch, pulled from the server already.
	p.pace = newPacer(opts.ReadBehind, p.prefetch)
	return p, nil
}

// maxAckPending bounds the messages of the consumer handed out and not yet
// settled, across every process sharing it.
func (p *Pipeline) maxAckPending() int {
	return max(p.lim.maxEvents*p.opts.MaxInFlight*2, 2)
}

// ConsumerConfig is the configuration Run creates or updates the
// pipeline's durable consumer with.
func (p *Pipeline) ConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:        p.consumer,
		Description:    fmt.Sprintf("Switchboard pipeline %s to %s", p.opts.Name, p.opts.DestinationName),
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        p.ackWait,
		MaxDeliver:     -1,
		FilterSubjects: p.subjects,
		MaxAckPending:  p.maxAckPending(),
		Metadata:       map[string]string{"switchboard_pipeline": p.opts.Name},
	}
}

// Run consumes and delivers until ctx is done. It first creates or updates
// the dead-letter stream and the pipeline's consumer, and fails if it
// cannot. While running, a broken subscription (consumer deleted, JetStream
// briefly unavailable) is re-established with backoff and noted in Status.
//
// When ctx is done Run stops fetching, naks the events it holds that were
// not handed to the destination yet (they are redelivered at once, to this
// or another process), lets batches already handed over finish for up to
// Options.ShutdownGrace (then cancels them; their events are naked), and
// returns nil. Run returns an error only when it could not start, or when
// the NATS connection closed. A Pipeline runs once.
func (p *Pipeline) Run(ctx context.Context) error {
	if !p.ran.CompareAndSwap(false, true) {
		return ErrRunning
	}
	if err := ensureDLQLogged(ctx, p.opts.JetStream, p.opts.Replicas, p.opts.DLQRetention, p.log); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("pipeline %s: %w", p.opts.Name, err)
	}
	cons, err := p.ensureConsumer(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	p.log.Info("pipeline started", "consumer", p.consumer, "subjects", p.subjects,
		"max_events", p.lim.maxEvents, "max_bytes", p.lim.maxBytes, "max_wait", p.lim.maxWait,
		"max_in_flight", p.opts.MaxInFlight, "ack_wait", p.ackWait)

	// Deliveries run on a context that outlives ctx by the shutdown grace.
	dctx, dcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer dcancel()
	batches := make(chan *batch)
	var workers sync.WaitGroup
	for range p.opts.MaxInFlight {
		workers.Go(func() {
			for b := range batches {
				p.deliver(dctx, b)
			}
		})
	}
	gctx, gcancel := context.WithCancel(ctx)
	var gauge sync.WaitGroup
	gauge.Go(func() { p.watchPending(gctx) })

	err = p.consume(ctx, cons, batches)
	gcancel()

	close(batches)
	done := make(chan struct{})
	go func() { workers.Wait(); close(done) }()
	grace := time.NewTimer(p.opts.ShutdownGrace)
	select {
	case <-done:
	case <-grace.C:
		p.log.Warn("shutdown grace over: cancelling deliveries in progress; their events will be redelivered", "grace", p.opts.ShutdownGrace)
		dcancel()
		<-done
	}
	grace.Stop()
	gauge.Wait()
	p.log.Info("pipeline stopped")
	return err
}

// ensureConsumer creates or updates the pipeline's durable consumer (its
// replicas are the stream's), retrying while the cluster has no leader for
// it until ctx ends.
func (p *Pipeline) ensureConsumer(ctx context.Context) (jetstream.Consumer, error) {
	cons, err := bus.EnsureConsumer(ctx, p.opts.JetStream, p.opts.Stream, p.ConsumerConfig(), p.log)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: create or update consumer %s on %s: %w", p.opts.Name, p.consumer, p.opts.Stream, err)
	}
	return cons, nil
}

// consume reads the consumer until ctx is done, re-subscribing when the
// subscription breaks. It returns nil when ctx is done.
func (p *Pipeline) consume(ctx context.Context, cons jetstream.Consumer, batches chan<- *batch) error {
	backoff := 100 * time.Millisecond
	for {
		it, err := cons.Messages(jetstream.PullMaxMessages(p.prefetch))
		if err == nil {
			err = p.batchLoop(ctx, it, batches)
			if ctx.Err() == nil {
				// A failed iterator (missed heartbeats after a node
				// loss) keeps pulling unless stopped; the next one
				// replaces it.
				it.Stop()
			}
			backoff = 100 * time.Millisecond
		}
		if ctx.Err() != nil {
			return nil
		}
		if p.opts.JetStream.Conn().IsClosed() {
			return fmt.Errorf("pipeline %s: %w: %v", p.opts.Name, jetstream.ErrConnectionClosed, err)
		}
		p.noteError(fmt.Sprintf("consumer %s: %v", p.consumer, err))
		p.log.Warn("consuming failed; subscribing again", "consumer", p.consumer, "error", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, 10*time.Second)
		if c, err := p.ensureConsumer(ctx); err == nil {
			cons = c
		}
	}
}

// batchLoop reads messages from it, filters and maps them and hands full
// batches to the workers, until ctx is done (it then drains it and naks
// what it holds) or it fails.
func (p *Pipeline) batchLoop(ctx context.Context, it jetstream.MessagesContext, batches chan<- *batch) error {
	msgs := make(chan read, 64)
	var iterErr error
	pace := p.pace
	go func() {
		defer close(msgs)
		for {
			m, err := it.Next()
			if err != nil {
				iterErr = err // read after msgs is closed
				return
			}
			r := read{msg: m}
			r.meta, r.metaErr = m.Metadata()
			msgs <- r
			if pace != nil && r.metaErr == nil {
				if d := pace.delay(r.meta.Timestamp, time.Now()); d > 0 {
					p.m.held.Add(d.Seconds())
					t := time.NewTimer(d)
					select {
					case <-t.C:
					case <-ctx.Done():
						t.Stop()
					}
				}
			}
		}
	}()

	var cur *batch
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()

	// flush hands cur to a worker, or naks it when ctx ends first.
	flush := func() {
		timer.Stop()
		b := cur
		cur = nil
		if b == nil || len(b.items) == 0 {
			return
		}
		select {
		case batches <- b:
		case <-ctx.Done():
			b.nakAll()
		}
	}
	// add puts one message into the current batch, flushing as needed.
	add := func(r read) {
		it := p.prepare(r)
		if it == nil {
			return
		}
		if cur != nil && len(cur.items) > 0 && cur.bytes+len(it.mapped) > p.lim.maxBytes {
			flush()
		}
		if cur == nil {
			cur = newBatch(p.lim.maxEvents)
			if p.lim.maxWait > 0 {
				timer.Reset(p.lim.maxWait)
			}
		}
		cur.add(it)
		if len(cur.items) >= p.lim.maxEvents || cur.bytes >= p.lim.maxBytes {
			flush()
		}
	}

	for {
		select {
		case r, ok := <-msgs:
			if !ok {
				flush() // hand over what was read; its acks still work
				return iterErr
			}
			add(r)
			// Take what is already buffered without going round the select.
			for more := true; more && cur != nil; {
				select {
				case r, ok := <-msgs:
					if !ok {
						flush()
						return iterErr
					}
					add(r)
				default:
					more = false
				}
			}
			if p.lim.maxWait == 0 {
				flush()
			}
		case <-timer.C:
			flush()
		case <-ctx.Done():
			it.Drain()
			if cur != nil {
				cur.nakAll()
				cur = nil
			}
			for r := range msgs {
				_ = r.msg.Nak()
			}
			return nil
		}
	}
}

// read is a message as batchLoop's reader took it, with its metadata
// parsed once.
type read struct {
	msg     jetstream.Msg
	meta    *jetstream.MsgMetadata
	metaErr error
}

// prepare filters and maps one message. It returns nil for a message that
// is settled already (filtered out).
func (p *Pipeline) prepare(r read) *item {
	m, meta, err := r.msg, r.meta, r.metaErr
	if err != nil {
		// Not a JetStream message: nothing to settle.
		p.log.Error("message without JetStream metadata", "subject", m.Subject(), "error", err)
		return nil
	}
	p.consumed.Add(1)
	p.m.consumed.Inc()
	it := &item{
		msg:     m,
		seq:     meta.Sequence.Stream,
		attempt: int(min(meta.NumDelivered, 1<<30)),
		stored:  meta.Timestamp,
		fetched: time.Now(),
	}
	out, matched, err := p.opts.Mapper.Apply(m.Data())
	switch {
	case err != nil:
		it.mapErr = err
	case !matched:
		_ = m.Ack()
		p.filtered.Add(1)
		p.m.filtered.Inc()
		return nil
	default:
		it.mapped = out
	}
	return it
}

// noteError records err as the pipeline's last error.
func (p *Pipeline) noteError(msg string) {
	p.mu.Lock()
	p.lastErr, p.lastErrAt = msg, p.opts.Now()
	p.mu.Unlock()
}

// destinationFailed records a failed batch and logs the first one of a run
// of failures.
func (p *Pipeline) destinationFailed(reason string) {
	p.mu.Lock()
	p.lastErr, p.lastErrAt = reason, p.opts.Now()
	first := !p.failing
	p.failing = true
	p.mu.Unlock()
	if first {
		p.log.Warn("destination failing; events will be retried with backoff", "reason", reason)
	}
}

// destinationOK logs the recovery of a failing destination.
func (p *Pipeline) destinationOK() {
	p.mu.Lock()
	was := p.failing
	p.failing = false
	p.mu.Unlock()
	if was {
		p.log.Info("destination accepting events again")
	}
}

// watchPending updates the pending gauge until ctx is done.
func (p *Pipeline) watchPending(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		p.pending(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pending asks JetStream how many events of the pipeline are unsettled and
// updates the gauge; -1 when it cannot tell.
func (p *Pipeline) pending(ctx context.Context) int64 {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cons, err := p.opts.JetStream.Consumer(ctx, p.opts.Stream, p.consumer)
	if err != nil {
		return -1
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return -1
	}
	n := int64(info.NumPending) + int64(info.NumAckPending)
	p.m.pending.Set(float64(n))
	return n
}
