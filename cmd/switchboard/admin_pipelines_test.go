package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestDeadLettersStatusAndReplay drives the operator commands against a
// running serve: a destination refusing events dead-letters them, status
// and dlq list show it, dlq replay after the fix delivers them, and replay
// --since delivers stored events again.
func TestDeadLettersStatusAndReplay(t *testing.T) {
	var refuse atomic.Bool
	refuse.Store(true)
	var delivered atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var evs []json.RawMessage
		_ = json.Unmarshal(body, &evs)
		if refuse.Load() {
			http.Error(w, "no such customer", http.StatusUnprocessableEntity)
			return
		}
		delivered.Add(int64(len(evs)))
	}))
	t.Cleanup(hook.Close)
	s := startServe(t, writePipelineConfig(t, t.TempDir(), hook.URL))
	postBatch(t, s.url, "p", 10)

	cli := func(args ...string) string {
		t.Helper()
		out, stderr, err := runCLI(t, append(args, "--server", s.url)...)
		if err != nil {
			t.Fatalf("switchboard %v: %v\n%s", args, err, stderr)
		}
		return out
	}
	waitFor(t, 30*time.Second, "10 dead letters", func() bool {
		return strings.Count(cli("dlq", "list", "--pipeline", "orders"), "\n") == 10
	})
	if out := cli("dlq", "list", "--pipeline", "orders"); !strings.Contains(out, "no such customer") {
		t.Fatalf("dead letters lack the destination's reason:\n%s", out)
	}
	if out := cli("status"); !strings.Contains(out, "orders") || !strings.Contains(out, "hook") {
		t.Fatalf("status:\n%s", out)
	}
	// tail -n 3: the last three stored events, one JSON object a line.
	lines := strings.Split(strings.TrimSpace(cli("tail", "-n", "3")), "\n")
	if len(lines) != 3 {
		t.Fatalf("tail -n 3 printed %d lines:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for i, l := range lines {
		var se struct {
			Seq   uint64 `json:"seq"`
			Event struct {
				MessageID string `json:"messageId"`
			} `json:"event"`
		}
		if err := json.Unmarshal([]byte(l), &se); err != nil || se.Seq == 0 || se.Event.MessageID != fmt.Sprintf("p-%d", 7+i) {
			t.Errorf("tail line %d = %s (%v), want the stored event p-%d", i, l, err, 7+i)
		}
	}

	refuse.Store(false)
	if out := cli("dlq", "replay", "--pipeline", "orders"); !strings.Contains(out, "replayed 10") {
		t.Fatalf("dlq replay: %s", out)
	}
	waitFor(t, 30*time.Second, "the replayed dead letters delivered", func() bool { return delivered.Load() == 10 })

	if out := cli("replay", "--pipeline", "orders", "--since", "1h"); !strings.Contains(out, "replayed 10") {
		t.Fatalf("replay --since: %s", out)
	}
	waitFor(t, 30*time.Second, "the replayed events delivered", func() bool { return delivered.Load() == 20 })
}
