package config

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is a loaded pipelines.yaml. File is the path it was read from;
// positions of every section stay available through the yaml nodes kept in
// Destination.Settings and Pipeline so later stages can report FILE:LINE:COL.
type Config struct {
	File         string                 `yaml:"-"`
	Server       Server                 `yaml:"server"`
	NATS         NATS                   `yaml:"nats"`
	Sources      map[string]Source      `yaml:"sources"`
	Destinations map[string]Destination `yaml:"destinations"`
	Pipelines    map[string]Pipeline    `yaml:"pipelines"`

	// env records, by position, the scalars whose value came from ${...}
	// interpolation, with notes on variables that were unset or empty.
	env map[position]envNote
}

// Server configures the HTTP API.
type Server struct {
	Listen         string        `yaml:"listen"`           // default ":8080"
	AdminToken     Secret        `yaml:"admin_token"`      // empty: /api/* only from loopback
	TLSCert        string        `yaml:"tls_cert"`         // PEM file; with TLSKey serves HTTPS
	TLSKey         string        `yaml:"tls_key"`          // PEM file
	TrustedProxies []string      `yaml:"trusted_proxies"`  // CIDRs whose X-Forwarded-For is believed
	ReadTimeout    time.Duration `yaml:"read_timeout"`     // default 30s
	WriteTimeout   time.Duration `yaml:"write_timeout"`    // default 30s
	IdleTimeout    time.Duration `yaml:"idle_timeout"`     // default 120s
	MaxHeaderBytes int           `yaml:"max_header_bytes"` // default 64 KiB
	ShutdownGrace  time.Duration `yaml:"shutdown_grace"`   // default 25s
	// MaxInFlightBytes bounds the tracking requests decoded and stored at
	// once by the sum of their bodies (uncompressed, at least 4 KiB
	// each); the others wait, up to QueueTimeout, then get 503. 0: 1 MiB
	// per CPU (GOMAXPROCS), at least 2 MiB.
	MaxInFlightBytes int64         `yaml:"max_in_flight_bytes"`
	QueueTimeout     time.Duration `yaml:"queue_timeout"` // default 5s
}

// NATS configures the JetStream connection or the embedded server.
type NATS struct {
	URL          string        `yaml:"url"`           // empty: embedded server
	StoreDir     string        `yaml:"store_dir"`     // embedded server's storage, default ./data
	Listen       string        `yaml:"listen"`        // embedded server's client port, e.g. 127.0.0.1:4222; empty: in-process only
	Replicas     int           `yaml:"replicas"`      // default 1
	DedupeWindow time.Duration `yaml:"dedupe_window"` // default 30s: ingest's messageId dedupe (core/seen)
	// DuplicateWindow is JetStream's Nats-Msg-Id window on the events
	// stream, 0 for none (no Nats-Msg-Id is sent):
	// DefaultDuplicateWindowEmbedded or, with URL set,
	// DefaultDuplicateWindowExternal.
	DuplicateWindow time.Duration `yaml:"duplicate_window"`
	// ReadBehind is the most a pipeline may hold back an event so that
	// it reads only blocks the server has finished writing, while the
	// events stream is written fast enough for that (see core/pipeline's
	// ReadBehind): DefaultReadBehindEmbedded or, with URL set, 0 (off).
	ReadBehind  time.Duration `yaml:"read_behind"`
	Retention   time.Duration `yaml:"retention"`   // default 168h
	MaxBytes    int64         `yaml:"max_bytes"`   // stream size cap; 0: unlimited (new events refused when the store is full)
	SyncAlways  bool          `yaml:"sync_always"` // embedded: fsync every write
	Credentials string        `yaml:"credentials"` // .creds file
	User        string        `yaml:"user"`
	Password    Secret        `yaml:"password"`
	Token       Secret        `yaml:"token"`
	TLS         TLS           `yaml:"tls"`
	Stream      string        `yaml:"stream"` // default EVENTS
}

