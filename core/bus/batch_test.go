package bus_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/switchboard-cdp/switchboard/core/bus"
	"github.com/switchboard-cdp/switchboard/core/bus/bustest"
)

func openBatching(t *testing.T, maxBytes int64) *bus.Bus {
	t.Helper()
	return bustest.Open(t, bus.Options{NoMsgIDs: true, BatchPublish: true, MaxBytes: maxBytes})
}

// TestBatchPublishStoresEveryCall: with BatchPublish, calls from many
// goroutines at once are each stored whole, in order within the call.
func TestBatchPublishStoresEveryCall(t *testing.T) {
	ctx := context.Background()
	b := openBatching(t, 0)
	var wg sync.WaitGroup
	for g := range 24 {
		wg.Go(func() {
			for k := range 5 {
				res, err := b.Publish(ctx, msgs(fmt.Sprintf("s%d", g), k*100, 100))
				if err != nil || res.Stored != 100 {
					t.Errorf("publish = %+v, %v; want 100 stored", res, err)
				}
			}
		})
	}
	wg.Wait()
	got, err := b.Recent(ctx, "events.s7.>", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 500 {
		t.Fatalf("source s7 holds %d events, want 500", len(got))
	}
	for i, s := range got {
		if want := fmt.Sprintf(`{"messageId":"m-%d"}`, i); string(s.Data) != want {
			t.Fatalf("event %d = %s, want %s", i, s.Data, want)
		}
	}
	st, err := b.JetStream().Stream(ctx, "EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	if n := st.CachedInfo().State.Msgs; n != 24*500 {
		t.Fatalf("stream holds %d messages, want %d", n, 24*500)
	}
}

// TestBatchPublishWhenStreamFullIsUnavailable: a batch that does not fit
// fails the call, as plain publishes do.
func TestBatchPublishWhenStreamFullIsUnavailable(t *testing.T) {
	fillUntilUnavailable(t, openBatching(t, 4096))
}

// TestBatchPublishFallsBack: when the stream refuses batches, Publish
// stores the messages one by one.
func TestBatchPublishFallsBack(t *testing.T) {
	ctx := context.Background()
	b := openBatching(t, 0)
	st, err := b.JetStream().Stream(ctx, "EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.AllowBatchPublish = false
	if _, err := b.JetStream().UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	res, err := b.Publish(ctx, msgs("web", 0, 50))
	if err != nil || res.Stored != 50 {
		t.Fatalf("publish = %+v, %v; want 50 stored", res, err)
	}
	got, err := b.Recent(ctx, "events.web.>", 100)
	if err != nil || len(got) != 50 {
		t.Fatalf("recent = %d, %v; want 50", len(got), err)
	}
}

// TestBatchPublishKeepsMsgIDs: with message ids (no NoMsgIDs) Publish does
// not batch, and JetStream's window still recognises a call sent again.
func TestBatchPublishKeepsMsgIDs(t *testing.T) {
	ctx := context.Background()
	b := bustest.Open(t, bus.Options{BatchPublish: true})
	first, err := b.Publish(ctx, msgs("web", 0, 20))
	if err != nil || first.Stored != 20 {
		t.Fatalf("first publish = %+v, %v; want 20 stored", first, err)
	}
	again, err := b.Publish(ctx, msgs("web", 0, 20))
	if err != nil || again.Duplicates != 20 {
		t.Fatalf("the same call again = %+v, %v; want 20 duplicates", again, err)
	}
}

// TestPlainBusKeepsBatchesAllowed: a bus connecting to an embedded
// server as an external client (no batches of its own) leaves the stream's
// batches allowed for the embedded bus, which keeps storing in batches.
func TestPlainBusKeepsBatchesAllowed(t *testing.T) {
	ctx := context.Background()
	emb := bustest.Open(t, bus.Options{Listen: "127.0.0.1:0", NoMsgIDs: true, BatchPublish: true})
	ext := bustest.Open(t, bus.Options{URL: emb.ClientURL()})
	st, err := emb.JetStream().Stream(ctx, emb.Stream())
	if err != nil {
		t.Fatal(err)
	}
	if !st.CachedInfo().Config.AllowBatchPublish {
		t.Fatal("the external bus turned the stream's batches off")
	}
	if res, err := emb.Publish(ctx, msgs("web", 0, 50)); err != nil || res.Stored != 50 {
		t.Fatalf("publish = %+v, %v", res, err)
	}
	if res, err := ext.Publish(ctx, msgs("app", 0, 50)); err != nil || res.Stored != 50 {
		t.Fatalf("external publish = %+v, %v", res, err)
	}
}
