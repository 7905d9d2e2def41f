package segment

// This file is a reference model of decoding and normalisation, written
// the straightforward way with encoding/json (maps, json.Number): the
// differential fuzz test checks that the fast scanner-based path accepts
// and refuses the same requests and stores the same events.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/switchboard-cdp/switchboard/core/event"
)

// refPayload is a decoded request body: the events, still as the JSON objects
// the client sent, and the batch envelope's shared fields.
type refPayload struct {
	events       []map[string]any
	context      map[string]any // batch-level; nil when absent
	integrations map[string]any // batch-level; nil when absent
	writeKey     string         // the body's writeKey; never stored or logged
	sentAt       time.Time      // batch-level; zero when absent
}

// refDecodeBatch decodes a batch envelope {batch:[…], context?, integrations?,
// writeKey?, sentAt?} in one pass: it streams the envelope's tokens and
// decodes each event of batch straight into a map (numbers as json.Number),
// measuring each event's bytes as it goes, so no event is decoded twice and
// the body is never copied into per-event slices.
//
// More than maxEvents events is refused whole. Segment answers 200 and
// silently drops the excess; we answer 400 instead because our 200 means
// "every event of this request is stored", and a client told so must not
// lose events.
func refDecodeBatch(body []byte, p *refPayload, maxEvent, maxEvents int) *requestError {
	body = bytes.TrimPrefix(body, bom)
	if refIsBlank(body) {
		return badRequest("request body is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return refJSONError(err, 0)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return badRequest("request body must be a JSON object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return refJSONError(err, 0)
		}
		key, _ := tok.(string)
		switch key {
		case "batch":
			if rerr := refDecodeEvents(dec, body, p, maxEvent, maxEvents); rerr != nil {
				return rerr
			}
		case "context", "integrations":
			start := refValueStart(body, dec.InputOffset())
			var v any
			if err := dec.Decode(&v); err != nil {
				return refJSONError(err, start)
			}
			m, ok := v.(map[string]any)
			if v != nil && !ok {
				return fieldError(key, key+" must be an object", -1)
			}
			if key == "context" {
				p.context = m
			} else {
				p.integrations = m
			}
		case "writeKey":
			start := refValueStart(body, dec.InputOffset())
			var v any
			if err := dec.Decode(&v); err != nil {
				return refJSONError(err, start)
			}
			p.writeKey, _ = v.(string)
		case "sentAt":
			start := refValueStart(body, dec.InputOffset())
			var v any
			if err := dec.Decode(&v); err != nil {
				return refJSONError(err, start)
			}
			t, ok, ferr := refTimeField("sentAt", v)
			if ferr != nil {
				return fieldError("sentAt", ferr.Error(), -1)
			}
			if ok {
				p.sentAt = t
			}
		default:
			// Other envelope keys (analytics-go's messageId, rudder's
			// timestamp) describe the batch, not its events: skip them.
			start := refValueStart(body, dec.InputOffset())
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return refJSONError(err, start)
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return refJSONError(err, 0)
	}
	if rerr := refExpectEOF(dec); rerr != nil {
		return rerr
	}
	if len(p.events) == 0 {
		return fieldError("batch", "batch must contain at least one event", -1)
	}
	return nil
}

// refDecodeEvents decodes the value of the envelope's batch key into p.events.
func refDecodeEvents(dec *json.Decoder, body []byte, p *refPayload, maxEvent, maxEvents int) *requestError {
	tok, err := dec.Token()
	if err != nil {
		return refJSONError(err, 0)
	}
	p.events = p.events[:0] // a repeated batch key: the last one wins, as in encoding/json
	if tok == nil {
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return fieldError("batch", "batch must be an array", -1)
	}
	for dec.More() {
		i := len(p.events)
		if i >= maxEvents {
			return fieldError("batch", fmt.Sprintf("batch has more than %d events; send at most %d per request", maxEvents, maxEvents), -1)
		}
		start := refValueStart(body, dec.InputOffset())
		var v any
		if err := dec.Decode(&v); err != nil {
			return refJSONError(err, start)
		}
		if size := int(dec.InputOffset()) - start; size > maxEvent {
			return fieldError("", fmt.Sprintf("event is %d bytes, larger than the %d-byte limit", size, maxEvent), i)
		}
		m, ok := v.(map[string]any)
		if !ok {
			return fieldError("", "event must be a JSON object", i)
		}
		p.events = append(p.events, m)
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return refJSONError(err, 0)
	}
	return nil
}

// refDecodeSingle decodes the body of a single-event route: one JSON object,
// at most maxEvent bytes.
func refDecodeSingle(body []byte, p *refPayload, maxEvent int) *requestError {
	body = bytes.TrimPrefix(body, bom)
	if refIsBlank(body) {
		return badRequest("request body is empty")
	}
	if len(body) > maxEvent {
		return badRequest(fmt.Sprintf("event is %d bytes, larger than the %d-byte limit", len(body), maxEvent))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return refJSONError(err, refValueStart(body, 0))
	}
	m, ok := v.(map[string]any)
	if !ok {
		return badRequest("request body must be a JSON object")
	}
	if rerr := refExpectEOF(dec); rerr != nil {
		return rerr
	}
	p.writeKey, _ = m["writeKey"].(string)
	p.events = append(p.events[:0], m)
	return nil
}

// refExpectEOF refuses anything but whitespace after the top-level value.
func refExpectEOF(dec *json.Decoder) *requestError {
	tok, err := dec.Token()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return refJSONError(err, 0)
	}
	_ = tok
	return badRequest(fmt.Sprintf("invalid JSON: unexpected data after the top-level value at offset %d", dec.InputOffset()))
}

