package tealium

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-cdp/switchboard/core/event"
	"github.com/switchboard-cdp/switchboard/sources/ingest"
)

// Request is what Normalize takes from the HTTP request rather than from
// the attributes.
type Request struct {
	Source          string    // the source's name (event.Event.Source)
	UserIDAttribute string    // the attribute that becomes userId
	Received        time.Time // receivedAt
	IP              string    // context.ip; "" when unknown
	UserAgent       string    // context.userAgent; "" when none
}

// The standard attributes Normalize reads.
const (
	attrEvent     = "tealium_event"
	attrEventType = "tealium_event_type" // the mobile SDKs': view or event
	attrVisitorID = "tealium_visitor_id"
	attrEpoch     = "tealium_timestamp_epoch"
	attrEpochMS   = "tealium_timestamp_epoch_milliseconds" // the Swift SDK's
	attrUTC       = "tealium_timestamp_utc"
	// attrVisitorCookie is utag.js's flattened utag_main cookie, whose
	// v_id tealium_visitor_id is read from.
	attrVisitorCookie = "cp.utag_main_v_id"
	// attrMessageID lets a sender choose the messageId, e.g. to share it
	// with a browser pixel's eventID.
	attrMessageID = "messageId"
	tealiumPrefix = "tealium_"
)

// domPage maps utag.js's page data (dom.url, … flattened, or a dom
// object) to context.page's keys.
var domPage = map[string]string{"url": "url", "referrer": "referrer", "title": "title", "pathname": "path"}

// messageIDPrefix starts every derived messageId.
const messageIDPrefix = "tealium-"

// Normalize maps one Tealium event's attributes to the canonical event:
//
//   - tealium_event view is a page call; any other value (link, purchase,
//     …) a track call whose event is that value; it is required. The
//     mobile SDKs mark a screen view with tealium_event_type view and the
//     screen's name in tealium_event: that is a screen call with that
//     name.
//   - tealium_visitor_id (else utag.js's cp.utag_main_v_id) is the
//     anonymousId; req.UserIDAttribute's value is the userId (the
//     attribute also stays in properties); one of the two is required.
//   - every tealium_* attribute goes to context.tealium without the
//     prefix: context.tealium.account, .visitor_id, .trace_id,
//     .session_id, .timestamp_epoch, .event, …
//   - dom.url, dom.referrer, dom.title and dom.pathname (flattened, as
//     utag.js sends them, or inside a "dom" object) become context.page's
//     url, referrer, title and path; the request's client IP and
//     User-Agent become context.ip and context.userAgent.
//   - every other attribute goes to properties under its own name, values
//     as received (query and form values are strings).
//   - originalTimestamp is tealium_timestamp_epoch_milliseconds, else
//     tealium_timestamp_epoch (seconds, or milliseconds when it is that
//     large), else tealium_timestamp_utc;
//     timestamp is that moment, or receivedAt when there is none or it is
//     later than receivedAt.
//   - messageId is the attribute messageId when sent; otherwise it is
//     derived from the attributes, "tealium-" and 32 hex digits of their
//     SHA-256, so a retried beacon gets the same id and is stored once.
//
// A refusal is a 400 naming the attribute at fault.
func Normalize(attrs Attributes, req *Request) (*event.Event, *ingest.Error) {
	ev := &event.Event{Source: req.Source, ReceivedAt: req.Received.UTC()}

	name, err := scalar(attrs, attrEvent)
	if err != nil {
		return nil, err
	}
	kind, err := scalar(attrs, attrEventType)
	if err != nil {
		return nil, err
	}
	switch {
	case name == "":
		return nil, fieldError(attrEvent, "tealium_event is required: view for a page view, link or an event name for a track call")
	case name == "view":
		ev.Type = event.Page
	case kind == "view":
		// The mobile SDKs' TealiumView: tealium_event is the screen's name.
		ev.Type = event.Screen
		ev.Name = name
	default:
		ev.Type = event.Track
		ev.Event = name
	}
	if ev.AnonymousID, err = scalar(attrs, attrVisitorID); err != nil {
		return nil, err
	}
	if ev.AnonymousID == "" {
		if ev.AnonymousID, err = scalar(attrs, attrVisitorCookie); err != nil {
			return nil, err
		}
	}
	if ev.UserID, err = scalar(attrs, req.UserIDAttribute); err != nil {
		return nil, err
	}
	if ev.UserID == "" && ev.AnonymousID == "" {
		return nil, fieldError(attrVisitorID, "tealium_visitor_id or "+req.UserIDAttribute+" is required")
	}
	if ev.MessageID, err = scalar(attrs, attrMessageID); err != nil {
		return nil, err
	}
	if ev.MessageID == "" {
		ev.MessageID = deriveMessageID(attrs)
	}

	props := make(map[string]any, len(attrs))
	tctx := map[string]any{}
	page := map[string]any{}
	for k, v := range attrs {
		switch {
		case k == attrMessageID:
		case strings.HasPrefix(k, tealiumPrefix) && len(k) > len(tealiumPrefix):
			tctx[k[len(tealiumPrefix):]] = v
		case k == "dom":
			if rest := pageFromDOM(v, page, false); rest != nil {
				props[k] = rest
			}
		case strings.HasPrefix(k, "dom."):
			if key, ok := domPage[k[len("dom."):]]; ok {
				if s, ok := v.(string); ok {
					page[key] = s // flattened keys win over a dom object's
					continue
				}
			}
			props[k] = v
		default:
			props[k] = v
		}
	}
	if dom, ok := attrs["dom"]; ok {
		pageFromDOM(dom, page, true)
	}
	ctx := map[string]any{}
	if req.IP != "" {
		ctx["ip"] = req.IP
	}
	if req.UserAgent != "" {
		ctx["userAgent"] = req.UserAgent
	}
	if len(page) > 0 {
		ctx["page"] = page
	}
	if len(tctx) > 0 {
		ctx["tealium"] = tctx
	}
	if len(props) > 0 {
		ev.Properties = props
	}
	if len(ctx) > 0 {
		ev.Context = ctx
	}

	ev.Timestamp = ev.ReceivedAt
	if t, ok := clientTime(attrs); ok {
		ev.OriginalTimestamp = t
		if t.Before(ev.ReceivedAt) {
			ev.Timestamp = t
		}
	}
	if verr := ev.Validate(); verr != nil {
		fe, _ := verr.(*event.FieldError)
		if fe != nil {
			return nil, fieldError(fe.Field, fe.Error())
		}
		return nil, ingest.BadRequest(verr.Error())
	}
	return ev, nil
}

