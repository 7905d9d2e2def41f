package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	if !strings.Contains(out, "12 passed, 0 failed") {
		t.Fatalf("switchboard test printed:\n%s", out)
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
