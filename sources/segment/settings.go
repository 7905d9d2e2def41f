package segment

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/switchboard-cdp/switchboard/sources/ingest"
)

// settingsDoc is the CDN settings document analytics.js (analytics-next)
// fetches from {cdnURL}/v1/projects/{writeKey}/settings before it starts.
// Its Segment.io integration points the browser's events back at this
// server; the rest is the minimum analytics-next reads, with everything
// optional switched off (no remote plugins, no middleware, no metrics
// sampling).
type settingsDoc struct {
	Integrations              map[string]segmentIO `json:"integrations"`
	Plan                      map[string]any       `json:"plan"`
	EdgeFunction              struct{}             `json:"edgeFunction"`
	AnalyticsNextEnabled      bool                 `json:"analyticsNextEnabled"`
	MiddlewareSettings        struct{}             `json:"middlewareSettings"`
	EnabledMiddleware         struct{}             `json:"enabledMiddleware"`
	Metrics                   map[string]any       `json:"metrics"`
	LegacyVideoPluginsEnabled bool                 `json:"legacyVideoPluginsEnabled"`
	RemotePlugins             []any                `json:"remotePlugins"`
}

type segmentIO struct {
	APIKey                string         `json:"apiKey"`
	APIHost               string         `json:"apiHost"`
	Protocol              string         `json:"protocol"`
	UnbundledIntegrations []string       `json:"unbundledIntegrations"`
	AddBundledMetadata    bool           `json:"addBundledMetadata"`
	MaybeBundledConfigIDs map[string]any `json:"maybeBundledConfigIds"`
	VersionSettings       map[string]any `json:"versionSettings"`
}

// settings answers GET /v1/projects/{writeKey}/settings. The document
// necessarily carries the write key (as apiKey): the one the caller put in
// the URL, for a key we know; an unknown key gets a 404.
func (h *Handler) settings(w http.ResponseWriter, r *http.Request, key string) (int, string) {
	src := h.lookup(key)
	if src == nil {
		return writeError(w, &requestError{status: http.StatusNotFound, msg: "unknown write key"}), ""
	}
	host, proto := r.Host, "http"
	if r.TLS != nil {
		proto = "https"
	}
	if ingest.TrustedPeer(r, h.base.Trusted) {
		if v := firstValue(r.Header.Get("X-Forwarded-Host")); v != "" {
			host = v
		}
		if v := strings.ToLower(firstValue(r.Header.Get("X-Forwarded-Proto"))); v == "http" || v == "https" {
			proto = v
		}
	}
	doc := settingsDoc{
		Integrations: map[string]segmentIO{"Segment.io": {
			APIKey:                key,
			APIHost:               host + "/v1",
			Protocol:              proto,
			UnbundledIntegrations: []string{},
			AddBundledMetadata:    true,
			MaybeBundledConfigIDs: map[string]any{},
			VersionSettings:       map[string]any{"version": "4.4.7", "componentTypes": []string{"browser"}},
		}},
		Plan: map[string]any{
			"track":    map[string]any{"__default": map[string]any{"enabled": true, "integrations": map[string]any{}}},
			"identify": map[string]any{"__default": map[string]any{"enabled": true}},
			"group":    map[string]any{"__default": map[string]any{"enabled": true}},
		},
		AnalyticsNextEnabled: true,
		Metrics:              map[string]any{"sampleRate": 0},
		RemotePlugins:        []any{},
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return writeError(w, &requestError{status: http.StatusInternalServerError, msg: "internal error encoding settings"}), src.name
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	ingest.WriteJSON(w, http.StatusOK, body)
	return http.StatusOK, src.name
}

// firstValue is the first comma-separated element of a header value.
func firstValue(v string) string {
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}
