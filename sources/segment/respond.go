package segment

import (
	"bytes"
	"net/http"

	"github.com/switchboard-cdp/switchboard/sources/ingest"
)

// writeError answers with e's status and the shared JSON error body and
// returns the status.
func writeError(w http.ResponseWriter, e *requestError) int {
	return ingest.WriteError(w, &ingest.Error{Status: e.status, Msg: e.msg, Field: e.field, Index: e.index, HasIndex: e.hasIndex})
}

// readBody reads the request body with the shared reader, capped at
// h.base.Limits.Request. The caller returns the buffer with ingest.PutBuffer, also on
// error.
func (h *Handler) readBody(r *http.Request) (*bytes.Buffer, *requestError) {
	buf, err := ingest.ReadBody(r, h.base.Limits.Request)
	if err != nil {
		return buf, &requestError{status: err.Status, msg: err.Msg}
	}
	return buf, nil
}
