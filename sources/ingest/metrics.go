package ingest

import (
	"errors"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-cdp/switchboard/core/bus"
	"github.com/switchboard-cdp/switchboard/core/event"
)

// Outcomes of the events metric.
const (
	outcomeStored      = "stored"
	outcomeDuplicate   = "duplicate"
	outcomeRejected    = "rejected"
	outcomeUnavailable = "unavailable"
)

// typeUnknown labels events whose type is not known: rejected requests
// (the whole request is refused, whatever its events' types) and, when a
// request was partly duplicate, its duplicates (the bus reports counts,
// not which events).
const typeUnknown = "unknown"

// Metrics are the collectors every source's handler records into; the
// source label tells the sources apart.
type Metrics struct {
	Requests *prometheus.CounterVec   // source, route, code
	Events   *prometheus.CounterVec   // source, type, outcome
	Duration *prometheus.HistogramVec // route
	Publish  prometheus.Histogram
}

// NewMetrics creates a handler's collectors and registers them on reg
// (unless nil). A collector that reg already holds with the same
// description (another handler, or another source's: the Segment and
// Tealium sources share switchboard_http_requests_total and the rest) is
// reused rather than refused.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_http_requests_total",
			Help: "HTTP requests to the tracking API by source (empty when not authenticated), route and status code.",
		}, []string{"source", "route", "code"}),
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_events_total",
			Help: "Events received by source, type and outcome (stored, duplicate, rejected, unavailable).",
		}, []string{"source", "type", "outcome"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "switchboard_http_request_duration_seconds",
			Help:    "Time to answer a tracking API request, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		Publish: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "switchboard_publish_duration_seconds",
			Help:    "Time for the bus to acknowledge every event of one request.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.Requests, err = register(reg, m.Requests); err != nil {
		return nil, err
	}
	if m.Events, err = register(reg, m.Events); err != nil {
		return nil, err
	}
	if m.Duration, err = register(reg, m.Duration); err != nil {
		return nil, err
	}
	if m.Publish, err = register(reg, m.Publish); err != nil {
		return nil, err
	}
	return m, nil
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	var zero C
	return zero, err
}

// Rejected counts the n events of a refused request.
func (m *Metrics) Rejected(source string, n int) {
	if n > 0 {
		m.Events.WithLabelValues(source, typeUnknown, outcomeRejected).Add(float64(n))
	}
}

// CountEvents counts every event of types with one outcome.
func (m *Metrics) CountEvents(source string, types []event.Type, outcome string) {
	var counts [8]int // indexed like event.Types; the last slot: anything else
	other := len(counts) - 1
	for _, t := range types {
		i := slices.Index(event.Types, t)
		if i < 0 || i >= other {
			i = other
		}
		counts[i]++
	}
	for i, c := range counts {
		if c == 0 {
			continue
		}
		label := typeUnknown
		if i != other {
			label = string(event.Types[i])
		}
		m.Events.WithLabelValues(source, label, outcome).Add(float64(c))
	}
}

// CountPublished counts a successful publish: by type when all events were
// stored or all were duplicates; otherwise the duplicates' types are not
// known and they count under type "unknown".
func (m *Metrics) CountPublished(source string, types []event.Type, res bus.PublishResult) {
	switch {
	case res.Duplicates == 0:
		m.CountEvents(source, types, outcomeStored)
	case res.Stored == 0:
		m.CountEvents(source, types, outcomeDuplicate)
	default:
		m.Events.WithLabelValues(source, typeUnknown, outcomeStored).Add(float64(res.Stored))
		m.Events.WithLabelValues(source, typeUnknown, outcomeDuplicate).Add(float64(res.Duplicates))
	}
}
