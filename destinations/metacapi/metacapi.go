package metacapi

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-cdp/switchboard/destinations/metacapi/normalize"
	"github.com/switchboard-cdp/switchboard/plugins"
)

// Name is the destination's built-in name.
const Name = "meta-capi"

// Version is the destination's version, as Describe reports it.
const Version = "1.0.0"

// Defaults of the settings.
const (
	// DefaultAPIVersion is the Graph version in Meta's current examples and
	// the Python SDK 25.0.2 (ref §1).
	DefaultAPIVersion = "v25.0"
	// DefaultGraphURL is Meta's Graph API host.
	DefaultGraphURL = "https://graph.facebook.com"
	// DefaultTimeout is how long one request may take, as Meta advises.
	DefaultTimeout = 1500 * time.Millisecond
	// MaxBatch is the most events Meta accepts in one request (ref §2),
	// and the default of max_batch.
	MaxBatch = 1000
	// DefaultDedupeWindow is Meta's deduplication window (ref §6).
	DefaultDedupeWindow = 48 * time.Hour
)

// Internal limits.
const (
	concurrency     = 4               // requests in flight per Deliver
	futureTolerance = 5 * time.Minute // how far ahead event_time may be
	maxDedupeWindow = 90 * 24 * time.Hour
	maxTimeout      = 2 * time.Minute
	maxReasonChars  = 300
)

// Destination is the Meta Conversions API destination. New returns one
// ready for Describe and Configure; Deliver is safe for concurrent use.
type Destination struct {
	mu  sync.RWMutex
	cfg *config // nil until Configure

	// now is the clock; nil means time.Now. Tests set it before Configure.
	now func() time.Time
}

// New returns an unconfigured Meta Conversions API destination.
func New() *Destination { return &Destination{} }

// secret is a credential: it prints as *** however it is formatted or
// logged, so it cannot leak by accident.
type secret string

// String implements fmt.Stringer.
func (secret) String() string { return "***" }

// GoString implements fmt.GoStringer.
func (secret) GoString() string { return "***" }

// LogValue implements slog.LogValuer.
func (secret) LogValue() slog.Value { return slog.StringValue("***") }

// MarshalJSON keeps the secret out of any JSON it is accidentally put in.
func (secret) MarshalJSON() ([]byte, error) { return []byte(`"***"`), nil }

// config is the destination's settings, checked, and what they built.
type config struct {
	pixelID        string
	token          secret
	proof          string // appsecret_proof, "" without app_secret
	testEventCode  string
	partnerAgent   string
	apiVersion     string
	endpoint       string // {graph_url}/{api_version}/{pixel_id}/events
	timeout        time.Duration
	maxBatch       int
	dedupeWindow   time.Duration
	normalize      normalize.Options
	defaultCountry string

	host   plugins.Host
	log    *slog.Logger
	client *http.Client
	now    func() time.Time
	// redact lists the strings (token, app secret, proof) scrubbed from any
	// text that leaves the destination.
	redact []string
}

// settings is the settings JSON as the host sends it (defaults applied).
type settings struct {
	PixelID        json.RawMessage `json:"pixel_id"`
	AccessToken    string          `json:"access_token"`
	AppSecret      string          `json:"app_secret"`
	TestEventCode  string          `json:"test_event_code"`
	APIVersion     string          `json:"api_version"`
	GraphURL       string          `json:"graph_url"`
	Timeout        string          `json:"timeout"`
	MaxBatch       *int            `json:"max_batch"`
	DefaultCountry string          `json:"default_country"`
	HashExternalID *bool           `json:"hash_external_id"`
	DedupeWindow   string          `json:"dedupe_window"`
	PartnerAgent   string          `json:"partner_agent"`
}

