package graphemu

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
)

// MaxEvents is the most events one request may carry (ref §2).
const MaxEvents = 1000

// DefaultFutureTolerance is how far ahead of the emulator's clock an
// event_time may be. Meta rejects future timestamps but documents no
// tolerance (ref §2 [ADS-3]), so this is a guess; set
// Options.FutureTolerance to tighten or widen it.
const DefaultFutureTolerance = 5 * time.Minute

// DefaultMaxBodyBytes bounds a request body. Meta documents no payload size
// limit (ref §2); this only protects the emulator.
const DefaultMaxBodyBytes = 64 << 20

// Pixel is one dataset the emulator knows, with the access tokens allowed to
// post to it.
type Pixel struct {
	// Tokens are the access tokens accepted for this pixel. A token that is
	// valid for another pixel only gets 100/33 here, as Graph answers for an
	// object the token cannot see (ref §7).
	Tokens []string
	// AppSecret, when set, makes appsecret_proof required and checked:
	// lowercase hex HMAC-SHA256(key = app secret, message = token) (ref §1).
	AppSecret string
}

// Options configure an Emulator. The zero value is usable but knows no
// pixels, so every call gets an auth error.
type Options struct {
	// Pixels maps a pixel (dataset) ID to its tokens and app secret.
	Pixels map[string]Pixel
	// Versions are the Graph versions served, e.g. "v25.0". Empty means
	// DefaultVersions(). Others get Graph's deprecated-version error.
	Versions []string
	// Now is the clock used for event_time checks. Nil means time.Now.
	Now func() time.Time
	// FutureTolerance is how far in the future an event_time may be. Zero
	// means DefaultFutureTolerance; negative means none at all.
	FutureTolerance time.Duration
	// AllowUnhashed accepts contact information that is not 64-hex SHA-256
	// (and does not count it as customer information). By default the
	// emulator refuses it, as Meta's systems are designed to (ref §4).
	AllowUnhashed bool
	// MaxBodyBytes bounds a request body; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Logger receives one line per call to the events edge. Nil discards.
	Logger *slog.Logger
	// TraceID makes fbtrace_id values; nil means random 23-character IDs.
	// Tests set it for golden files.
	TraceID func() string
	// Seed seeds the generator behind Fault.Rate, for repeatable tests.
	Seed uint64
}

// DefaultVersions are the Graph versions served when Options.Versions is
// empty: the current one in Meta's examples and the one Node SDK 24 calls
// (ref §1). Each stays supported for CAPI for at least two years.
func DefaultVersions() []string { return []string{"v24.0", "v25.0"} }

// Emulator is an http.Handler that behaves like graph.facebook.com for the
// Conversions API events edge, plus a control surface under /_emulator/.
// It is safe for concurrent use.
type Emulator struct {
	opts     Options
	versions map[string]bool
	latest   string
	log      *slog.Logger
	done     chan struct{}
	closeOne sync.Once
	docs     docCache // parser state reused across requests

	mu       sync.Mutex
	rng      *mrand.Rand
	faults   []*Fault
	requests []Request
	events   []Event
	seen     map[dedupeKey]time.Time // first acceptance of a key
}

type dedupeKey struct{ pixel, name, id string }

