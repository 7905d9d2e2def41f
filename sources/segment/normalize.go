package segment

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/switchboard-cdp/switchboard/core/event"
)

// normalizer turns the decoded events of one request into stored events.
// One request shares one receivedAt, client IP and batch envelope.
type normalizer struct {
	body         []byte
	source       string
	sourceJSON   []byte    // source as a JSON string token
	received     time.Time // UTC
	ipJSON       []byte    // the client IP as a JSON string token; nil when unknown
	batchSentAt  time.Time // zero when the envelope has none
	pathType     event.Type
	baseContext  []member // the batch context's members
	baseIntegr   []member // the batch integrations' members
	haveBaseCtx  bool
	haveBaseIntg bool
	scratch      []member
	// receivedRFC and sentAtRFC are received and batchSentAt in RFC 3339,
	// which every event of a batch repeats; formatted once.
	receivedRFC []byte
	sentAtRFC   []byte
}

func newNormalizer(p *payload, source string, sourceJSON []byte, received time.Time, ip string, pathType event.Type) *normalizer {
	n := &normalizer{
		body:        p.body,
		source:      source,
		sourceJSON:  sourceJSON,
		received:    received.UTC(),
		batchSentAt: p.sentAt,
		pathType:    pathType,
	}
	n.receivedRFC = n.received.AppendFormat(nil, time.RFC3339Nano)
	if !p.sentAt.IsZero() {
		n.sentAtRFC = p.sentAt.AppendFormat(nil, time.RFC3339Nano)
	}
	if ip != "" {
		n.ipJSON, _ = json.Marshal(ip)
	}
	if p.context.ok() {
		n.baseContext, n.haveBaseCtx = listMembers(p.body, p.context, nil), true
	}
	if p.integrations.ok() {
		n.baseIntegr, n.haveBaseIntg = listMembers(p.body, p.integrations, nil), true
	}
	return n
}

// normalize checks and enriches one event: it fills ev's scalar fields
// (Properties, Traits, Context, Integrations and Extra stay nil: they are
// never decoded), validates ev, and appends the event's stored JSON to out.
// Errors are *event.FieldError.
//
// Enrichment follows tracking-api.md: a messageId when missing; receivedAt;
// sentAt = event.sentAt ?? batch.sentAt ?? receivedAt; originalTimestamp =
// event.originalTimestamp ?? event.timestamp ?? receivedAt; timestamp =
// receivedAt − (sentAt − originalTimestamp); the batch's context and
// integrations merged under the event's own, at every depth; context.ip
// when the event has no non-empty one.
func (n *normalizer) normalize(re *rawEvent, ev *event.Event, out []byte) ([]byte, error) {
	b := n.body
	*ev = event.Event{Source: n.source, ReceivedAt: n.received}

	// type: on single-event routes the path decides, and a body type that
	// says otherwise is a client bug worth a 400.
	if tv := re.f[fType]; present(b, tv) {
		if b[tv.start] != '"' {
			return out, &event.FieldError{Field: "type", Reason: "type must be a string"}
		}
		ev.Type = typeValue(b, tv)
		if n.pathType != "" && ev.Type != n.pathType {
			return out, &event.FieldError{Field: "type", Reason: "type " + quoteShort(string(ev.Type)) + " contradicts the endpoint, which takes " + string(n.pathType)}
		}
	} else if n.pathType == "" {
		return out, &event.FieldError{Field: "type", Reason: "type is required"}
	}
	if n.pathType != "" {
		ev.Type = n.pathType
	}
	if !ev.Type.Valid() {
		return out, &event.FieldError{Field: "type", Reason: "type must be one of identify, track, page, screen, group, alias"}
	}

	var err error
	if ev.UserID, err = scalarField(b, re.f[fUserID], "userId", " must be a string or a number"); err != nil {
		return out, err
	}
	if ev.AnonymousID, err = scalarField(b, re.f[fAnonymousID], "anonymousId", " must be a string or a number"); err != nil {
		return out, err
	}
	if ev.GroupID, err = scalarField(b, re.f[fGroupID], "groupId", " must be a string or a number"); err != nil {
		return out, err
	}
	if ev.PreviousID, err = scalarField(b, re.f[fPreviousID], "previousId", " must be a string or a number"); err != nil {
		return out, err
	}
	if ev.MessageID, err = scalarField(b, re.f[fMessageID], "messageId", " must be a string"); err != nil {
		return out, err
	}
	generatedID := ev.MessageID == ""
	if generatedID {
		ev.MessageID = newMessageID()
	}
	if ev.Event, err = scalarField(b, re.f[fEvent], "event", " must be a string"); err != nil {
		return out, err
	}
	if ev.Name, err = scalarField(b, re.f[fName], "name", " must be a string"); err != nil {
		return out, err
	}
	if ev.Category, err = scalarField(b, re.f[fCategory], "category", " must be a string"); err != nil {
		return out, err
	}
	for _, o := range [...]struct {
		slot int
		name string
	}{{fProperties, "properties"}, {fTraits, "traits"}, {fContext, "context"}, {fIntegrations, "integrations"}} {
		if v := re.f[o.slot]; present(b, v) && b[v.start] != '{' {
			return out, &event.FieldError{Field: o.name, Reason: o.name + " must be an object"}
		}
	}

	// Time: the client's clock is off by (sentAt − receivedAt); remove
	// that skew from the moment the call happened on the client.
	sent, ok, err := timeField(b, re.f[fSentAt], "sentAt")
	if err != nil {
		return out, err
	}
	if !ok {
		sent = n.batchSentAt
		if sent.IsZero() {
			sent = n.received
		}
	}
	orig, ok, err := timeField(b, re.f[fOriginalTimestamp], "originalTimestamp")
	if err != nil {
		return out, err
	}
	ts, tsOK, err := timeField(b, re.f[fTimestamp], "timestamp")
	if err != nil {
		return out, err
	}
	if !ok {
		orig = n.received
		if tsOK {
			orig = ts
		}
	}
	ev.SentAt = sent
	ev.OriginalTimestamp = orig
	ev.Timestamp = orig.Add(n.received.Sub(sent))
	if y := ev.Timestamp.Year(); y < 1 || y > 9999 {
		return out, &event.FieldError{Field: "timestamp", Reason: "timestamp after clock-skew correction is outside years 1–9999"}
	}

	if err := ev.Validate(); err != nil {
		return out, err
	}
	return n.appendEvent(out, re, ev, generatedID), nil
}

// appendEvent writes the stored JSON of the validated event: the same
// fields, order and omissions as event.Event's MarshalJSON, with the
// client's nested values copied as sent.
func (n *normalizer) appendEvent(out []byte, re *rawEvent, ev *event.Event, generatedID bool) []byte {
	b := n.body
	out = append(out, `{"messageId":`...)
	if generatedID {
		out = append(out, '"')
		out = append(out, ev.MessageID...)
		out = append(out, '"')
	} else {
		out = appendScalar(out, b, re.f[fMessageID])
	}
	out = append(out, `,"type":"`...)
	out = append(out, ev.Type...)
	out = append(out, '"')
	out = n.appendOptional(out, `,"event":`, ev.Event, re.f[fEvent])
	out = n.appendOptional(out, `,"name":`, ev.Name, re.f[fName])
	out = n.appendOptional(out, `,"category":`, ev.Category, re.f[fCategory])
	out = n.appendOptional(out, `,"userId":`, ev.UserID, re.f[fUserID])
	out = n.appendOptional(out, `,"anonymousId":`, ev.AnonymousID, re.f[fAnonymousID])
	out = n.appendOptional(out, `,"groupId":`, ev.GroupID, re.f[fGroupID])
	out = n.appendOptional(out, `,"previousId":`, ev.PreviousID, re.f[fPreviousID])
	out = n.appendTime(out, `,"timestamp":"`, ev.Timestamp)
	if !ev.OriginalTimestamp.IsZero() {
		out = n.appendTime(out, `,"originalTimestamp":"`, ev.OriginalTimestamp)
	}
	if !ev.SentAt.IsZero() {
		out = n.appendTime(out, `,"sentAt":"`, ev.SentAt)
	}
	out = n.appendTime(out, `,"receivedAt":"`, ev.ReceivedAt)
	for _, o := range [...]struct {
		slot int
		key  string
	}{{fProperties, `,"properties":`}, {fTraits, `,"traits":`}} {
		if v := re.f[o.slot]; present(b, v) && !emptyObject(b, v) {
			out = append(out, o.key...)
			out = append(out, b[v.start:v.end]...)
		}
	}
	out = n.appendObject(out, `,"context":`, re.f[fContext], n.baseContext, n.haveBaseCtx, n.ipJSON)
	out = n.appendObject(out, `,"integrations":`, re.f[fIntegrations], n.baseIntegr, n.haveBaseIntg, nil)
	out = append(out, `,"source":`...)
	out = append(out, n.sourceJSON...)
	for _, m := range re.extra {
		out = append(out, ',')
		out = append(out, b[m.key.start:m.key.end]...)
		out = append(out, ':')
		out = append(out, b[m.val.start:m.val.end]...)
	}
	return append(out, '}')
}

func (n *normalizer) appendOptional(out []byte, key, decoded string, v span) []byte {
	if decoded == "" {
		return out
	}
	out = append(out, key...)
	return appendScalar(out, n.body, v)
}

// appendObject writes key and the event's object own with the batch's
// members merged under it and "ip" set when ip is not nil; nothing when
// the result is empty (as omitempty does for an empty map).
func (n *normalizer) appendObject(out []byte, key string, own span, base []member, haveBase bool, ip []byte) []byte {
	b := n.body
	hasOwn := present(b, own)
	if !haveBase && ip == nil {
		if hasOwn && !emptyObject(b, own) {
			out = append(out, key...)
			out = append(out, b[own.start:own.end]...)
		}
		return out
	}
	n.scratch = n.scratch[:0]
	if hasOwn {
		n.scratch = listMembers(b, own, n.scratch)
	}
	mark := len(out)
	out = append(out, key...)
	out, count := appendMerged(out, b, n.scratch, base, ip)
	if count == 0 {
		return out[:mark]
	}
	return out
}

// appendMerged writes an object of own's members with base's merged under
// them: a key in own wins, except that where both hold objects those are
// merged the same way; base's other keys follow. With ip set, "ip" is
// added when the result's ip (own's last, else base's last) is not a
// non-empty string, replacing whatever "ip" members there were. Duplicate
// keys are kept in order, so a reader that takes the last one sees what
// encoding/json would have built from the same input. It returns the
// number of members written.
func appendMerged(out, b []byte, own, base []member, ip []byte) ([]byte, int) {
	wantIP := false
	if ip != nil {
		v, found := lastNamed(b, own, "ip")
		if !found {
			v, found = lastNamed(b, base, "ip")
		}
		wantIP = !found || !nonEmptyString(b, v)
	}
	out = append(out, '{')
	count := 0
	for _, m := range own {
		if wantIP && named(b, m, "ip") {
			continue
		}
		if count > 0 {
			out = append(out, ',')
		}
		count++
		out = append(out, b[m.key.start:m.key.end]...)
		out = append(out, ':')
		if j := lastSameKey(b, base, m); j >= 0 && b[m.val.start] == '{' && b[base[j].val.start] == '{' {
			out, _ = appendMerged(out, b, listMembers(b, m.val, nil), listMembers(b, base[j].val, nil), nil)
			continue
		}
		out = append(out, b[m.val.start:m.val.end]...)
	}
	for _, m := range base {
		if (wantIP && named(b, m, "ip")) || lastSameKey(b, own, m) >= 0 {
			continue
		}
		if count > 0 {
			out = append(out, ',')
		}
		count++
		out = append(out, b[m.key.start:m.key.end]...)
		out = append(out, ':')
		out = append(out, b[m.val.start:m.val.end]...)
	}
	if wantIP {
		if count > 0 {
			out = append(out, ',')
		}
		count++
		out = append(out, `"ip":`...)
		out = append(out, ip...)
	}
	return append(out, '}'), count
}

// listMembers appends the members of the (already validated) object at obj.
func listMembers(b []byte, obj span, dst []member) []member {
	s := scanner{b: b[:obj.end], i: obj.start}
	if s.beginObject() {
		return dst
	}
	for {
		ks, esc, err := s.key()
		if err != nil {
			return dst
		}
		vs, err := s.value(1)
		if err != nil {
			return dst
		}
		dst = append(dst, member{key: ks, val: vs, escaped: esc})
		if more, err := s.nextMember(); err != nil || !more {
			return dst
		}
	}
}

func named(b []byte, m member, name string) bool {
	if !m.escaped {
		return string(b[m.key.start+1:m.key.end-1]) == name
	}
	return keyText(b, m.key, true) == name
}

func lastNamed(b []byte, ms []member, name string) (span, bool) {
	for i := len(ms) - 1; i >= 0; i-- {
		if named(b, ms[i], name) {
			return ms[i].val, true
		}
	}
	return span{}, false
}

