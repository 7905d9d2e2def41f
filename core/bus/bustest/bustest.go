// Package bustest opens buses for tests: an embedded JetStream on a
// temporary store, closed when the test ends.
package bustest

import (
	"context"
	"testing"

	"github.com/switchboard-cdp/switchboard/core/bus"
)

// Open opens a bus with opts (StoreDir defaults to a temporary directory)
// and closes it when t ends.
func Open(t testing.TB, opts bus.Options) *bus.Bus {
	t.Helper()
	if opts.StoreDir == "" {
		opts.StoreDir = t.TempDir()
	}
	b, err := bus.Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("bus.Open: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}