// Describe declares the destination's settings.
func (d *Destination) Describe(context.Context) (plugins.Spec, error) {
	return plugins.Spec{
		Name:    Name,
		Version: Version,
		Description: "Sends events to Meta's Conversions API: normalises and hashes user_data by Meta's documented rules, " +
			"validates each event, deduplicates on (pixel_id, event_name, event_id), batches up to 1,000 events per request " +
			"and counts match-key coverage per pixel and event.",
		Settings: []plugins.Setting{
			{Name: "pixel_id", Type: plugins.TypeString, Required: true,
				Description: "The pixel (dataset) ID events are sent to; digits only."},
			{Name: "access_token", Type: plugins.TypeString, Required: true, Secret: true,
				Description: "The Conversions API access token (Events Manager → Settings → Generate access token). Never logged."},
			{Name: "app_secret", Type: plugins.TypeString, Secret: true,
				Description: "The app secret; when set every request carries appsecret_proof = HMAC-SHA256(app_secret, access_token). Never logged."},
			{Name: "test_event_code", Type: plugins.TypeString,
				Description: "A Test Events code (e.g. TEST123) so events show in Events Manager's Test Events tab. Remove it in production: test events are not dropped."},
			{Name: "api_version", Type: plugins.TypeString, Default: DefaultAPIVersion,
				Description: "The Graph API version, such as v25.0."},
			{Name: "graph_url", Type: plugins.TypeString, Default: DefaultGraphURL,
				Description: "The Graph API base URL; point it at `switchboard emulate meta` to see what would be sent without a Meta account."},
			{Name: "timeout", Type: plugins.TypeDuration, Default: DefaultTimeout,
				Description: "How long one request may take; a request that takes longer is retried (the event_id keeps Meta from counting it twice)."},
			{Name: "max_batch", Type: plugins.TypeInt, Default: MaxBatch,
				Description: "The most events in one request, 1 to 1000 (Meta's limit)."},
			{Name: "default_country", Type: plugins.TypeString,
				Description: "ISO 3166-1 code (or name) used to read phone numbers, states and ZIP codes when user_data.country is absent, e.g. US."},
			{Name: "hash_external_id", Type: plugins.TypeBool, Default: true,
				Description: "Hash external_id with SHA-256, as Meta recommends; set false to send it as given (as the official SDKs do)."},
			{Name: "dedupe_window", Type: plugins.TypeDuration, Default: DefaultDedupeWindow,
				Description: "How long a sent (pixel_id, event_name, event_id) is remembered so a repeat is not sent again; Meta's own window is 48h. Each remembered key costs ~12 B of serve's memory (a 64-bit hash in the host's seen set) and 8 B of disk until it expires: size for rate x window."},
			{Name: "partner_agent", Type: plugins.TypeString,
				Description: "A platform identifier sent as partner_agent, e.g. switchboard."},
		},
		Batch: plugins.BatchLimits{MaxEvents: MaxBatch},
	}, nil
}

