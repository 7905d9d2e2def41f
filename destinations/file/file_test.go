package file

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-cdp/switchboard/plugins"
	"github.com/switchboard-cdp/switchboard/plugins/destinationtest"
)

// lines reads the file's JSON lines.
func lines(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestContract(t *testing.T) {
	destinationtest.Run(t, destinationtest.Factory{
		New: func(testing.TB) plugins.Destination { return New() },
		Settings: func(_ testing.TB, r destinationtest.Remote) map[string]any {
			return map[string]any{"path": filepath.Join(r.Dir, "out", "events.jsonl")}
		},
		Verify: func(t testing.TB, r destinationtest.Remote, delivered []plugins.Event) {
			got := map[string]bool{}
			for _, l := range lines(t, filepath.Join(r.Dir, "out", "events.jsonl")) {
				got[l] = true
			}
			for _, e := range delivered {
				var want bytes.Buffer
				if err := json.Compact(&want, e.Payload); err != nil {
					t.Fatal(err)
				}
				if !got[want.String()] {
					t.Errorf("delivered event %s is not a line of the file", e.Payload)
				}
			}
		},
	})
}

func configure(t *testing.T, settings string) *File {
	t.Helper()
	d := New()
	if err := d.Configure(context.Background(), plugins.Config{Destination: "f", Settings: json.RawMessage(settings), Host: &destinationtest.MemoryHost{}, Logger: destinationtest.Logger(t)}); err != nil {
		t.Fatalf("Configure(%s): %v", settings, err)
	}
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	return d
}

// TestAppendsOneLinePerEventAcrossRestarts: payloads become compact lines in
// order, an invalid one is rejected alone, and a destination configured
// again on the same file (serve restarted) appends rather than truncates.
func TestAppendsOneLinePerEventAcrossRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "events.jsonl")
	settings, _ := json.Marshal(map[string]any{"path": path, "sync": true})
	d := configure(t, string(settings))
	res, err := d.Deliver(context.Background(), []plugins.Event{
		{ID: "1", Payload: json.RawMessage("{\n  \"event\": \"A\",\n  \"n\": 1\n}")},
		{ID: "2", Payload: json.RawMessage(`{"event": "B"`)},
		{ID: "3", Payload: nil},
		{ID: "4", Payload: json.RawMessage(`{"event":"C"}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]plugins.Outcome{}
	for _, r := range res {
		outcomes[r.ID] = r.Outcome
	}
	if outcomes["1"] != plugins.OutcomeDelivered || outcomes["4"] != plugins.OutcomeDelivered ||
		outcomes["2"] != plugins.OutcomeRejected || outcomes["3"] != plugins.OutcomeRejected || len(res) != 4 {
		t.Fatalf("results %+v", res)
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	again := configure(t, string(settings))
	if _, err := again.Deliver(context.Background(), []plugins.Event{{ID: "5", Payload: json.RawMessage(`{"event":"D"}`)}}); err != nil {
		t.Fatal(err)
	}
	want := []string{`{"event":"A","n":1}`, `{"event":"C"}`, `{"event":"D"}`}
	if got := lines(t, path); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("file holds\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestFailedWriteIsRetried: a batch that cannot be written (the file was
// closed under it, as a full disk would fail it) comes back as retries, not
// as delivered.
func TestFailedWriteIsRetried(t *testing.T) {
	d := configure(t, `{"path": "`+filepath.Join(t.TempDir(), "e.jsonl")+`"}`)
	if res, err := d.Deliver(context.Background(), []plugins.Event{{ID: "0", Payload: json.RawMessage(`{}`)}}); err != nil || res[0].Outcome != plugins.OutcomeDelivered {
		t.Fatalf("first batch: %+v %v", res, err)
	}
	d.mu.Lock()
	_ = d.f.Close() // later writes fail with "file already closed"
	d.mu.Unlock()
	res, err := d.Deliver(context.Background(), []plugins.Event{{ID: "1", Payload: json.RawMessage(`{}`)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Outcome != plugins.OutcomeRetry || res[0].Code != "write_failed" || res[0].RetryAfter != retryAfter {
		t.Fatalf("results %+v", res)
	}
}

// TestConfigureCreatesNothing: switchboard validate configures every
// destination; only the first batch creates the directory and the file.
func TestConfigureCreatesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	path := filepath.Join(dir, "events.jsonl")
	d := configure(t, `{"path": "`+path+`"}`)
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Configure created %s (%v)", dir, err)
	}
	if _, err := d.Deliver(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an empty batch created %s (%v)", dir, err)
	}
	if _, err := d.Deliver(context.Background(), []plugins.Event{{ID: "1", Payload: json.RawMessage(`{"a":1}`)}}); err != nil {
		t.Fatal(err)
	}
	if got := lines(t, path); len(got) != 1 || got[0] != `{"a":1}` {
		t.Fatalf("file holds %q", got)
	}
}

func TestConfigureErrors(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ settings, field, msg string }{
		"no path":          {`{}`, "path", "required"},
		"unknown setting":  {`{"path": "x", "rotate": true}`, "rotate", "unknown setting"},
		"not an object":    {`[1]`, "", "must be a JSON object"},
		"dir is a file":    {`{"path": "` + filepath.Join(blocker, "sub", "e.jsonl") + `"}`, "path", "cannot create its directory: " + blocker + " is not a directory"},
		"path is a folder": {`{"path": "` + filepath.Dir(blocker) + `"}`, "path", "is not a regular file"},
	} {
		t.Run(name, func(t *testing.T) {
			err := New().Configure(context.Background(), plugins.Config{Settings: json.RawMessage(tc.settings), Host: &destinationtest.MemoryHost{}})
			var fe plugins.FieldErrors
			if !errors.As(err, &fe) || len(fe) != 1 || fe[0].Field != tc.field || !strings.Contains(fe[0].Message, tc.msg) {
				t.Fatalf("Configure(%s) = %v, want %s: …%s…", tc.settings, err, tc.field, tc.msg)
			}
		})
	}
}
