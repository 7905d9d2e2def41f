package tealium

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-cdp/switchboard/core/bus"
	"github.com/switchboard-cdp/switchboard/core/event"
	"github.com/switchboard-cdp/switchboard/sources/ingest"
)

// Defaults for the zero values of Options and Source.
const (
	// DefaultMaxRequestBytes caps a request body, after gunzip too (as the
	// Segment source's 500 KB).
	DefaultMaxRequestBytes = 500 << 10
	// DefaultMaxEventBytes caps one event: a GET query string, a POST
	// /event body, and each of a bulk request's shared object and events.
	DefaultMaxEventBytes = 32 << 10
	// DefaultMaxBulkEvents caps the events of one bulk request (Tealium's
	// SDKs send at most 10).
	DefaultMaxBulkEvents = 100
	// DefaultProfile is the profile of a request without tealium_profile,
	// and of a Source without Profile, as at Tealium.
	DefaultProfile = "main"
	// DefaultUserIDAttribute is the attribute that becomes userId.
	DefaultUserIDAttribute = "customer_id"
)

// Paths are the request paths a Handler serves; mount it at each.
func Paths() []string { return []string{"/event", "/bulk-event"} }

// Source is one configured Tealium source: the name its events are stored
// under (a single NATS subject token) and the requests that are its own.
type Source struct {
	Name string
	// Account and Profile (default "main") must equal a request's
	// tealium_account and tealium_profile (default "main"). When
	// Datasource is set, the request's tealium_datasource must equal it
	// too; a source without one takes any datasource of its profile that
	// no other source names.
	Account, Profile, Datasource string
	// Key, when set, must come with every request, as Authorization:
	// Bearer KEY or ?key=KEY.
	Key string
	// UserIDAttribute is the attribute whose value becomes userId
	// (default customer_id).
	UserIDAttribute string
	// RateLimit is the sustained requests per second accepted for the
	// source; 0 means unlimited. Burst is the token bucket's size; 0
	// means ceil(RateLimit).
	RateLimit float64
	Burst     int
}

// Options configures New. Zero limits take the Default* values.
type Options struct {
	Sources   []Source
	Publisher ingest.Publisher
	Logger    *slog.Logger
	// Registerer receives the handler's metrics (shared with the Segment
	// source's when it is the same registry); nil: not registered.
	Registerer prometheus.Registerer
	// TrustedProxies are the peers whose X-Forwarded-For is believed for
	// context.ip.
	TrustedProxies []netip.Prefix
	// Now is the clock for receivedAt and rate limits; default time.Now.
	Now             func() time.Time
	MaxRequestBytes int
	MaxEventBytes   int
	MaxBulkEvents   int
	// Gate bounds the requests decoded and stored at once (shared with
	// the server's other sources); nil: unbounded.
	Gate *ingest.Gate
}

// Handler serves Tealium's collection routes (Paths). It is safe for
// concurrent use.
type Handler struct {
	base ingest.Base
	// accounts maps account → profile → that profile's sources, those
	// with a datasource first.
	accounts map[string]map[string][]*source
}

// source is a configured source at run time.
type source struct {
	name          string
	datasource    string
	key           *[sha256.Size]byte // the key's SHA-256; nil: no key
	userAttr      string
	limiter       *ingest.Limiter
	pageSubject   string
	screenSubject string
	trackSubject  string
}

// New checks opts and builds a Handler. Source names must be unique, valid
// NATS subject tokens; no two sources may take the same account, profile
// and datasource.
func New(opts Options) (*Handler, error) {
	if opts.Publisher == nil {
		return nil, errors.New("tealium: Options.Publisher is required")
	}
	base, err := ingest.Base{
		Log:     opts.Logger,
		Now:     opts.Now,
		Trusted: opts.TrustedProxies,
		Gate:    opts.Gate,
		Limits:  ingest.Limits{Request: opts.MaxRequestBytes, Event: opts.MaxEventBytes, Events: opts.MaxBulkEvents},
	}.Open(opts.Publisher, opts.Registerer, ingest.Limits{Request: DefaultMaxRequestBytes, Event: DefaultMaxEventBytes, Events: DefaultMaxBulkEvents})
	if err != nil {
		return nil, err
	}
	h := &Handler{base: base, accounts: map[string]map[string][]*source{}}
	names := map[string]bool{}
	for i, s := range opts.Sources {
		if err := ingest.CheckSourceName(s.Name); err != nil {
			return nil, fmt.Errorf("tealium: sources[%d]: %w", i, err)
		}
		if names[s.Name] {
			return nil, fmt.Errorf("tealium: source %q configured twice", s.Name)
		}
		names[s.Name] = true
		if s.Account == "" {
			return nil, fmt.Errorf("tealium: source %q has no account", s.Name)
		}
		if s.Profile == "" {
			s.Profile = DefaultProfile
		}
		if s.UserIDAttribute == "" {
			s.UserIDAttribute = DefaultUserIDAttribute
		}
		lim, err := ingest.NewLimiter(s.RateLimit, s.Burst)
		if err != nil {
			return nil, fmt.Errorf("tealium: source %q: %w", s.Name, err)
		}
		src := &source{
			name:          s.Name,
			datasource:    s.Datasource,
			userAttr:      s.UserIDAttribute,
			limiter:       lim,
			pageSubject:   event.Subject(s.Name, event.Page),
			screenSubject: event.Subject(s.Name, event.Screen),
			trackSubject:  event.Subject(s.Name, event.Track),
		}
		if s.Key != "" {
			sum := sha256.Sum256([]byte(s.Key))
			src.key = &sum
		}
		profiles := h.accounts[s.Account]
		if profiles == nil {
			profiles = map[string][]*source{}
			h.accounts[s.Account] = profiles
		}
		for _, o := range profiles[s.Profile] {
			if o.datasource == s.Datasource {
				return nil, fmt.Errorf("tealium: sources %q and %q take the same account, profile and datasource", o.name, s.Name)
			}
		}
		list := append(profiles[s.Profile], src)
		// Sources naming a datasource are tried before the one that
		// takes any.
		for j := len(list) - 1; j > 0 && list[j-1].datasource == "" && list[j].datasource != ""; j-- {
			list[j-1], list[j] = list[j], list[j-1]
		}
		profiles[s.Profile] = list
	}
	return h, nil
}

