package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/switchboard-cdp/switchboard/plugins"
)

// Version is the webhook destination's version, as Describe reports it.
const Version = "1.0.0"

// Modes of sending.
const (
	ModeSingle = "single" // one request per event; the body is the event
	ModeArray  = "array"  // one request per batch; the body is a JSON array
)

// Limits of the numeric settings.
const (
	maxMaxBatch    = 10_000
	maxConcurrency = 256
	maxReasonChars = 200
)

// Webhook is the webhook destination. New returns one ready for Describe
// and Configure.
type Webhook struct {
	mu  sync.RWMutex
	cfg *config // nil until Configure
	log *slog.Logger
}

// New returns an unconfigured webhook destination.
func New() *Webhook { return &Webhook{} }

// config is the webhook's settings, checked.
type config struct {
	url         string
	method      string
	headers     http.Header
	mode        string
	timeout     time.Duration
	maxBatch    int
	concurrency int
	client      *http.Client
	transport   *http.Transport
}

// settings is the settings JSON as the host sends it (defaults applied).
type settings struct {
	URL         string            `json:"url"`
	Method      string            `json:"method"`
	Headers     map[string]string `json:"headers"`
	Mode        string            `json:"mode"`
	Timeout     string            `json:"timeout"`
	MaxBatch    *int              `json:"max_batch"`
	Concurrency *int              `json:"concurrency"`
}

// Describe declares the webhook's settings.
func (w *Webhook) Describe(context.Context) (plugins.Spec, error) {
	return plugins.Spec{
		Name:        "webhook",
		Version:     Version,
		Description: "Sends mapped events as JSON to an HTTP endpoint: one request per event, or one JSON array per batch.",
		Settings: []plugins.Setting{
			{Name: "url", Type: plugins.TypeString, Required: true,
				Description: "The endpoint's absolute http:// or https:// URL."},
			{Name: "method", Type: plugins.TypeString, Default: http.MethodPost, Enum: []string{http.MethodPost, http.MethodPut, http.MethodPatch},
				Description: "The HTTP method of each request."},
			{Name: "headers", Type: plugins.TypeStringMap, Secret: true,
				Description: "Headers sent with every request, such as Authorization. Values are secret: never logged or shown."},
			{Name: "mode", Type: plugins.TypeString, Default: ModeSingle, Enum: []string{ModeSingle, ModeArray},
				Description: "single: one request per event, whose body is the mapped event; array: one request per batch, whose body is a JSON array of the mapped events (one response decides every event of it)."},
			{Name: "timeout", Type: plugins.TypeDuration, Default: 10 * time.Second,
				Description: "How long one request may take, response included; a request that takes longer is retried."},
			{Name: "max_batch", Type: plugins.TypeInt, Default: 500,
				Description: fmt.Sprintf("In array mode, the most events in one request (1 to %d); a larger batch is sent as several requests.", maxMaxBatch)},
			{Name: "concurrency", Type: plugins.TypeInt, Default: 8,
				Description: fmt.Sprintf("The most requests in flight at once for one batch (1 to %d).", maxConcurrency)},
		},
		Batch: plugins.BatchLimits{MaxEvents: 1000},
	}, nil
}

// Configure checks the settings and prepares the HTTP client.
func (w *Webhook) Configure(_ context.Context, pc plugins.Config) error {
	var s settings
	dec := json.NewDecoder(bytes.NewReader(pc.Settings))
	dec.DisallowUnknownFields()
	if len(bytes.TrimSpace(pc.Settings)) > 0 {
		if err := dec.Decode(&s); err != nil {
			return plugins.FieldErrors{jsonProblem(err)}
		}
	}
	var fe plugins.FieldErrors
	add := func(field, format string, args ...any) {
		fe = append(fe, plugins.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	c := &config{method: s.Method, mode: s.Mode, maxBatch: 500, concurrency: 8, timeout: 10 * time.Second, headers: http.Header{}}

	if s.URL == "" {
		add("url", "required")
	} else if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("url", "must be an absolute http:// or https:// URL")
	} else {
		c.url = s.URL
	}
	if c.method == "" {
		c.method = http.MethodPost
	}
	if !slices.Contains([]string{http.MethodPost, http.MethodPut, http.MethodPatch}, c.method) {
		add("method", "must be one of POST, PUT, PATCH")
	}
	if c.mode == "" {
		c.mode = ModeSingle
	}
	if c.mode != ModeSingle && c.mode != ModeArray {
		add("mode", "must be single or array")
	}
	if s.Timeout != "" {
		d, err := time.ParseDuration(s.Timeout)
		if err != nil || d <= 0 {
			add("timeout", "must be a positive duration such as 10s")
		} else {
			c.timeout = d
		}
	}
	if s.MaxBatch != nil {
		if *s.MaxBatch < 1 || *s.MaxBatch > maxMaxBatch {
			add("max_batch", "must be between 1 and %d", maxMaxBatch)
		} else {
			c.maxBatch = *s.MaxBatch
		}
	}
	if s.Concurrency != nil {
		if *s.Concurrency < 1 || *s.Concurrency > maxConcurrency {
			add("concurrency", "must be between 1 and %d", maxConcurrency)
		} else {
			c.concurrency = *s.Concurrency
		}
	}
	c.headers.Set("Content-Type", "application/json")
	c.headers.Set("User-Agent", "switchboard-webhook/"+Version)
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range s.Headers {
			if !yield(k) {
				return
			}
		}
	}) {
		v := s.Headers[name]
		switch {
		case !validHeaderName(name):
			add("headers."+name, "is not a valid HTTP header name")
		case !validHeaderValue(v):
			add("headers."+name, "value contains characters a header cannot carry (such as a line break)")
		default:
			c.headers.Set(name, v)
		}
	}
	if len(fe) > 0 {
		return fe
	}

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = max(c.concurrency, 2)
	tr.MaxIdleConns = max(c.concurrency*2, 100)
	c.transport = tr
	c.client = &http.Client{
		Transport: tr,
		// A redirect is answered as it is: 3xx rejects the events rather
		// than re-sending them somewhere else.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	log := pc.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w.mu.Lock()
	w.cfg, w.log = c, log
	w.mu.Unlock()
	host := ""
	if u, err := url.Parse(c.url); err == nil {
		host = u.Host
	}
	log.Info("webhook configured", "host", host, "method", c.method, "mode", c.mode, "headers", len(s.Headers))
	return nil
}