func refIsBlank(b []byte) bool {
	return len(bytes.TrimLeft(b, " \t\r\n")) == 0
}

// refValueStart returns the offset of the next value in body at or after off,
// skipping whitespace and the ',' or ':' before it.
func refValueStart(body []byte, off int64) int {
	i := int(off)
	for i < len(body) {
		switch body[i] {
		case ' ', '\t', '\n', '\r', ',', ':':
			i++
			continue
		}
		break
	}
	return i
}

// refJSONError turns a decoder error into a 400 that gives the offset. The
// decoder reports syntax errors inside a value relative to the value's
// start; base is that start in the body (0 for errors that already carry
// the absolute offset).
func refJSONError(err error, base int) *requestError {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		off := se.Offset
		if base > 0 && off >= 0 {
			off += int64(base)
		}
		return badRequest(fmt.Sprintf("invalid JSON at offset %d: %s", off, se.Error()))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("invalid JSON: unexpected end of input")
	}
	return badRequest("invalid JSON: " + err.Error())
}

// refNormalizer turns the decoded JSON objects of one request into events. One
// request shares one receivedAt, client IP and batch envelope.
type refNormalizer struct {
	source       string
	received     time.Time // UTC
	ip           string    // "" when unknown
	batchSentAt  time.Time // zero when the envelope has none
	context      map[string]any
	integrations map[string]any
	pathType     event.Type // set on single-event routes
}

// normalize fills ev from m and validates it; it takes m apart (the keys
// Event does not name stay in m, which becomes ev.Extra). Errors are
// *event.FieldError.
//
// Enrichment follows tracking-api.md: a messageId when missing; receivedAt;
// sentAt = event.sentAt ?? batch.sentAt ?? receivedAt; originalTimestamp =
// event.originalTimestamp ?? event.timestamp ?? receivedAt; timestamp =
// receivedAt − (sentAt − originalTimestamp); the batch's context and
// integrations merged under the event's own; context.ip when absent.
func (n *refNormalizer) normalize(m map[string]any, ev *event.Event) error {
	var (
		typ, msgID, evName, name, category        any
		userID, anonID, groupID, prevID           any
		ts, origTS, sentAt                        any
		properties, traits, context, integrations any
	)
	// One pass over the keys: take out what Event holds in fields, drop
	// what the client must not set (receivedAt, source) or we must never
	// keep (writeKey, in any letter case).
	for k, v := range m {
		switch k {
		case "type":
			typ = v
		case "messageId":
			msgID = v
		case "event":
			evName = v
		case "name":
			name = v
		case "category":
			category = v
		case "userId":
			userID = v
		case "anonymousId":
			anonID = v
		case "groupId":
			groupID = v
		case "previousId":
			prevID = v
		case "timestamp":
			ts = v
		case "originalTimestamp":
			origTS = v
		case "sentAt":
			sentAt = v
		case "properties":
			properties = v
		case "traits":
			traits = v
		case "context":
			context = v
		case "integrations":
			integrations = v
		case "receivedAt", "source", "writeKey":
		default:
			if !slices.ContainsFunc(foldKeys, func(f string) bool { return strings.EqualFold(f, k) }) {
				continue
			}
		}
		delete(m, k)
	}

	*ev = event.Event{Source: n.source, ReceivedAt: n.received}

	// type: the path decides on single-event routes; a body type that
	// says otherwise is a client bug worth a 400.
	switch t := typ.(type) {
	case nil:
		if n.pathType == "" {
			return &event.FieldError{Field: "type", Reason: "type is required"}
		}
	case string:
		ev.Type = event.Type(t)
		if n.pathType != "" && ev.Type != n.pathType {
			return &event.FieldError{Field: "type", Reason: "type " + quoteShort(t) + " contradicts the endpoint, which takes " + string(n.pathType)}
		}
	default:
		return &event.FieldError{Field: "type", Reason: "type must be a string"}
	}
	if n.pathType != "" {
		ev.Type = n.pathType
	}
	if !ev.Type.Valid() {
		return &event.FieldError{Field: "type", Reason: "type must be one of identify, track, page, screen, group, alias"}
	}

	var err error
	if ev.UserID, err = refIDField("userId", userID); err != nil {
		return err
	}
	if ev.AnonymousID, err = refIDField("anonymousId", anonID); err != nil {
		return err
	}
	if ev.GroupID, err = refIDField("groupId", groupID); err != nil {
		return err
	}
	if ev.PreviousID, err = refIDField("previousId", prevID); err != nil {
		return err
	}
	if ev.MessageID, err = refIDField("messageId", msgID); err != nil {
		return err
	}
	if ev.MessageID == "" {
		ev.MessageID = newMessageID()
	}
	if ev.Event, err = refStringField("event", evName); err != nil {
		return err
	}
	if ev.Name, err = refStringField("name", name); err != nil {
		return err
	}
	if ev.Category, err = refStringField("category", category); err != nil {
		return err
	}
	if ev.Properties, err = refObjectField("properties", properties); err != nil {
		return err
	}
	if ev.Traits, err = refObjectField("traits", traits); err != nil {
		return err
	}
	if ev.Context, err = refObjectField("context", context); err != nil {
		return err
	}
	if ev.Integrations, err = refObjectField("integrations", integrations); err != nil {
		return err
	}

	// Time: the client's clock is off by (sentAt − receivedAt); remove that
	// skew from the time the call happened on the client.
	sent, ok, err := refTimeField("sentAt", sentAt)
	if err != nil {
		return err
	}
	if !ok {
		sent = n.batchSentAt
		if sent.IsZero() {
			sent = n.received
		}
	}
	orig, ok, err := refTimeField("originalTimestamp", origTS)
	if err != nil {
		return err
	}
	if !ok {
		orig, ok, err = refTimeField("timestamp", ts)
		if err != nil {
			return err
		}
		if !ok {
			orig = n.received
		}
	} else if _, _, err := refTimeField("timestamp", ts); err != nil {
		return err
	}
	ev.SentAt = sent
	ev.OriginalTimestamp = orig
	ev.Timestamp = orig.Add(n.received.Sub(sent))
	if y := ev.Timestamp.Year(); y < 1 || y > 9999 {
		return &event.FieldError{Field: "timestamp", Reason: "timestamp after clock-skew correction is outside years 1–9999"}
	}

	if n.context != nil {
		ev.Context = refMergeUnder(ev.Context, n.context)
	}
	if n.integrations != nil {
		ev.Integrations = refMergeUnder(ev.Integrations, n.integrations)
	}
	if n.ip != "" {
		if ev.Context == nil {
			ev.Context = make(map[string]any, 1)
		}
		if ip, _ := ev.Context["ip"].(string); ip == "" {
			ev.Context["ip"] = n.ip
		}
	}

	if len(m) > 0 {
		ev.Extra = m
	}
	return ev.Validate()
}

