package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-cdp/switchboard/core/config"
	"github.com/switchboard-cdp/switchboard/plugins"
)

// Mapper is a pipeline's compiled when: and map:, as core/mapping's
// *Program provides it. Apply decodes a stored event and returns the
// payload for the destination; matched is false (with a nil error) when
// when: filters the event out. An error means the event cannot be mapped
// (it is not a valid event, or an expression failed on it): the event is
// dead-lettered with the error as the reason. Apply is called from one
// goroutine per Pipeline, but several Pipelines may share a Mapper.
type Mapper interface {
	Apply(data []byte) (out []byte, matched bool, err error)
}

// Destination delivers mapped events, as core/pluginhost's *Destination
// does. Deliver returns one Result per event (matched by Event.ID, in any
// order; an event without a result is retried), or an error when the batch
// as a whole failed and every event of it must be retried. It is called
// concurrently, at most Options.MaxInFlight calls at once per Pipeline.
type Destination interface {
	Deliver(ctx context.Context, batch []plugins.Event) ([]plugins.Result, error)
}

// Defaults of Options.
const (
	DefaultStream        = "EVENTS"
	DefaultMaxInFlight   = 4
	DefaultCallTimeout   = 30 * time.Second
	DefaultShutdownGrace = 10 * time.Second
	DefaultDLQRetention  = 30 * 24 * time.Hour
	// DefaultMaxRetryAfter caps a destination's retry-after.
	DefaultMaxRetryAfter = 24 * time.Hour
)

// Options configures New. The zero value of a field takes the default noted
// beside it; Name, Config, Mapper, JetStream and Destination are required.
type Options struct {
	// Name is the pipeline's name in pipelines.yaml.
	Name string
	// Config is the pipeline's section of pipelines.yaml (from, to, batch,
	// retry; when and map are read through Mapper). Zero batch and retry
	// fields take core/config's defaults.
	Config config.Pipeline
	// Mapper is the pipeline's compiled when: and map: (*mapping.Program).
	Mapper Mapper
	// JetStream holds the events stream; the pipeline's consumer and the
	// dead-letter stream are created through it.
	JetStream jetstream.JetStream
	// Stream is the events stream's name (default "EVENTS").
	Stream string
	// Replicas of the dead-letter stream; use the events stream's
	// (default 1).
	Replicas int
	// DLQRetention is how long dead letters are kept (default 30 days).
	DLQRetention time.Duration

	// Destination receives the batches.
	Destination Destination
	// DestinationName labels metrics and dead letters (default Config.To).
	DestinationName string
	// DestinationBatch is the batch shape the destination prefers
	// (pluginhost's Destination.Spec().Batch); it caps Config.Batch.
	DestinationBatch plugins.BatchLimits
	// MaxInFlight is the most batches this pipeline delivers at once
	// (default 4; use pluginhost's Destination.Limits().MaxInFlight).
	MaxInFlight int
	// CallTimeout bounds one Deliver call (default 30s; use pluginhost's
	// Destination.Limits().CallTimeout). The pipeline allows a few seconds
	// more so the destination's own timeout fires first.
	CallTimeout time.Duration
	// AckWait is how long JetStream waits for an outcome before it
	// redelivers a message (default 2×batch wait + 3×CallTimeout + 10s).
	AckWait time.Duration
	// ShutdownGrace is how long Run lets batches already handed to the
	// destination finish once its context is done; then they are
	// cancelled and their events naked (default 10s).
	ShutdownGrace time.Duration
	// MaxRetryAfter caps how long a destination's retry-after may delay an
	// event (default 24h).
	MaxRetryAfter time.Duration

	// ReadBehind paces reads while the stream is written fast (zero: off).
	ReadBehind ReadBehind

	// Logger receives what an operator must act on (default: discard).
	Logger *slog.Logger
	// Registerer receives the pipeline metrics (default: a private
	// registry). Several pipelines may share one.
	Registerer prometheus.Registerer
	// Now is the clock (default time.Now); tests may stop it.
	Now func() time.Time
}

// limits is the effective batch and retry shape of a pipeline.
type limits struct {
	maxEvents   int
	maxBytes    int
	maxWait     time.Duration
	maxAttempts int
	backoff     time.Duration
	maxBackoff  time.Duration
	maxAge      time.Duration
}

func (o *Options) defaults() {
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.DLQRetention <= 0 {
		o.DLQRetention = DefaultDLQRetention
	}
	if o.DestinationName == "" {
		o.DestinationName = o.Config.To
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = DefaultShutdownGrace
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// limits combines the pipeline's batch and retry settings with the
// destination's preferred batch limits.
func (o *Options) limits() limits {
	b, r := o.Config.Batch, o.Config.Retry
	l := limits{
		maxEvents:   orInt(b.MaxEvents, config.DefaultBatchMaxEvents),
		maxBytes:    orInt(b.MaxBytes, config.DefaultBatchMaxBytes),
		maxWait:     b.MaxWait,
		maxAttempts: orInt(r.MaxAttempts, config.DefaultRetryMaxAttempts),
		backoff:     r.Backoff,
		maxBackoff:  r.MaxBackoff,
		maxAge:      max(r.MaxAge, 0),
	}
	if l.maxWait < 0 {
		l.maxWait = 0
	}
	if l.backoff <= 0 {
		l.backoff = config.DefaultRetryBackoff
	}
	if l.maxBackoff <= 0 {
		l.maxBackoff = config.DefaultRetryMaxBackoff
	}
	l.maxBackoff = max(l.maxBackoff, l.backoff)
	d := o.DestinationBatch
	if d.MaxEvents > 0 {
		l.maxEvents = min(l.maxEvents, d.MaxEvents)
	}
	if d.MaxBytes > 0 {
		l.maxBytes = min(l.maxBytes, d.MaxBytes)
	}
	if d.MaxWait > 0 {
		l.maxWait = min(l.maxWait, d.MaxWait)
	}
	return l
}

func orInt(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// check reports the first option that makes New impossible.
func (o *Options) check() error {
	switch {
	case !validName(o.Name):
		return fmt.Errorf("%w: name %q must be letters, digits, _ and - only", ErrInvalidOptions, o.Name)
	case o.Mapper == nil:
		return fmt.Errorf("%w: pipeline %s: no Mapper", ErrInvalidOptions, o.Name)
	case o.JetStream == nil:
		return fmt.Errorf("%w: pipeline %s: no JetStream", ErrInvalidOptions, o.Name)
	case o.Destination == nil:
		return fmt.Errorf("%w: pipeline %s: no Destination", ErrInvalidOptions, o.Name)
	case len(o.Config.From) == 0:
		return fmt.Errorf("%w: pipeline %s: no source in from", ErrInvalidOptions, o.Name)
	}
	for _, src := range o.Config.From {
		if !validName(src) {
			return fmt.Errorf("%w: pipeline %s: source name %q must be letters, digits, _ and - only", ErrInvalidOptions, o.Name, src)
		}
	}
	return nil
}

// validName reports whether s can be a NATS subject token and part of a
// consumer name, as core/config requires of every name.
func validName(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) < 0
}
