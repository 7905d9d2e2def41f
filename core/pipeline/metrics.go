package pipeline

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcome labels of switchboard_pipeline_events_total.
const (
	outcomeConsumed     = "consumed"
	outcomeFiltered     = "filtered"
	outcomeDelivered    = "delivered"
	outcomeRetried      = "retried"
	outcomeDeadLettered = "dead_lettered"
	outcomeMappingError = "mapping_error"
)

// metrics are the collectors shared by every pipeline of one registry.
type metrics struct {
	events    *prometheus.CounterVec   // pipeline, destination, outcome
	batchSize *prometheus.HistogramVec // pipeline, destination
	latency   *prometheus.HistogramVec // pipeline, destination
	pending   *prometheus.GaugeVec     // pipeline, destination
	held      *prometheus.CounterVec   // pipeline, destination
}

// newMetrics registers the pipeline collectors with reg, or reuses the ones
// an earlier pipeline registered there.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	labels := []string{"pipeline", "destination"}
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_pipeline_events_total",
			Help: "Events seen by a pipeline, by outcome: consumed (read from the stream, redeliveries included), filtered (when: false), delivered, retried (naked for a later attempt), dead_lettered, mapping_error (also dead_lettered).",
		}, append(labels, "outcome")),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "switchboard_pipeline_batch_size",
			Help:    "Events per batch handed to the destination.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}, labels),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "switchboard_pipeline_delivery_latency_seconds",
			Help:    "Time from an event's storage in JetStream to its acceptance by the destination.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
		}, labels),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "switchboard_pipeline_pending",
			Help: "Events of a pipeline not yet settled: waiting in its consumer or delivered and awaiting an outcome.",
		}, labels),
		held: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_pipeline_read_behind_seconds_total",
			Help: "Time a pipeline waited before reading on, so that it reads only stream blocks the server has finished writing (nats.read_behind).",
		}, labels),
	}
	var err error
	m.events, err = register(reg, m.events)
	if err != nil {
		return nil, err
	}
	if m.batchSize, err = register(reg, m.batchSize); err != nil {
		return nil, err
	}
	if m.latency, err = register(reg, m.latency); err != nil {
		return nil, err
	}
	if m.pending, err = register(reg, m.pending); err != nil {
		return nil, err
	}
	if m.held, err = register(reg, m.held); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the equal collector already registered.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

// pipelineMetrics are one pipeline's children of the shared collectors.
type pipelineMetrics struct {
	consumed, filtered, delivered, retried, deadLettered, mappingError prometheus.Counter

	batchSize prometheus.Observer
	latency   prometheus.Observer
	pending   prometheus.Gauge
	held      prometheus.Counter
}

func (m *metrics) forPipeline(pipeline, destination string) *pipelineMetrics {
	ev := func(outcome string) prometheus.Counter {
		return m.events.WithLabelValues(pipeline, destination, outcome)
	}
	return &pipelineMetrics{
		consumed:     ev(outcomeConsumed),
		filtered:     ev(outcomeFiltered),
		delivered:    ev(outcomeDelivered),
		retried:      ev(outcomeRetried),
		deadLettered: ev(outcomeDeadLettered),
		mappingError: ev(outcomeMappingError),
		batchSize:    m.batchSize.WithLabelValues(pipeline, destination),
		latency:      m.latency.WithLabelValues(pipeline, destination),
		pending:      m.pending.WithLabelValues(pipeline, destination),
		held:         m.held.WithLabelValues(pipeline, destination),
	}
}