// refMergeUnder merges base under own: own's keys win; where both hold an
// object under the same key, the objects are merged the same way, at every
// depth (batch context.library + event context.page gives both). own is
// changed in place (it belongs to one event); base is shared by every event
// of the batch and is never changed, only referenced.
func refMergeUnder(own, base map[string]any) map[string]any {
	if own == nil {
		own = make(map[string]any, len(base)+1)
	}
	for k, bv := range base {
		ov, present := own[k]
		if !present {
			own[k] = bv
			continue
		}
		om, ok1 := ov.(map[string]any)
		bm, ok2 := bv.(map[string]any)
		if ok1 && ok2 {
			own[k] = refMergeUnder(om, bm)
		}
	}
	return own
}

// refIDField accepts a string, or a number kept as its exact digits
// (rudder-sdk-node allows numeric ids).
func refIDField(field string, v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case json.Number:
		return string(x), nil
	}
	return "", &event.FieldError{Field: field, Reason: field + " must be a string or a number"}
}

// refStringField accepts a string; a number is kept as its digits.
func refStringField(field string, v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case json.Number:
		return string(x), nil
	}
	return "", &event.FieldError{Field: field, Reason: field + " must be a string"}
}

func refObjectField(field string, v any) (map[string]any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return x, nil
	}
	return nil, &event.FieldError{Field: field, Reason: field + " must be an object"}
}

// refTimeLayouts are the ISO-8601 forms clients send: RFC 3339 (analytics.js,
// -node, -java), offsets without a colon, and Python's naive isoformat()
// (read as UTC).
var refTimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999Z07",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

// refTimeField parses an optional ISO-8601 date-time; null or "" is absent.
func refTimeField(field string, v any) (time.Time, bool, error) {
	switch x := v.(type) {
	case nil:
		return time.Time{}, false, nil
	case string:
		if x == "" {
			return time.Time{}, false, nil
		}
		if len(x) <= 64 {
			for _, layout := range refTimeLayouts {
				if t, err := time.Parse(layout, x); err == nil {
					return t.UTC(), true, nil
				}
			}
		}
	}
	return time.Time{}, false, &event.FieldError{Field: field, Reason: field + " must be an ISO-8601 date-time such as 2024-05-01T12:00:00.000Z"}
}