// TLS configures a TLS client connection.
type TLS struct {
	CA                 string `yaml:"ca"`
	Cert               string `yaml:"cert"`
	Key                string `yaml:"key"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Source is one ingestion endpoint: Segment-style or Tealium-style.
type Source struct {
	Type      string   `yaml:"type"` // segment | tealium
	WriteKeys []Secret `yaml:"write_keys"`
	// Tealium: a request is this source's when its tealium_account,
	// tealium_profile (default main) and, if Datasource is set,
	// tealium_datasource name it. Profile defaults to "main", Tealium's
	// own default. Key, when set, must come as Authorization: Bearer or
	// ?key=. UserIDAttribute is the attribute that becomes userId
	// (default customer_id).
	Account         string `yaml:"account"`
	Profile         string `yaml:"profile"`
	Datasource      string `yaml:"datasource"`
	Key             Secret `yaml:"key"`
	UserIDAttribute string `yaml:"user_id_attribute"`
	// RateLimit is the sustained requests per second accepted for this
	// source (0: unlimited); Burst the bucket size (default = RateLimit).
	RateLimit float64 `yaml:"rate_limit"`
	Burst     int     `yaml:"burst"`
}

// Destination names a plugin and its settings. Settings stays a yaml node so
// the plugin's spec can validate it with positions: it is the node as
// written, after ${...} interpolation; its Kind is 0 when the file has no
// settings, a null scalar for an empty `settings:`, and it may contain alias
// nodes. Node is the whole entry's value node.
type Destination struct {
	Plugin   string    `yaml:"plugin"`
	Settings yaml.Node `yaml:"settings"`
	// MaxInFlight is the most batches delivered to the destination at once
	// (0: the plugin host's default, 4).
	MaxInFlight int `yaml:"max_in_flight"`
	// Timeout bounds one delivery call (0: the plugin host's default, 30s).
	Timeout time.Duration `yaml:"timeout"`
	Node    yaml.Node     `yaml:"-"` // the whole destination, for positions
}

// Pipeline connects sources to a destination. Its expressions are compiled by
// core/mapping (a later stage); here When and Map are kept as
// the interpolated yaml nodes, unchecked, with the same conventions as
// Destination.Settings (Kind 0 when absent). Node is the whole entry's value
// node.
type Pipeline struct {
	From  []string  `yaml:"from"`
	To    string    `yaml:"to"`
	When  yaml.Node `yaml:"when"`
	Map   yaml.Node `yaml:"map"`
	Batch Batch     `yaml:"batch"`
	Retry Retry     `yaml:"retry"`
	// Tests are fixture cases `switchboard test` runs against the
	// pipeline's when: and map:.
	Tests []Fixture `yaml:"tests"`
	Node  yaml.Node `yaml:"-"` // the whole pipeline, for positions
}

// Fixture is one test case of a pipeline: an input event and either the
// exact mapped object expected or the word "filtered".
type Fixture struct {
	Name   string    `yaml:"name"`
	Event  yaml.Node `yaml:"event"`
	Expect yaml.Node `yaml:"expect"`
}

// Batch is how a pipeline groups events for its destination: a batch is
// handed over when it holds MaxEvents events or MaxBytes bytes of mapped
// JSON, or MaxWait after its first event, whichever comes first. The
// destination's own preferred limits cap these.
type Batch struct {
	MaxEvents int           `yaml:"max_events"` // default 500
	MaxBytes  int           `yaml:"max_bytes"`  // default 4 MiB
	MaxWait   time.Duration `yaml:"max_wait"`   // default 1s
}

// Retry is a pipeline's policy for events the destination asks to retry.
// The delay doubles from Backoff up to MaxBackoff, with jitter; a
// destination's retry-after wins when longer. After MaxAttempts deliveries,
// or once an event is older than MaxAge, it is dead-lettered.
type Retry struct {
	MaxAttempts int           `yaml:"max_attempts"` // default 20
	Backoff     time.Duration `yaml:"backoff"`      // default 1s
	MaxBackoff  time.Duration `yaml:"max_backoff"`  // default 10m
	MaxAge      time.Duration `yaml:"max_age"`      // default 0: no age limit
}

// Defaults of a pipeline's batch and retry settings.
const (
	DefaultBatchMaxEvents   = 500
	DefaultBatchMaxBytes    = 4 << 20
	DefaultBatchMaxWait     = time.Second
	DefaultRetryMaxAttempts = 20
	DefaultRetryBackoff     = time.Second
	DefaultRetryMaxBackoff  = 10 * time.Minute
)

// Defaults of nats.duplicate_window, JetStream's Nats-Msg-Id window (0:
// ingest sends no Nats-Msg-Id). The header costs JetStream a quarter of
// its publishing throughput, and each id in the window ~170 B of the NATS
// server's memory, in objects its garbage collector scans every cycle: in
// serve's own process when the server is embedded. There, ingest's seen
// set and its in-flight claims (core/seen.Publisher) cover what the
// window would: a retry after an answer was lost, and the same event in
// two requests at once. An external cluster keeps JetStream's default,
// which also covers the same event reaching two serve processes at once
// and resends after an acknowledgement lost in a leader election.
const (
	DefaultDuplicateWindowEmbedded time.Duration = 0
	DefaultDuplicateWindowExternal               = 2 * time.Minute
)

// Defaults of nats.read_behind. With the embedded server pipelines hold an
// event back up to 500ms while the stream is written at more than ~10 MB/s
// (~13,000 events/s), so that the server never reads the block it is still
// writing and frees each block's buffer when it moves on: serve's RSS at a
// steady 20,000 events/s into Meta fell from ~450 MB to ~160 MB. An
// external server's blocks and clock are its own, so it is off there.
const (
	DefaultReadBehindEmbedded = 500 * time.Millisecond
	// MaxReadBehind: nats-server drops a block's buffer 10 s after its
	// last write anyway.
	MaxReadBehind = 10 * time.Second
)

// Defaults of a Tealium source.
const (
	DefaultTealiumProfile         = "main"
	DefaultTealiumUserIDAttribute = "customer_id"
)

// Secret is a string that never prints: String, GoString, Format,
// MarshalJSON and slog's LogValue all give "***" ("" when the secret is
// empty). Reveal returns the value.
type Secret string

// Reveal returns the secret's value, for the one place that must use it.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer and hides the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "***"
}

// GoString hides the value from %#v.
func (s Secret) GoString() string { return s.String() }

// Format hides the value from every fmt verb. Without it, a verb that does
// not apply to strings (%d, %t, ...) would print the raw value inside fmt's
// "%!d(config.Secret=...)" error text. %q quotes the masked form.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		_, _ = io.WriteString(f, strconv.Quote(s.String()))
		return
	}
	_, _ = io.WriteString(f, s.String())
}

// LogValue implements slog.LogValuer and hides the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON hides the value.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }
