package segment

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/switchboard-cdp/switchboard/core/bus"
	"github.com/switchboard-cdp/switchboard/core/event"
)

// Slots of rawEvent.f: the top-level keys Event holds in fields, plus the
// writeKey (read for authentication, never written out).
const (
	fType = iota
	fMessageID
	fEvent
	fName
	fCategory
	fUserID
	fAnonymousID
	fGroupID
	fPreviousID
	fTimestamp
	fOriginalTimestamp
	fSentAt
	fProperties
	fTraits
	fContext
	fIntegrations
	fWriteKey
	nFields
)

// Results of slotOf besides a field slot.
const (
	slotExtra = -1 // keep it in Extra
	slotDrop  = -2 // never keep it
)

// slotOf maps a decoded top-level key to its slot. The client may not set
// receivedAt or source; keys that differ from a field's key only in letter
// case are dropped too, because encoding/json matches struct fields
// case-insensitively and such a key would overwrite the field when the
// stored event is read back. writeKey is never kept, in any case.
func slotOf(k []byte) int {
	switch string(k) {
	case "type":
		return fType
	case "messageId":
		return fMessageID
	case "event":
		return fEvent
	case "name":
		return fName
	case "category":
		return fCategory
	case "userId":
		return fUserID
	case "anonymousId":
		return fAnonymousID
	case "groupId":
		return fGroupID
	case "previousId":
		return fPreviousID
	case "timestamp":
		return fTimestamp
	case "originalTimestamp":
		return fOriginalTimestamp
	case "sentAt":
		return fSentAt
	case "properties":
		return fProperties
	case "traits":
		return fTraits
	case "context":
		return fContext
	case "integrations":
		return fIntegrations
	case "writeKey":
		return fWriteKey
	case "receivedAt", "source":
		return slotDrop
	}
	for _, known := range foldKeys {
		if len(known) == len(k) && strings.EqualFold(known, string(k)) {
			return slotDrop
		}
	}
	return slotExtra
}

// foldKeys are event.Event's JSON keys and writeKey.
var foldKeys = []string{
	"messageId", "type", "event", "name", "category", "userId", "anonymousId",
	"groupId", "previousId", "timestamp", "originalTimestamp", "sentAt",
	"receivedAt", "properties", "traits", "context", "integrations", "source",
	"writeKey",
}

// member is one key:value of an object: the quoted key token and the value.
type member struct {
	key, val span
	escaped  bool // the key token holds escapes
}

// rawEvent is one event as spans of the body: its fields by slot and the
// members Event does not name.
type rawEvent struct {
	f     [nFields]span
	extra []member
}

// payload is a decoded request body.
type payload struct {
	body         []byte
	events       []rawEvent
	context      span // batch-level object; absent when none
	integrations span
	writeKey     string    // the body's writeKey; never stored or logged
	sentAt       time.Time // batch-level; zero when absent

	// What decode builds from the events, kept for the next request:
	// the stored events' bytes, their offsets in it, the messages over
	// them and their types. The bus copies each message as it publishes
	// it, so all of it is free once Publish returns.
	out   []byte
	offs  []int
	msgs  []bus.Message
	types []event.Type
}

var payloadPool = sync.Pool{New: func() any { return new(payload) }}

func getPayload() *payload { return payloadPool.Get().(*payload) }

func putPayload(p *payload) {
	if cap(p.events) > 4*DefaultMaxBatchEvents {
		*p = payload{}
	}
	if cap(p.out) > 4*DefaultMaxRequestBytes {
		p.out = nil
	}
	clear(p.msgs) // drop the references into out and to the ids
	*p = payload{events: p.events[:0], out: p.out[:0], offs: p.offs[:0], msgs: p.msgs[:0], types: p.types[:0]}
	payloadPool.Put(p)
}

