package bus_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard-cdp/switchboard/core/bus"
	"github.com/switchboard-cdp/switchboard/core/bus/bustest"
)

// TestBlockBytesIsWhatTheServerWrites: with a byte limit nats-server sizes
// the stream's blocks from it; BlockBytes must say what it chose, since
// pipelines pace their reads by it.
func TestBlockBytesIsWhatTheServerWrites(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		maxBytes int64
		want     int
	}{
		{100_000, 32_000},   // a quarter is under nats-server's smallest block
		{16 << 20, 4 << 20}, // in between: 4 MiB
		{64 << 20, 8 << 20}, // a quarter is over its largest
	} {
		dir := t.TempDir()
		b := bustest.Open(t, bus.Options{StoreDir: dir, NoMsgIDs: true, MaxBytes: tc.maxBytes})
		if got := b.BlockBytes(); got != tc.want {
			t.Errorf("max_bytes %d: BlockBytes = %d, want %d", tc.maxBytes, got, tc.want)
		}
		if tc.want > 1<<20 {
			continue // the 4 MiB and 8 MiB sizes: TestStreamWrittenInSmallBlocks writes one
		}
		// 90 KB in 1,000-byte messages: several blocks of at most 32,000 bytes.
		body := bytes.Repeat([]byte("x"), 1000)
		for i := range 90 {
			if res, err := b.Publish(ctx, []bus.Message{{Subject: "events.web.track", Data: body, ID: fmt.Sprintf("m-%d", i)}}); err != nil || res.Stored != 1 {
				t.Fatalf("publish = %+v, %v", res, err)
			}
		}
		blocks, _ := filepath.Glob(filepath.Join(dir, "jetstream", "*", "streams", b.Stream(), "msgs", "*.blk"))
		if len(blocks) < 3 {
			t.Fatalf("max_bytes %d: 90 KB in %d blocks, want at least 3", tc.maxBytes, len(blocks))
		}
		for _, blk := range blocks {
			if fi, err := os.Stat(blk); err != nil || fi.Size() > int64(tc.want) {
				t.Errorf("max_bytes %d: block %s: %v bytes (%v), want at most %d", tc.maxBytes, filepath.Base(blk), fi.Size(), err, tc.want)
			}
		}
	}
}

// TestWriteRateFollowsTheStream: the rate reads the bytes being stored
// while events come, and falls back towards 0 when they stop.
func TestWriteRateFollowsTheStream(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := bustest.Open(t, bus.Options{StoreDir: t.TempDir(), NoMsgIDs: true})
	w := b.WatchWriteRate(ctx, 50*time.Millisecond)
	if got := w.BytesPerSecond(); got != 0 {
		t.Fatalf("rate before any event = %v, want 0", got)
	}
	body := bytes.Repeat([]byte("x"), 1000)
	batch := make([]bus.Message, 100)
	for i := range batch {
		batch[i] = bus.Message{Subject: "events.web.track", Data: body}
	}
	// ~100 KB every 10 ms for a second: ~10 MB/s, whatever the machine
	// makes of it; the check is only that the rate sees bytes flowing.
	var peak float64
	for range 100 {
		if _, err := b.Publish(ctx, batch); err != nil {
			t.Fatal(err)
		}
		peak = max(peak, w.BytesPerSecond())
		time.Sleep(10 * time.Millisecond)
	}
	if peak < 100_000 {
		t.Fatalf("peak rate while publishing ~100 KB every 10 ms = %.0f B/s", peak)
	}
	deadline := time.Now().Add(10 * time.Second)
	for w.BytesPerSecond() > peak/100 {
		if time.Now().After(deadline) {
			t.Fatalf("rate %.0f B/s 10 s after the last event (peak %.0f)", w.BytesPerSecond(), peak)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var nilRate *bus.WriteRate
	if nilRate.BytesPerSecond() != 0 {
		t.Fatal("a nil WriteRate must read 0")
	}
}
