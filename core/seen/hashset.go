package seen

import "math/bits"

// hashSet is a set of 64-bit hashes in one flat array, open addressing
// with linear probing: 8 bytes a slot, grown by half when 4/5 full, so
// 10 to 15 bytes a key where a Go map of uint64 takes 20 to 30. The keys
// must be uniformly distributed (they are SHA-256 bits): a key's home slot
// is its high bits scaled to the array, without further mixing.
type hashSet struct {
	slots   []uint64 // 0 marks an empty slot; the key 0 is hasZero
	n       int      // keys in slots
	hasZero bool
}

// home is the slot a probe for h starts at.
func (s *hashSet) home(h uint64) int {
	hi, _ := bits.Mul64(h, uint64(len(s.slots)))
	return int(hi)
}

func (s *hashSet) has(h uint64) bool {
	if h == 0 {
		return s.hasZero
	}
	if len(s.slots) == 0 {
		return false
	}
	for i := s.home(h); ; {
		switch s.slots[i] {
		case h:
			return true
		case 0:
			return false
		}
		if i++; i == len(s.slots) {
			i = 0
		}
	}
}

func (s *hashSet) add(h uint64) {
	if h == 0 {
		s.hasZero = true
		return
	}
	if (s.n+1)*5 > len(s.slots)*4 {
		s.grow()
	}
	if s.insert(h) {
		s.n++
	}
}

// insert puts h in its slot and reports whether it was new. There is
// always an empty slot.
func (s *hashSet) insert(h uint64) bool {
	for i := s.home(h); ; {
		switch s.slots[i] {
		case h:
			return false
		case 0:
			s.slots[i] = h
			return true
		}
		if i++; i == len(s.slots) {
			i = 0
		}
	}
}

func (s *hashSet) grow() {
	old := s.slots
	s.slots = make([]uint64, max(16, len(old)+len(old)/2))
	for _, h := range old {
		if h != 0 {
			s.insert(h)
		}
	}
}

func (s *hashSet) len() int {
	if s.hasZero {
		return s.n + 1
	}
	return s.n
}
