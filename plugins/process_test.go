package plugins_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/switchboard-cdp/switchboard/internal/syncio"
	"github.com/switchboard-cdp/switchboard/plugins"
	"github.com/switchboard-cdp/switchboard/plugins/destinationtest"
)

const (
	filelogPkg = "github.com/switchboard-cdp/switchboard/plugins/examples/filelog"
	fixturePkg = "github.com/switchboard-cdp/switchboard/plugins/internal/testplugins/fixture"
)

// buildPlugins builds the example plugin and the test fixture into dir with
// one go build, and returns their paths.
func buildPlugins(t testing.TB, dir string) (filelog, fixture string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs plugin binaries")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go tool to build plugins with: %v", err)
	}
	cmd := exec.Command(goTool, "build", "-o", dir+string(filepath.Separator), filelogPkg, fixturePkg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return filepath.Join(dir, "filelog"), filepath.Join(dir, "fixture")
}

// logBuffer collects the host's log lines (hclog JSON), safely.
type logBuffer struct{ syncio.Buffer }

// lines returns the log lines decoded.
func (b *logBuffer) lines(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("host log line is not JSON: %q", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// find returns the first line with this message.
func (b *logBuffer) find(t testing.TB, message string) map[string]any {
	t.Helper()
	for _, l := range b.lines(t) {
		if l["@message"] == message {
			return l
		}
	}
	return nil
}

// launch starts path as a plugin the way the host does and returns the
// go-plugin client (killed when the test ends) and the host's log.
func launch(t testing.TB, path string, args ...string) (*plugin.Client, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), plugins.LogLevelEnv+"=debug")
	cfg := plugins.ClientConfig(cmd)
	cfg.Logger = hclog.New(&hclog.LoggerOptions{
		Name:       "host",
		Output:     logs,
		Level:      hclog.Debug,
		JSONFormat: true,
	})
	cfg.StartTimeout = 20 * time.Second
	client := plugin.NewClient(cfg)
	t.Cleanup(client.Kill)
	return client, logs
}

func TestPluginProcess(t *testing.T) {
	filelog, fixture := buildPlugins(t, t.TempDir())

	t.Run("ExamplePlugin", func(t *testing.T) { testExamplePlugin(t, filelog) })

	t.Run("CPUProfile", func(t *testing.T) {
		prefix := filepath.Join(t.TempDir(), "cpu")
		t.Setenv(plugins.CPUProfileEnv, prefix)
		client, _ := launch(t, filelog)
		if _, err := plugins.Dispense(client); err != nil {
			t.Fatal(err)
		}
		client.Kill()
		files, _ := filepath.Glob(prefix + ".*")
		if len(files) != 1 {
			t.Fatalf("profiles written: %v, want one %s.PID", files, prefix)
		}
		data, err := os.ReadFile(files[0])
		if err != nil || len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
			t.Fatalf("%s is not a gzipped pprof profile (%d bytes, %v)", files[0], len(data), err)
		}
	})

	t.Run("RunByHand", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(filelog)
		cmd.Env = []string{} // no magic cookie
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("run by hand: %v, want exit status 1", err)
		}
		if stdout.Len() != 0 {
			t.Errorf("stdout: %q, want nothing", stdout.String())
		}
		if !strings.Contains(stderr.String(), "is a Switchboard destination plugin") ||
			!strings.Contains(stderr.String(), "plugin: "+filelog) {
			t.Errorf("stderr does not explain what the binary is:\n%s", stderr.String())
		}
	})

	for _, tt := range []struct {
		name string
		path string
		args []string
	}{
		{"NotAPlugin/exits", "/bin/true", nil},
		{"NotAPlugin/prints", fixture, []string{"garbage"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := os.Stat(tt.path); err != nil {
				t.Skip(err)
			}
			client, _ := launch(t, tt.path, tt.args...)
			_, err := plugins.Dispense(client)
			if !errors.Is(err, plugins.ErrNotPlugin) {
				t.Fatalf("Dispense = %v, want ErrNotPlugin", err)
			}
			t.Logf("error: %v", err)
		})
	}

	t.Run("ProtocolVersion", func(t *testing.T) {
		client, _ := launch(t, fixture, "v2")
		_, err := plugins.Dispense(client)
		if !errors.Is(err, plugins.ErrProtocolVersion) {
			t.Fatalf("Dispense = %v, want ErrProtocolVersion", err)
		}
		if !strings.Contains(err.Error(), "protocol version 2, this host speaks 1") {
			t.Errorf("error does not name both versions: %v", err)
		}
		t.Logf("error: %v", err)
	})

	t.Run("LargeBatch", func(t *testing.T) {
		// Larger than gRPC's default 4 MiB message limit.
		client, _ := launch(t, fixture, "discard")
		d, err := plugins.Dispense(client)
		if err != nil {
			t.Fatal(err)
		}
		payload := json.RawMessage(`{"blob":"` + strings.Repeat("x", 1<<20) + `"}`)
		batch := make([]plugins.Event, 6)
		for i := range batch {
			batch[i] = plugins.Event{ID: fmt.Sprint(i), Payload: payload}
		}
		results, err := d.Deliver(t.Context(), batch)
		if err != nil || len(results) != len(batch) {
			t.Fatalf("Deliver of %d MiB: %d results, %v", 6, len(results), err)
		}
	})

	t.Run("Panic", func(t *testing.T) {
		client, logs := launch(t, fixture, "panic")
		d, err := plugins.Dispense(client)
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		if err := d.Configure(ctx, plugins.Config{Destination: "p", Host: &destinationtest.MemoryHost{}}); err != nil {
			t.Fatal(err)
		}
		batch := []plugins.Event{{ID: "1", Payload: json.RawMessage(`{}`)}}
		for range 2 { // the plugin survives the first panic
			_, err := d.Deliver(ctx, batch)
			if err == nil || !strings.Contains(err.Error(), "panicked in Deliver") {
				t.Fatalf("Deliver = %v, want the panic as an error", err)
			}
		}
		if client.Exited() {
			t.Fatal("the plugin process exited")
		}
		waitFor(t, func() bool { return logs.find(t, "destination panicked; the call fails and the host retries") != nil })
		line := logs.find(t, "destination panicked; the call fails and the host retries")
		if line["@level"] != "error" || !strings.Contains(line["stack"].(string), "panicky.Deliver") {
			t.Errorf("panic log line lacks level or stack: %v", line)
		}
	})
}

