package gateway

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"
)

const (
	defaultEventsLimit = 20
	maxEventsLimit     = 1000
)

func (g *Gateway) api(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/api/events":
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", "GET")
			WriteError(w, http.StatusMethodNotAllowed, "use GET")
			return
		}
		g.events(w, r)
	default:
		WriteError(w, http.StatusNotFound, "no such admin endpoint: "+r.URL.Path)
	}
}

// events answers GET /api/events?source=S&limit=N[&after=SEQ] with the most
// recent stored events, oldest first.
func (g *Gateway) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	source := q.Get("source")
	filter := "events.>"
	if source != "" {
		if !slices.Contains(g.opts.Sources, source) {
			WriteError(w, http.StatusNotFound, "no source named "+strconv.Quote(source))
			return
		}
		filter = "events." + source + ".>"
	}
	limit := defaultEventsLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			WriteError(w, http.StatusBadRequest, "limit must be a positive integer")
			return
		}
		limit = min(n, maxEventsLimit)
	}
	var after uint64
	if s := q.Get("after"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			WriteError(w, http.StatusBadRequest, "after must be a stream sequence number")
			return
		}
		after = n
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	evs, err := g.opts.Store.Recent(ctx, filter, limit)
	if err != nil {
		WriteError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	out := make([]StoredEvent, 0, len(evs))
	for _, e := range evs {
		if e.Seq > after {
			out = append(out, e)
		}
	}
	WriteJSON(w, http.StatusOK, map[string]any{"events": out})
}