// Configure checks the settings and prepares the HTTP client. It does not
// call Meta: a wrong token shows up on the first Deliver, retried and
// logged.
func (d *Destination) Configure(_ context.Context, pc plugins.Config) error {
	var s settings
	if len(bytes.TrimSpace(pc.Settings)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(pc.Settings))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			return plugins.FieldErrors{jsonProblem(err)}
		}
	}
	var fe plugins.FieldErrors
	add := func(field, format string, args ...any) {
		fe = append(fe, plugins.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	c := &config{
		apiVersion:   DefaultAPIVersion,
		timeout:      DefaultTimeout,
		maxBatch:     MaxBatch,
		dedupeWindow: DefaultDedupeWindow,
		normalize:    normalize.Options{HashExternalID: true},
		host:         pc.Host,
		log:          pc.Logger,
	}

	switch pixel, err := pixelID(s.PixelID); {
	case err != nil:
		add("pixel_id", "%s", err)
	default:
		c.pixelID = pixel
	}
	if strings.TrimSpace(s.AccessToken) == "" {
		add("access_token", "required")
	} else {
		c.token = secret(strings.TrimSpace(s.AccessToken))
		c.redact = append(c.redact, string(c.token))
	}
	if s.AppSecret != "" {
		as := strings.TrimSpace(s.AppSecret)
		c.redact = append(c.redact, as)
		if c.token != "" {
			c.proof = appSecretProof(as, string(c.token))
			c.redact = append(c.redact, c.proof)
		}
	}
	c.testEventCode = strings.TrimSpace(s.TestEventCode)
	c.partnerAgent = strings.TrimSpace(s.PartnerAgent)
	if s.APIVersion != "" {
		if !validVersion(s.APIVersion) {
			add("api_version", "must look like v25.0")
		} else {
			c.apiVersion = s.APIVersion
		}
	}
	base := DefaultGraphURL
	if s.GraphURL != "" {
		if u, err := url.Parse(s.GraphURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
			add("graph_url", "must be an absolute http:// or https:// URL without a query, such as https://graph.facebook.com")
		} else {
			base = strings.TrimRight(s.GraphURL, "/")
		}
	}
	if s.Timeout != "" {
		if t, err := time.ParseDuration(s.Timeout); err != nil || t <= 0 || t > maxTimeout {
			add("timeout", "must be a duration between 1ms and %s, such as 1.5s", maxTimeout)
		} else {
			c.timeout = t
		}
	}
	if s.MaxBatch != nil {
		if *s.MaxBatch < 1 || *s.MaxBatch > MaxBatch {
			add("max_batch", "must be between 1 and %d (Meta's limit per request)", MaxBatch)
		} else {
			c.maxBatch = *s.MaxBatch
		}
	}
	if s.DefaultCountry != "" {
		if cc, err := normalize.Country(s.DefaultCountry); err != nil {
			add("default_country", "must be an ISO 3166-1 country code such as US")
		} else {
			c.defaultCountry = cc
			c.normalize.DefaultCountry = cc
		}
	}
	if s.HashExternalID != nil {
		c.normalize.HashExternalID = *s.HashExternalID
	}
	if s.DedupeWindow != "" {
		if w, err := time.ParseDuration(s.DedupeWindow); err != nil || w <= 0 || w > maxDedupeWindow {
			add("dedupe_window", "must be a duration between 1s and %s, such as 48h", maxDedupeWindow)
		} else {
			c.dedupeWindow = w
		}
	}
	if pc.Host == nil {
		add("host", "the host services are missing")
	}
	if len(fe) > 0 {
		return fe
	}
	c.endpoint = base + "/" + c.apiVersion + "/" + c.pixelID + "/events"

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = concurrency * 2
	c.client = &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	d.mu.Lock()
	c.now = d.now
	if c.now == nil {
		c.now = time.Now
	}
	old := d.cfg
	d.cfg = c
	d.mu.Unlock()
	if old != nil {
		old.client.CloseIdleConnections()
	}
	c.log.Info("meta-capi configured", "pixel", c.pixelID, "api_version", c.apiVersion,
		"graph_host", hostOf(base), "max_batch", c.maxBatch, "test_event_code", c.testEventCode != "",
		"appsecret_proof", c.proof != "", "hash_external_id", c.normalize.HashExternalID)
	if c.testEventCode != "" {
		c.log.Warn("test_event_code is set: Meta uses test events for measurement too; remove it in production")
	}
	return nil
}

// Close releases idle connections.
func (d *Destination) Close(context.Context) error {
	d.mu.Lock()
	c := d.cfg
	d.mu.Unlock()
	if c != nil {
		c.client.CloseIdleConnections()
	}
	return nil
}

func (d *Destination) config() *config {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.cfg
}

// pixelID reads pixel_id, which YAML may give as a number.
func pixelID(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", errors.New("required")
	}
	var s string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", errors.New("must be a string of digits")
		}
	} else {
		s = string(raw)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("required")
	}
	if _, err := strconv.ParseUint(s, 10, 64); err != nil {
		return "", errors.New("must be the pixel's numeric ID (digits only)")
	}
	return s, nil
}

// validVersion reports whether v looks like a Graph version: v<major>.<minor>.
func validVersion(v string) bool {
	rest, ok := strings.CutPrefix(v, "v")
	if !ok {
		return false
	}
	major, minor, ok := strings.Cut(rest, ".")
	if !ok {
		return false
	}
	return digits(major) && digits(minor)
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// appSecretProof is lowercase hex HMAC-SHA256(key = app secret, message =
// access token) (ref §1).
func appSecretProof(appSecret, token string) string {
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write([]byte(token))
	return hex.EncodeToString(m.Sum(nil))
}

func hostOf(base string) string {
	if u, err := url.Parse(base); err == nil {
		return u.Host
	}
	return ""
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
	return plugins.FieldError{Field: "settings", Message: "the settings are not a JSON object"}
}

// scrub removes every credential from text that leaves the destination and
// bounds its length.
func (c *config) scrub(s string) string {
	for _, r := range c.redact {
		if r != "" {
			s = strings.ReplaceAll(s, r, "***")
		}
	}
	if len(s) > maxReasonChars {
		s = s[:maxReasonChars] + "…"
	}
	return s
}

var _ plugins.Destination = (*Destination)(nil)
