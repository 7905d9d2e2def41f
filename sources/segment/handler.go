package segment

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-cdp/switchboard/core/bus"
	"github.com/switchboard-cdp/switchboard/core/event"
	"github.com/switchboard-cdp/switchboard/sources/ingest"
)

// Defaults for the zero values of Options' limits (Segment's documented
// limits: 32 KB per event, 500 KB per request, 2,500 events per batch).
const (
	DefaultMaxRequestBytes = 500 << 10
	DefaultMaxEventBytes   = 32 << 10
	DefaultMaxBatchEvents  = 2500
)

// Publisher stores the events of one request durably: the interface every
// source shares (ingest.Publisher); *bus.Bus satisfies it.
type Publisher = ingest.Publisher

// Source is one configured Segment-style source: the name its events are
// stored under (a single NATS subject token) and the write keys that
// authenticate to it.
type Source struct {
	Name      string
	WriteKeys []string
	// RateLimit is the sustained requests per second accepted for the
	// source; 0 means unlimited.
	RateLimit float64
	// Burst is the token bucket's size; 0 means ceil(RateLimit).
	Burst int
}

// Options configures New. Zero limits take the Default* values.
type Options struct {
	Sources   []Source
	Publisher Publisher
	Logger    *slog.Logger
	// Registerer receives the handler's metrics; nil: they are not
	// registered anywhere.
	Registerer prometheus.Registerer
	// TrustedProxies are the peers whose X-Forwarded-For (and, for the
	// settings document, X-Forwarded-Host/-Proto) is believed.
	TrustedProxies []netip.Prefix
	// Now is the clock for receivedAt and rate limits; default time.Now.
	Now func() time.Time
	// MaxRequestBytes caps a request body, after gunzip too.
	MaxRequestBytes int
	// MaxEventBytes caps one event's JSON.
	MaxEventBytes int
	// MaxBatchEvents caps the events of one batch request.
	MaxBatchEvents int
	// Gate bounds the requests decoded and stored at once (shared with
	// the server's other sources); nil: unbounded.
	Gate *ingest.Gate
}

// Handler serves the Segment tracking API under /v1/. It is safe for
// concurrent use.
type Handler struct {
	base ingest.Base
	keys []writeKey
}

// source is a configured source at run time.
type source struct {
	name     string
	json     []byte                 // name as a JSON string token
	subjects [len(typeOrder)]string // by typeOrder
	limiter  *ingest.Limiter        // nil: unlimited
}

// typeOrder indexes source.subjects.
var typeOrder = [...]event.Type{event.Track, event.Identify, event.Page, event.Screen, event.Group, event.Alias}

// subject is the subject of src's events of type t (a valid type).
func (src *source) subject(t event.Type) string {
	for i, x := range typeOrder {
		if x == t {
			return src.subjects[i]
		}
	}
	return event.Subject(src.name, t)
}

// writeKey is one configured key, kept only as its SHA-256 so lookups
// compare fixed-length digests in constant time.
type writeKey struct {
	sum [sha256.Size]byte
	src *source
}

// New checks opts and builds a Handler. Source names must be unique, valid
// NATS subject tokens; write keys must be non-empty and belong to one
// source only.
func New(opts Options) (*Handler, error) {
	if opts.Publisher == nil {
		return nil, errors.New("segment: Options.Publisher is required")
	}
	base, err := ingest.Base{
		Log:     opts.Logger,
		Now:     opts.Now,
		Trusted: opts.TrustedProxies,
		Gate:    opts.Gate,
		Limits:  ingest.Limits{Request: opts.MaxRequestBytes, Event: opts.MaxEventBytes, Events: opts.MaxBatchEvents},
	}.Open(opts.Publisher, opts.Registerer, ingest.Limits{Request: DefaultMaxRequestBytes, Event: DefaultMaxEventBytes, Events: DefaultMaxBatchEvents})
	if err != nil {
		return nil, err
	}
	h := &Handler{base: base}
	names := make(map[string]bool, len(opts.Sources))
	sums := make(map[[sha256.Size]byte]string)
	for i, s := range opts.Sources {
		if err := ingest.CheckSourceName(s.Name); err != nil {
			return nil, fmt.Errorf("segment: sources[%d]: %w", i, err)
		}
		if names[s.Name] {
			return nil, fmt.Errorf("segment: source %q configured twice", s.Name)
		}
		names[s.Name] = true
		if len(s.WriteKeys) == 0 {
			return nil, fmt.Errorf("segment: source %q has no write keys", s.Name)
		}
		lim, err := ingest.NewLimiter(s.RateLimit, s.Burst)
		if err != nil {
			return nil, fmt.Errorf("segment: source %q: %w", s.Name, err)
		}
		src := &source{name: s.Name, limiter: lim}
		src.json, _ = json.Marshal(s.Name)
		for i, t := range typeOrder {
			src.subjects[i] = event.Subject(s.Name, t)
		}
		for j, k := range s.WriteKeys {
			if k == "" {
				return nil, fmt.Errorf("segment: source %q: write_keys[%d] is empty", s.Name, j)
			}
			sum := sha256.Sum256([]byte(k))
			if other, dup := sums[sum]; dup {
				// Name the sources, never the key.
				return nil, fmt.Errorf("segment: source %q: write_keys[%d] is also a key of source %q", s.Name, j, other)
			}
			sums[sum] = s.Name
			h.keys = append(h.keys, writeKey{sum: sum, src: src})
		}
	}
	return h, nil
}

