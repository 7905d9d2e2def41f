package seen

import "math/bits"

// shardBits is log2 of the number of tables a hashSet splits its keys
// into, by their top bits. A table grows alone, so adding one key rehashes
// at most 1/64 of the set under the set's lock: growing one flat table of
// a generation's ~150,000 ids (3 s at 50,000 events/s) held every ingest
// request behind it for up to ~30 ms.
const shardBits = 6

// hashSet is a set of 64-bit hashes in flat arrays: 1<<shardBits tables,
// each with open addressing and linear probing, 8 bytes a slot, grown by
// half when 4/5 full, so 10 to 15 bytes a key where a Go map of uint64
// takes 20 to 30. The keys must be uniformly distributed (they are SHA-256
// bits): a key's table is its top bits and its home slot the bits below
// them scaled to the table, without further mixing.
type hashSet struct {
	tables  [1 << shardBits]table
	hasZero bool
	moved   int // keys moved by growing, for tests
}

// table is one shard of a hashSet.
type table struct {
	slots []uint64 // 0 marks an empty slot; the key 0 is hashSet.hasZero
	n     int      // keys in slots
}

func (s *hashSet) table(h uint64) *table {
	return &s.tables[h>>(64-shardBits)]
}

// home is the slot a probe for h starts at: the bits below the table's.
func (t *table) home(h uint64) int {
	hi, _ := bits.Mul64(h<<shardBits, uint64(len(t.slots)))
	return int(hi)
}

func (s *hashSet) has(h uint64) bool {
	if h == 0 {
		return s.hasZero
	}
	t := s.table(h)
	if len(t.slots) == 0 {
		return false
	}
	for i := t.home(h); ; {
		switch t.slots[i] {
		case h:
			return true
		case 0:
			return false
		}
		if i++; i == len(t.slots) {
			i = 0
		}
	}
}

func (s *hashSet) add(h uint64) {
	if h == 0 {
		s.hasZero = true
		return
	}
	t := s.table(h)
	if (t.n+1)*5 > len(t.slots)*4 {
		s.moved += t.n
		t.grow()
	}
	if t.insert(h) {
		t.n++
	}
}

// insert puts h in its slot and reports whether it was new. There is
// always an empty slot.
func (t *table) insert(h uint64) bool {
	for i := t.home(h); ; {
		switch t.slots[i] {
		case h:
			return false
		case 0:
			t.slots[i] = h
			return true
		}
		if i++; i == len(t.slots) {
			i = 0
		}
	}
}

func (t *table) grow() {
	old := t.slots
	t.slots = make([]uint64, max(16, len(old)+len(old)/2))
	for _, h := range old {
		if h != 0 {
			t.insert(h)
		}
	}
}

func (s *hashSet) len() int {
	n := 0
	for i := range s.tables {
		n += s.tables[i].n
	}
	if s.hasZero {
		n++
	}
	return n
}
