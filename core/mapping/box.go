package mapping

import "unsafe"

// Boxing in bulk.
//
// Putting a string, or a number that is not a small integer, into an
// interface value allocates a copy of it, one small allocation per value:
// for a decoded event, dozens. The decoder instead keeps the values in
// arrays of a few dozen (one allocation each) and makes interface values
// that point into them, as the runtime's own boxing would point at its
// copy. The arrays are never reused or written again once a value points
// into them, so the values stay valid for as long as anything holds them,
// like any other heap value.

// eface is the layout of an interface value of type any.
type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

func typeOf(v any) unsafe.Pointer { return (*eface)(unsafe.Pointer(&v)).typ }

var (
	stringWord  = typeOf("")
	float64Word = typeOf(0.5)
	intWord     = typeOf(0)
	listWord    = typeOf([]any(nil))
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
	nums   []uint64 // float64 and int values
	lists  [][]any  // slice headers
	bytes  []byte   // the bytes of strings made on the fast path
	sizes  boxSizes // the sizes to start with
	counts boxSizes // how much was handed out
}

// boxSizes are numbers of strings, numbers, lists and bytes.
type boxSizes struct{ strs, nums, lists, bytes int }

// newBytes returns n bytes for a new string's contents.
func (b *boxes) newBytes(n int) []byte {
	b.counts.bytes += n
	if cap(b.bytes)-len(b.bytes) < n {
		size := max(2*cap(b.bytes), 64)
		if b.bytes == nil && b.sizes.bytes > 0 {
			size = b.sizes.bytes
		}
		b.bytes = make([]byte, 0, max(size, n))
	}
	l := len(b.bytes)
	b.bytes = b.bytes[:l+n]
	return b.bytes[l : l+n : l+n]
}

// stringOf boxes the string whose contents newBytes gave.
func (b *boxes) stringOf(p []byte) any {
	if len(p) == 0 {
		return ""
	}
	return b.string(unsafe.String(&p[0], len(p)))
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
func (b *boxes) list(l []any) any {
	b.counts.lists++
	if len(b.lists) == cap(b.lists) {
		b.lists = make([][]any, 0, chunk(cap(b.lists), b.sizes.lists))
	}
	b.lists = append(b.lists, l)
	return box(listWord, unsafe.Pointer(&b.lists[len(b.lists)-1]))
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