// pageFromDOM copies the page data of a dom object into page. In the
// first pass (fill false) it returns the object's other members (nil when
// none, or when v is not an object, which is then kept whole); in the
// second (fill true) it fills the page keys the flattened attributes did
// not set.
func pageFromDOM(v any, page map[string]any, fill bool) any {
	m, ok := v.(map[string]any)
	if !ok {
		if fill {
			return nil
		}
		return v
	}
	var rest map[string]any
	for k, x := range m {
		key, known := domPage[k]
		s, isString := x.(string)
		if known && isString {
			if fill {
				if _, set := page[key]; !set {
					page[key] = s
				}
			}
			continue
		}
		if !fill {
			if rest == nil {
				rest = map[string]any{}
			}
			rest[k] = x
		}
	}
	if rest == nil {
		return nil
	}
	return rest
}

// scalar reads attribute k as a string: a string as is, a number as
// written; absent, null or "" give "". Lists, objects and booleans are an
// error naming k.
func scalar(attrs Attributes, k string) (string, *ingest.Error) {
	switch v := attrs[k].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	}
	return "", fieldError(k, k+" must be a string or a number")
}

// clientTime is the moment the event happened on the client, when the
// attributes say so and it is a representable time.
func clientTime(attrs Attributes) (time.Time, bool) {
	for _, k := range [...]string{attrEpochMS, attrEpoch} {
		s, err := scalar(attrs, k)
		if err != nil || s == "" {
			continue
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 && !math.IsInf(f, 0) {
			ms := f // milliseconds already when that large
			if k == attrEpoch && f < 1e11 {
				ms = f * 1000
			}
			if ms = math.Round(ms); ms < 253402300800000 { // before year 10000
				return time.UnixMilli(int64(ms)).UTC(), true
			}
		}
	}
	if s, err := scalar(attrs, attrUTC); err == nil && s != "" {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil && t.Year() >= 1 && t.Year() <= 9999 {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// deriveMessageID is the messageId of an event that has none: a hash of
// its attributes in a canonical form (encoding/json writes map keys
// sorted, at every depth, and json.Number as received), so the same
// attributes give the same id on every retry, whatever the route or the
// key order on the wire.
func deriveMessageID(attrs Attributes) string {
	b, err := json.Marshal(map[string]any(attrs))
	if err != nil {
		// Unreachable for parsed attributes; still a stable id.
		b = []byte(err.Error())
	}
	sum := sha256.Sum256(b)
	return messageIDPrefix + hex.EncodeToString(sum[:16])
}

// fieldError is a 400 naming the attribute at fault.
func fieldError(field, msg string) *ingest.Error {
	return &ingest.Error{Status: 400, Msg: msg, Field: field}
}
