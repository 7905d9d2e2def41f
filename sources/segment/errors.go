package segment

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/switchboard-cdp/switchboard/core/event"
)

// requestError is a refused request: the status and the JSON error body.
// Its message never contains a write key.
type requestError struct {
	status int
	msg    string
	field  string // the offending JSON key, if one is at fault
	index  int    // batch index of the offending event, when hasIndex
	// hasIndex says the error is about the event at index of a batch.
	hasIndex bool
}

func (e *requestError) Error() string { return e.msg }

// badRequest is a 400 that names no field.
func badRequest(msg string) *requestError {
	return &requestError{status: http.StatusBadRequest, msg: msg}
}

// fieldError is a 400 that names a field of the request or of the event at
// batch index (-1: not in a batch).
func fieldError(field, msg string, index int) *requestError {
	e := &requestError{status: http.StatusBadRequest, msg: msg, field: field}
	if index >= 0 {
		e.msg = "batch[" + strconv.Itoa(index) + "]: " + msg
		e.index, e.hasIndex = index, true
	}
	return e
}

// eventError turns a normalisation or validation error of event i into a
// 400; inBatch says whether to name the index.
func eventError(err error, inBatch bool, i int) *requestError {
	if !inBatch {
		i = -1
	}
	var fe *event.FieldError
	if errors.As(err, &fe) {
		return fieldError(fe.Field, fe.Error(), i)
	}
	return fieldError("", err.Error(), i)
}

// Refusals that carry no detail of the request.
var (
	// errUnauthorized: no write key, or one no source has (401).
	errUnauthorized = &requestError{status: http.StatusUnauthorized, msg: "missing or unknown write key"}
	// errRateLimited is returned by decode when the source authenticated
	// by the body is over its rate limit; the caller answers with ingest.TooManyRequests.
	errRateLimited = &requestError{status: http.StatusTooManyRequests, msg: "rate limit exceeded"}
)
