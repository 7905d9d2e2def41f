package graphemu

import (
	"encoding/json"
	"slices"
	"time"
)

// DedupeWindow is the window in which Meta counts the same
// (event_name, event_id) sent to the same pixel once (ref §6). The emulator
// does not drop such events; it marks them Duplicate.
const DedupeWindow = 48 * time.Hour

// Event is one accepted server event, as the emulator recorded it.
type Event struct {
	PixelID       string `json:"pixel_id"`
	EventName     string `json:"event_name"`
	EventID       string `json:"event_id,omitempty"`
	EventTime     int64  `json:"event_time"`
	ActionSource  string `json:"action_source"`
	TestEventCode string `json:"test_event_code,omitempty"`
	// Raw is the event exactly as it was in data[Index].
	Raw json.RawMessage `json:"raw"`
	// Index is the event's position in its request's data array.
	Index int `json:"index"`
	// RequestID is Request.ID of the call that carried the event.
	RequestID int       `json:"request_id"`
	Received  time.Time `json:"received"`
	// Duplicate is true when an earlier accepted event for the same pixel
	// had the same event_name and event_id within DedupeWindow: Meta
	// would have discarded this one (ref §6). A correct sender never
	// produces one.
	Duplicate bool `json:"duplicate,omitempty"`
}

// Key is the deduplication key Meta uses for server events (ref §6).
type Key struct {
	EventName string `json:"event_name"`
	EventID   string `json:"event_id"`
}

// Request is one call to the Graph side of the emulator, accepted or not.
// It never holds the access token or appsecret_proof.
type Request struct {
	ID          int       `json:"id"`
	Time        time.Time `json:"time"`
	Method      string    `json:"method"`
	Path        string    `json:"path"`
	Version     string    `json:"version,omitempty"`
	PixelID     string    `json:"pixel_id,omitempty"`
	ContentType string    `json:"content_type,omitempty"`
	// Encoding is one of the Encoding… constants.
	Encoding string `json:"encoding,omitempty"`
	// Params are the call's parameters other than data, access_token and
	// appsecret_proof: test_event_code, partner_agent, … (ref §1).
	Params map[string]string `json:"params,omitempty"`
	// Authorized is true once token and appsecret_proof were accepted.
	Authorized bool `json:"authorized"`
	// EventCount is len(data), when data could be read.
	EventCount int `json:"event_count"`
	// EventsAccepted is the number of events recorded from this call:
	// EventCount on success, else 0 (the whole batch fails, ref §2).
	EventsAccepted int `json:"events_accepted"`
	// Problems are every invalid-event finding; the response carries the
	// first (ref §2).
	Problems []Problem `json:"problems,omitempty"`
	// Diagnostics are findings Meta reports without failing the call.
	Diagnostics []string `json:"diagnostics,omitempty"`
	// Fault describes the injected fault that answered, if any.
	Fault    string          `json:"fault,omitempty"`
	Status   int             `json:"status"`
	Response json.RawMessage `json:"response"`
	Error    *Error          `json:"error,omitempty"`
	TraceID  string          `json:"fbtrace_id"`
}

// Received returns the accepted events for pixel in arrival order; an empty
// pixel means every pixel.
func (e *Emulator) Received(pixel string) []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Event
	for _, ev := range e.events {
		if pixel == "" || ev.PixelID == pixel {
			out = append(out, ev)
		}
	}
	return out
}

// Requests returns every call to the Graph side, in arrival order.
func (e *Emulator) Requests() []Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.requests)
}

// Counts returns, for pixel, how many accepted events carried each
// (event_name, event_id). Events without event_id are not counted: Meta
// cannot deduplicate them (ref §6).
func (e *Emulator) Counts(pixel string) map[Key]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[Key]int{}
	for _, ev := range e.events {
		if ev.PixelID == pixel && ev.EventID != "" {
			out[Key{ev.EventName, ev.EventID}]++
		}
	}
	return out
}

// Duplicates returns, for pixel, the keys that arrived more than once, in
// the order their first repeat arrived. Tests assert it is empty to prove
// that duplicates were never forwarded.
func (e *Emulator) Duplicates(pixel string) []Key {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Key
	seen := map[Key]bool{}
	for _, ev := range e.events {
		k := Key{ev.EventName, ev.EventID}
		if ev.PixelID == pixel && ev.Duplicate && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// Reset forgets every request, event and pending fault.
func (e *Emulator) Reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.requests, e.events, e.faults = nil, nil, nil
	e.seen = map[dedupeKey]time.Time{}
}
