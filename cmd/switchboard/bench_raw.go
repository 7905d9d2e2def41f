package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-cdp/switchboard/core/bus"
	"github.com/switchboard-cdp/switchboard/core/config"
)

// benchRawResult is what the raw JetStream phase measured.
type benchRawResult struct {
	Published int           // messages acknowledged
	Failed    int           // publishes refused or not acknowledged
	Elapsed   time.Duration // first publish to last acknowledgement
	Errors    []string      // first few distinct errors
}

// benchRaw is the ceiling: an embedded nats-server with JetStream, opened by
// core/bus exactly as serve opens it (so the events stream has the same
// file-storage config), driven by plain async publishes of the messages
// serve stores: with a Nats-Msg-Id only when serve's embedded default
// sends one (config.DefaultDuplicateWindowEmbedded > 0).
type benchRaw struct {
	b     *bus.Bus
	js    jetstream.JetStream
	msgID bool

	mu     sync.Mutex
	failed int
	errs   []string
}

// openBenchRaw starts the embedded server storing under storeDir.
func openBenchRaw(ctx context.Context, storeDir string) (*benchRaw, error) {
	b, err := bus.Open(ctx, bus.Options{StoreDir: storeDir, Name: "switchboard-bench", DuplicateWindow: config.DefaultDuplicateWindowEmbedded})
	if err != nil {
		return nil, err
	}
	r := &benchRaw{b: b, msgID: config.DefaultDuplicateWindowEmbedded > 0}
	// Same pending limit as bus.Open's own context; an error handler so that
	// failures are counted without holding a future per message.
	r.js, err = jetstream.New(b.Conn(),
		jetstream.WithPublishAsyncMaxPending(1<<16),
		jetstream.WithPublishAsyncTimeout(30*time.Second),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) {
			r.fail(err)
		}),
	)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("bench: jetstream: %w", err)
	}
	return r, nil
}

func (r *benchRaw) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed++
	if len(r.errs) < benchMaxErrors {
		r.errs = append(r.errs, err.Error())
	}
}

// close shuts the embedded server down.
func (r *benchRaw) close() { r.b.Close() }

// publish async-publishes every event of p to the events stream and waits
// until all are acknowledged.
func (r *benchRaw) publish(ctx context.Context, p *benchPayload) benchRawResult {
	r.mu.Lock()
	r.failed, r.errs = 0, nil
	r.mu.Unlock()
	subject := bus.SubjectsPrefix + "bench.track"
	start := time.Now()
	for i, data := range p.events {
		m := &nats.Msg{Subject: subject, Data: data}
		if r.msgID {
			m.Header = nats.Header{jetstream.MsgIDHeader: []string{p.ids[i]}}
		}
		// Block while the pending window is full rather than fail.
		if _, err := r.js.PublishMsgAsync(m, jetstream.WithStallWait(30*time.Second)); err != nil {
			r.fail(err)
		}
		if i%1024 == 0 && ctx.Err() != nil {
			break
		}
	}
	select {
	case <-r.js.PublishAsyncComplete():
	case <-ctx.Done():
		r.fail(ctx.Err())
	}
	elapsed := time.Since(start)
	r.mu.Lock()
	defer r.mu.Unlock()
	return benchRawResult{
		Published: max(0, len(p.events)-r.failed),
		Failed:    r.failed,
		Elapsed:   elapsed,
		Errors:    r.errs,
	}
}

// fetchAck is the consuming side of the ceiling: a durable pull consumer on
// the benchmark's subject, as a pipeline has, that receives n messages with
// Messages (pull requests of up to 1,000 kept in flight) and acks each one,
// then waits until the server has processed every ack (ack floor at n).
func (r *benchRaw) fetchAck(ctx context.Context, n int) benchRawResult {
	fail := func(err error, elapsed time.Duration, got int) benchRawResult {
		return benchRawResult{Published: got, Failed: n - got, Elapsed: elapsed, Errors: []string{err.Error()}}
	}
	cons, err := r.js.CreateOrUpdateConsumer(ctx, r.b.Stream(), jetstream.ConsumerConfig{
		Durable:       "bench_fetch_ack",
		FilterSubject: bus.SubjectsPrefix + "bench.track",
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxAckPending: 20_000,
	})
	if err != nil {
		return fail(err, 0, 0)
	}
	start := time.Now()
	it, err := cons.Messages(jetstream.PullMaxMessages(1000))
	if err != nil {
		return fail(err, 0, 0)
	}
	got := 0
	for got < n {
		m, err := it.Next()
		if errors.Is(err, jetstream.ErrNoHeartbeat) && ctx.Err() == nil {
			// A stall of the machine (a VM's neighbours) missed a heartbeat;
			// the iterator pulls again by itself, nothing was lost.
			continue
		}
		if err != nil {
			it.Stop()
			return fail(err, time.Since(start), got)
		}
		_ = m.Ack()
		got++
		if got%1024 == 0 && ctx.Err() != nil {
			it.Stop()
			return fail(ctx.Err(), time.Since(start), got)
		}
	}
	it.Stop()
	// Acks are fire-and-forget; the work is done when the server counted
	// them all.
	for {
		info, err := cons.Info(ctx)
		if err != nil {
			return fail(err, time.Since(start), got)
		}
		if info.AckFloor.Consumer >= uint64(n) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	return benchRawResult{Published: got, Elapsed: time.Since(start)}
}
