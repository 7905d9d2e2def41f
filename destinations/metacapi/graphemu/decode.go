package graphemu

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
)

// Body encodings accepted by the edge (ref §1: all three are in use).
const (
	EncodingJSON      = "json"      // application/json, data is an array (Node SDK)
	EncodingForm      = "form"      // x-www-form-urlencoded, data is a JSON string (Python, RudderStack)
	EncodingMultipart = "multipart" // multipart/form-data, data is a JSON string (the docs' curl)
	EncodingQuery     = "query"     // no body Graph can read: query string only
)

// params are the call's parameters, merged from the query string and the
// body; the body wins, as in Graph.
type params struct {
	encoding string
	values   map[string]string
	data     []byte // raw JSON of data: an array, or a JSON string holding one
	hasData  bool
}

func (p *params) get(k string) string { return p.values[k] }

// secretParams never leave the emulator: not recorded, not logged.
var secretParams = map[string]bool{"access_token": true, "appsecret_proof": true}

// public returns the parameters other than data and the secrets:
// test_event_code, partner_agent, namespace_id, upload_*, trace… (ref §1).
func (p *params) public() map[string]string {
	out := map[string]string{}
	for k, v := range p.values {
		if !secretParams[k] && k != "data" {
			out[k] = v
		}
	}
	return out
}

func decodeParams(r *http.Request, maxBody int64) (*params, *Error) {
	p := &params{encoding: EncodingQuery, values: map[string]string{}}
	q := r.URL.Query()
	for k := range q {
		p.values[k] = q.Get(k)
	}
	if d, ok := q["data"]; ok {
		p.data, p.hasData = quoteJSON(d[0]), true
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxBody)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/json":
		p.encoding = EncodingJSON
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return p, bodyError(err)
		}
		if len(bytes.TrimSpace(body)) == 0 {
			break
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(body, &obj); err != nil {
			// Not in the reference: Graph's wording for an unreadable JSON body.
			return p, errInvalidParam("Invalid JSON in request body")
		}
		for k, raw := range obj {
			if k == "data" {
				p.data, p.hasData = raw, true
				continue
			}
			var s string
			if json.Unmarshal(raw, &s) == nil {
				p.values[k] = s
			} else {
				p.values[k] = string(raw)
			}
		}
	case "application/x-www-form-urlencoded":
		p.encoding = EncodingForm
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return p, bodyError(err)
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return p, errInvalidParam("Invalid form body")
		}
		p.merge(form)
	case "multipart/form-data":
		p.encoding = EncodingMultipart
		if err := r.ParseMultipartForm(maxBody); err != nil {
			return p, bodyError(err)
		}
		p.merge(r.MultipartForm.Value)
	}
	return p, nil
}

func (p *params) merge(form map[string][]string) {
	for k, v := range form {
		if len(v) == 0 {
			continue
		}
		p.values[k] = v[0]
		if k == "data" {
			p.data, p.hasData = quoteJSON(v[0]), true
		}
	}
}

func quoteJSON(s string) []byte { b, _ := json.Marshal(s); return b }

func bodyError(err error) *Error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		// Meta documents no size limit (ref §2); this is the emulator's own.
		e := errInvalidParam("Request body too large")
		e.Status = http.StatusRequestEntityTooLarge
		return e
	}
	return errInvalidParam("Could not read request body")
}

// events returns data's elements: a JSON array given directly (JSON body)
// or as a JSON string (form bodies) (ref §1), with at most MaxEvents (ref §2).
func (p *params) events() ([]json.RawMessage, *Error) {
	if !p.hasData {
		return nil, errInvalidParam("The parameter data is required")
	}
	raw := bytes.TrimSpace(p.data)
	var s string
	if len(raw) > 0 && raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, errInvalidParam("param data must be an array.")
		}
		raw = bytes.TrimSpace([]byte(s))
	}
	var list []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &list) != nil {
		return nil, errInvalidParam("param data must be an array.")
	}
	if len(list) == 0 {
		return nil, errInvalidParam("The parameter data is required")
	}
	if len(list) > MaxEvents {
		// The limit is documented (ref §2); the wording is not.
		return nil, errInvalidParam("param data must be an array of at most 1000 events")
	}
	return list, nil
}
