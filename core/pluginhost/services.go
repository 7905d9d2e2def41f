package pluginhost

import (
	"context"
	"errors"
	"time"

	"github.com/switchboard-cdp/switchboard/core/seen"

	"github.com/switchboard-cdp/switchboard/plugins"
)

// services is the plugins.Host one destination's plugin calls back: its
// own state bucket and seen set, and the host's counters.
type services struct {
	destination string
	state       *state    // nil: no JetStream
	seen        *seen.Set // nil: no JetStream
	counters    *counterSet
}

func (s *services) StateGet(ctx context.Context, keys []string) (map[string][]byte, error) {
	if s.state == nil {
		return nil, ErrNoState
	}
	return s.state.get(ctx, keys)
}

func (s *services) StateCreate(ctx context.Context, entries []plugins.Entry, ttl time.Duration) ([]bool, error) {
	if s.state == nil {
		return nil, ErrNoState
	}
	return s.state.publish(ctx, entries, ttl, true)
}

func (s *services) StatePut(ctx context.Context, entries []plugins.Entry, ttl time.Duration) error {
	if s.state == nil {
		return ErrNoState
	}
	_, err := s.state.publish(ctx, entries, ttl, false)
	return err
}

func (s *services) StateDelete(ctx context.Context, keys []string) error {
	if s.state == nil {
		return ErrNoState
	}
	return s.state.delete(ctx, keys)
}

// AddCounters is a no-op without a counter set (during validation).
func (s *services) AddCounters(_ context.Context, counters []plugins.Counter) error {
	if s.counters == nil {
		return nil
	}
	return s.counters.add(s.destination, counters)
}

func (s *services) Seen(ctx context.Context, keys []string) ([]bool, error) {
	if s.seen == nil {
		return nil, ErrNoState
	}
	if err := checkKeys(keys); err != nil {
		return nil, err
	}
	out, err := s.seen.Seen(ctx, keys)
	return out, closedAs(err)
}

func (s *services) MarkSeen(ctx context.Context, keys []string, ttl time.Duration) error {
	if s.seen == nil {
		return ErrNoState
	}
	if err := checkKeys(keys); err != nil {
		return err
	}
	return closedAs(s.seen.Mark(ctx, keys, ttl))
}

// checkKeys applies the limits of the state services to seen keys.
func checkKeys(keys []string) error {
	if err := checkCount(len(keys)); err != nil {
		return err
	}
	for _, k := range keys {
		if k == "" {
			return errors.New("empty seen key")
		}
	}
	return nil
}

// closedAs reports a closed seen set as this package's ErrClosed.
func closedAs(err error) error {
	if errors.Is(err, seen.ErrClosed) {
		return ErrClosed
	}
	return err
}

// close stops what the services run in the background.
func (s *services) close() {
	if s.seen != nil {
		s.seen.Close()
	}
}

var _ plugins.Host = (*services)(nil)
