package ingest

import (
	"context"
	"log/slog"
	"time"

	"github.com/switchboard-cdp/switchboard/core/bus"
	"github.com/switchboard-cdp/switchboard/core/event"
)

// Publisher stores the events of one request durably. Publish must return
// nil only once every message is stored (or recognised as a duplicate of a
// stored one); *bus.Bus satisfies it.
type Publisher interface {
	Publish(ctx context.Context, msgs []bus.Message) (bus.PublishResult, error)
}

// Store publishes the events of accepted requests, recording the outcome
// in the metrics. Its fields are set once, before the first Publish.
type Store struct {
	Publisher Publisher
	Metrics   *Metrics
	Logger    *slog.Logger // nil: nothing is logged
}

// Publish stores msgs, the events of one request from source (types[i] is
// msgs[i]'s type, for the events metric), in one call. A nil error means
// the bus acknowledged every message: answer 200 (WriteOK, or a pixel). An
// error means it did not: answer with Unavailable, a 503 the client
// retries whole (each message's dedupe id makes that safe). The failure is
// logged unless ctx, the request's, was cancelled.
func (s *Store) Publish(ctx context.Context, source string, msgs []bus.Message, types []event.Type) error {
	start := time.Now()
	res, err := s.Publisher.Publish(ctx, msgs)
	s.Metrics.Publish.Observe(time.Since(start).Seconds())
	if err != nil {
		s.Metrics.CountEvents(source, types, outcomeUnavailable)
		if ctx.Err() == nil && s.Logger != nil {
			s.Logger.Warn("publishing events failed; answered 503", "source", source, "events", len(msgs), "error", err)
		}
		return err
	}
	s.Metrics.CountPublished(source, types, res)
	return nil
}

var _ Publisher = (*bus.Bus)(nil)
