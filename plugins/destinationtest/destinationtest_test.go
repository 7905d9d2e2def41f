package destinationtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cdp/switchboard/plugins"
	"github.com/switchboard-cdp/switchboard/plugins/destinationtest"
)

// hook is a small HTTP destination that keeps the contract: it posts each
// batch as a JSON array.
type hook struct {
	client *http.Client
	url    string
	token  string
}

type hookSettings struct {
	URL     string `json:"url"`
	Token   string `json:"token"`
	Timeout string `json:"timeout"`
}

func (h *hook) Describe(context.Context) (plugins.Spec, error) {
	return plugins.Spec{
		Name:    "hook",
		Version: "0.0.1",
		Settings: []plugins.Setting{
			{Name: "url", Type: plugins.TypeString, Required: true, Description: "Where to post."},
			{Name: "token", Type: plugins.TypeString, Required: true, Secret: true, Description: "Bearer token."},
			{Name: "timeout", Type: plugins.TypeDuration, Default: 5 * time.Second, Description: "Per request."},
			{Name: "mode", Type: plugins.TypeString, Default: "array", Enum: []string{"array"}, Description: "Body shape."},
		},
		Batch: plugins.BatchLimits{MaxEvents: 100, MaxWait: time.Second},
	}, nil
}

func (h *hook) Configure(_ context.Context, cfg plugins.Config) error {
	var s hookSettings
	if err := json.Unmarshal(cfg.Settings, &s); err != nil {
		return plugins.FieldErrors{{Field: "settings", Message: err.Error()}}
	}
	var errs plugins.FieldErrors
	if s.URL == "" {
		errs = append(errs, plugins.FieldError{Field: "url", Message: "required"})
	}
	if s.Token == "" {
		errs = append(errs, plugins.FieldError{Field: "token", Message: "required"})
	}
	timeout, err := time.ParseDuration(s.Timeout)
	if err != nil {
		errs = append(errs, plugins.FieldError{Field: "timeout", Message: err.Error()})
	}
	if len(errs) > 0 {
		return errs
	}
	h.client = &http.Client{Timeout: timeout}
	h.url, h.token = s.URL, s.Token
	return nil
}

func (h *hook) Deliver(ctx context.Context, batch []plugins.Event) ([]plugins.Result, error) {
	if len(batch) == 0 {
		return nil, nil
	}
	body := make([]json.RawMessage, len(batch))
	for i, e := range batch {
		body[i] = e.Payload
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	resp, err := h.client.Do(req)
	if err != nil {
		return all(batch, func(id string) plugins.Result { return plugins.Retry(id, 0, "network", err.Error()) }), nil
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	code := "http_" + strconv.Itoa(resp.StatusCode)
	switch {
	case resp.StatusCode < 300:
		return all(batch, plugins.Delivered), nil
	case resp.StatusCode == 429 || resp.StatusCode >= 500:
		after, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return all(batch, func(id string) plugins.Result {
			return plugins.Retry(id, time.Duration(after)*time.Second, code, resp.Status)
		}), nil
	default:
		return all(batch, func(id string) plugins.Result {
			return plugins.Rejected(id, code, fmt.Sprintf("%s: %s", resp.Status, text))
		}), nil
	}
}

func (h *hook) Close(context.Context) error { return nil }

func all(batch []plugins.Event, result func(id string) plugins.Result) []plugins.Result {
	out := make([]plugins.Result, len(batch))
	for i, e := range batch {
		out[i] = result(e.ID)
	}
	return out
}

var _ plugins.Destination = (*hook)(nil)

// received records the events an HTTP remote side was sent.
type received struct {
	mu     sync.Mutex
	events map[string]bool
}

func (r *received) handler(w http.ResponseWriter, req *http.Request) {
	var batch []json.RawMessage
	if err := json.NewDecoder(req.Body).Decode(&batch); err != nil || req.Header.Get("Authorization") != "Bearer s3cr3t-token" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.events == nil {
		r.events = map[string]bool{}
	}
	for _, e := range batch {
		r.events[string(e)] = true
	}
}

func (r *received) has(payload json.RawMessage) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events[string(payload)]
}

// TestRunHTTP runs the contract against an HTTP destination, with every
// remote behaviour the Factory offers.
func TestRunHTTP(t *testing.T) {
	var rec received
	destinationtest.Run(t, destinationtest.Factory{
		New: func(testing.TB) plugins.Destination { return &hook{} },
		Settings: func(_ testing.TB, r destinationtest.Remote) map[string]any {
			return map[string]any{"url": r.URL, "token": "s3cr3t-token"}
		},
		Accept: http.HandlerFunc(rec.handler),
		Refuse: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, `{"error":"invalid event"}`, http.StatusUnprocessableEntity)
		}),
		Unavailable: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusTooManyRequests)
		}),
		Verify: func(t testing.TB, _ destinationtest.Remote, delivered []plugins.Event) {
			for _, e := range delivered {
				if !rec.has(e.Payload) {
					t.Errorf("the remote side did not receive event %s", e.ID)
				}
			}
		},
	})
}
