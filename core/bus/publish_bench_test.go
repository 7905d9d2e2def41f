package bus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-cdp/switchboard/core/bus"
)

// BenchmarkPublish stores requests of 100 events on the embedded server:
// the ingest hot path, one round trip per request; "msgid" with a
// Nats-Msg-Id and an acknowledgement per message, "batch" as serve does
// (no Nats-Msg-Id, one fast batch per request).
func BenchmarkPublish(b *testing.B) {
	b.Run("msgid", func(b *testing.B) { benchPublish(b, bus.Options{DuplicateWindow: time.Minute}) })
	b.Run("batch", func(b *testing.B) { benchPublish(b, bus.Options{NoMsgIDs: true, BatchPublish: true}) })
}

func benchPublish(b *testing.B, o bus.Options) {
	o.StoreDir = b.TempDir()
	bu, err := bus.Open(context.Background(), o)
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
