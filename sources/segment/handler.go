package segment

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/switchboard-cdp/switchboard/core/bus"
	"github.com/switchboard-cdp/switchboard/core/event"
)

// Defaults for the zero values of Options' limits (Segment's documented
// limits: 32 KB per event, 500 KB per request, 2,500 events per batch).
const (
	DefaultMaxRequestBytes = 500 << 10
	DefaultMaxEventBytes   = 32 << 10
	DefaultMaxBatchEvents  = 2500
)

// retryAfterUnavailable is the Retry-After, in seconds, of a 503.
const retryAfterUnavailable = "5"

// Publisher stores the events of one request durably. Publish must return
// nil only once every message is stored (or recognised as a duplicate of a
// stored one); *bus.Bus satisfies it.
type Publisher interface {
	Publish(ctx context.Context, msgs []bus.Message) (bus.PublishResult, error)
}

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
}

// Handler serves the Segment tracking API under /v1/. It is safe for
// concurrent use.
type Handler struct {
	pub       Publisher
	log       *slog.Logger
	now       func() time.Time
	trusted   []netip.Prefix
	maxReq    int
	maxEvent  int
	maxEvents int
	keys      []writeKey
	met       *metrics
}

// source is a configured source at run time.
type source struct {
	name     string
	json     []byte                 // name as a JSON string token
	subjects [len(typeOrder)]string // by typeOrder
	limiter  *rate.Limiter          // nil: unlimited
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
	h := &Handler{
		pub:       opts.Publisher,
		log:       opts.Logger,
		now:       opts.Now,
		trusted:   opts.TrustedProxies,
		maxReq:    opts.MaxRequestBytes,
		maxEvent:  opts.MaxEventBytes,
		maxEvents: opts.MaxBatchEvents,
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.maxReq <= 0 {
		h.maxReq = DefaultMaxRequestBytes
	}
	if h.maxEvent <= 0 {
		h.maxEvent = DefaultMaxEventBytes
	}
	if h.maxEvents <= 0 {
		h.maxEvents = DefaultMaxBatchEvents
	}
	names := make(map[string]bool, len(opts.Sources))
	sums := make(map[[sha256.Size]byte]string)
	for i, s := range opts.Sources {
		if err := checkSourceName(s.Name); err != nil {
			return nil, fmt.Errorf("segment: sources[%d]: %w", i, err)
		}
		if names[s.Name] {
			return nil, fmt.Errorf("segment: source %q configured twice", s.Name)
		}
		names[s.Name] = true
		if len(s.WriteKeys) == 0 {
			return nil, fmt.Errorf("segment: source %q has no write keys", s.Name)
		}
		if s.RateLimit < 0 || math.IsNaN(s.RateLimit) || math.IsInf(s.RateLimit, 0) || s.Burst < 0 {
			return nil, fmt.Errorf("segment: source %q: rate limit must be a finite number ≥ 0 and burst ≥ 0", s.Name)
		}
		src := &source{name: s.Name}
		src.json, _ = json.Marshal(s.Name)
		for i, t := range typeOrder {
			src.subjects[i] = event.Subject(s.Name, t)
		}
		if s.RateLimit > 0 {
			burst := s.Burst
			if burst == 0 {
				burst = int(math.Ceil(s.RateLimit))
			}
			src.limiter = rate.NewLimiter(rate.Limit(s.RateLimit), burst)
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
	met, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	h.met = met
	return h, nil
}

// checkSourceName accepts names that are one NATS subject token.
func checkSourceName(name string) error {
	if name == "" {
		return errors.New("source name is empty")
	}
	for _, r := range name {
		if r <= ' ' || r == 0x7f || r == '.' || r == '*' || r == '>' {
			return fmt.Errorf("source name %q must not contain spaces, control characters, '.', '*' or '>'", name)
		}
	}
	return nil
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
	h.met.requests.WithLabelValues(src, rt.name, statusLabel(code)).Inc()
	h.met.duration.WithLabelValues(rt.name).Observe(time.Since(start).Seconds())
}

// serve handles one request and returns the status it answered with and
// the source it authenticated to ("" if none).
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, rt route, pathKey string) (int, string) {
	if rt.kind == kindUnknown {
		setCORS(w, r)
		return writeError(w, &requestError{status: http.StatusNotFound, msg: "no such endpoint"}), ""
	}
	if CORS(w, r) {
		return http.StatusNoContent, ""
	}
	switch rt.kind {
	case kindSettings:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return methodNotAllowed(w, r, "GET, HEAD, OPTIONS"), ""
		}
		return h.settings(w, r, pathKey)
	case kindMetrics:
		if r.Method != http.MethodPost {
			return methodNotAllowed(w, r, "POST, OPTIONS"), ""
		}
		return h.dropMetrics(w, r), ""
	}
	if r.Method != http.MethodPost {
		return methodNotAllowed(w, r, "POST, OPTIONS"), ""
	}
	return h.track(w, r, rt)
}

// track handles the event routes: authenticate, read, decode, normalise,
// validate, publish.
func (h *Handler) track(w http.ResponseWriter, r *http.Request, rt route) (int, string) {
	now := h.now()
	var src *source
	if key, ok := headerWriteKey(r); ok {
		if src = h.lookup(key); src == nil {
			return writeError(w, errUnauthorized), ""
		}
		if !h.allow(src, now) {
			return h.tooMany(w, src, now), src.name
		}
	}

	buf, rerr := h.readBody(r)
	if rerr != nil {
		putBuffer(buf)
		return writeError(w, rerr), nameOf(src)
	}
	p := getPayload()
	defer putPayload(p)
	msgs, types, rerr := h.decode(r, rt, buf.Bytes(), p, &src, now)
	putBuffer(buf) // p's spans point into buf: done with both
	if rerr != nil {
		if rerr.status == http.StatusTooManyRequests {
			return h.tooMany(w, src, now), src.name
		}
		if src != nil && rerr.status == http.StatusBadRequest {
			h.met.rejected(src.name, len(p.events))
		}
		return writeError(w, rerr), nameOf(src)
	}

	pubStart := time.Now()
	res, err := h.pub.Publish(r.Context(), msgs)
	h.met.publish.Observe(time.Since(pubStart).Seconds())
	if err != nil {
		h.met.countEvents(src.name, types, outcomeUnavailable)
		if r.Context().Err() == nil {
			h.log.Warn("publishing events failed; answered 503", "source", src.name, "events", len(msgs), "error", err)
		}
		w.Header().Set("Retry-After", retryAfterUnavailable)
		return writeError(w, errUnavailable), src.name
	}
	h.met.countPublished(src.name, types, res)
	return writeOK(w), src.name
}

// decode parses the body, authenticates by the body's write key when the
// headers did not decide (setting *srcp), and builds one message per event.
// On a 429 it returns errRateLimited and the caller answers.
func (h *Handler) decode(r *http.Request, rt route, body []byte, p *payload, srcp **source, now time.Time) ([]bus.Message, []event.Type, *requestError) {
	var rerr *requestError
	if rt.kind == kindBatch {
		rerr = decodeBatch(body, p, h.maxEvent, h.maxEvents)
	} else {
		rerr = decodeSingle(body, p, h.maxEvent)
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
		if !h.allow(src, now) {
			return nil, nil, errRateLimited
		}
	}

	n := newNormalizer(p, src.name, src.json, now, ClientIP(r, h.trusted), rt.typ)
	out := make([]byte, 0, len(p.body)+len(p.events)*320)
	offs := make([]int, len(p.events)+1)
	msgs := make([]bus.Message, len(p.events))
	types := make([]event.Type, len(p.events))
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

// allow takes a token from src's rate limit, if it has one.
func (h *Handler) allow(src *source, now time.Time) bool {
	return src.limiter == nil || src.limiter.AllowN(now, 1)
}

// tooMany answers 429 with the seconds until a token is back, in both
// Retry-After and X-RateLimit-Reset (analytics.js before 1.84 reads only
// the latter).
func (h *Handler) tooMany(w http.ResponseWriter, src *source, now time.Time) int {
	wait := 1.0
	if lim := float64(src.limiter.Limit()); lim > 0 {
		if s := math.Ceil((1 - src.limiter.TokensAt(now)) / lim); s > wait {
			wait = s
		}
	}
	secs := strconv.FormatInt(int64(math.Min(wait, 3600)), 10)
	w.Header().Set("Retry-After", secs)
	w.Header().Set("X-RateLimit-Reset", secs)
	return writeError(w, &requestError{status: http.StatusTooManyRequests, msg: "rate limit exceeded; retry after " + secs + "s"})
}

// dropMetrics accepts analytics-next's remote metrics and discards them.
func (h *Handler) dropMetrics(w http.ResponseWriter, r *http.Request) int {
	// Read (a bounded amount of) the body so the connection can be reused.
	_, _ = drain(r, h.maxReq)
	return writeOK(w)
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
