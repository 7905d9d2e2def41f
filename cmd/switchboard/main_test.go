package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cdp/switchboard/core/config"
	"github.com/switchboard-cdp/switchboard/core/gateway"
	"github.com/switchboard-cdp/switchboard/internal/syncio"
)

// TestMain lets tests start this very binary as a `switchboard` process:
// with SWITCHBOARD_TEST_MAIN=1 it runs the CLI instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("SWITCHBOARD_TEST_MAIN") == "1" {
		main()
		return
	}
	// Plugin processes the host starts (`<this binary> plugin NAME`) must
	// run the CLI too.
	os.Setenv("SWITCHBOARD_TEST_MAIN", "1")
	os.Exit(m.Run())
}

const testWriteKey = "test-write-key-1"

// writeConfig writes a pipelines.yaml with one segment source "web" and the
// given nats section, returning its path.
func writeConfig(t *testing.T, dir, natsSection string) string {
	t.Helper()
	y := fmt.Sprintf(`server:
  listen: "127.0.0.1:0"
nats:
%s
sources:
  web:
    type: segment
    write_keys: [%q]
`, natsSection, testWriteKey)
	p := filepath.Join(dir, "pipelines.yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// server is a `serve` running in this process.
type server struct {
	url    string
	cancel context.CancelFunc
	done   chan error
	logs   *syncio.Buffer
}

// startServe runs serve for cfgPath in-process until the test ends or
// stop is called.
func startServe(t *testing.T, cfgPath string) *server {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("load %s: %v", cfgPath, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{cancel: cancel, done: make(chan error, 1), logs: &syncio.Buffer{}}
	g := &globals{stdout: io.Discard, stderr: s.logs, logLevel: "info", logFormat: "text"}
	log, err := g.logger()
	if err != nil {
		t.Fatal(err)
	}
	addrc := make(chan string, 1)
	go func() { s.done <- serve(ctx, cfg, log, func(a string) { addrc <- a }) }()
	select {
	case a := <-addrc:
		s.url = "http://" + a
	case err := <-s.done:
		cancel()
		t.Fatalf("serve exited before listening: %v\n%s", err, s.logs)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("serve did not listen within 60s\n%s", s.logs)
	}
	t.Cleanup(s.stop)
	return s
}

func (s *server) stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	<-s.done
}

// postBatch sends a /v1/batch of n track events with ids prefix-0..n-1.
func postBatch(t *testing.T, base, prefix string, n int) {
	t.Helper()
	if err := postBatchErr(base, prefix, n); err != nil {
		t.Fatal(err)
	}
}

// postBatchErr is postBatch for other goroutines than the test's.
func postBatchErr(base, prefix string, n int) error {
	var evs []string
	for i := range n {
		evs = append(evs, fmt.Sprintf(`{"type":"track","event":"Order Completed","userId":"u%d","messageId":"%s-%d","properties":{"revenue":%d.5}}`, i, prefix, i, i))
	}
	body := `{"batch":[` + strings.Join(evs, ",") + `]}`
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/batch", strings.NewReader(body))
	req.SetBasicAuth(testWriteKey, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("post batch: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("post batch: %s %s", resp.Status, b)
	}
	return nil
}

// storedEvents reads back up to 1000 recent events of source web through
// the admin API.
func storedEvents(t *testing.T, base string) []gateway.StoredEvent {
	t.Helper()
	resp, err := http.Get(base + "/api/events?source=web&limit=1000")
	if err != nil {
		t.Fatalf("GET /api/events: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /api/events: %s %s", resp.Status, b)
	}
	var out struct {
		Events []gateway.StoredEvent `json:"events"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Events
}

// messageIDs counts stored events by messageId.
func messageIDs(t *testing.T, evs []gateway.StoredEvent) map[string]int {
	t.Helper()
	ids := map[string]int{}
	for _, e := range evs {
		var v struct {
			MessageID string `json:"messageId"`
		}
		if err := json.Unmarshal(e.Event, &v); err != nil {
			t.Fatalf("stored event %d: %v", e.Seq, err)
		}
		ids[v.MessageID]++
	}
	return ids
}

func TestServeStoresAndSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "  store_dir: "+filepath.Join(dir, "data"))
	s := startServe(t, cfg)
	// /readyz turns 200 once ingest's dedupe set has loaded, which serve
	// does after it starts listening.
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		deadline := time.Now().Add(20 * time.Second)
		for {
			resp, err := http.Get(s.url + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			if path != "/readyz" || resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
				t.Fatalf("GET %s = %s", path, resp.Status)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	postBatch(t, s.url, "a", 50)
	postBatch(t, s.url, "a", 50) // the same ids again: stored once
	s.stop()

	s = startServe(t, cfg)
	storedOnce(t, s.url, 50)
	if strings.Contains(metrics(t, s.url), testWriteKey) {
		t.Fatal("write key appears in /metrics")
	}
	if strings.Contains(s.logs.String(), testWriteKey) {
		t.Fatal("write key appears in logs")
	}
}

// TestDedupeOutlivesJetStreamWindow: a retried request is stored once for
// nats.dedupe_window (ingest's seen set), long after JetStream's own
// Nats-Msg-Id window (nats.duplicate_window) ended, and after a restart.
func TestDedupeOutlivesJetStreamWindow(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "  store_dir: "+filepath.Join(dir, "data")+"\n  duplicate_window: 1s\n  dedupe_window: 10m")
	s := startServe(t, cfg)
	postBatch(t, s.url, "a", 50)
	time.Sleep(1500 * time.Millisecond) // past JetStream's window
	postBatch(t, s.url, "a", 50)
	postBatch(t, s.url, "b", 10)
	s.stop()

	s = startServe(t, cfg)
	postBatch(t, s.url, "a", 50) // the restarted process reloaded the ids
	storedOnce(t, s.url, 60)
	if body := metrics(t, s.url); !strings.Contains(body, "switchboard_ingest_dedupe_ids 60") {
		t.Errorf("/metrics does not count the 60 ids kept:\n%s", grepLines(body, "dedupe"))
	}
}

// TestRestartAfterTheDedupeWindowServesAtOnce: serve restarted after a quiet
// spell longer than nats.dedupe_window (every id in SB_INGEST_IDS expired)
// is ready and stores tracking calls at once. It once waited forever for
// ids the stream no longer held, and every call hung without an answer.
func TestRestartAfterTheDedupeWindowServesAtOnce(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "  store_dir: "+filepath.Join(dir, "data")+"\n  dedupe_window: 1s")
	s := startServe(t, cfg)
	postBatch(t, s.url, "a", 10)
	s.stop()
	time.Sleep(3 * time.Second) // the ids' 1 s, rounded up to a whole second, and JetStream's expiry pass

	s = startServe(t, cfg)
	client := &http.Client{Timeout: 20 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(s.url + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %s 20 s after a restart", resp.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	req, _ := http.NewRequest(http.MethodPost, s.url+"/v1/track",
		strings.NewReader(`{"userId":"u1","event":"Signed Up","messageId":"after-quiet"}`))
	req.SetBasicAuth(testWriteKey, "")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("track after the restart: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("track after the restart: %s", resp.Status)
	}
	storedOnce(t, s.url, 11)
}

// TestSameEventsAtOnceStoredOnce: with the embedded server's default
// (JetStream's Nats-Msg-Id window off), the same events in several
// requests at once are stored once: the seen set cannot know them yet, the
// publisher's in-flight claims do.
func TestSameEventsAtOnceStoredOnce(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "  store_dir: "+filepath.Join(dir, "data"))
	s := startServe(t, cfg)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := postBatchErr(s.url, "same", 200); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	postBatch(t, s.url, "same", 200)
	storedOnce(t, s.url, 200)
}

// storedOnce checks that source web holds want distinct messageIds, each
// stored once.
func storedOnce(t *testing.T, base string, want int) {
	t.Helper()
	ids := messageIDs(t, storedEvents(t, base))
	if len(ids) != want {
		t.Fatalf("%d distinct messageIds stored, want %d", len(ids), want)
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("messageId %s stored %d times", id, n)
		}
	}
}

// metrics is the body of GET /metrics.
func metrics(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

func TestAdminAPIRequiresToken(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "  store_dir: "+filepath.Join(dir, "data"))
	y, _ := os.ReadFile(cfg)
	y = bytes.Replace(y, []byte(`listen: "127.0.0.1:0"`), []byte("listen: \"127.0.0.1:0\"\n  admin_token: s3cret-admin"), 1)
	if err := os.WriteFile(cfg, y, 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, cfg)
	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong token", "Bearer nope", http.StatusUnauthorized},
		{"right token", "Bearer s3cret-admin", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, s.url+"/api/events?source=web", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

// TestKill9KeepsAcknowledgedEvents starts `switchboard serve` as a separate
// process, kills it with SIGKILL after the API answered 200, and restarts it
// on the same store: every acknowledged event is still there.
func TestKill9KeepsAcknowledgedEvents(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "  store_dir: "+filepath.Join(dir, "data"))
	p := startProcess(t, "serve", "-c", cfg)
	for i := range 5 {
		postBatch(t, p.url, fmt.Sprintf("k%d", i), 100)
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()

	p = startProcess(t, "serve", "-c", cfg)
	ids := messageIDs(t, storedEvents(t, p.url))
	if len(ids) != 500 {
		t.Fatalf("after kill -9 and restart %d events stored, want 500", len(ids))
	}
}

// proc is a `switchboard` child process.
type proc struct {
	cmd  *exec.Cmd
	url  string
	logs *syncio.Buffer
}

// startProcess starts this test binary as `switchboard args...` and waits
// until its log says where it serves and /readyz answers.
func startProcess(t *testing.T, args ...string) *proc {
	t.Helper()
	return startProcessEnv(t, nil, args...)
}

// startProcessEnv is startProcess with env (KEY=VALUE) added to the
// child's environment, which the plugin processes it starts inherit.
func startProcessEnv(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "SWITCHBOARD_TEST_MAIN=1"), env...)
	p := &proc{cmd: cmd, logs: &syncio.Buffer{}}
	cmd.Stdout = p.logs
	cmd.Stderr = p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if p.url == "" {
			for _, line := range strings.Split(p.logs.String(), "\n") {
				if strings.Contains(line, "msg=serving") {
					if _, after, ok := strings.Cut(line, "addr="); ok {
						p.url = "http://" + strings.Fields(after)[0]
					}
				}
			}
		}
		if p.url != "" {
			resp, err := http.Get(p.url + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return p
				}
			}
		}
		if cmd.ProcessState != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("switchboard %v did not become ready\n%s", args, p.logs)
	return nil
}
