package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDefaultPipelinesYAML keeps the repository's pipelines.yaml — what
// `make run` serves — valid, and runs its fixture cases.
func TestDefaultPipelinesYAML(t *testing.T) {
	file := filepath.Join("..", "..", "pipelines.yaml")
	out, stderr, err := runCLI(t, "validate", "-c", file)
	if err != nil {
		t.Fatalf("validate %s: %v\n%s", file, err, stderr)
	}
	if !strings.Contains(out, "ok") {
		t.Fatalf("validate printed %q", out)
	}
	out, stderr, err = runCLI(t, "test", "-c", file)
	if err != nil {
		t.Fatalf("switchboard test %s: %v\n%s%s", file, err, out, stderr)
	}
	if !strings.Contains(out, "13 passed, 0 failed") {
		t.Fatalf("switchboard test printed:\n%s", out)
	}
}

// TestDefaultPipelinesYAMLWritesEveryEventToTheFile serves the repository's
// pipelines.yaml as `make run` does (only the address, the store and, by
// its variable, the events file moved) and checks that what a newcomer
// sends appears in the file they are told to watch, one JSON line per
// event, as stored.
func TestDefaultPipelinesYAMLWritesEveryEventToTheFile(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "pipelines.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	y := string(src)
	for old, new := range map[string]string{
		`listen: ":8080"`:        `listen: "127.0.0.1:0"`,
		`store_dir: ./data`:      `store_dir: ` + filepath.Join(dir, "data"),
		`http://127.0.0.1:8090}`: `http://127.0.0.1:9}`, // no Meta emulator: its pipeline retries
	} {
		if !strings.Contains(y, old) {
			t.Fatalf("pipelines.yaml no longer holds %q", old)
		}
		y = strings.Replace(y, old, new, 1)
	}
	cfg := filepath.Join(dir, "pipelines.yaml")
	if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	events := filepath.Join(dir, "out", "events.jsonl")
	p := startProcessEnv(t, []string{"EVENTS_FILE=" + events}, "serve", "-c", cfg)

	body := `{"batch":[
	  {"type":"identify","userId":"u-1","messageId":"default-1","traits":{"email":"ada@example.com"}},
	  {"type":"track","event":"Order Completed","userId":"u-1","messageId":"default-2","properties":{"revenue":42.5,"currency":"EUR"}},
	  {"type":"page","anonymousId":"a-1","messageId":"default-3","name":"Home"}]}`
	req, err := http.NewRequest(http.MethodPost, p.url+"/v1/batch", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("dev-write-key", "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/batch with the default write key: %s", resp.Status)
	}

	got := map[string]map[string]any{}
	waitFor(t, 30*time.Second, "three lines in "+events, func() bool {
		data, err := os.ReadFile(events)
		if err != nil {
			return false
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var ev map[string]any
			if json.Unmarshal([]byte(line), &ev) == nil {
				got[fmt.Sprint(ev["messageId"])] = ev
			}
		}
		return len(got) >= 3
	})
	if ev := got["default-2"]; ev["event"] != "Order Completed" || ev["source"] != "web" || ev["receivedAt"] == nil {
		t.Fatalf("the track call's line: %v", ev)
	}
	if ev := got["default-1"]; ev["type"] != "identify" {
		t.Fatalf("the identify call's line: %v", ev)
	}
}

// TestTestCommandReportsMismatches checks that a fixture whose expectation
// no longer holds fails with its position and a diff.
func TestTestCommandReportsMismatches(t *testing.T) {
	y := `sources:
  web: {type: segment, write_keys: [k]}
destinations:
  hook: {plugin: webhook, settings: {url: "http://127.0.0.1:9/"}}
pipelines:
  p:
    from: [web]
    to: hook
    when: type == "track"
    map:
      name: event
      user: userId
    tests:
      - name: good
        event: {type: track, event: Bought, userId: u1}
        expect: {name: Bought, user: u1}
      - name: stale
        event: {type: track, event: Bought, userId: u1}
        expect: {name: Purchased, user: u1}
      - name: filtered
        event: {type: identify, userId: u1}
        expect: filtered
      - name: not filtered
        event: {type: track, event: X, userId: u1}
        expect: filtered
`
	file := filepath.Join(t.TempDir(), "pipelines.yaml")
	if err := os.WriteFile(file, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, "test", "-c", file)
	if err == nil {
		t.Fatalf("a failing fixture passed:\n%s", out)
	}
	for _, want := range []string{
		"ok   p/good",
		"FAIL p/stale (" + file + ":18:16)",
		`  -   "name": "Purchased",`,
		`  +   "name": "Bought",`,
		"ok   p/filtered",
		"FAIL p/not filtered",
		"2 passed, 2 failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
