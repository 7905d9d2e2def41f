package metacapi

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/switchboard-cdp/switchboard/plugins"
)

// Counter names added through the host (exposed on /metrics as
// switchboard_plugin_<name>_total).
const (
	// CounterEvents counts events Meta accepted, by pixel and event_name.
	CounterEvents = "meta_events"
	// CounterMatchKey counts accepted events carrying a match key, by
	// pixel, event_name and key (one of MatchKeys). Divided by
	// CounterEvents it is the key's coverage.
	CounterMatchKey = "meta_match_key"
	// CounterDropped counts user_data values left out, by pixel, key and
	// reason (normalize's Err* texts).
	CounterDropped = "meta_dropped"
	// CounterDedupeHits counts events not sent because Meta already had
	// them, by pixel and event_name.
	CounterDedupeHits = "meta_dedupe_hits"
	// CounterMissingEventID counts accepted events mapped without an
	// event_id (one was derived from the message ID, so browser-pixel
	// deduplication cannot work for them), by pixel and event_name.
	CounterMissingEventID = "meta_missing_event_id"
	// CounterFBCFromURL counts accepted events whose fbc was built from
	// the fbclid of event_source_url, by pixel and event_name.
	CounterFBCFromURL = "meta_fbc_from_url"
	// CounterRejected counts rejected events, by pixel, event_name and code.
	CounterRejected = "meta_rejected"
	// CounterStateErrors counts batches whose sent events could not be
	// recorded for deduplication, by pixel.
	CounterStateErrors = "meta_state_errors"
)

// stats gathers one batch's counters, aggregated by name and labels, in
// the order they were first added.
type stats struct {
	pixel  string
	index  map[statKey]int // where a counter is in order and totals
	order  []statKey
	totals []float64
	// accepted holds where final's counters are for the accepted events
	// of each event name: final looks the name up once, not each of an
	// event's dozen counters or so.
	accepted map[string]*acceptedCounters
}

// statKey is a counter name with its label values ("" = label absent).
type statKey struct {
	name, eventName, key, reason, code string
}

// acceptedCounters are where the counters of an event name's accepted
// events are in a stats, each -1 until first added.
type acceptedCounters struct {
	events, missingID, fbcURL int
	matchKeys                 []int // by index in MatchKeys
}

func newStats(pixel string) *stats {
	return &stats{pixel: pixel, index: map[statKey]int{}, accepted: map[string]*acceptedCounters{}}
}

// add adds delta to k's counter.
func (s *stats) add(k statKey, delta float64) { s.totals[s.position(k)] += delta }

// addAt is add for a counter whose position is kept in *at, -1 until it
// is known.
func (s *stats) addAt(at *int, k statKey, delta float64) {
	if *at < 0 {
		*at = s.position(k)
	}
	s.totals[*at] += delta
}

// position returns where k's counter is in order and totals, adding it
// when it is new.
func (s *stats) position(k statKey) int {
	i, ok := s.index[k]
	if !ok {
		i = len(s.order)
		s.index[k] = i
		s.order = append(s.order, k)
		s.totals = append(s.totals, 0)
	}
	return i
}

// final counts an event whose fate is decided in this call (accepted by
// Meta, rejected, or a duplicate): its drops, and, if Meta accepted it,
// its match keys.
func (s *stats) final(p *prepared, accepted bool) {
	for _, d := range p.drops {
		s.add(statKey{name: CounterDropped, key: d.Key, reason: d.Reason}, 1)
	}
	if !accepted {
		return
	}
	name := labelName(p.name)
	at := s.accepted[name]
	if at == nil {
		at = &acceptedCounters{events: -1, missingID: -1, fbcURL: -1, matchKeys: make([]int, len(MatchKeys))}
		for i := range at.matchKeys {
			at.matchKeys[i] = -1
		}
		s.accepted[name] = at
	}
	s.addAt(&at.events, statKey{name: CounterEvents, eventName: name}, 1)
	for i, k := range MatchKeys {
		if p.keys&matchBits[i] != 0 {
			s.addAt(&at.matchKeys[i], statKey{name: CounterMatchKey, eventName: name, key: k}, 1)
		}
	}
	if p.derivedID {
		s.addAt(&at.missingID, statKey{name: CounterMissingEventID, eventName: name}, 1)
	}
	if p.fbcURL {
		s.addAt(&at.fbcURL, statKey{name: CounterFBCFromURL, eventName: name}, 1)
	}
}

