package bus_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard-cdp/switchboard/core/bus"
	"github.com/switchboard-cdp/switchboard/core/bus/bustest"
)

func open(t *testing.T, dir string) *bus.Bus {
	t.Helper()
	b, err := bus.Open(context.Background(), bus.Options{StoreDir: dir, DuplicateWindow: time.Minute})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return b
}

func msgs(source string, from, n int) []bus.Message {
	out := make([]bus.Message, 0, n)
	for i := from; i < from+n; i++ {
		out = append(out, bus.Message{
			Subject: "events." + source + ".track",
			ID:      fmt.Sprintf("%s:m-%d", source, i),
			Data:    fmt.Appendf(nil, `{"messageId":"m-%d"}`, i),
		})
	}
	return out
}

func TestPublishSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b := open(t, dir)
	res, err := b.Publish(ctx, msgs("web", 0, 250))
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if res.Stored != 250 || res.Duplicates != 0 {
		t.Fatalf("first publish = %+v, want 250 stored", res)
	}
	// The same ids again are recognised as duplicates, not stored twice.
	res, err = b.Publish(ctx, msgs("web", 200, 100))
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if res.Stored != 50 || res.Duplicates != 50 {
		t.Fatalf("second publish = %+v, want 50 stored, 50 duplicates", res)
	}
	if _, err := b.Publish(ctx, msgs("app", 0, 10)); err != nil {
		t.Fatalf("publish app: %v", err)
	}
	b.Close()

	b = open(t, dir)
	defer b.Close()
	if err := b.Ready(ctx); err != nil {
		t.Fatalf("ready after restart: %v", err)
	}
	got, err := b.Recent(ctx, "events.web.>", 1000)
	if err != nil {
		t.Fatalf("recent: %v", err)
	}
	if len(got) != 300 {
		t.Fatalf("after restart read %d web events, want 300", len(got))
	}
	for i, s := range got {
		want := fmt.Sprintf(`{"messageId":"m-%d"}`, i)
		if string(s.Data) != want {
			t.Fatalf("event %d = %s, want %s", i, s.Data, want)
		}
	}
	last, err := b.Recent(ctx, "events.web.>", 3)
	if err != nil {
		t.Fatalf("recent 3: %v", err)
	}
	if len(last) != 3 || string(last[2].Data) != `{"messageId":"m-299"}` || string(last[0].Data) != `{"messageId":"m-297"}` {
		t.Fatalf("recent 3 = %+v", last)
	}
	app, err := b.Recent(ctx, "events.app.>", 100)
	if err != nil || len(app) != 10 {
		t.Fatalf("recent app = %d, %v; want 10", len(app), err)
	}
}

func TestPublishWhenStreamFullIsUnavailable(t *testing.T) {
	b := bustest.Open(t, bus.Options{MaxBytes: 4096})
	fillUntilUnavailable(t, b)
}

// fillUntilUnavailable publishes calls of 10 messages into a stream of a
// few KB until one fails, and checks that it failed as ErrUnavailable.
func fillUntilUnavailable(t *testing.T, b *bus.Bus) {
	t.Helper()
	var pubErr error
	for i := 0; i < 20 && pubErr == nil; i++ {
		_, pubErr = b.Publish(context.Background(), msgs("web", i*10, 10))
	}
	if !errors.Is(pubErr, bus.ErrUnavailable) {
		t.Fatalf("publishing into a full stream: err = %v, want ErrUnavailable", pubErr)
	}
}

// TestNoMsgIDsLeavesDedupeToTheCaller: with NoMsgIDs, Publish sends no
// Nats-Msg-Id, so the same ids again are stored again (ingest's
// seen.Publisher dedupes before the bus).
func TestNoMsgIDsLeavesDedupeToTheCaller(t *testing.T) {
	ctx := context.Background()
	b := bustest.Open(t, bus.Options{NoMsgIDs: true})
	for range 2 {
		if res, err := b.Publish(ctx, msgs("web", 0, 10)); err != nil || res.Stored != 10 {
			t.Fatalf("publish = %+v, %v; want 10 stored", res, err)
		}
	}
	msg, err := b.JetStream().Stream(ctx, "EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := msg.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if id := raw.Header.Get("Nats-Msg-Id"); id != "" {
		t.Fatalf("stored with Nats-Msg-Id %q", id)
	}
	if n := msg.CachedInfo().State.Msgs; n != 20 {
		t.Fatalf("stream holds %d messages, want 20", n)
	}
}

// TestStreamWrittenInSmallBlocks: without MaxBytes the events stream is
// written in blocks of at most 4 MB (nats-server keeps each recently used
// block's buffer in memory; see ensureStream), all events on one subject
// still stored.
func TestStreamWrittenInSmallBlocks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := bustest.Open(t, bus.Options{StoreDir: dir, NoMsgIDs: true})
	body := bytes.Repeat([]byte("x"), 4000)
	const calls, per = 30, 100 // 12 MB
	for c := range calls {
		batch := make([]bus.Message, per)
		for i := range batch {
			batch[i] = bus.Message{Subject: "events.web.track", Data: body, ID: fmt.Sprintf("m-%d-%d", c, i)}
		}
		if res, err := b.Publish(ctx, batch); err != nil || res.Stored != per {
			t.Fatalf("publish = %+v, %v", res, err)
		}
	}
	blocks, err := filepath.Glob(filepath.Join(dir, "jetstream", "*", "streams", b.Stream(), "msgs", "*.blk"))
	if err != nil || len(blocks) == 0 {
		t.Fatalf("no message blocks found: %v", err)
	}
	for _, blk := range blocks {
		fi, err := os.Stat(blk)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 4<<20+8<<10 {
			t.Errorf("block %s is %d bytes, want at most 4 MB", filepath.Base(blk), fi.Size())
		}
		if fi.Size() > int64(b.BlockBytes())+8<<10 {
			t.Errorf("block %s is %d bytes, BlockBytes says %d", filepath.Base(blk), fi.Size(), b.BlockBytes())
		}
	}
	if len(blocks) < 3 {
		t.Errorf("12 MB in %d blocks, want at least 3", len(blocks))
	}
	st, err := b.JetStream().Stream(ctx, b.Stream())
	if err != nil {
		t.Fatal(err)
	}
	if info, err := st.Info(ctx); err != nil || info.State.Msgs != calls*per {
		t.Fatalf("stream holds %v messages (%v), want %d", info.State.Msgs, err, calls*per)
	}
}
