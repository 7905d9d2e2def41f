package seen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cdp/switchboard/core/bus"
	"github.com/switchboard-cdp/switchboard/core/bus/bustest"
)

func seenKeys(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s:%d", prefix, i)
	}
	return out
}

func newTestSeen(b *bus.Bus, gauge func(float64)) *Set {
	return New(b, Options{Stream: "SB_SEEN_meta", Subject: "sb.seen.meta", TTL: time.Hour, Keys: gauge})
}

func seenOf(t *testing.T, s *Set, keys []string) []bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := s.Seen(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestSeenMarksAndAnswers(t *testing.T) {
	b := bustest.Open(t, bus.Options{})
	var mu sync.Mutex
	var gauge float64
	s := newTestSeen(b, func(v float64) { mu.Lock(); gauge = v; mu.Unlock() })
	t.Cleanup(s.Close)
	ctx := context.Background()

	// A fresh, empty stream answers at once: nothing seen.
	if got := seenOf(t, s, []string{"a", "b"}); got[0] || got[1] {
		t.Fatalf("empty set says %v", got)
	}
	if err := s.Mark(ctx, seenKeys("Purchase", 1000), 0); err != nil {
		t.Fatal(err)
	}
	keys := append(seenKeys("Purchase", 1000)[990:], seenKeys("Lead", 10)...)
	got := seenOf(t, s, keys)
	for i, g := range got {
		if want := i < 10; g != want {
			t.Fatalf("seen(%s) = %v; want %v", keys[i], g, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if gauge != 1000 {
		t.Errorf("seen keys gauge = %v; want 1000", gauge)
	}
}

// TestSeenIsSharedAndSurvivesRestart: a second set on the same stream (a
// second serve process, or this one restarted) loads every mark before it
// answers, and receives marks the first makes later.
func TestSeenIsSharedAndSurvivesRestart(t *testing.T) {
	b := bustest.Open(t, bus.Options{})
	ctx := context.Background()
	first := newTestSeen(b, nil)
	t.Cleanup(first.Close)
	for i := range 20 {
		if err := first.Mark(ctx, seenKeys(fmt.Sprintf("batch%d", i), 500), 0); err != nil {
			t.Fatal(err)
		}
	}

	second := newTestSeen(b, nil)
	t.Cleanup(second.Close)
	got := seenOf(t, second, []string{"batch0:0", "batch19:499", "batch20:0"})
	if !got[0] || !got[1] || got[2] {
		t.Fatalf("restarted set says %v; want [true true false]", got)
	}

	if err := first.Mark(ctx, []string{"later"}, 0); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !seenOf(t, second, []string{"later"})[0] {
		if time.Now().After(deadline) {
			t.Fatal("a mark made by another process never arrived")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSeenLoadsWhenEveryMarkExpired: a set started on a stream whose marks
// have all expired (a restart after a quiet spell longer than the TTL: the
// stream holds no message but its sequence is past 0) is ready at once.
// It once waited for a delivery that could never come, and ingest with it.
func TestSeenLoadsWhenEveryMarkExpired(t *testing.T) {
	b := bustest.Open(t, bus.Options{})
	ctx := context.Background()
	first := newTestSeen(b, nil)
	t.Cleanup(first.Close)
	if err := first.Mark(ctx, []string{"gone"}, time.Second); err != nil {
		t.Fatal(err)
	}
	st, err := b.JetStream().Stream(ctx, "SB_SEEN_meta")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs == 0 && info.State.LastSeq > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mark never expired: %+v", info.State)
		}
		time.Sleep(50 * time.Millisecond)
	}

	second := newTestSeen(b, nil)
	t.Cleanup(second.Close)
	if got := seenOf(t, second, []string{"gone", "new"}); got[0] || got[1] {
		t.Fatalf("set on an expired stream says %v; want [false false]", got)
	}
}

func TestSeenExpires(t *testing.T) {
	b := bustest.Open(t, bus.Options{})
	clock := time.Now()
	var mu sync.Mutex
	s := newTestSeen(b, nil)
	s.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	t.Cleanup(s.Close)
	ctx := context.Background()
	if err := s.Mark(ctx, []string{"short"}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Mark(ctx, []string{"long"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	advance := func(d time.Duration) {
		mu.Lock()
		clock = clock.Add(d)
		mu.Unlock()
	}
	advance(9 * time.Second) // within its ttl: still seen
	if got := seenOf(t, s, []string{"short", "long"}); !got[0] || !got[1] {
		t.Fatalf("after 9s: %v", got)
	}
	advance(3 * time.Second) // past ttl and its one-second rounding
	if got := seenOf(t, s, []string{"short", "long"}); got[0] || !got[1] {
		t.Fatalf("after 12s: %v; want [false true]", got)
	}
	advance(time.Hour + 8*time.Minute) // past an hour and its rounding (ttl/8)
	if got := seenOf(t, s, []string{"long"}); got[0] {
		t.Fatal("a mark outlived its ttl by more than ttl/8")
	}
}

func TestGenerationEnd(t *testing.T) {
	now := time.Unix(1_700_000_123, 0)
	for _, tc := range []struct {
		ttl  time.Duration
		step int64
	}{
		{48 * time.Hour, 6 * 3600},
		{time.Hour, 450},
		{10 * time.Second, 1},
		{1000 * time.Hour, 125 * 3600},
	} {
		end := generationEnd(now, tc.ttl, 8)
		exp := now.Add(tc.ttl).Unix()
		if end < exp || end-exp >= tc.step || end%tc.step != 0 {
			t.Errorf("ttl %v: end %d, expiry %d, want the next multiple of %d", tc.ttl, end, exp, tc.step)
		}
	}
}

func TestSeenRefusesBadCalls(t *testing.T) {
	b := bustest.Open(t, bus.Options{})
	s := newTestSeen(b, nil)
	t.Cleanup(s.Close)
	ctx := context.Background()
	if err := s.Mark(ctx, []string{"k"}, -time.Second); err == nil {
		t.Error("a negative ttl was accepted")
	}
	// A message of an unknown format is skipped, not misread.
	seenOf(t, s, []string{"k"}) // creates the stream
	if _, err := b.JetStream().Publish(ctx, s.opts.Subject, []byte{9, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}); err != nil {
		t.Fatal(err)
	}
	if got := seenOf(t, s, []string{"k"}); got[0] {
		t.Error("a key never marked is seen")
	}
	s.Close()
	if err := s.Mark(ctx, []string{"k"}, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

// BenchmarkSeenSetCycle is a Meta batch's dedupe work: Seen of 1,000 keys,
// then MarkSeen of them.
func BenchmarkSeenSetCycle(b *testing.B) {
	bu := bustest.Open(b, bus.Options{})
	s := New(bu, Options{Stream: "SB_SEEN_bench", Subject: "sb.seen.bench", TTL: 48 * time.Hour})
	defer s.Close()
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		keys := seenKeys(fmt.Sprintf("b%d", i), 1000)
		i++
		if _, err := s.Seen(ctx, keys); err != nil {
			b.Fatal(err)
		}
		if err := s.Mark(ctx, keys, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/key")
}