// routeKind says how a path's request is handled.
type routeKind uint8

const (
	kindUnknown  routeKind = iota
	kindSingle             // one event; the path fixes its type
	kindBatch              // a batch envelope
	kindMetrics            // analytics-next's remote metrics: accepted and dropped
	kindSettings           // GET /v1/projects/{writeKey}/settings
)

// route is a matched path. name is the metrics label.
type route struct {
	name string
	kind routeKind
	typ  event.Type
}

var routes = map[string]route{
	"track":    {"track", kindSingle, event.Track},
	"identify": {"identify", kindSingle, event.Identify},
	"page":     {"page", kindSingle, event.Page},
	"screen":   {"screen", kindSingle, event.Screen},
	"group":    {"group", kindSingle, event.Group},
	"alias":    {"alias", kindSingle, event.Alias},
	"t":        {"t", kindSingle, event.Track},
	"i":        {"i", kindSingle, event.Identify},
	"p":        {"p", kindSingle, event.Page},
	"s":        {"s", kindSingle, event.Screen},
	"g":        {"g", kindSingle, event.Group},
	"a":        {"a", kindSingle, event.Alias},
	"batch":    {"batch", kindBatch, ""},
	"import":   {"import", kindBatch, ""},
	"b":        {"b", kindBatch, ""},
	"m":        {"m", kindMetrics, ""},
}

var (
	routeUnknown  = route{name: "unknown"}
	routeSettings = route{name: "settings", kind: kindSettings}
)

// match maps a request path to its route; for the settings route it also
// returns the write key in the path.
func match(path string) (route, string) {
	rest, ok := strings.CutPrefix(path, "/v1/")
	if !ok {
		return routeUnknown, ""
	}
	rest = strings.TrimSuffix(rest, "/")
	if rt, ok := routes[rest]; ok {
		return rt, ""
	}
	if p, ok := strings.CutPrefix(rest, "projects/"); ok {
		if key, ok := strings.CutSuffix(p, "/settings"); ok && key != "" && !strings.Contains(key, "/") {
			return routeSettings, key
		}
	}
	return routeUnknown, ""
}

// ServeHTTP answers every path under /v1/: the tracking routes, /v1/m and
// the settings document; CORS headers go on every response.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rt, pathKey := match(r.URL.Path)
	code, src := h.serve(w, r, rt, pathKey)
	h.base.Metrics.Requests.WithLabelValues(src, rt.name, ingest.StatusLabel(code)).Inc()
	h.base.Metrics.Duration.WithLabelValues(rt.name).Observe(time.Since(start).Seconds())
}

// serve handles one request and returns the status it answered with and
// the source it authenticated to ("" if none).
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, rt route, pathKey string) (int, string) {
	if rt.kind == kindUnknown {
		ingest.SetCORS(w, r)
		return writeError(w, &requestError{status: http.StatusNotFound, msg: "no such endpoint"}), ""
	}
	if ingest.CORS(w, r) {
		return http.StatusNoContent, ""
	}
	switch rt.kind {
	case kindSettings:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return ingest.MethodNotAllowed(w, r, "GET, HEAD, OPTIONS"), ""
		}
		return h.settings(w, r, pathKey)
	case kindMetrics:
		if r.Method != http.MethodPost {
			return ingest.MethodNotAllowed(w, r, "POST, OPTIONS"), ""
		}
		return h.dropMetrics(w, r), ""
	}
	if r.Method != http.MethodPost {
		return ingest.MethodNotAllowed(w, r, "POST, OPTIONS"), ""
	}
	return h.track(w, r, rt)
}

