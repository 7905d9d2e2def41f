package ingest

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Error is a refused request: the status and the message of the JSON error
// body, {"success":false,"error":Msg,"field":Field,"index":Index}. Its
// message never contains a credential.
type Error struct {
	Status int
	Msg    string
	// Field is the offending attribute or JSON key, if one is at fault.
	Field string
	// Index is the position of the offending event in a batch, when
	// HasIndex.
	Index    int
	HasIndex bool
}

func (e *Error) Error() string { return e.Msg }

// BadRequest is a 400 that names no field.
func BadRequest(msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Msg: msg}
}

type errorBody struct {
	Success bool   `json:"success"`
	Error   string `json:"error"`
	Field   string `json:"field,omitempty"`
	Index   *int   `json:"index,omitempty"`
}

var okBody = []byte(`{"success":true}`)

// WriteOK answers 200 {"success":true} and returns 200.
func WriteOK(w http.ResponseWriter) int {
	WriteJSON(w, http.StatusOK, okBody)
	return http.StatusOK
}

// WriteError answers with e's status and JSON body and returns the status.
func WriteError(w http.ResponseWriter, e *Error) int {
	body := errorBody{Error: e.Msg, Field: e.Field}
	if e.HasIndex {
		body.Index = &e.Index
	}
	b, err := json.Marshal(body)
	if err != nil {
		b = []byte(`{"success":false,"error":"request refused"}`)
	}
	WriteJSON(w, e.Status, b)
	return e.Status
}

// WriteJSON answers with code and the JSON document body.
func WriteJSON(w http.ResponseWriter, code int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// MethodNotAllowed answers 405 with allow (e.g. "POST, OPTIONS") in the
// Allow header and the error, and returns 405.
func MethodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) int {
	w.Header().Set("Allow", allow)
	return WriteError(w, &Error{Status: http.StatusMethodNotAllowed, Msg: "method " + r.Method + " not allowed; allowed: " + allow})
}

// retryAfterUnavailable is the Retry-After, in seconds, of a 503.
const retryAfterUnavailable = "5"

// errUnavailable: the bus did not store the events (503).
var errUnavailable = &Error{Status: http.StatusServiceUnavailable, Msg: "events could not be stored; retry later"}

// Unavailable answers 503 with Retry-After, for events the bus did not
// store; every SDK retries it. It returns 503.
func Unavailable(w http.ResponseWriter) int {
	w.Header().Set("Retry-After", retryAfterUnavailable)
	return WriteError(w, errUnavailable)
}

// StatusLabel is the code label of the requests metric.
func StatusLabel(code int) string {
	switch code {
	case 200:
		return "200"
	case 204:
		return "204"
	case 400:
		return "400"
	case 401:
		return "401"
	case 404:
		return "404"
	case 429:
		return "429"
	case 503:
		return "503"
	}
	return strconv.Itoa(code)
}