func (s *stats) dedupeHit(name string) {
	s.add(statKey{name: CounterDedupeHits, eventName: labelName(name)}, 1)
}

func (s *stats) rejected(name, code string) {
	s.add(statKey{name: CounterRejected, eventName: labelName(name), code: code}, 1)
}

// counters returns the batch's counters for one AddCounters call; every
// counter carries the pixel label.
func (s *stats) counters() []plugins.Counter {
	out := make([]plugins.Counter, 0, len(s.order))
	for i, k := range s.order {
		labels := map[string]string{"pixel": s.pixel}
		for name, v := range map[string]string{"event_name": k.eventName, "key": k.key, "reason": k.reason, "code": k.code} {
			if v != "" {
				labels[name] = v
			}
		}
		out = append(out, plugins.Counter{Name: k.name, Labels: labels, Delta: s.totals[i]})
	}
	return out
}

// labelName bounds an event name used as a label value.
func labelName(name string) string {
	switch {
	case name == "":
		return "(none)"
	case len(name) > 64:
		return name[:64]
	}
	return name
}

// Weights is the heuristic behind Score: the points (out of 10) a match
// key adds when every event carries it. Meta publishes no per-key weights
// (ref §8); these follow its guidance on priority — email first, then
// phone, external_id, the click and browser IDs, IP and user agent, then
// name and address fields — and Meta's sample of the Dataset Quality API,
// where email lifts matching about three times as much as IP.
var Weights = map[string]float64{
	"em":                2.5,
	"ph":                2.0,
	"external_id":       1.0,
	"fbc":               1.0,
	"fbp":               0.8,
	"client_ip_address": 0.9,
	"client_user_agent": 0.5,
	"fn":                0.25,
	"ln":                0.25,
	"ct":                0.15,
	"st":                0.15,
	"zp":                0.2,
	"country":           0.1,
	"db":                0.15,
	"ge":                0.05,
}

// keyNames are the readable names of match keys, for recommendations.
var keyNames = map[string]string{
	"em": "email", "ph": "phone", "external_id": "external ID", "fbc": "click ID",
	"fbp": "browser ID", "client_ip_address": "IP address", "client_user_agent": "user agent",
	"fn": "first name", "ln": "last name", "ct": "city", "st": "state", "zp": "ZIP code",
	"country": "country", "db": "date of birth", "ge": "gender",
}

// Score estimates Event Match Quality on Meta's 0–10 scale from coverage,
// the share (0–1) of events carrying each match key (keys as in
// MatchKeys): the sum of Weights[key] × coverage[key], rounded to one
// decimal. It is an estimate for comparing pipelines and changes, not
// Meta's formula, which is unpublished and also weighs how many events
// actually matched (ref §8). Unknown keys are ignored; shares are clamped
// to 0–1.
func Score(coverage map[string]float64) float64 {
	total := 0.0
	for k, w := range Weights {
		total += w * clamp(coverage[k])
	}
	return math.Round(min(total, 10)*10) / 10
}

