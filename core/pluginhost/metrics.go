package pluginhost

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-cdp/switchboard/plugins"
)

// metrics are the host's own metrics, labelled by destination.
type metrics struct {
	restarts *prometheus.CounterVec
	up       *prometheus.GaugeVec
	inFlight *prometheus.GaugeVec
	latency  *prometheus.HistogramVec
	results  *prometheus.CounterVec
	failures *prometheus.CounterVec
	seenKeys *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_plugin_restarts_total",
			Help: "Destination plugin processes restarted after they died or stopped answering.",
		}, []string{"destination"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "switchboard_plugin_up",
			Help: "1 while the destination's plugin process is running and configured, else 0.",
		}, []string{"destination"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "switchboard_plugin_deliver_in_flight",
			Help: "Deliver calls in progress per destination.",
		}, []string{"destination"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "switchboard_plugin_deliver_duration_seconds",
			Help:    "Time a destination plugin took to deliver one batch.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 13), // 0.5ms … ~30s
		}, []string{"destination"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_plugin_results_total",
			Help: "Per-event results returned by destination plugins, by outcome and code.",
		}, []string{"destination", "outcome", "code"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_plugin_deliver_failures_total",
			Help: "Deliver calls whose whole batch must be retried, by cause (unavailable, timeout, failed, closed).",
		}, []string{"destination", "cause"}),
		seenKeys: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "switchboard_plugin_seen_keys",
			Help: "Keys a destination's plugin marked seen (for deduplication) that have not expired; each costs about 12 bytes of serve memory.",
		}, []string{"destination"}),
	}
	var err error
	m.restarts, err = register(reg, m.restarts)
	if err == nil {
		m.up, err = register(reg, m.up)
	}
	if err == nil {
		m.inFlight, err = register(reg, m.inFlight)
	}
	if err == nil {
		m.latency, err = register(reg, m.latency)
	}
	if err == nil {
		m.results, err = register(reg, m.results)
	}
	if err == nil {
		m.failures, err = register(reg, m.failures)
	}
	if err == nil {
		m.seenKeys, err = register(reg, m.seenKeys)
	}
	return m, err
}

// register registers c, or returns the collector already registered under
// the same description (several hosts may share a registry).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("pluginhost: register metrics: %w", err)
	}
	return c, nil
}

// Limits on plugin-reported counters, so that a plugin cannot flood
// /metrics.
const (
	maxCounterNames  = 100
	maxCounterSeries = 10_000
	maxResultCodes   = 50
)

// counterSet holds the plugin-specific counters of one host, shared by all
// its destinations: switchboard_plugin_<name>_total{destination, ...}.
type counterSet struct {
	reg  prometheus.Registerer
	mu   sync.Mutex
	vecs map[string]*counterVec
}

type counterVec struct {
	vec    *prometheus.CounterVec
	labels []string // sorted, without "destination"
	series map[string]bool
}

func newCounterSet(reg prometheus.Registerer) *counterSet {
	return &counterSet{reg: reg, vecs: map[string]*counterVec{}}
}

var (
	invalidNameChars = regexp.MustCompile(`[^a-zA-Z0-9_]+`)
	multiUnderscore  = regexp.MustCompile(`_{2,}`)
)

// sanitize makes s a valid metric or label name part: letters, digits and
// single underscores, not starting with a digit.
func sanitize(s string) string {
	s = invalidNameChars.ReplaceAllString(s, "_")
	s = multiUnderscore.ReplaceAllString(s, "_")
	s = strings.Trim(s, "_")
	if s != "" && s[0] >= '0' && s[0] <= '9' {
		s = "_" + s
	}
	return s
}

// add applies a call's counters for destination: all of them or, on any
// error, none.
func (cs *counterSet) add(destination string, counters []plugins.Counter) error {
	type op struct {
		vec    *counterVec
		labels prometheus.Labels
		key    string
		delta  float64
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	ops := make([]op, 0, len(counters))
	newVecs := map[string]*counterVec{}
	for _, c := range counters {
		name := strings.TrimSuffix(sanitize(strings.ToLower(c.Name)), "_total")
		if name == "" {
			return fmt.Errorf("counter %q: the name has no letters or digits", c.Name)
		}
		full := "switchboard_plugin_" + name + "_total"
		if c.Delta < 0 || math.IsNaN(c.Delta) || math.IsInf(c.Delta, 0) {
			return fmt.Errorf("counter %s: delta must be a finite number ≥ 0", full)
		}
		labels := prometheus.Labels{"destination": destination}
		names := make([]string, 0, len(c.Labels))
		for k, v := range c.Labels {
			ln := sanitize(k)
			if ln == "" || strings.HasPrefix(ln, "__") {
				return fmt.Errorf("counter %s: invalid label name %q", full, k)
			}
			if ln == "destination" {
				return fmt.Errorf("counter %s: label %q is reserved for the destination's name", full, k)
			}
			if _, dup := labels[ln]; dup {
				return fmt.Errorf("counter %s: labels %q collide once sanitized", full, k)
			}
			labels[ln] = v
			names = append(names, ln)
		}
		sort.Strings(names)
		vec := cs.vecs[full]
		if vec == nil {
			vec = newVecs[full]
		}
		if vec == nil {
			if len(cs.vecs)+len(newVecs) >= maxCounterNames {
				return fmt.Errorf("counter %s: too many distinct counters (at most %d)", full, maxCounterNames)
			}
			vec = &counterVec{labels: names, series: map[string]bool{}}
			newVecs[full] = vec
		}
		if !slices.Equal(vec.labels, names) {
			return fmt.Errorf("counter %s: labels %v differ from the labels it was first reported with %v", full, names, vec.labels)
		}
		var key strings.Builder
		key.WriteString(destination)
		for _, n := range names {
			key.WriteString("\xff" + labels[n])
		}
		if !vec.series[key.String()] && len(vec.series) >= maxCounterSeries {
			return fmt.Errorf("counter %s: too many label combinations (at most %d)", full, maxCounterSeries)
		}
		ops = append(ops, op{vec: vec, labels: labels, key: key.String(), delta: c.Delta})
	}
	for full, vec := range newVecs {
		cv := prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: full,
			Help: "Counter reported by destination plugins.",
		}, append([]string{"destination"}, vec.labels...))
		registered, err := register(cs.reg, cv)
		if err != nil {
			return fmt.Errorf("counter %s: %w", full, err)
		}
		vec.vec = registered
		cs.vecs[full] = vec
	}
	for _, o := range ops {
		c, err := o.vec.vec.GetMetricWith(o.labels)
		if err != nil {
			return err
		}
		o.vec.series[o.key] = true
		c.Add(o.delta)
	}
	return nil
}