// New returns an Emulator configured by opts.
func New(opts Options) *Emulator {
	if len(opts.Versions) == 0 {
		opts.Versions = DefaultVersions()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FutureTolerance == 0 {
		opts.FutureTolerance = DefaultFutureTolerance
	} else if opts.FutureTolerance < 0 {
		opts.FutureTolerance = 0
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.TraceID == nil {
		opts.TraceID = randomTraceID
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Emulator{
		opts:     opts,
		versions: map[string]bool{},
		log:      log,
		done:     make(chan struct{}),
		rng:      mrand.New(mrand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		seen:     map[dedupeKey]time.Time{},
	}
	for _, v := range opts.Versions {
		e.versions[v] = true
		if versionLess(e.latest, v) {
			e.latest = v
		}
	}
	return e
}

// Close releases requests held by hang faults. The Emulator still serves
// afterwards, but hangs end at once.
func (e *Emulator) Close() { e.closeOne.Do(func() { close(e.done) }) }

var (
	versionRE = regexp.MustCompile(`^v(\d+)\.(\d+)$`)
)

func versionLess(a, b string) bool {
	if a == "" {
		return true
	}
	ma, mb := versionRE.FindStringSubmatch(a), versionRE.FindStringSubmatch(b)
	if ma == nil || mb == nil {
		return a < b
	}
	pad := func(s string) string { return strings.Repeat("0", 6-len(s)) + s }
	return pad(ma[1])+pad(ma[2]) < pad(mb[1])+pad(mb[2])
}

// ServeHTTP routes /_emulator/… to the control surface and everything else
// to the Graph API emulation.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_emulator/") {
		e.serveControl(w, r)
		return
	}
	e.serveGraph(w, r)
}

// response is what the Graph side decided, before it is written.
type response struct {
	status int
	body   []byte
	raw    bool // body is not JSON (an injected 5xx)
}

func (e *Emulator) serveGraph(w http.ResponseWriter, r *http.Request) {
	trace := e.opts.TraceID()
	req := Request{Time: e.opts.Now(), Method: r.Method, Path: r.URL.Path, ContentType: r.Header.Get("Content-Type"), TraceID: trace}

	// Route: /{version}/{pixel_id}/events (ref §1).
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) != 3 || parts[2] != "events" || parts[1] == "" || !versionRE.MatchString(parts[0]) {
		e.finish(w, r, &req, e.errorResponse(errUnknownPath(r.URL.Path), trace), nil)
		return
	}
	req.Version, req.PixelID = parts[0], parts[1]

	// Faults come before anything else: a throttled or failing Graph does
	// not look at the request (ref §7, §11).
	if f := e.nextFault(req.PixelID); f != nil {
		req.Fault = f.describe()
		e.applyFault(w, r, &req, f, trace)
		return
	}
	resp, accepted := e.handle(r, &req, trace)
	e.finish(w, r, &req, resp, accepted)
}

// handle runs the Graph checks in Graph's order: version, method, token,
// appsecret_proof, object, parameters. accepted is non-nil only on success.
func (e *Emulator) handle(r *http.Request, req *Request, trace string) (response, []Event) {
	if !e.versions[req.Version] {
		return e.errorResponse(errVersion(e.latest), trace), nil
	}
	if r.Method != http.MethodPost {
		// The edge is POST only (ref §1); Graph words other methods as an
		// unsupported request on the object.
		return e.errorResponse(errUnknownObject(strings.ToLower(r.Method), req.PixelID), trace), nil
	}
	params, perr := decodeParams(r, e.opts.MaxBodyBytes, &e.docs)
	defer params.release()
	req.Encoding = params.encoding
	req.Params = params.public()
	if perr != nil {
		return e.errorResponse(perr, trace), nil
	}

	// Token: from the query or the body (ref §1).
	token := params.get("access_token")
	if token == "" {
		return e.errorResponse(errNoToken(), trace), nil
	}
	owner, known := e.tokenOwner(token)
	if !known {
		return e.errorResponse(errBadToken(), trace), nil
	}
	px, ok := e.opts.Pixels[req.PixelID]
	if !ok || !contains(px.Tokens, token) {
		// Unknown pixel, or a token that cannot see it (ref §7, 100/33).
		if secret := owner.AppSecret; secret != "" {
			if perr := checkProof(secret, token, params.get("appsecret_proof")); perr != nil {
				return e.errorResponse(perr, trace), nil
			}
		}
		return e.errorResponse(errUnknownObject("post", req.PixelID), trace), nil
	}
	if px.AppSecret != "" {
		if perr := checkProof(px.AppSecret, token, params.get("appsecret_proof")); perr != nil {
			return e.errorResponse(perr, trace), nil
		}
	}
	req.Authorized = true

	d, data, derr := params.events()
	if derr != nil {
		return e.errorResponse(derr, trace), nil
	}
	req.EventCount = len(data)

	v := validator{now: e.opts.Now(), future: e.opts.FutureTolerance, allowUnhashed: e.opts.AllowUnhashed}
	c := &checker{}
	testCode := params.get("test_event_code")
	events := make([]Event, 0, len(data))
	for i, el := range data {
		ev := v.event(c, d, i, el)
		ev.PixelID, ev.TestEventCode = req.PixelID, testCode
		events = append(events, ev)
	}
	req.Problems, req.Diagnostics = c.problems, c.notes
	if len(req.Problems) > 0 {
		// One invalid event fails the whole batch; Meta reports one error
		// (ref §2). The emulator reports the first and records them all.
		return e.errorResponse(req.Problems[0].err(), trace), nil
	}
	body, _ := json.Marshal(Success{EventsReceived: len(events), Messages: []string{}, TraceID: trace})
	return response{status: http.StatusOK, body: body}, events
}

func (e *Emulator) tokenOwner(token string) (Pixel, bool) {
	for _, p := range e.opts.Pixels {
		if contains(p.Tokens, token) {
			return p, true
		}
	}
	return Pixel{}, false
}

// checkProof verifies appsecret_proof (ref §1).
func checkProof(secret, token, proof string) *Error {
	if proof == "" {
		return errProofMissing()
	}
	if !hmac.Equal([]byte(proof), []byte(AppSecretProof(secret, token))) {
		return errProofInvalid()
	}
	return nil
}

// AppSecretProof returns lowercase hex HMAC-SHA256(key = appSecret,
// message = accessToken), the appsecret_proof Graph expects (ref §1).
func AppSecretProof(appSecret, accessToken string) string {
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write([]byte(accessToken))
	return hex.EncodeToString(m.Sum(nil))
}

func (e *Emulator) errorResponse(ge *Error, trace string) response {
	ge.TraceID = trace
	body, _ := json.Marshal(Envelope{Error: ge})
	return response{status: ge.Status, body: body}
}

// finish records the request (and its events when accepted), logs it and
// writes the response.
func (e *Emulator) finish(w http.ResponseWriter, r *http.Request, req *Request, resp response, accepted []Event) {
	e.record(req, resp, accepted)
	e.write(w, req.TraceID, resp)
}

func (e *Emulator) record(req *Request, resp response, accepted []Event) {
	req.Status = resp.status
	if !resp.raw {
		req.Response = json.RawMessage(bytes.Clone(resp.body))
	} else {
		req.Response, _ = json.Marshal(string(resp.body))
	}
	var env Envelope
	if resp.status != http.StatusOK && !resp.raw && json.Unmarshal(resp.body, &env) == nil {
		req.Error = env.Error
	}
	e.mu.Lock()
	req.ID = len(e.requests) + 1
	for i := range accepted {
		ev := &accepted[i]
		ev.RequestID = req.ID
		ev.Received = req.Time
		if ev.EventID != "" {
			k := dedupeKey{ev.PixelID, ev.EventName, ev.EventID}
			if first, ok := e.seen[k]; ok && req.Time.Sub(first) < DedupeWindow {
				ev.Duplicate = true
			} else {
				e.seen[k] = req.Time
			}
		}
	}
	req.EventsAccepted = len(accepted)
	e.requests = append(e.requests, *req)
	e.events = append(e.events, accepted...)
	e.mu.Unlock()

	attrs := []any{"pixel", req.PixelID, "status", req.Status, "events", req.EventCount, "fbtrace_id", req.TraceID}
	switch {
	case req.Fault != "":
		e.log.Info("graphemu: injected fault", append(attrs, "fault", req.Fault)...)
	case req.Error != nil:
		attrs = append(attrs, "code", req.Error.Code, "subcode", req.Error.Subcode, "message", req.Error.Message)
		if len(req.Problems) > 0 {
			attrs = append(attrs, "event_index", req.Problems[0].Index, "reason", req.Problems[0].Reason, "problems", len(req.Problems))
		}
		e.log.Warn("graphemu: request rejected", attrs...)
	default:
		e.log.Info("graphemu: events received", attrs...)
	}
}

func (e *Emulator) write(w http.ResponseWriter, trace string, resp response) {
	h := w.Header()
	h.Set("X-Fb-Trace-Id", trace)
	if resp.raw {
		h.Set("Content-Type", "text/html; charset=utf-8")
	} else {
		h.Set("Content-Type", "application/json; charset=UTF-8")
	}
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}

// wait blocks for d (forever when d is zero) or until ctx ends or the
// Emulator is closed. It reports whether the full delay elapsed.
func (e *Emulator) wait(ctx context.Context, d time.Duration) bool {
	var timer <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-timer:
		return true
	case <-ctx.Done():
		return false
	case <-e.done:
		return false
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

const traceAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

// randomTraceID makes an fbtrace_id shaped like Meta's (23 characters,
// e.g. "A6UyEgg_HdoiRX9duxcBOjb", ref §7 [RS-fixture]).
func randomTraceID() string {
	var b [23]byte
	_, _ = io.ReadFull(rand.Reader, b[:])
	for i := range b {
		b[i] = traceAlphabet[int(b[i])%len(traceAlphabet)]
	}
	return string(b[:])
}
