package tealium

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"strconv"

	"github.com/switchboard-cdp/switchboard/sources/ingest"
)

// Attributes are one Tealium event's key/value pairs as received: strings
// from a query string or form (a repeated key gives a []any of strings),
// any JSON value from a JSON body, numbers as json.Number so that every
// digit is kept.
type Attributes map[string]any

// keyParam is the query parameter that carries a source's key. It is
// never an attribute, so the key is never stored.
const keyParam = "key"

// ParseQuery reads the attributes of a query string or a form-encoded
// body. The key parameter is left out. Bytes that are not UTF-8 become
// U+FFFD, as in a JSON body.
func ParseQuery(s string) (Attributes, *ingest.Error) {
	vals, err := url.ParseQuery(s)
	if err != nil {
		return nil, ingest.BadRequest("invalid form encoding: " + err.Error())
	}
	attrs := make(Attributes, len(vals))
	for k, vs := range vals {
		if k == keyParam {
			continue
		}
		k = validUTF8(k)
		if len(vs) == 1 {
			attrs[k] = validUTF8(vs[0])
			continue
		}
		list := make([]any, len(vs))
		for i, v := range vs {
			list[i] = validUTF8(v)
		}
		attrs[k] = list
	}
	return attrs, nil
}

// ParseEvent reads the body of POST /event: one JSON object (whatever the
// Content-Type says, as Tealium's clients send application/json or
// text/plain), or form-encoded key=value pairs.
func ParseEvent(body []byte) (Attributes, *ingest.Error) {
	b := trimSpace(bytes.TrimPrefix(body, utf8BOM))
	switch {
	case len(b) == 0:
		return nil, ingest.BadRequest("request body is empty; send a JSON object or form-encoded attributes")
	case b[0] == '{':
		return parseObject(b)
	case b[0] == '[':
		return nil, ingest.BadRequest("body must be one JSON object; send several events to /bulk-event")
	}
	return ParseQuery(string(b))
}

// ParseBulk reads the body of POST /bulk-event, {"shared": {…}, "events":
// [{…}, …]}, the batch shape of Tealium's mobile SDKs, and returns each
// event's attributes merged over the shared ones (an event's own value
// wins). shared and each event may hold at most maxEvent bytes of JSON;
// events may hold at most maxEvents events. Members other than shared and
// events are ignored. An error about one event names it with its index.
func ParseBulk(body []byte, maxEvent, maxEvents int) ([]Attributes, *ingest.Error) {
	b := trimSpace(bytes.TrimPrefix(body, utf8BOM))
	if len(b) == 0 {
		return nil, ingest.BadRequest(`request body is empty; send {"shared": {…}, "events": [{…}, …]}`)
	}
	if b[0] != '{' {
		return nil, ingest.BadRequest(`body must be a JSON object: {"shared": {…}, "events": [{…}, …]}`)
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, jsonError(err)
	}
	var shared Attributes
	if raw, ok := env["shared"]; ok && !isNull(raw) {
		if len(raw) > maxEvent {
			return nil, &ingest.Error{Status: 400, Msg: "shared is larger than " + strconv.Itoa(maxEvent) + " bytes", Field: "shared"}
		}
		if raw[0] != '{' {
			return nil, &ingest.Error{Status: 400, Msg: "shared must be a JSON object", Field: "shared"}
		}
		var err *ingest.Error
		if shared, err = parseObject(raw); err != nil {
			err.Field = "shared"
			return nil, err
		}
	}
	raw, ok := env["events"]
	if !ok || isNull(raw) {
		return nil, &ingest.Error{Status: 400, Msg: "events is required: a list of event objects", Field: "events"}
	}
	if raw[0] != '[' {
		return nil, &ingest.Error{Status: 400, Msg: "events must be a list of event objects", Field: "events"}
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, jsonError(err)
	}
	switch {
	case len(list) == 0:
		return nil, &ingest.Error{Status: 400, Msg: "events is empty", Field: "events"}
	case len(list) > maxEvents:
		return nil, &ingest.Error{Status: 400, Msg: strconv.Itoa(len(list)) + " events in one request; at most " + strconv.Itoa(maxEvents), Field: "events"}
	}
	out := make([]Attributes, len(list))
	for i, r := range list {
		if len(r) > maxEvent {
			return nil, indexError(i, "", "event larger than "+strconv.Itoa(maxEvent)+" bytes")
		}
		if len(r) == 0 || r[0] != '{' {
			return nil, indexError(i, "", "an event must be a JSON object")
		}
		ev, err := parseObject(r)
		if err != nil {
			return nil, indexError(i, "", err.Msg)
		}
		merged := make(Attributes, len(shared)+len(ev))
		for k, v := range shared {
			merged[k] = v
		}
		for k, v := range ev {
			merged[k] = v
		}
		out[i] = merged
	}
	return out, nil
}

// MaxDepth bounds the nesting of a JSON body. Tealium's attributes are
// flat (lists of strings at most); the bound keeps a hostile body from
// producing events too deep for a pipeline to read back.
const MaxDepth = 64

// parseObject decodes one JSON object, numbers as json.Number.
func parseObject(b []byte) (Attributes, *ingest.Error) {
	if tooDeep(b, MaxDepth) {
		return nil, ingest.BadRequest("invalid JSON: nested more than " + strconv.Itoa(MaxDepth) + " levels deep")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var attrs Attributes
	if err := dec.Decode(&attrs); err != nil {
		return nil, jsonError(err)
	}
	if attrs == nil { // the literal null
		return nil, ingest.BadRequest("body must be a JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, ingest.BadRequest("invalid JSON: data after the object")
	}
	return attrs, nil
}

// jsonError words a decoding error without Go type names.
func jsonError(err error) *ingest.Error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return ingest.BadRequest("invalid JSON at offset " + strconv.FormatInt(se.Offset, 10) + ": " + se.Error())
	case errors.As(err, &te):
		what := "a JSON object"
		if te.Field != "" {
			what = "a JSON object; " + te.Field + " is " + te.Value
		}
		return ingest.BadRequest("body must be " + what)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ingest.BadRequest("invalid JSON: unexpected end of input")
	}
	return ingest.BadRequest("invalid JSON: " + err.Error())
}

// indexError is a 400 about the event at index i of a bulk request.
func indexError(i int, field, msg string) *ingest.Error {
	return &ingest.Error{Status: 400, Msg: "events[" + strconv.Itoa(i) + "]: " + msg, Field: field, Index: i, HasIndex: true}
}

// tooDeep reports whether the JSON text b opens more than max objects or
// arrays inside one another (brackets inside strings do not count).
func tooDeep(b []byte, max int) bool {
	depth, inString := 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case inString:
			if c == '\\' {
				i++
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > max {
				return true
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return false
}

var utf8BOM = []byte("\xef\xbb\xbf")

func trimSpace(b []byte) []byte {
	return bytes.TrimFunc(b, func(r rune) bool { return r == ' ' || r == '\t' || r == '\r' || r == '\n' })
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }
