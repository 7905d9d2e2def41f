package seen

import (
	"math/rand/v2"
	"testing"
)

// TestHashSetMatchesMap adds random keys (with repeats, and 0) and checks
// every answer against a Go map, across many growths.
func TestHashSetMatchesMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var s hashSet
	want := map[uint64]bool{}
	keys := make([]uint64, 0, 50_000)
	for i := range 50_000 {
		var h uint64
		switch {
		case i%7 == 0 && len(keys) > 0:
			h = keys[r.IntN(len(keys))] // a repeat
		case i == 1234:
			h = 0
		default:
			h = r.Uint64()
		}
		s.add(h)
		want[h] = true
		keys = append(keys, h)
		if s.len() != len(want) {
			t.Fatalf("after %d adds: len %d, want %d", i+1, s.len(), len(want))
		}
	}
	for _, h := range keys {
		if !s.has(h) {
			t.Fatalf("%x added but not found", h)
		}
	}
	for range 100_000 {
		h := r.Uint64()
		if s.has(h) != want[h] {
			t.Fatalf("has(%x) = %v, want %v", h, s.has(h), want[h])
		}
	}
	for i, tb := range s.tables {
		if load := float64(tb.n) / float64(len(tb.slots)); load > 0.8 || load < 0.4 {
			t.Errorf("table %d: load factor %.2f outside [0.4, 0.8]", i, load)
		}
	}
	var empty hashSet
	if empty.has(0) || empty.has(42) || empty.len() != 0 {
		t.Error("an empty set has keys")
	}
}

// TestHashSetWrapsAround: keys whose home is the last slot probe on from
// the first.
func TestHashSetWrapsAround(t *testing.T) {
	var s hashSet
	s.add(1) // allocates 16 slots
	top := ^uint64(0)
	for i := range uint64(5) {
		s.add(top - i) // all at home slot 15
	}
	for i := range uint64(5) {
		if !s.has(top - i) {
			t.Fatalf("%x lost", top-i)
		}
	}
	if s.has(top-5) || s.len() != 6 {
		t.Errorf("len %d", s.len())
	}
}

// TestHashSetGrowsInSmallSteps: no add rehashes more than a small part of
// the set (one table), so a set of millions of keys never holds its lock
// for long.
func TestHashSetGrowsInSmallSteps(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var s hashSet
	const n = 1 << 20
	worst := 0
	for range n {
		before := s.moved
		s.add(r.Uint64())
		worst = max(worst, s.moved-before)
	}
	// A table holds about n/64 keys; allow for uneven tables.
	if limit := n / 16; worst > limit {
		t.Errorf("one add rehashed %d keys of %d (limit %d)", worst, n, limit)
	}
	if s.moved > 4*n {
		t.Errorf("%d keys moved in all for %d added", s.moved, n)
	}
}

func BenchmarkHashSetHas(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	var s hashSet
	for range 1 << 20 {
		s.add(r.Uint64())
	}
	b.ReportAllocs()
	for b.Loop() {
		s.has(r.Uint64())
	}
}