// Route names, the metrics' route label.
const (
	routeEvent   = "event"
	routeBulk    = "bulk-event"
	routeUnknown = "unknown"
)

// ServeHTTP answers Paths; CORS headers go on every response.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rt := routeUnknown
	switch strings.TrimSuffix(r.URL.Path, "/") {
	case "/event":
		rt = routeEvent
	case "/bulk-event":
		rt = routeBulk
	}
	code, src := h.serve(w, r, rt)
	h.base.Metrics.Requests.WithLabelValues(src, rt, ingest.StatusLabel(code)).Inc()
	h.base.Metrics.Duration.WithLabelValues(rt).Observe(time.Since(start).Seconds())
}

// serve handles one request and returns the status it answered with and
// the source it was for ("" if none).
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, rt string) (int, string) {
	if rt == routeUnknown {
		ingest.SetCORS(w, r)
		return ingest.WriteError(w, &ingest.Error{Status: http.StatusNotFound, Msg: "no such endpoint"}), ""
	}
	if ingest.CORS(w, r) {
		return http.StatusNoContent, ""
	}
	now := h.base.Now()
	var events []Attributes
	size := len(r.URL.RawQuery) // what the request's events came in: its gate weight
	switch {
	case rt == routeEvent && r.Method == http.MethodGet:
		noCache(w)
		if len(r.URL.RawQuery) > h.base.Limits.Event {
			return ingest.WriteError(w, ingest.BadRequest("query string larger than "+strconv.Itoa(h.base.Limits.Event)+" bytes")), ""
		}
		attrs, err := ParseQuery(r.URL.RawQuery)
		if err != nil {
			return ingest.WriteError(w, err), ""
		}
		events = []Attributes{attrs}
	case r.Method != http.MethodPost:
		allow := "GET, POST, OPTIONS"
		if rt == routeBulk {
			allow = "POST, OPTIONS"
		}
		return ingest.MethodNotAllowed(w, r, allow), ""
	default:
		buf, err := ingest.ReadBody(r, h.base.Limits.Request)
		if err == nil {
			size = buf.Len()
			if rt == routeBulk {
				events, err = ParseBulk(buf.Bytes(), h.base.Limits.Event, h.base.Limits.Events)
			} else if buf.Len() > h.base.Limits.Event {
				err = ingest.BadRequest("event larger than " + strconv.Itoa(h.base.Limits.Event) + " bytes")
			} else {
				var attrs Attributes
				if attrs, err = ParseEvent(buf.Bytes()); err == nil {
					events = []Attributes{attrs}
				}
			}
		}
		ingest.PutBuffer(buf) // the attributes are copies
		if err != nil {
			return ingest.WriteError(w, err), ""
		}
	}

	src, err := h.route(events, rt == routeBulk)
	if err != nil {
		return ingest.WriteError(w, err), ""
	}
	if src.key != nil && !keyMatches(r, src.key) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="switchboard"`)
		return ingest.WriteError(w, &ingest.Error{Status: http.StatusUnauthorized, Msg: "missing or wrong key: this source wants Authorization: Bearer KEY or ?key=KEY"}), src.name
	}
	if !src.limiter.Allow(now) {
		return ingest.TooManyRequests(w, src.limiter, now), src.name
	}

	weight, ok := h.base.Gate.Enter(r.Context(), size)
	if !ok {
		return ingest.Busy(w), src.name
	}
	defer h.base.Gate.Leave(weight)
	req := &Request{
		Source:          src.name,
		UserIDAttribute: src.userAttr,
		Received:        now,
		IP:              ingest.ClientIP(r, h.base.Trusted),
		UserAgent:       validUTF8(r.Header.Get("User-Agent")),
	}
	msgs := make([]bus.Message, len(events))
	types := make([]event.Type, len(events))
	for i, attrs := range events {
		ev, err := Normalize(attrs, req)
		if err == nil {
			msgs[i].Data, err = marshal(ev)
		}
		if err != nil {
			h.base.Metrics.Rejected(src.name, len(events))
			if rt == routeBulk {
				err = indexError(i, err.Field, err.Msg)
			}
			return ingest.WriteError(w, err), src.name
		}
		switch ev.Type {
		case event.Page:
			msgs[i].Subject = src.pageSubject
		case event.Screen:
			msgs[i].Subject = src.screenSubject
		default:
			msgs[i].Subject = src.trackSubject
		}
		msgs[i].ID = ev.DedupeID()
		types[i] = ev.Type
	}
	if err := h.base.Store.Publish(r.Context(), src.name, msgs, types); err != nil {
		return ingest.Unavailable(w), src.name
	}
	if rt == routeEvent && r.Method == http.MethodGet {
		return writePixel(w), src.name
	}
	return ingest.WriteOK(w), src.name
}

// route finds the source of a request's events: the one that takes their
// tealium_account, tealium_profile and tealium_datasource. Every event of
// a bulk request must belong to the same source; errors about a bulk
// request's event name its index.
func (h *Handler) route(events []Attributes, bulk bool) (*source, *ingest.Error) {
	var first *source
	for i, attrs := range events {
		src, err := h.lookup(attrs)
		if err == nil && first != nil && src != first {
			err = fieldError("tealium_account", "names another source than events[0] (tealium_account, tealium_profile or tealium_datasource differ); send one bulk-event request per source")
		}
		if err != nil {
			if bulk {
				err = indexError(i, err.Field, err.Msg)
			}
			return nil, err
		}
		first = src
	}
	return first, nil
}

// lookup is the source of one event.
func (h *Handler) lookup(attrs Attributes) (*source, *ingest.Error) {
	account, err := scalar(attrs, "tealium_account")
	if err != nil {
		return nil, err
	}
	if account == "" {
		return nil, fieldError("tealium_account", "tealium_account is required")
	}
	profile, err := scalar(attrs, "tealium_profile")
	if err != nil {
		return nil, err
	}
	if profile == "" {
		profile = DefaultProfile
	}
	datasource, err := scalar(attrs, "tealium_datasource")
	if err != nil {
		return nil, err
	}
	profiles, ok := h.accounts[account]
	if !ok {
		return nil, &ingest.Error{Status: http.StatusNotFound, Field: "tealium_account", Msg: "no source takes tealium_account " + quote(account)}
	}
	list, ok := profiles[profile]
	if !ok {
		return nil, &ingest.Error{Status: http.StatusNotFound, Field: "tealium_profile", Msg: "no source takes tealium_profile " + quote(profile) + " of tealium_account " + quote(account)}
	}
	for _, src := range list {
		if src.datasource == "" || src.datasource == datasource {
			return src, nil
		}
	}
	what := "tealium_datasource " + quote(datasource)
	if datasource == "" {
		what = "a request without tealium_datasource"
	}
	return nil, &ingest.Error{Status: http.StatusNotFound, Field: "tealium_datasource", Msg: "no source takes " + what + " for tealium_account " + quote(account) + ", tealium_profile " + quote(profile)}
}

// keyMatches reports whether the request carries the key whose SHA-256 is
// want, as a Bearer token or the key query parameter. Digests are
// compared in constant time.
func keyMatches(r *http.Request, want *[sha256.Size]byte) bool {
	key := ""
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "Bearer ") {
		key = strings.TrimSpace(a[7:])
	} else if r.URL.RawQuery != "" {
		key = r.URL.Query().Get(keyParam)
	}
	if key == "" {
		return false
	}
	sum := sha256.Sum256([]byte(key))
	return subtle.ConstantTimeCompare(sum[:], want[:]) == 1
}

// marshal is the stored JSON of ev.
func marshal(ev *event.Event) ([]byte, *ingest.Error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, ingest.BadRequest("event cannot be stored: " + err.Error())
	}
	return b, nil
}

// pixel is a 1×1 transparent GIF, what Tealium answers to GET /event.
var pixel, _ = base64.StdEncoding.DecodeString("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")

// noCache keeps browsers and proxies from answering a pixel from a cache:
// every beacon must reach the server.
func noCache(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate, max-age=0")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", "Thu, 01 Jan 1970 00:00:00 GMT")
}

func writePixel(w http.ResponseWriter) int {
	h := w.Header()
	h.Set("Content-Type", "image/gif")
	h.Set("Content-Length", strconv.Itoa(len(pixel)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(pixel)
	return http.StatusOK
}

// quote quotes a request's value for an error message, cut to 64 bytes
// (strconv.Quote escapes whatever bytes the cut leaves).
func quote(s string) string {
	if len(s) > 64 {
		return strconv.Quote(s[:64]) + "…"
	}
	return strconv.Quote(s)
}

// validUTF8 replaces invalid UTF-8 (a header may hold any bytes).
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

var (
	_ http.Handler     = (*Handler)(nil)
	_ ingest.Publisher = (*bus.Bus)(nil)
)
