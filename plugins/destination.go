package plugins

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"time"
)

// Destination is what a plugin author implements; plugins.Serve exposes it
// to the host. The host calls, in this order: Describe (at any time, also
// before Configure), Configure exactly once, Deliver any number of times and
// possibly concurrently (up to the destination's max in-flight batches), and
// Close once, last. Every method receives a context that carries the host's
// deadline for the call.
//
// The host sees the same interface: dispensing a plugin yields a Destination
// whose calls travel over gRPC, so plugin authors and the host share types.
type Destination interface {
	// Describe returns the destination's name, version, settings spec and
	// preferred batch limits. It must not depend on Configure.
	Describe(ctx context.Context) (Spec, error)
	// Configure receives the destination's settings (defaults applied) and
	// the host services. Problems with settings are returned as FieldErrors
	// so the host can point at the offending line of pipelines.yaml.
	Configure(ctx context.Context, cfg Config) error
	// Deliver sends a batch and returns one Result per event (any order,
	// matched by Event.ID). An event with no result is retried. Deliver
	// returns an error only when the whole batch failed in a way a retry may
	// fix (the host retries every event of it). The events' payloads are
	// only valid until Deliver returns (see Event.Payload).
	Deliver(ctx context.Context, batch []Event) ([]Result, error)
	// Close releases the destination's resources.
	Close(ctx context.Context) error
}

// Spec describes a destination.
type Spec struct {
	Name        string
	Version     string
	Description string
	Settings    []Setting
	Batch       BatchLimits
}

// SettingType is the type of a setting's value.
type SettingType string

// The setting types a spec may declare.
const (
	TypeString     SettingType = "string"
	TypeInt        SettingType = "int"
	TypeFloat      SettingType = "float"
	TypeBool       SettingType = "bool"
	TypeDuration   SettingType = "duration" // a Go duration string such as "30s"
	TypeStringList SettingType = "string_list"
	TypeStringMap  SettingType = "string_map"
	TypeObject     SettingType = "object" // any JSON object
)

// Setting declares one key of a destination's settings. The host validates
// pipelines.yaml against it before anything runs, and never logs or echoes
// the value of a Secret setting (for a string_map, every value is secret).
type Setting struct {
	Name        string
	Type        SettingType
	Required    bool
	Default     any // nil: no default
	Secret      bool
	Description string
	Enum        []string // allowed values of a string setting, if restricted
}

// BatchLimits is the batch shape a destination prefers; zero values mean no
// preference. The pipeline's own batch settings may be smaller, never larger.
type BatchLimits struct {
	MaxEvents int
	MaxBytes  int
	MaxWait   time.Duration
}

// Config is what Configure receives.
type Config struct {
	// Destination is the destination's name in pipelines.yaml.
	Destination string
	// Settings is the settings object as JSON, defaults applied. Decode it
	// with json.Unmarshal into the destination's own struct.
	Settings json.RawMessage
	// Host gives access to the host's services; never nil.
	Host Host
	// Logger logs through the host, under the destination's name.
	Logger *slog.Logger
}

// Host is the set of services the host offers a plugin. State methods take
// many keys per call so a plugin checks or marks a whole batch in one round
// trip. Keys are namespaced per destination by the host.
type Host interface {
	// StateGet returns the values of the keys that exist and have not expired.
	StateGet(ctx context.Context, keys []string) (map[string][]byte, error)
	// StateCreate stores every entry whose key does not exist yet, with the
	// given time to live (0: the host's default), and reports for each entry
	// whether this call created it (false: it already existed).
	StateCreate(ctx context.Context, entries []Entry, ttl time.Duration) ([]bool, error)
	// StatePut stores every entry, overwriting.
	StatePut(ctx context.Context, entries []Entry, ttl time.Duration) error
	// StateDelete removes keys; missing keys are not an error.
	StateDelete(ctx context.Context, keys []string) error
	// AddCounters adds to plugin-specific counters, which the host exposes
	// on /metrics as switchboard_plugin_<name>_total with the destination's
	// name and the given labels.
	AddCounters(ctx context.Context, counters []Counter) error
	// Seen reports, for each key, whether MarkSeen recorded it (through
	// this serve process or any other sharing the NATS server or cluster)
	// and its time to live has not passed.
	Seen(ctx context.Context, keys []string) ([]bool, error)
	// MarkSeen records keys for at least ttl (0: the host's default).
	//
	// The seen set is made for deduplication at event rates: the host keeps
	// a 64-bit hash of each key (about 12 bytes of memory per key) instead
	// of a key-value entry, and stores one message per call. Two costs come
	// with that: a key that was never marked is reported seen with a
	// probability of about n/2^64 for n remembered keys (one in 20 billion
	// at a billion keys), and marks made by other serve processes are seen
	// within milliseconds, not atomically — use StateCreate to claim a key.
	MarkSeen(ctx context.Context, keys []string, ttl time.Duration) error
}