// validHeaderName reports whether name is an HTTP header name (an RFC 9110
// token).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether v can be sent as a header value: no
// control characters other than tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// jsonProblem describes a settings decoding error without quoting values.
func jsonProblem(err error) plugins.FieldError {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		return plugins.FieldError{Field: ute.Field, Message: "must be a " + ute.Type.String()}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return plugins.FieldError{Field: strings.Trim(name, `"`), Message: "unknown setting"}
	}
	return plugins.FieldError{Message: "the settings are not a JSON object"}
}

// Deliver sends the batch and returns one result per event.
func (w *Webhook) Deliver(ctx context.Context, batch []plugins.Event) ([]plugins.Result, error) {
	w.mu.RLock()
	c := w.cfg
	w.mu.RUnlock()
	if c == nil {
		return nil, errors.New("webhook: Deliver called before Configure")
	}
	results := make([]plugins.Result, 0, len(batch))
	valid := make([]plugins.Event, 0, len(batch))
	for _, e := range batch {
		if !json.Valid(e.Payload) {
			results = append(results, plugins.Rejected(e.ID, "invalid_payload", "the mapped event is not valid JSON"))
			continue
		}
		valid = append(valid, e)
	}
	var groups [][]plugins.Event
	if c.mode == ModeArray {
		for len(valid) > 0 {
			n := min(len(valid), c.maxBatch)
			groups = append(groups, valid[:n])
			valid = valid[n:]
		}
	} else {
		groups = make([][]plugins.Event, len(valid))
		for i := range valid {
			groups[i] = valid[i : i+1]
		}
	}

	var mu sync.Mutex
	sem := make(chan struct{}, c.concurrency)
	var wg sync.WaitGroup
	for _, g := range groups {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			res := c.send(ctx, g)
			rs := make([]plugins.Result, len(g))
			for i, e := range g {
				rs[i] = res.result(e.ID)
			}
			mu.Lock()
			results = append(results, rs...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return results, nil
}

// response is what one request's answer means for its events.
type response struct {
	outcome    plugins.Outcome
	retryAfter time.Duration
	code       string
	reason     string
}

func (r response) result(id string) plugins.Result {
	return plugins.Result{ID: id, Outcome: r.outcome, RetryAfter: r.retryAfter, Code: r.code, Reason: r.reason}
}

// send makes one request carrying events (one event in single mode).
func (c *config) send(ctx context.Context, events []plugins.Event) response {
	var body []byte
	if c.mode == ModeArray {
		size := 2
		for _, e := range events {
			size += len(e.Payload) + 1
		}
		body = make([]byte, 0, size)
		body = append(body, '[')
		for i, e := range events {
			if i > 0 {
				body = append(body, ',')
			}
			body = append(body, e.Payload...)
		}
		body = append(body, ']')
	} else {
		body = events[0].Payload
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, c.method, c.url, bytes.NewReader(body))
	if err != nil {
		return response{outcome: plugins.OutcomeRejected, code: "bad_request", reason: "cannot build the request"}
	}
	req.Header = c.headers.Clone()
	if c.mode == ModeSingle && events[0].MessageID != "" {
		req.Header.Set("X-Switchboard-Message-Id", events[0].MessageID)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return response{outcome: plugins.OutcomeRetry, code: "network", reason: networkReason(err, c.timeout)}
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	code := "http_" + strconv.Itoa(resp.StatusCode)
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return response{outcome: plugins.OutcomeDelivered}
	case s == http.StatusTooManyRequests || s >= 500:
		return response{outcome: plugins.OutcomeRetry, code: code, reason: statusReason(resp, head),
			retryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	return response{outcome: plugins.OutcomeRejected, code: code, reason: statusReason(resp, head)}
}

// statusReason is "HTTP 400 Bad Request: <start of the body>".
func statusReason(resp *http.Response, body []byte) string {
	reason := resp.Status
	if !strings.HasPrefix(reason, strconv.Itoa(resp.StatusCode)) {
		reason = strconv.Itoa(resp.StatusCode) + " " + reason
	}
	reason = "HTTP " + strings.TrimSpace(reason)
	if b := trim(string(body), maxReasonChars); b != "" {
		reason += ": " + b
	}
	return reason
}

// trim collapses whitespace in s and cuts it to at most n characters,
// marking a cut with "…". Invalid UTF-8 is replaced.
func trim(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// networkReason describes a failed request without its URL (which may
// carry a token).
func networkReason(err error, timeout time.Duration) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no response within %s", timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return trim(err.Error(), maxReasonChars)
}

// retryAfter parses a Retry-After header: a number of seconds or an HTTP
// date (relative to now). Missing, malformed or past values give 0.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, 7*24*3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, 7*24*time.Hour)
		}
	}
	return 0
}

// Close releases idle connections.
func (w *Webhook) Close(context.Context) error {
	w.mu.RLock()
	c := w.cfg
	w.mu.RUnlock()
	if c != nil {
		c.transport.CloseIdleConnections()
	}
	return nil
}

var _ plugins.Destination = (*Webhook)(nil)