// lastSameKey is the index of the last member of ms whose key equals m's.
func lastSameKey(b []byte, ms []member, m member) int {
	for i := len(ms) - 1; i >= 0; i-- {
		x := ms[i]
		if !x.escaped && !m.escaped {
			if bytes.Equal(b[x.key.start:x.key.end], b[m.key.start:m.key.end]) {
				return i
			}
		} else if keyText(b, x.key, x.escaped) == keyText(b, m.key, m.escaped) {
			return i
		}
	}
	return -1
}

// typeValue decodes the type string at v, without allocating for the
// spec's types.
func typeValue(b []byte, v span) event.Type {
	switch string(b[v.start:v.end]) {
	case `"track"`:
		return event.Track
	case `"identify"`:
		return event.Identify
	case `"page"`:
		return event.Page
	case `"screen"`:
		return event.Screen
	case `"group"`:
		return event.Group
	case `"alias"`:
		return event.Alias
	}
	return event.Type(stringValue(b, v))
}

// present reports whether v holds a value other than null.
func present(b []byte, v span) bool { return v.ok() && b[v.start] != 'n' }

func nonEmptyString(b []byte, v span) bool {
	return v.ok() && b[v.start] == '"' && v.end-v.start > 2
}

// emptyObject reports whether the object at v has no members.
func emptyObject(b []byte, v span) bool {
	return len(bytes.TrimLeft(b[v.start+1:v.end], " \t\r\n")) == 1
}

// appendScalar writes a string token as sent, or a number as a string of
// its exact digits.
func appendScalar(out, b []byte, v span) []byte {
	if b[v.start] == '"' {
		return append(out, b[v.start:v.end]...)
	}
	out = append(out, '"')
	out = append(out, b[v.start:v.end]...)
	return append(out, '"')
}

// appendTime appends key, t in RFC 3339 and a closing quote; the
// request's receivedAt and sentAt as formatted once (== : the same instant
// and location, so the same text).
func (n *normalizer) appendTime(out []byte, key string, t time.Time) []byte {
	out = append(out, key...)
	switch {
	case t == n.received:
		out = append(out, n.receivedRFC...)
	case t == n.batchSentAt && n.sentAtRFC != nil:
		out = append(out, n.sentAtRFC...)
	default:
		out = t.AppendFormat(out, time.RFC3339Nano)
	}
	return append(out, '"')
}

// scalarField reads an optional string, or a number kept as its digits
// (rudder-sdk-node sends numeric ids). reason completes the error message.
func scalarField(b []byte, v span, field, reason string) (string, error) {
	if !present(b, v) {
		return "", nil
	}
	switch c := b[v.start]; {
	case c == '"':
		return stringValue(b, v), nil
	case c == '-' || isDigit(c):
		return string(b[v.start:v.end]), nil
	}
	return "", &event.FieldError{Field: field, Reason: field + reason}
}

// timeLayouts are the ISO-8601 forms clients send: RFC 3339 (analytics.js,
// -node, -java, -ruby), offsets without a colon, and Python's naive
// isoformat() (read as UTC).
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999Z07",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

// timeField parses an optional ISO-8601 date-time; null or "" is absent.
func timeField(b []byte, v span, field string) (time.Time, bool, error) {
	if !present(b, v) {
		return time.Time{}, false, nil
	}
	if b[v.start] == '"' {
		s := stringValue(b, v)
		if s == "" {
			return time.Time{}, false, nil
		}
		if t, ok := parseTime(s); ok {
			return t, true, nil
		}
	}
	return time.Time{}, false, &event.FieldError{Field: field, Reason: field + " must be an ISO-8601 date-time such as 2024-05-01T12:00:00.000Z"}
}

func parseTime(s string) (time.Time, bool) {
	if len(s) > 64 {
		return time.Time{}, false
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// newMessageID returns "sb-" and a random version-4 UUID.
func newMessageID() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand never fails
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var s [3 + 36]byte
	copy(s[:], "sb-")
	hex.Encode(s[3:11], u[0:4])
	s[11] = '-'
	hex.Encode(s[12:16], u[4:6])
	s[16] = '-'
	hex.Encode(s[17:21], u[6:8])
	s[21] = '-'
	hex.Encode(s[22:26], u[8:10])
	s[26] = '-'
	hex.Encode(s[27:], u[10:16])
	return string(s[:])
}

// quoteShort quotes s for an error message, cut to a sane length.
func quoteShort(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	q, _ := json.Marshal(s)
	return string(q)
}
