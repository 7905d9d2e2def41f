package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Type is the kind of call in the Segment spec.
type Type string

// The call types of the Segment spec.
const (
	Track    Type = "track"
	Identify Type = "identify"
	Page     Type = "page"
	Screen   Type = "screen"
	Group    Type = "group"
	Alias    Type = "alias"
)

// Types lists every call type, in the spec's order.
var Types = []Type{Identify, Track, Page, Screen, Group, Alias}

// Valid reports whether t is one of the spec's call types.
func (t Type) Valid() bool {
	switch t {
	case Track, Identify, Page, Screen, Group, Alias:
		return true
	}
	return false
}

// Event is one tracking call, normalised. Field names and JSON keys follow the
// Segment spec; Source is the name of the configured source that accepted it.
// Top-level keys the spec does not name are kept in Extra and written back
// out beside the known ones, so nothing a client sent is lost.
type Event struct {
	MessageID         string         `json:"messageId"`
	Type              Type           `json:"type"`
	Event             string         `json:"event,omitempty"`
	Name              string         `json:"name,omitempty"`
	Category          string         `json:"category,omitempty"`
	UserID            string         `json:"userId,omitempty"`
	AnonymousID       string         `json:"anonymousId,omitempty"`
	GroupID           string         `json:"groupId,omitempty"`
	PreviousID        string         `json:"previousId,omitempty"`
	Timestamp         time.Time      `json:"timestamp"`
	OriginalTimestamp time.Time      `json:"originalTimestamp,omitzero"`
	SentAt            time.Time      `json:"sentAt,omitzero"`
	ReceivedAt        time.Time      `json:"receivedAt"`
	Properties        map[string]any `json:"properties,omitempty"`
	Traits            map[string]any `json:"traits,omitempty"`
	Context           map[string]any `json:"context,omitempty"`
	Integrations      map[string]any `json:"integrations,omitempty"`
	Source            string         `json:"source"`
	Extra             map[string]any `json:"-"`
}

// known lists the JSON keys that Event maps to fields; other keys go to Extra.
var known = map[string]bool{
	"messageId": true, "type": true, "event": true, "name": true, "category": true,
	"userId": true, "anonymousId": true, "groupId": true, "previousId": true,
	"timestamp": true, "originalTimestamp": true, "sentAt": true, "receivedAt": true,
	"properties": true, "traits": true, "context": true, "integrations": true,
	"source": true,
}

// Known reports whether key is a top-level key that Event holds in a field.
func Known(key string) bool { return known[key] }

// Subject is the JetStream subject an event of type t from source is stored
// under: events.<source>.<type>.
func Subject(source string, t Type) string {
	return "events." + source + "." + string(t)
}

// DedupeID is the event's dedupe id, its messageId scoped to its source:
// ingest's seen set keeps it, and it is the Nats-Msg-Id when one is sent.
func (e *Event) DedupeID() string { return e.Source + ":" + e.MessageID }

type plain Event

// MarshalJSON writes the known fields followed by Extra.
func (e Event) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(plain(e))
	if err != nil || len(e.Extra) == 0 {
		return b, err
	}
	extra := make(map[string]any, len(e.Extra))
	for k, v := range e.Extra {
		if !known[k] {
			extra[k] = v
		}
	}
	if len(extra) == 0 {
		return b, nil
	}
	x, err := json.Marshal(extra)
	if err != nil {
		return nil, fmt.Errorf("event extra fields: %w", err)
	}
	out := make([]byte, 0, len(b)+len(x))
	out = append(out, b[:len(b)-1]...)
	out = append(out, ',')
	out = append(out, x[1:]...)
	return out, nil
}

// UnmarshalJSON reads an event written by MarshalJSON. Numbers inside
// properties, traits, context and integrations decode as json.Number so that
// large ids keep every digit.
func (e *Event) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var p plain
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*e = Event(p)
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return err
	}
	for k, raw := range all {
		if known[k] {
			continue
		}
		var v any
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			return fmt.Errorf("event field %q: %w", k, err)
		}
		if e.Extra == nil {
			e.Extra = make(map[string]any)
		}
		e.Extra[k] = v
	}
	return nil
}