// nextEvent returns a cleared rawEvent appended to p.events, reusing the
// slot's extra slice from earlier requests.
func (p *payload) nextEvent() *rawEvent {
	n := len(p.events)
	if n < cap(p.events) {
		p.events = p.events[:n+1]
	} else {
		p.events = append(p.events, rawEvent{})
	}
	ev := &p.events[n]
	ev.f = [nFields]span{}
	ev.extra = ev.extra[:0]
	return ev
}

var bom = []byte("\xef\xbb\xbf")

// prepare strips a byte order mark and makes the body valid UTF-8 (as
// encoding/json would, replacing invalid bytes with U+FFFD) so that raw
// strings copied into stored events are valid JSON text.
func prepare(body []byte) []byte {
	body = bytes.TrimPrefix(body, bom)
	if !utf8.Valid(body) {
		body = bytes.ToValidUTF8(body, []byte("\uFFFD"))
	}
	return body
}

// notObject answers a body whose top-level value is not an object: a
// syntax error if it is not JSON at all, else a plain 400.
func notObject(s *scanner) *requestError {
	if s.peek() == 0 {
		return badRequest("request body is empty")
	}
	if _, err := s.value(0); err != nil {
		return syntaxRequestError(err)
	}
	if err := s.end(); err != nil {
		return syntaxRequestError(err)
	}
	return badRequest("request body must be a JSON object")
}

// decodeBatch decodes a batch envelope {batch:[…], context?, integrations?,
// writeKey?, sentAt?} in one validating pass over the body, recording each
// event's top-level members as spans.
//
// More than maxEvents events is refused whole. Segment answers 200 and
// silently drops the excess; we answer 400 instead, because our 200 means
// "every event of this request is stored", and a client told so must not
// have lost events.
func decodeBatch(body []byte, p *payload, maxEvent, maxEvents int) *requestError {
	body = prepare(body)
	p.body = body
	s := &scanner{b: body}
	if s.peek() != '{' {
		return notObject(s)
	}
	if !s.beginObject() {
		for {
			ks, esc, err := s.key()
			if err != nil {
				return syntaxRequestError(err)
			}
			if rerr := decodeEnvelopeMember(s, p, keyText(body, ks, esc), maxEvent, maxEvents); rerr != nil {
				return rerr
			}
			more, err := s.nextMember()
			if err != nil {
				return syntaxRequestError(err)
			}
			if !more {
				break
			}
		}
	}
	if err := s.end(); err != nil {
		return syntaxRequestError(err)
	}
	if len(p.events) == 0 {
		return fieldError("batch", "batch must contain at least one event", -1)
	}
	return nil
}

func decodeEnvelopeMember(s *scanner, p *payload, key string, maxEvent, maxEvents int) *requestError {
	switch key {
	case "batch":
		p.events = p.events[:0] // a repeated batch key: the last one wins, as in encoding/json
		switch s.peek() {
		case 'n':
			if err := s.literal("null"); err != nil {
				return syntaxRequestError(err)
			}
			return nil
		case '[':
		default:
			if _, err := s.value(0); err != nil {
				return syntaxRequestError(err)
			}
			return fieldError("batch", "batch must be an array", -1)
		}
		s.i++
		if s.peek() == ']' {
			s.i++
			return nil
		}
		for {
			i := len(p.events)
			if i >= maxEvents {
				return fieldError("batch", "batch has more than "+strconv.Itoa(maxEvents)+" events; send at most "+strconv.Itoa(maxEvents)+" per request", -1)
			}
			if s.peek() != '{' {
				if _, err := s.value(1); err != nil {
					return syntaxRequestError(err)
				}
				return fieldError("", "event must be a JSON object", i)
			}
			start := s.i
			if err := decodeEvent(s, p.nextEvent()); err != nil {
				return syntaxRequestError(err)
			}
			if size := s.i - start; size > maxEvent {
				return fieldError("", "event is "+strconv.Itoa(size)+" bytes, larger than the "+strconv.Itoa(maxEvent)+"-byte limit", i)
			}
			more, err := s.nextElement()
			if err != nil {
				return syntaxRequestError(err)
			}
			if !more {
				return nil
			}
		}
	case "context", "integrations":
		c := s.peek()
		v, err := s.value(0)
		if err != nil {
			return syntaxRequestError(err)
		}
		if c == 'n' {
			v = span{}
		} else if c != '{' {
			return fieldError(key, key+" must be an object", -1)
		}
		if key == "context" {
			p.context = v
		} else {
			p.integrations = v
		}
	case "writeKey":
		v, err := s.value(0)
		if err != nil {
			return syntaxRequestError(err)
		}
		p.writeKey = stringValue(p.body, v)
	case "sentAt":
		v, err := s.value(0)
		if err != nil {
			return syntaxRequestError(err)
		}
		t, ok, ferr := timeField(p.body, v, "sentAt")
		if ferr != nil {
			return fieldError("sentAt", ferr.Error(), -1)
		}
		p.sentAt = time.Time{}
		if ok {
			p.sentAt = t
		}
	default:
		// Other envelope keys (analytics-go's messageId, rudder's
		// timestamp) describe the batch, not its events: skip them.
		if _, err := s.value(0); err != nil {
			return syntaxRequestError(err)
		}
	}
	return nil
}

