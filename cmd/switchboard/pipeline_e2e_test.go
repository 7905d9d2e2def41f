package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sink is a webhook receiver that records the messageIds it was sent and,
// by id, the last mapped object with that id.
type sink struct {
	mu   sync.Mutex
	seen map[string]int
	got  map[string]map[string]any
}

func newSink(t *testing.T) (*sink, *httptest.Server) {
	t.Helper()
	s := &sink{seen: map[string]int{}, got: map[string]map[string]any{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var evs []map[string]any
		if err := json.Unmarshal(body, &evs); err != nil {
			http.Error(w, "want a JSON array", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		for _, e := range evs {
			if id, ok := e["id"].(string); ok {
				s.seen[id]++
				s.got[id] = e
			}
		}
		s.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return s, srv
}

func (s *sink) count() (distinct, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.seen {
		distinct++
		total += n
	}
	return distinct, total
}

func writePipelineConfig(t *testing.T, dir, hookURL string) string {
	t.Helper()
	y := fmt.Sprintf(`server:
  listen: "127.0.0.1:0"
nats:
  store_dir: %s
sources:
  web:
    type: segment
    write_keys: [%q]
destinations:
  hook:
    plugin: webhook
    settings: {url: %q, mode: array}
    # Short calls make a short ack wait (~25s), so what a killed serve had
    # in flight is redelivered well within the tests' waits.
    timeout: 5s
pipelines:
  orders:
    from: [web]
    to: hook
    when: type == "track" && event == "Order Completed"
    map:
      id: messageId
      user: userId
      revenue: properties.revenue
    batch: {max_events: 50, max_wait: 50ms}
    retry: {max_attempts: 50, backoff: 50ms, max_backoff: 200ms}
`, filepath.Join(dir, "data"), testWriteKey, hookURL)
	p := filepath.Join(dir, "pipelines.yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pluginPIDs lists this process's children serving `plugin NAME`.
func pluginPIDs(t *testing.T, name string) []int {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	var out []int
	me := strconv.Itoa(os.Getpid())
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte("\x00plugin\x00"+name)) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// stat: pid (comm) state ppid ...
		rest := string(stat[bytes.LastIndexByte(stat, ')')+2:])
		if f := strings.Fields(rest); len(f) > 1 && f[1] == me {
			out = append(out, pid)
		}
	}
	return out
}

// TestPipelineDeliversThroughAPluginThatIsKilled sends tracking calls
// through serve, a pipeline and the webhook plugin, kills the plugin process
// with SIGKILL while events flow, and checks every selected event arrives.
func TestPipelineDeliversThroughAPluginThatIsKilled(t *testing.T) {
	dir := t.TempDir()
	sk, hook := newSink(t)
	s := startServe(t, writePipelineConfig(t, dir, hook.URL))

	const batches, perBatch = 20, 50
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range batches {
			postBatch(t, s.url, fmt.Sprintf("b%d", i), perBatch)
		}
	}()
	waitFor(t, 30*time.Second, "the first deliveries", func() bool { d, _ := sk.count(); return d > 0 })
	pids := pluginPIDs(t, "webhook")
	if len(pids) == 0 {
		t.Fatal("no webhook plugin process found")
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	waitFor(t, 60*time.Second, "every event delivered", func() bool {
		d, _ := sk.count()
		return d == batches*perBatch
	})
	distinct, total := sk.count()
	t.Logf("delivered %d distinct events, %d deliveries (%d duplicates allowed by at-least-once)", distinct, total, total-distinct)
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(metrics), `switchboard_plugin_restarts_total{destination="hook"} 1`) {
		t.Errorf("the restart is not on /metrics:\n%s", grepLines(string(metrics), "switchboard_plugin_"))
	}
}

// TestPipelineFiltersNonMatchingEvents checks when: through the whole
// system: identify calls never reach the destination.
func TestPipelineFiltersNonMatchingEvents(t *testing.T) {
	dir := t.TempDir()
	sk, hook := newSink(t)
	s := startServe(t, writePipelineConfig(t, dir, hook.URL))
	body := `{"batch":[{"type":"identify","userId":"u1","messageId":"id-1"},{"type":"track","event":"Order Completed","userId":"u1","messageId":"tr-1","properties":{"revenue":5}}]}`
	req, _ := http.NewRequest(http.MethodPost, s.url+"/v1/batch", strings.NewReader(body))
	req.SetBasicAuth(testWriteKey, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitFor(t, 30*time.Second, "the track event", func() bool { d, _ := sk.count(); return d == 1 })
	sk.mu.Lock()
	defer sk.mu.Unlock()
	if sk.seen["tr-1"] != 1 || sk.seen["id-1"] != 0 {
		t.Fatalf("sink saw %v", sk.seen)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestKill9ServeMidLoadDeliversEverythingAcknowledged kills the serve
// process with SIGKILL while a pipeline is delivering, restarts it on the
// same store, and checks that every event the API acknowledged reaches the
// destination (at-least-once: duplicates are counted, not failed).
func TestKill9ServeMidLoadDeliversEverythingAcknowledged(t *testing.T) {
	dir := t.TempDir()
	sk, hook := newSink(t)
	cfg := writePipelineConfig(t, dir, hook.URL)
	p := startProcess(t, "serve", "-c", cfg)
	const batches, perBatch = 30, 50
	for i := range batches {
		postBatch(t, p.url, fmt.Sprintf("k%d", i), perBatch)
		if i == batches/2 {
			waitFor(t, 30*time.Second, "deliveries under way", func() bool { d, _ := sk.count(); return d > 0 })
		}
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	before, _ := sk.count()

	startProcess(t, "serve", "-c", cfg)
	// In-flight events of the killed process come back after the ack wait.
	waitFor(t, 120*time.Second, "every acknowledged event delivered", func() bool {
		d, _ := sk.count()
		return d == batches*perBatch
	})
	distinct, total := sk.count()
	t.Logf("delivered before the kill: %d; after restart: all %d distinct, %d deliveries (%d duplicates)", before, distinct, total, total-distinct)
}
