package destinationtest

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/switchboard-cdp/switchboard/plugins"
)

// Connect serves d through the real gRPC shim, in process, and returns the
// Destination the host would see: every call crosses gRPC, and
// Config.Host is served back to d through go-plugin's broker. Panics in d
// are recovered and logged to t. The connection ends when the test does.
func Connect(t testing.TB, d plugins.Destination) plugins.Destination {
	t.Helper()
	client, server := plugin.TestPluginGRPCConn(t, false, plugin.PluginSet{
		plugins.PluginName: &plugins.DestinationPlugin{Impl: d, Logger: Logger(t)},
	})
	t.Cleanup(func() {
		_ = client.Close() // asks the server to stop, too
		select {
		case <-server.DoneCh:
		case <-time.After(10 * time.Second):
			t.Errorf("destinationtest: the plugin's gRPC server did not stop")
		}
	})
	raw, err := client.Dispense(plugins.PluginName)
	if err != nil {
		t.Fatalf("dispense %q: %v", plugins.PluginName, err)
	}
	remote, ok := raw.(plugins.Destination)
	if !ok {
		t.Fatalf("dispensed %T, want a plugins.Destination", raw)
	}
	return remote
}

// Logger returns a logger that writes to the test's log, for
// plugins.Config.Logger. Lines logged after the test ended are dropped.
func Logger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.stop)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testWriter forwards lines to t.Log until the test ends.
type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}
