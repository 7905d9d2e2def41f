package main

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-cdp/switchboard/core/config"
	"github.com/switchboard-cdp/switchboard/core/gateway"
	"github.com/switchboard-cdp/switchboard/core/pipeline"
)

// pipelinesAPI serves the admin API's pipeline endpoints: status, dead
// letters, their replay, and replay from a point in time.
type pipelinesAPI struct {
	cfg *config.Config
	ps  *pipelines
	js  jetstream.JetStream
}

func (a *pipelinesAPI) routes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /api/pipelines":                    http.HandlerFunc(a.status),
		"GET /api/pipelines/{name}/dlq":         a.withPipeline(a.listDLQ),
		"POST /api/pipelines/{name}/dlq/replay": a.withPipeline(a.replayDLQ),
		"POST /api/pipelines/{name}/replay":     a.withPipeline(a.replaySince),
	}
}

func (a *pipelinesAPI) withPipeline(h func(http.ResponseWriter, *http.Request, string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if _, ok := a.cfg.Pipelines[name]; !ok {
			gateway.WriteError(w, http.StatusNotFound, "no pipeline named "+strconv.Quote(name))
			return
		}
		h(w, r, name)
	})
}

func (a *pipelinesAPI) status(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	out := []pipeline.Status{}
	for _, name := range slices.Sorted(maps.Keys(a.ps.byName)) {
		out = append(out, a.ps.byName[name].Status(ctx))
	}
	gateway.WriteJSON(w, http.StatusOK, map[string]any{"pipelines": out})
}

func (a *pipelinesAPI) listDLQ(w http.ResponseWriter, r *http.Request, name string) {
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			gateway.WriteError(w, http.StatusBadRequest, "limit must be a positive integer")
			return
		}
		limit = min(n, 10000)
	}
	dls, err := pipeline.ListDeadLetters(r.Context(), a.js, name, limit)
	if err != nil {
		gateway.WriteError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	gateway.WriteJSON(w, http.StatusOK, map[string]any{"dead_letters": dls})
}

func (a *pipelinesAPI) replayDLQ(w http.ResponseWriter, r *http.Request, name string) {
	n, err := pipeline.ReplayDeadLetters(r.Context(), a.js, name, nil)
	if err != nil {
		gateway.WriteError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	gateway.WriteJSON(w, http.StatusOK, map[string]any{"replayed": n})
}

// replaySince answers POST /api/pipelines/{name}/replay?since=2h|RFC3339.
func (a *pipelinesAPI) replaySince(w http.ResponseWriter, r *http.Request, name string) {
	since, err := parseSince(r.URL.Query().Get("since"), time.Now())
	if err != nil {
		gateway.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	n, err := pipeline.ReplaySince(r.Context(), a.js, name, a.cfg.Pipelines[name].From, since)
	if err != nil {
		gateway.WriteError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	gateway.WriteJSON(w, http.StatusOK, map[string]any{"replayed": n, "since": since})
}

// parseSince reads a point in time given as a duration back from now
// ("2h") or as an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, errSince
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, errSince
	}
	return t, nil
}

var errSince = errors.New("since must be a duration back from now (2h) or an RFC 3339 time (2026-11-25T08:00:00Z)")
