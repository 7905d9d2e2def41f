package normalize

import "unsafe"

// boxSlice returns *p as an interface value that points at *p instead of
// at a copy of it: boxing a slice otherwise allocates a copy of its
// header, one allocation per user_data key. The caller never writes *p
// again, so the value is as immutable as any boxed value. (The layout of
// an interface value, a type word and a data pointer, is the runtime's.)
func boxSlice(p *[]string) (v any) {
	type eface struct{ typ, data unsafe.Pointer }
	e := (*eface)(unsafe.Pointer(&v))
	e.typ, e.data = stringsType, unsafe.Pointer(p)
	return v
}

var stringsType = func() unsafe.Pointer {
	var v any = []string(nil)
	return (*struct{ typ, data unsafe.Pointer })(unsafe.Pointer(&v)).typ
}()
