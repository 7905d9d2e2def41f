package graphemu

import (
	"bytes"
	"encoding/json"
	"net/http"
)

// serveControl is the HTTP control surface for users running the emulator
// as a process. It is never subject to faults.
//
//	GET    /_emulator/events?pixel=ID      accepted events (all pixels without pixel)
//	GET    /_emulator/requests             every call, with problems and responses
//	GET    /_emulator/duplicates?pixel=ID  (event_name, event_id) keys seen twice
//	GET    /_emulator/faults               pending faults
//	POST   /_emulator/faults               queue a Fault, or a JSON array of them
//	DELETE /_emulator/faults               drop pending faults
//	POST   /_emulator/reset                forget requests, events and faults
func (e *Emulator) serveControl(w http.ResponseWriter, r *http.Request) {
	pixel := r.URL.Query().Get("pixel")
	switch r.URL.Path {
	case "/_emulator/events":
		if !allow(w, r, http.MethodGet) {
			return
		}
		events := e.Received(pixel)
		if events == nil {
			events = []Event{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"events": events})
	case "/_emulator/requests":
		if !allow(w, r, http.MethodGet) {
			return
		}
		reqs := e.Requests()
		if reqs == nil {
			reqs = []Request{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"requests": reqs})
	case "/_emulator/duplicates":
		if !allow(w, r, http.MethodGet) {
			return
		}
		if pixel == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "pixel is required"})
			return
		}
		d := e.Duplicates(pixel)
		if d == nil {
			d = []Key{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"duplicates": d})
	case "/_emulator/faults":
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, map[string]any{"faults": e.Faults()})
		case http.MethodPost:
			faults, err := decodeFaults(r)
			if err == nil {
				err = e.Inject(faults...)
			}
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"queued": len(faults)})
		case http.MethodDelete:
			e.ClearFaults()
			w.WriteHeader(http.StatusNoContent)
		default:
			allow(w, r, http.MethodGet, http.MethodPost, http.MethodDelete)
		}
	case "/_emulator/reset":
		if !allow(w, r, http.MethodPost) {
			return
		}
		e.Reset()
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown control endpoint " + r.URL.Path})
	}
}

func decodeFaults(r *http.Request) ([]Fault, error) {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(http.MaxBytesReader(nil, r.Body, 1<<20)); err != nil {
		return nil, err
	}
	body := bytes.TrimSpace(buf.Bytes())
	dec := func(v any) error {
		d := json.NewDecoder(bytes.NewReader(body))
		d.DisallowUnknownFields()
		return d.Decode(v)
	}
	if len(body) > 0 && body[0] == '[' {
		var list []Fault
		err := dec(&list)
		return list, err
	}
	var f Fault
	if err := dec(&f); err != nil {
		return nil, err
	}
	return []Fault{f}, nil
}

func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	for _, m := range methods {
		w.Header().Add("Allow", m)
	}
	writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Interface guard.
var _ http.Handler = (*Emulator)(nil)
