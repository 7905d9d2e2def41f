package segment

import (
	"encoding/json"
	"net/http"
	"strconv"
)

type errorBody struct {
	Success bool   `json:"success"`
	Error   string `json:"error"`
	Field   string `json:"field,omitempty"`
	Index   *int   `json:"index,omitempty"`
}

var okBody = []byte(`{"success":true}`)

func writeOK(w http.ResponseWriter) int {
	writeJSON(w, http.StatusOK, okBody)
	return http.StatusOK
}

// writeError answers with e's status and JSON body and returns the status.
func writeError(w http.ResponseWriter, e *requestError) int {
	body := errorBody{Error: e.msg, Field: e.field}
	if e.hasIndex {
		body.Index = &e.index
	}
	b, err := json.Marshal(body)
	if err != nil {
		b = []byte(`{"success":false,"error":"request refused"}`)
	}
	writeJSON(w, e.status, b)
	return e.status
}

func writeJSON(w http.ResponseWriter, code int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) int {
	w.Header().Set("Allow", allow)
	return writeError(w, &requestError{status: http.StatusMethodNotAllowed, msg: "method " + r.Method + " not allowed; allowed: " + allow})
}

// statusLabel is the code label of the requests metric.
func statusLabel(code int) string {
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