// track handles the event routes: authenticate, read, decode, normalise,
// validate, publish.
func (h *Handler) track(w http.ResponseWriter, r *http.Request, rt route) (int, string) {
	now := h.base.Now()
	var src *source
	if key, ok := headerWriteKey(r); ok {
		if src = h.lookup(key); src == nil {
			return writeError(w, errUnauthorized), ""
		}
		if !src.limiter.Allow(now) {
			return ingest.TooManyRequests(w, src.limiter, now), src.name
		}
	}

	buf, rerr := h.readBody(r)
	if rerr != nil {
		ingest.PutBuffer(buf)
		return writeError(w, rerr), nameOf(src)
	}
	weight, ok := h.base.Gate.Enter(r.Context(), buf.Len())
	if !ok {
		ingest.PutBuffer(buf)
		return ingest.Busy(w), nameOf(src)
	}
	defer h.base.Gate.Leave(weight)
	p := getPayload()
	defer putPayload(p)
	msgs, types, rerr := h.decode(r, rt, buf.Bytes(), p, &src, now)
	ingest.PutBuffer(buf) // p's spans point into buf: done with both
	if rerr != nil {
		if rerr.status == http.StatusTooManyRequests {
			return ingest.TooManyRequests(w, src.limiter, now), src.name
		}
		if src != nil && rerr.status == http.StatusBadRequest {
			h.base.Metrics.Rejected(src.name, len(p.events))
		}
		return writeError(w, rerr), nameOf(src)
	}
	if err := h.base.Store.Publish(r.Context(), src.name, msgs, types); err != nil {
		return ingest.Unavailable(w), src.name
	}
	return ingest.WriteOK(w), src.name
}

// decode parses the body, authenticates by the body's write key when the
// headers did not decide (setting *srcp), and builds one message per event.
// On a 429 it returns errRateLimited and the caller answers.
func (h *Handler) decode(r *http.Request, rt route, body []byte, p *payload, srcp **source, now time.Time) ([]bus.Message, []event.Type, *requestError) {
	var rerr *requestError
	if rt.kind == kindBatch {
		rerr = decodeBatch(body, p, h.base.Limits.Event, h.base.Limits.Events)
	} else {
		rerr = decodeSingle(body, p, h.base.Limits.Event)
	}
	if rerr != nil {
		return nil, nil, rerr
	}
	src := *srcp
	if src == nil {
		key := bodyWriteKey(r, p.writeKey)
		if key == "" {
			return nil, nil, errUnauthorized
		}
		if src = h.lookup(key); src == nil {
			return nil, nil, errUnauthorized
		}
		*srcp = src
		if !src.limiter.Allow(now) {
			return nil, nil, errRateLimited
		}
	}

	n := newNormalizer(p, src.name, src.json, now, ingest.ClientIP(r, h.base.Trusted), rt.typ)
	out := slices.Grow(p.out[:0], len(p.body)+len(p.events)*320)
	offs := append(p.offs[:0], make([]int, len(p.events)+1)...)
	msgs := append(p.msgs[:0], make([]bus.Message, len(p.events))...)
	types := append(p.types[:0], make([]event.Type, len(p.events))...)
	var ev event.Event
	for i := range p.events {
		var err error
		if out, err = n.normalize(&p.events[i], &ev, out); err != nil {
			return nil, nil, eventError(err, rt.kind == kindBatch, i)
		}
		offs[i+1] = len(out)
		msgs[i] = bus.Message{Subject: src.subject(ev.Type), ID: ev.DedupeID()}
		types[i] = ev.Type
	}
	for i := range msgs {
		msgs[i].Data = out[offs[i]:offs[i+1]:offs[i+1]]
	}
	p.out, p.offs, p.msgs, p.types = out, offs, msgs, types
	return msgs, types, nil
}

// lookup maps a write key to its source. It hashes the key and compares the
// digest with every configured key's in constant time, so neither timing
// nor an early exit reveals how much of a key matched or which one did.
func (h *Handler) lookup(key string) *source {
	sum := sha256.Sum256([]byte(key))
	var found *source
	for i := range h.keys {
		if constantTimeEqual(&sum, &h.keys[i].sum) {
			found = h.keys[i].src
		}
	}
	return found
}

// dropMetrics accepts analytics-next's remote metrics and discards them.
func (h *Handler) dropMetrics(w http.ResponseWriter, r *http.Request) int {
	// Read (a bounded amount of) the body so the connection can be reused.
	_, _ = ingest.Drain(r, h.base.Limits.Request)
	return ingest.WriteOK(w)
}

func nameOf(src *source) string {
	if src == nil {
		return ""
	}
	return src.name
}

var (
	_ http.Handler = (*Handler)(nil)
	_ Publisher    = (*bus.Bus)(nil)
)
