package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/switchboard-cdp/switchboard/plugins"
	"github.com/switchboard-cdp/switchboard/plugins/destinationtest"
)

// TestContract runs the destination contract. filelog talks no HTTP, so it
// writes under the check's own directory, and Verify reads the file back.
func TestContract(t *testing.T) {
	destinationtest.Run(t, destinationtest.Factory{
		New: func(testing.TB) plugins.Destination { return &FileLog{} },
		Settings: func(_ testing.TB, r destinationtest.Remote) map[string]any {
			return map[string]any{"path": filepath.Join(r.Dir, "events.jsonl")}
		},
		Verify: func(t testing.TB, r destinationtest.Remote, delivered []plugins.Event) {
			lines := readLines(t, filepath.Join(r.Dir, "events.jsonl"))
			for _, e := range delivered {
				want, _ := compactObject(e.Payload)
				if !slices.Contains(lines, string(want)) {
					t.Errorf("event %s is not in the file", e.ID)
				}
			}
		},
	})
}

func TestConfigure(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		settings string
		field    string // "" when Configure must succeed
	}{
		{"valid", `{"path":"` + filepath.Join(dir, "a.jsonl") + `"}`, ""},
		{"missing path", `{}`, "path"},
		{"missing directory", `{"path":"` + filepath.Join(dir, "nope", "a.jsonl") + `"}`, "path"},
		{"wrong type", `{"path":1}`, "settings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &FileLog{}
			err := f.Configure(t.Context(), plugins.Config{
				Settings: json.RawMessage(tt.settings),
				Host:     &destinationtest.MemoryHost{},
				Logger:   destinationtest.Logger(t),
			})
			t.Cleanup(func() { _ = f.Close(t.Context()) })
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Configure: %v", err)
				}
				return
			}
			var fe plugins.FieldErrors
			if !errors.As(err, &fe) || len(fe) != 1 || fe[0].Field != tt.field {
				t.Fatalf("Configure = %v, want FieldErrors on %q", err, tt.field)
			}
		})
	}
}

// TestDeliver checks rejections, one line per event, dedupe of retried
// events through host state, and counters.
func TestDeliver(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	host := &destinationtest.MemoryHost{}
	f := &FileLog{}
	err := f.Configure(t.Context(), plugins.Config{
		Settings: json.RawMessage(`{"path":"` + path + `"}`),
		Host:     host,
		Logger:   destinationtest.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close(t.Context())

	batch := []plugins.Event{
		{ID: "1", MessageID: "m1", Payload: json.RawMessage("{\n  \"n\": 12345678901234567890\n}")},
		{ID: "2", MessageID: "m2", Payload: json.RawMessage(`[1,2]`)},
		{ID: "3", MessageID: "m3", Payload: json.RawMessage(`"text"`)},
		{ID: "4", MessageID: "m4", Payload: json.RawMessage(`{"b":true}`)},
	}
	want := map[string]plugins.Outcome{
		"1": plugins.OutcomeDelivered, "2": plugins.OutcomeRejected,
		"3": plugins.OutcomeRejected, "4": plugins.OutcomeDelivered,
	}
	for attempt := 1; attempt <= 2; attempt++ { // the second attempt is a retry of the same events
		results, err := f.Deliver(t.Context(), batch)
		if err != nil {
			t.Fatal(err)
		}
		if len(results) != len(batch) {
			t.Fatalf("attempt %d: %d results", attempt, len(results))
		}
		for _, r := range results {
			if r.Outcome != want[r.ID] {
				t.Errorf("attempt %d: event %s: %v, want %v", attempt, r.ID, r.Outcome, want[r.ID])
			}
		}
	}

	lines := readLines(t, path)
	wantLines := []string{`{"n":12345678901234567890}`, `{"b":true}`}
	if !slices.Equal(lines, wantLines) {
		t.Errorf("file has %q, want %q", lines, wantLines)
	}
	if got := host.Counter("lines_written", nil); got != 2 {
		t.Errorf("lines_written = %v, want 2", got)
	}
	if got := host.Counter("events_rejected", map[string]string{"code": "not_object"}); got != 4 {
		t.Errorf("events_rejected = %v, want 4", got)
	}
	if got := host.Calls("StateCreate"); got != 2 {
		t.Errorf("%d StateCreate calls for 2 batches, want one per batch", got)
	}
}

func readLines(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}