// Recommendations returns advice for one event name, most valuable first,
// such as "38% of Purchase events have no phone (ph)": one line per match
// key whose coverage is below 90%, ordered by the score it would add, at
// most max lines (0: all). coverage is as for Score; the pseudo-key
// "event_id", when present, is the share of events mapped with their own
// event_id, and below 100% it yields advice on browser deduplication.
func Recommendations(eventName string, coverage map[string]float64, max int) []string {
	type rec struct {
		gain float64
		text string
	}
	var recs []rec
	for k, w := range Weights {
		c := clamp(coverage[k])
		if c >= 0.9 {
			continue
		}
		missing := int(math.Round((1 - c) * 100))
		recs = append(recs, rec{gain: w * (1 - c), text: fmt.Sprintf("%d%% of %s events have no %s (%s)", missing, eventName, keyNames[k], k)})
	}
	slices.SortFunc(recs, func(a, b rec) int {
		if a.gain != b.gain {
			if a.gain > b.gain {
				return -1
			}
			return 1
		}
		return strings.Compare(a.text, b.text)
	})
	var out []string
	if c, ok := coverage["event_id"]; ok && clamp(c) < 1 {
		out = append(out, fmt.Sprintf("%d%% of %s events have no event_id: map the browser pixel's eventID so Meta can deduplicate browser and server events",
			int(math.Round((1-clamp(c))*100)), eventName))
	}
	for _, r := range recs {
		out = append(out, r.text)
	}
	if max > 0 && len(out) > max {
		out = out[:max]
	}
	return out
}

func clamp(f float64) float64 {
	switch {
	case math.IsNaN(f) || f < 0:
		return 0
	case f > 1:
		return 1
	}
	return f
}

// EventQuality is the match quality of one pixel's event name, computed
// from the destination's counters by [Quality].
type EventQuality struct {
	Pixel     string
	EventName string
	// Events is the number of events Meta accepted.
	Events float64
	// Coverage is the share (0–1) of accepted events carrying each of
	// MatchKeys, plus "event_id": the share mapped with their own
	// event_id.
	Coverage map[string]float64
	// Score is Score(Coverage).
	Score float64
	// DedupeHits is the number of events not sent again because Meta
	// already had them.
	DedupeHits float64
	// Rejected is the number of rejected events by result code.
	Rejected map[string]float64
}

// Quality turns the counters this destination added (as the host reports
// their totals) into one EventQuality per pixel and event name, sorted by
// pixel, then by most events. Dropped values are per pixel and key, not per
// event, so they are returned separately: dropped[pixel][key][reason].
func Quality(counters []plugins.Counter) (events []EventQuality, dropped map[string]map[string]map[string]float64) {
	type pe struct{ pixel, name string }
	byEvent := map[pe]*EventQuality{}
	get := func(l map[string]string) *EventQuality {
		k := pe{l["pixel"], l["event_name"]}
		q := byEvent[k]
		if q == nil {
			q = &EventQuality{Pixel: k.pixel, EventName: k.name, Coverage: map[string]float64{}, Rejected: map[string]float64{}}
			byEvent[k] = q
		}
		return q
	}
	missing := map[pe]float64{}
	dropped = map[string]map[string]map[string]float64{}
	for _, c := range counters {
		switch c.Name {
		case CounterEvents:
			get(c.Labels).Events += c.Delta
		case CounterMatchKey:
			get(c.Labels).Coverage[c.Labels["key"]] += c.Delta
		case CounterMissingEventID:
			missing[pe{c.Labels["pixel"], c.Labels["event_name"]}] += c.Delta
		case CounterDedupeHits:
			get(c.Labels).DedupeHits += c.Delta
		case CounterRejected:
			get(c.Labels).Rejected[c.Labels["code"]] += c.Delta
		case CounterDropped:
			p, k := c.Labels["pixel"], c.Labels["key"]
			if dropped[p] == nil {
				dropped[p] = map[string]map[string]float64{}
			}
			if dropped[p][k] == nil {
				dropped[p][k] = map[string]float64{}
			}
			dropped[p][k][c.Labels["reason"]] += c.Delta
		}
	}
	for k, q := range byEvent {
		if q.Events > 0 {
			for key, n := range q.Coverage {
				q.Coverage[key] = clamp(n / q.Events)
			}
			q.Coverage["event_id"] = clamp(1 - missing[k]/q.Events)
		}
		q.Score = Score(q.Coverage)
		events = append(events, *q)
	}
	slices.SortFunc(events, func(a, b EventQuality) int {
		if c := strings.Compare(a.Pixel, b.Pixel); c != 0 {
			return c
		}
		if a.Events != b.Events {
			if a.Events > b.Events {
				return -1
			}
			return 1
		}
		return strings.Compare(a.EventName, b.EventName)
	})
	return events, dropped
}