// Entry is one key and value of plugin state.
type Entry struct {
	Key   string
	Value []byte
}

// Counter is an increment of a plugin-specific counter.
type Counter struct {
	Name   string
	Labels map[string]string
	Delta  float64
}

// Event is one mapped event handed to a destination.
type Event struct {
	// ID identifies the event within the batch; results refer to it.
	ID string
	// Payload is the mapped object as JSON. In a plugin, the payloads of a
	// batch share the buffer the batch arrived in: a payload is valid until
	// Deliver returns, and a destination that keeps one longer (to send it
	// later, say) keeps a copy (bytes.Clone). An empty payload is nil.
	Payload json.RawMessage
	// Attempt is 1 on the first delivery, 2 on the first retry, and so on.
	Attempt int
	// MessageID is the original event's messageId.
	MessageID string
}

// Outcome is what became of one event.
type Outcome int

// The outcomes of delivering one event.
const (
	// OutcomeRetry asks the host to deliver the event again later.
	OutcomeRetry Outcome = iota + 1
	// OutcomeDelivered means the destination accepted the event.
	OutcomeDelivered
	// OutcomeRejected means the destination refused the event for good; the
	// host dead-letters it with the reason.
	OutcomeRejected
	// OutcomeHold means the destination cannot take any event right now for
	// a reason outside the event — revoked credentials, missing permission,
	// an unknown account — that a person must fix. The host delivers the
	// event again after RetryAfter, as for OutcomeRetry, but does not count
	// the attempt against the pipeline's retry.max_attempts: a held event
	// is dead-lettered only once it is older than retry.max_age (when set),
	// so a day of purchases waits for the fix instead of being dead-lettered.
	OutcomeHold
)

// String names the outcome.
func (o Outcome) String() string {
	switch o {
	case OutcomeDelivered:
		return "delivered"
	case OutcomeRetry:
		return "retry"
	case OutcomeRejected:
		return "rejected"
	case OutcomeHold:
		return "hold"
	}
	return "unknown"
}

// Result is the outcome of one event of a batch.
type Result struct {
	ID      string
	Outcome Outcome
	// RetryAfter, for OutcomeRetry and OutcomeHold, is the least time to
	// wait; 0 lets the pipeline's backoff decide.
	RetryAfter time.Duration
	// Reason says why, for logs and the dead-letter stream.
	Reason string
	// Code is a short, low-cardinality classification for metrics, such as
	// "http_429" or "invalid_parameter".
	Code string
}

// Delivered is the result for an accepted event.
func Delivered(id string) Result { return Result{ID: id, Outcome: OutcomeDelivered} }

// Retry is the result for an event to deliver again, after at least
// retryAfter (0: the pipeline's backoff).
func Retry(id string, retryAfter time.Duration, code, reason string) Result {
	return Result{ID: id, Outcome: OutcomeRetry, RetryAfter: retryAfter, Code: code, Reason: reason}
}

// Hold is the result for an event the destination cannot take until a
// person fixes something outside the event (see OutcomeHold); it is
// delivered again after at least retryAfter. Log what to fix, loudly.
func Hold(id string, retryAfter time.Duration, code, reason string) Result {
	return Result{ID: id, Outcome: OutcomeHold, RetryAfter: retryAfter, Code: code, Reason: reason}
}

// Rejected is the result for an event the destination refused for good.
func Rejected(id, code, reason string) Result {
	return Result{ID: id, Outcome: OutcomeRejected, Code: code, Reason: reason}
}

// FieldError is a problem with one setting. Field is the setting's name,
// dotted for nested values.
type FieldError struct {
	Field   string
	Message string
}

// Error implements error.
func (e FieldError) Error() string { return e.Field + ": " + e.Message }

// FieldErrors is every problem Configure found. Return it (not a wrapped
// error) so the host can place each one in pipelines.yaml.
type FieldErrors []FieldError

// Error implements error.
func (fe FieldErrors) Error() string {
	parts := make([]string, len(fe))
	for i, e := range fe {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}
