package segment

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

func TestNeedsLook(t *testing.T) {
	slow := func(w uint64) bool {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], w)
		for _, c := range b {
			if c == '"' || c == '\\' || c < 0x20 {
				return true
			}
		}
		return false
	}
	check := func(w uint64) {
		if needsLook(w) != slow(w) {
			t.Fatalf("needsLook(%#016x) = %v", w, needsLook(w))
		}
	}
	// Every byte value in every position, among safe neighbours.
	for pos := range 8 {
		for c := range 256 {
			w := uint64(0x6161616161616161)
			w &^= 0xff << (8 * pos)
			w |= uint64(c) << (8 * pos)
			check(w)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1_000_000 {
		check(r.Uint64())
	}
}
