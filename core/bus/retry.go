package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Retrying JetStream asset creation.
//
// In a NATS cluster a stream, KV bucket or consumer with replicas has a
// leader elected among its peers. While no leader is elected — the cluster
// just started, a node holding the leader was lost, a peer is catching up —
// JetStream API requests time out or answer "temporarily unavailable",
// "stream is offline" or "insufficient resources" (a replica's node is
// down). None of that is a reason to give up: EnsureStream and
// EnsureConsumer retry with backoff until their context ends, and fail at
// once only on errors that a retry cannot fix (a bad configuration, a
// closed connection, a permission refused).

const (
	// An attempt of a retry loop gets firstAttempt, doubling up to
	// maxAttempt: a cluster without a meta leader yet leaves requests
	// unanswered, and a slow but working one still gets its time.
	firstAttempt = 2 * time.Second
	maxAttempt   = 10 * time.Second
	minBackoff   = 100 * time.Millisecond
	maxBackoff   = 3 * time.Second
)

// Transient reports whether err is one that a leader election, a lost or
// restarting NATS node, or a reconnect explains, so the same request may
// succeed later: no answer in time, no responders, a disconnect, or a
// JetStream API error of the "cluster temporarily unavailable" kind.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	switch {
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, jetstream.ErrConnectionClosed),
		errors.Is(err, context.Canceled):
		return false
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout),
		errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, jetstream.ErrAsyncPublishTimeout), errors.Is(err, jetstream.ErrTooManyStalledMsgs),
		errors.Is(err, nats.ErrDisconnected), errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, nats.ErrReconnectBufExceeded), errors.Is(err, nats.ErrNoServers),
		errors.Is(err, nats.ErrStaleConnection),
		// A clustered account's JetStream answers so until the meta
		// layer has a leader.
		errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return true
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case 10008, // JetStream system temporarily unavailable
			10009, // JetStream cluster can not handle request (not the leader)
			10023, // insufficient resources: a replica's node is down
			10118, // stream is offline
			10119, // consumer is offline
			10163, // expected last sequence per subject temporarily unavailable
			10194, // stream is offline: {err}
			10195, // consumer is offline: {err}
			10202, // cluster member change is in progress
			jetstream.JSErrCodeStreamNameInUse:
			// Two processes created the same stream at once: the
			// next attempt updates it.
			return true
		}
		return false
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

// retry calls fn until it succeeds, fails with an error Transient does not
// accept, or ctx ends. Each call gets at most 2s, doubling up to 10s;
// between calls it backs off from 100ms to 3s with jitter. The error
// returned is fn's last.
func retry(ctx context.Context, log *slog.Logger, what string, fn func(context.Context) error) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	backoff, limit := minBackoff, firstAttempt
	start := time.Now()
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, limit)
		limit = min(2*limit, maxAttempt)
		err := fn(actx)
		cancel()
		if err == nil {
			if attempt > 1 {
				log.Info("JetStream ready again", "what", what, "attempts", attempt, "after", time.Since(start).Round(time.Millisecond))
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: gave up after %d attempts in %s: %w", what, attempt, time.Since(start).Round(time.Millisecond), err)
		}
		if !Transient(err) {
			return fmt.Errorf("%s: %w", what, err)
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		log.Warn("JetStream not ready; retrying", "what", what, "attempt", attempt, "error", err, "in", wait.Round(time.Millisecond))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: gave up after %d attempts in %s: %w", what, attempt, time.Since(start).Round(time.Millisecond), err)
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// errNoLeader is the transient error of a stream or consumer that exists
// but has no elected leader yet.
var errNoLeader = &jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "no leader elected yet"}

// leaderless reports whether cluster information says the asset's replica
// group has no leader. Standalone servers report no cluster name.
func leaderless(ci *jetstream.ClusterInfo) bool {
	return ci != nil && ci.Name != "" && ci.Leader == ""
}

// EnsureStream creates or updates the stream cfg describes and returns once
// it has a leader. Transient errors — no leader yet, a node down, no answer
// — are retried with backoff until ctx ends; the caller's ctx is the start
// deadline. log (may be nil) notes each retry.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig, log *slog.Logger) (jetstream.Stream, error) {
	var st jetstream.Stream
	err := retry(ctx, log, "create or update stream "+cfg.Name, func(ctx context.Context) error {
		s, err := js.CreateOrUpdateStream(ctx, cfg)
		if err != nil {
			return err
		}
		if leaderless(s.CachedInfo().Cluster) {
			info, err := s.Info(ctx)
			if err != nil {
				return err
			}
			if leaderless(info.Cluster) {
				return errNoLeader
			}
		}
		st = s
		return nil
	})
	return st, err
}

// EnsureConsumer creates or updates a durable consumer on stream and
// returns once it has a leader, retrying like EnsureStream.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig, log *slog.Logger) (jetstream.Consumer, error) {
	var c jetstream.Consumer
	err := retry(ctx, log, fmt.Sprintf("create or update consumer %s on %s", cfg.Durable, stream), func(ctx context.Context) error {
		cons, err := js.CreateOrUpdateConsumer(ctx, stream, cfg)
		if err != nil {
			return err
		}
		if leaderless(cons.CachedInfo().Cluster) {
			info, err := cons.Info(ctx)
			if err != nil {
				return err
			}
			if leaderless(info.Cluster) {
				return errNoLeader
			}
		}
		c = cons
		return nil
	})
	return c, err
}
