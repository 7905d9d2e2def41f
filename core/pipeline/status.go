package pipeline

import (
	"context"
	"time"
)

// Status is a pipeline's state as the admin API shows it. Counts are this
// process's since its Pipeline started; Pending and DeadLetters are
// JetStream's, shared by every process (-1 when JetStream did not answer).
type Status struct {
	Pipeline    string `json:"pipeline"`
	Destination string `json:"destination"`
	Consumer    string `json:"consumer"`
	// Pending is the events of the pipeline's sources not yet settled:
	// waiting in the consumer (NumPending) plus delivered and awaiting an
	// outcome or a retry (NumAckPending).
	Pending int64 `json:"pending"`
	// DeadLetters is how many dead letters of the pipeline the dead-letter
	// stream holds now.
	DeadLetters int64 `json:"dead_letters"`

	Consumed      uint64 `json:"consumed"`
	Filtered      uint64 `json:"filtered"`
	Delivered     uint64 `json:"delivered"`
	Retried       uint64 `json:"retried"`
	DeadLettered  uint64 `json:"dead_lettered"`
	MappingErrors uint64 `json:"mapping_errors"`

	// LastError is the last delivery failure (a destination's reason for
	// a retry, a failed batch) or JetStream problem, and when it happened.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// Status reports the pipeline's counts and asks JetStream for its pending
// events and dead letters. It may be called before, during and after Run.
func (p *Pipeline) Status(ctx context.Context) Status {
	s := Status{
		Pipeline:      p.opts.Name,
		Destination:   p.opts.DestinationName,
		Consumer:      p.consumer,
		Pending:       p.pending(ctx),
		DeadLetters:   -1,
		Consumed:      p.consumed.Load(),
		Filtered:      p.filtered.Load(),
		Delivered:     p.delivered.Load(),
		Retried:       p.retried.Load(),
		DeadLettered:  p.deadLettered.Load(),
		MappingErrors: p.mappingErrors.Load(),
	}
	p.mu.Lock()
	s.LastError, s.LastErrorAt = p.lastErr, p.lastErrAt
	p.mu.Unlock()
	if n, err := CountDeadLetters(ctx, p.opts.JetStream, p.opts.Name); err == nil {
		s.DeadLetters = n
	}
	return s
}
