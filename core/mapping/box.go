package mapping

import (
	"hash"
	"time"
	"unsafe"
)

// Boxing in bulk.
//
// Putting a string, or a number that is not a small integer, into an
// interface value allocates a copy of it, one small allocation per value:
// for a decoded event, dozens. The decoder instead keeps the values in
// arrays of a few dozen (one allocation each) and makes interface values
// that point into them, as the runtime's own boxing would point at its
// copy. The arrays are not written again once a value points into them,
// so the values stay valid for as long as anything holds them, like any
// other heap value; the one exception is Apply's fast path, whose values
// all die with the call, so it reuses its arrays for the next event
// (reuse).

// eface is the layout of an interface value of type any.
type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

func typeOf(v any) unsafe.Pointer { return (*eface)(unsafe.Pointer(&v)).typ }

var (
	stringWord   = typeOf("")
	float64Word  = typeOf(0.5)
	intWord      = typeOf(0)
	listWord     = typeOf([]any(nil))
	timeWord     = typeOf(time.Time{})
	contentsWord = typeOf(contentsOutput(nil))
)

// box makes the interface value of type typ whose value is at p.
func box(typ, p unsafe.Pointer) (v any) {
	e := (*eface)(unsafe.Pointer(&v))
	e.typ, e.data = typ, p
	return v
}

// boxes hands out the values of one decoding (and of one evaluation on
// the fast path).
type boxes struct {
	strs   []string
	nums   []uint64    // float64 and int values
	lists  [][]any     // slice headers
	times  []time.Time // the four timestamps
	bytes  []byte      // the bytes of strings made on the fast path
	items  []any       // the elements of arrays made on the fast path
	sizes  boxSizes    // the sizes to start with
	counts boxSizes    // how much was handed out
	sha    hash.Hash   // digestOf's, made on first use
}

// boxSizes are numbers of strings, numbers, lists, bytes and items.
type boxSizes struct{ strs, nums, lists, bytes, items int }

// maxKeep bounds the bytes and items reuse keeps for the next event.
const maxKeep = 16 << 10

// newBytes returns n bytes for a new string's contents.
func (b *boxes) newBytes(n int) []byte {
	b.counts.bytes += n
	return carve(&b.bytes, n, b.sizes.bytes)
}

// newItems returns n elements for a new array.
func (b *boxes) newItems(n int) []any {
	b.counts.items += n
	return carve(&b.items, n, b.sizes.items)
}

// carve cuts n elements from the end of the slab, first replacing it with
// a new one (of size elements if it had none yet, else of twice its size)
// when it has no room. The result's capacity is n, so appending to it
// cannot reach what comes after.
func carve[T any](slab *[]T, n, size int) []T {
	if cap(*slab)-len(*slab) < n {
		next := max(2*cap(*slab), 64)
		if *slab == nil && size > 0 {
			next = size
		}
		*slab = make([]T, 0, max(next, n))
	}
	l := len(*slab)
	*slab = (*slab)[:l+n]
	return (*slab)[l : l+n : l+n]
}

// reuse readies b for another evaluation, keeping its current arrays (up
// to a size) and clearing what they point to. Only for evaluations none of
// whose values outlive them: the next one overwrites the values.
func (b *boxes) reuse() {
	clear(b.strs)
	clear(b.lists)
	clear(b.times)
	clear(b.items)
	b.strs, b.nums, b.lists, b.times = b.strs[:0], b.nums[:0], b.lists[:0], b.times[:0]
	b.bytes, b.items = b.bytes[:0], b.items[:0]
	if cap(b.bytes) > maxKeep {
		b.bytes = nil
	}
	if cap(b.items) > maxKeep {
		b.items = nil
	}
	b.counts = boxSizes{}
}

// stringOf boxes the string whose contents newBytes gave.
func (b *boxes) stringOf(p []byte) any {
	if len(p) == 0 {
		return ""
	}
	return b.string(unsafe.String(&p[0], len(p)))
}

// restring boxes out, which a function of strings made from s, the string
// in a: a itself when out is s.
func (b *boxes) restring(a any, s, out string) any {
	switch {
	case len(out) == len(s) && unsafe.StringData(out) == unsafe.StringData(s):
		return a
	case out == "":
		return ""
	}
	return b.string(out)
}

func (b *boxes) string(s string) any {
	b.counts.strs++
	if len(b.strs) == cap(b.strs) {
		b.strs = make([]string, 0, chunk(cap(b.strs), b.sizes.strs))
	}
	b.strs = append(b.strs, s)
	return box(stringWord, unsafe.Pointer(&b.strs[len(b.strs)-1]))
}

// list boxes a slice of values.
func (b *boxes) list(l []any) any { return b.slice(listWord, l) }

// slice boxes l as a value of type typ, which must be a slice of any or a
// type with the same layout (contentsOutput).
func (b *boxes) slice(typ unsafe.Pointer, l []any) any {
	b.counts.lists++
	if len(b.lists) == cap(b.lists) {
		b.lists = make([][]any, 0, chunk(cap(b.lists), b.sizes.lists))
	}
	b.lists = append(b.lists, l)
	return box(typ, unsafe.Pointer(&b.lists[len(b.lists)-1]))
}

// time boxes a time. Events have a few, so there is no size to start
// with.
func (b *boxes) time(t time.Time) any {
	if len(b.times) == cap(b.times) {
		b.times = make([]time.Time, 0, chunk(cap(b.times), 4))
	}
	b.times = append(b.times, t)
	return box(timeWord, unsafe.Pointer(&b.times[len(b.times)-1]))
}

func (b *boxes) num() unsafe.Pointer {
	b.counts.nums++
	if len(b.nums) == cap(b.nums) {
		b.nums = make([]uint64, 0, chunk(cap(b.nums), b.sizes.nums))
	}
	b.nums = b.nums[:len(b.nums)+1]
	return unsafe.Pointer(&b.nums[len(b.nums)-1])
}

func (b *boxes) float(f float64) any {
	p := b.num()
	*(*float64)(p) = f
	return box(float64Word, p)
}

func (b *boxes) int(n int) any {
	if n >= 0 && n < 256 {
		return n // the runtime boxes these without allocating
	}
	p := b.num()
	*(*int)(p) = n
	return box(intWord, p)
}

// chunk is the size of the next array: first the expected size, or 16,
// then doubling up to 128.
func chunk(last, first int) int {
	if last == 0 && first > 0 {
		return first
	}
	return min(max(2*last, 16), 128)
}
