package bus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-cdp/switchboard/core/bus"
)

// BenchmarkPublish stores requests of 100 events on the embedded server:
// the ingest hot path, one round trip per request.
func BenchmarkPublish(b *testing.B) {
	bu, err := bus.Open(context.Background(), bus.Options{StoreDir: b.TempDir(), DuplicateWindow: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	defer bu.Close()
	data := []byte(`{"type":"track","event":"Order Completed","userId":"u1","properties":{"revenue":10,"currency":"USD"}}`)
	req := make([]bus.Message, 100)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(data) * len(req)))
	for n := 0; b.Loop(); n++ {
		for i := range req {
			req[i] = bus.Message{Subject: "events.web.track", ID: fmt.Sprintf("web:%d-%d", n, i), Data: data}
		}
		if _, err := bu.Publish(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