// decodeEvent reads the event object at s.i (a '{') into ev.
func decodeEvent(s *scanner, ev *rawEvent) error {
	if s.beginObject() {
		return nil
	}
	for {
		ks, esc, err := s.key()
		if err != nil {
			return err
		}
		vs, err := s.value(1)
		if err != nil {
			return err
		}
		var slot int
		if esc {
			slot = slotOf([]byte(keyText(s.b, ks, true)))
		} else {
			slot = slotOf(s.b[ks.start+1 : ks.end-1])
		}
		switch slot {
		case slotDrop:
		case slotExtra:
			ev.extra = append(ev.extra, member{key: ks, val: vs, escaped: esc})
		default:
			ev.f[slot] = vs
		}
		more, err := s.nextMember()
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
}

// decodeSingle decodes the body of a single-event route: one JSON object
// of at most maxEvent bytes.
func decodeSingle(body []byte, p *payload, maxEvent int) *requestError {
	body = prepare(body)
	p.body = body
	s := &scanner{b: body}
	if len(body) > maxEvent {
		if s.peek() == 0 {
			return badRequest("request body is empty")
		}
		return badRequest("event is " + strconv.Itoa(len(body)) + " bytes, larger than the " + strconv.Itoa(maxEvent) + "-byte limit")
	}
	if s.peek() != '{' {
		return notObject(s)
	}
	ev := p.nextEvent()
	if err := decodeEvent(s, ev); err != nil {
		return syntaxRequestError(err)
	}
	if err := s.end(); err != nil {
		return syntaxRequestError(err)
	}
	p.writeKey = stringValue(body, ev.f[fWriteKey])
	return nil
}

// keyText returns the decoded text of the quoted key token at ks.
func keyText(b []byte, ks span, escaped bool) string {
	if !escaped {
		return string(b[ks.start+1 : ks.end-1])
	}
	return unquote(b[ks.start:ks.end])
}

// unquote decodes a valid JSON string token with escapes. encoding/json
// does the work: this is the rare path, and it handles surrogates exactly
// as the reader of the stored event will.
func unquote(tok []byte) string {
	var s string
	if err := json.Unmarshal(tok, &s); err != nil {
		return ""
	}
	return s
}

// stringValue returns the decoded string at v, or "" if v is not a string.
func stringValue(b []byte, v span) string {
	if !v.ok() || b[v.start] != '"' {
		return ""
	}
	tok := b[v.start:v.end]
	if bytes.IndexByte(tok, '\\') < 0 {
		return string(tok[1 : len(tok)-1])
	}
	return unquote(tok)
}

func syntaxRequestError(err error) *requestError {
	return badRequest(err.Error())
}