// testExamplePlugin drives plugins/examples/filelog as a child process, as
// the host will.
func testExamplePlugin(t *testing.T, path string) {
	client, logs := launch(t, path)
	d, err := plugins.Dispense(client)
	if err != nil {
		t.Fatalf("Dispense: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	spec, err := d.Describe(ctx)
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	if spec.Name != "filelog" || spec.Batch.MaxEvents != 500 || len(spec.Settings) != 2 ||
		spec.Settings[0].Name != "path" || !spec.Settings[0].Required || spec.Settings[1].Default != false {
		t.Errorf("Describe = %+v", spec)
	}

	host := &destinationtest.MemoryHost{}
	dir := t.TempDir()
	err = d.Configure(ctx, plugins.Config{
		Destination: "audit",
		Settings:    json.RawMessage(`{"path":"` + filepath.Join(dir, "missing", "x.jsonl") + `","sync":false}`),
		Host:        host,
	})
	var fe plugins.FieldErrors
	if !errors.As(err, &fe) || len(fe) != 1 || fe[0].Field != "path" {
		t.Fatalf("Configure with a bad path = %v, want FieldErrors on path", err)
	}

	file := filepath.Join(dir, "events.jsonl")
	err = d.Configure(ctx, plugins.Config{
		Destination: "audit",
		Settings:    json.RawMessage(`{"path":"` + file + `","sync":true}`),
		Host:        host,
	})
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}

	batch := []plugins.Event{
		{ID: "a", MessageID: "m-a", Attempt: 1, Payload: json.RawMessage(`{"id":12345678901234567890,"v":1.50}`)},
		{ID: "b", MessageID: "m-b", Attempt: 1, Payload: json.RawMessage(`["not","an","object"]`)},
		{ID: "c", MessageID: "m-c", Attempt: 1, Payload: json.RawMessage(`{"event":"Order Completed"}`)},
	}
	results, err := d.Deliver(ctx, batch)
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	got := map[string]plugins.Outcome{}
	for _, r := range results {
		got[r.ID] = r.Outcome
	}
	want := map[string]plugins.Outcome{"a": plugins.OutcomeDelivered, "b": plugins.OutcomeRejected, "c": plugins.OutcomeDelivered}
	if len(results) != 3 || got["a"] != want["a"] || got["b"] != want["b"] || got["c"] != want["c"] {
		t.Errorf("results %+v, want %v", results, want)
	}

	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\"id\":12345678901234567890,\"v\":1.50}\n{\"event\":\"Order Completed\"}\n"; string(data) != want {
		t.Errorf("file:\n%s\nwant:\n%s", data, want)
	}

	// The host callbacks went through the broker to the MemoryHost.
	if n := host.Calls("StateCreate"); n != 1 {
		t.Errorf("StateCreate calls = %d, want 1", n)
	}
	if n := host.Len(); n != 2 {
		t.Errorf("state holds %d keys, want 2", n)
	}
	if v := host.Counter("lines_written", nil); v != 2 {
		t.Errorf("lines_written = %v, want 2", v)
	}
	if v := host.Counter("events_rejected", map[string]string{"code": "not_object"}); v != 1 {
		t.Errorf("events_rejected = %v, want 1", v)
	}

	// The plugin's slog line was re-logged by the host with level and fields.
	waitFor(t, func() bool { return logs.find(t, "appending events") != nil })
	line := logs.find(t, "appending events")
	if line["@level"] != "info" || line["path"] != file || line["@module"] != "host.filelog" {
		t.Errorf("re-logged line = %v", line)
	}

	if err := d.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	client.Kill()
	if !client.Exited() {
		t.Error("plugin process still running after Kill")
	}
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
