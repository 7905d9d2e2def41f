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
	// body and dataVal: the parsed JSON body and its data member, when
	// data came from a JSON body; body also holds data's array otherwise.
	body    *doc
	dataVal jval
	docs    *docCache
}

// release returns the parsed document to the cache.
func (p *params) release() {
	p.docs.put(p.body)
	p.body = nil
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

func decodeParams(r *http.Request, maxBody int64, docs *docCache) (*params, *Error) {
	p := &params{encoding: EncodingQuery, values: map[string]string{}, docs: docs}
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
		body, err := readBody(r.Body, r.ContentLength, maxBody)
		if err != nil {
			return p, bodyError(err)
		}
		if len(bytes.TrimSpace(body)) == 0 {
			break
		}
		// One parse of the whole body; as json.Unmarshal into a
		// map[string]json.RawMessage, null is an empty object and a key
		// given twice keeps its last value.
		d := docs.get()
		p.body = d
		root, ok := d.parse(body)
		if !ok || (root.kind != jObject && root.kind != jNull) {
			// Not in the reference: Graph's wording for an unreadable JSON body.
			return p, errInvalidParam("Invalid JSON in request body")
		}
		kids := d.children(root)
		for j := 0; j+1 < len(kids); j += 2 {
			k, v := d.text(kids[j]), kids[j+1]
			switch {
			case k == "data":
				p.data, p.hasData, p.dataVal = d.raw(v), true, v
			case v.kind == jString:
				p.values[k] = d.text(v)
			case v.kind == jNull:
				p.values[k] = ""
			default:
				p.values[k] = string(d.raw(v))
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
			p.data, p.hasData, p.dataVal = quoteJSON(v[0]), true, jval{}
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

// readBody is io.ReadAll with a buffer sized for the declared length.
func readBody(r io.Reader, length, maxBody int64) ([]byte, error) {
	size := 512
	if length > 0 && length < maxBody {
		size = int(length) + 1
	}
	b := make([]byte, 0, size)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// events returns data's elements, as values of d: a JSON array given
// directly (JSON body) or as a JSON string (form bodies) (ref §1), with at
// most MaxEvents (ref §2). d is p.body or a document p.release frees.
func (p *params) events() (d *doc, list []jval, perr *Error) {
	if !p.hasData {
		return nil, nil, errInvalidParam("The parameter data is required")
	}
	if p.dataVal.kind == jArray {
		d, list = p.body, p.body.children(p.dataVal)
	} else {
		raw := bytes.TrimSpace(p.data)
		var s string
		if len(raw) > 0 && raw[0] == '"' {
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, nil, errInvalidParam("param data must be an array.")
			}
			raw = bytes.TrimSpace([]byte(s))
		}
		if len(raw) == 0 || raw[0] != '[' {
			return nil, nil, errInvalidParam("param data must be an array.")
		}
		if p.body == nil {
			p.body = p.docs.get()
		}
		d = p.body
		root, ok := d.parse(raw)
		if !ok || root.kind != jArray {
			return nil, nil, errInvalidParam("param data must be an array.")
		}
		list = d.children(root)
	}
	if len(list) == 0 {
		return nil, nil, errInvalidParam("The parameter data is required")
	}
	if len(list) > MaxEvents {
		// The limit is documented (ref §2); the wording is not.
		return nil, nil, errInvalidParam("param data must be an array of at most 1000 events")
	}
	return d, list, nil
}
