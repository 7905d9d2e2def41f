package mapping

import "errors"

// A projection is the parts of an event a program's fast path reads: the
// fields and the constant paths into them (context.traits.email), as a
// tree. Apply decodes only those into slots, one per value read whole, and
// skips the rest of the event, still checking it exactly as NewEnv would
// (syntax, nesting, numbers in range, the types of the Segment fields), so
// an event NewEnv refuses is never mapped. The values the fast path does not
// read are not decoded, which is most of an event: no maps, no arrays, no
// boxed strings for them.
type projection struct {
	roots  [len(fieldList)]*pnode
	nslots int
}

// pnode is a field, or a key inside one, that the program reads.
type pnode struct {
	key    string
	slot   int      // ≥ 0: the value is decoded whole into this slot
	kids   []*pnode // slot < 0: the keys read further, which must be objects
	lo, hi int      // the slots of this node and of those under it
}

func (n *pnode) kid(key string) *pnode {
	for _, k := range n.kids {
		if k.key == key {
			return k
		}
	}
	return nil
}

// forget clears the slots of n and of those under it, before n's value is
// read (a later duplicate key replaces what an earlier one gave) or where
// it is null. They are few, and mostly clear already: a loop of stores is
// cheaper than clear's call.
func (n *pnode) forget(slots []any) {
	for i := n.lo; i < n.hi; i++ {
		if slots[i] != nil {
			slots[i] = nil
		}
	}
}

// newProjection builds the projection of the reads, and sets each read's
// slot and the keys still to follow from the slot's value. whole lists
// fields read whole (by the expressions the VM evaluates).
func newProjection(reads []*access, whole []string) *projection {
	type build struct {
		whole bool
		keys  []string
		kids  map[string]*build
	}
	var roots [len(fieldList)]*build
	add := func(id int, path []string) {
		if roots[id] == nil {
			roots[id] = &build{kids: map[string]*build{}}
		}
		b := roots[id]
		for _, k := range path {
			if b.whole {
				return
			}
			next := b.kids[k]
			if next == nil {
				next = &build{kids: map[string]*build{}}
				b.kids[k] = next
				b.keys = append(b.keys, k)
			}
			b = next
		}
		b.whole = true
	}
	for _, a := range reads {
		id := fieldIndex(a.name)
		_, kind := field(a.name)
		if kind == objectField {
			add(id, stringPrefix(a.keys))
		} else {
			add(id, nil)
		}
	}
	for _, name := range whole {
		add(fieldIndex(name), nil)
	}
	p := &projection{}
	var finish func(b *build, key string) *pnode
	finish = func(b *build, key string) *pnode {
		n := &pnode{key: key, slot: -1, lo: p.nslots}
		if b.whole {
			n.slot = p.nslots
			p.nslots++
		} else {
			for _, k := range b.keys {
				n.kids = append(n.kids, finish(b.kids[k], k))
			}
		}
		n.hi = p.nslots
		return n
	}
	for id, b := range roots {
		if b != nil {
			p.roots[id] = finish(b, fieldList[id])
		}
	}
	for _, a := range reads {
		n, depth := p.roots[fieldIndex(a.name)], 0
		for n.slot < 0 {
			n = n.kid(a.keys[depth].(string))
			depth++
		}
		a.slot, a.rest = n.slot, a.keys[depth:]
	}
	return p
}

// stringPrefix returns the string keys keys starts with.
func stringPrefix(keys []any) []string {
	var out []string
	for _, k := range keys {
		s, ok := k.(string)
		if !ok {
			break
		}
		out = append(out, s)
	}
	return out
}

func fieldIndex(name string) int {
	_, _, id := fieldInfo(name)
	return id
}

// errNotFast is a projection giving up on an event that needs a closer
// look: a Segment field of the wrong type, say. The ordinary path then
// decodes it and reports the error.
var errNotFast = errors.New("not for the fast path")

// project decodes the parts of the event p reads into slots (which must be
// cleared) and checks the rest. An error means only that the event must be
// decoded the ordinary way (which reports what is wrong with it).
func (d *decoder) project(p *projection, slots []any) error {
	d.space()
	if d.i >= len(d.s) || d.s[d.i] != '{' {
		return errNotFast
	}
	if err := d.members(&into{fields: p, slots: slots}); err != nil {
		return err
	}
	d.space()
	if d.i != len(d.s) {
		return errNotFast
	}
	return nil
}

// projectField reads the value of a top-level field, d.i at it, of the
// given kind, as typed would have it. n is what the program reads of it,
// or nil.
func (d *decoder) projectField(kind int, n *pnode, slots []any) error {
	if d.i >= len(d.s) {
		return errEnd
	}
	c := d.s[d.i]
	if kind == skipField {
		_, err := d.value(true)
		return err
	}
	if c == 'n' {
		if _, err := d.literal("null", nil); err != nil {
			return err
		}
		if n != nil {
			n.forget(slots)
		}
		return nil
	}
	var v any
	switch kind {
	case stringField, timeField:
		switch {
		case c == '"':
			// Only a time is read where the program does not read it:
			// it is checked.
			s, err := d.str(n == nil && kind == stringField)
			if err != nil {
				return err
			}
			return d.fieldString(kind, n, s, slots)
		case kind == stringField && (c == '-' || c >= '0' && c <= '9'):
			x, err := d.number(n == nil)
			if err != nil {
				return err
			}
			if n != nil {
				if v, err = typed(stringField, "", x); err != nil {
					return err
				}
			}
		default:
			return errNotFast
		}
	case objectField:
		switch {
		case c != '{':
			return errNotFast
		case n == nil:
			_, err := d.value(true)
			return err
		case n.slot < 0:
			n.forget(slots)
			return d.members(&into{keys: n, slots: slots})
		}
		var err error
		if v, err = d.value(false); err != nil {
			return err
		}
	}
	if n != nil {
		slots[n.slot] = v
	}
	return nil
}

// fieldString is projectField for a field whose value is the string s,
// which a string field the program does not read leaves unused (the
// string is only checked, and projectField passes "").
func (d *decoder) fieldString(kind int, n *pnode, s string, slots []any) error {
	var v any
	switch kind {
	case skipField:
		return nil
	case stringField:
		if n != nil {
			v = d.boxes.string(s)
		}
	case timeField:
		switch {
		case s == "":
		case n == nil:
			// Not read: only checked, as NewEnv would.
			if !validTimestamp(s) {
				return errNotFast
			}
		default:
			t, err := parseTimestamp(s)
			if err != nil {
				return errNotFast
			}
			if !t.IsZero() {
				v = d.boxes.time(t)
			}
		}
	case objectField:
		return errNotFast
	}
	if n != nil {
		slots[n.slot] = v
	}
	return nil
}

// projectMember reads the value, d.i at it, of a member of an object that
// the projection goes into, whose key is kid (nil: a key not read).
func (d *decoder) projectMember(kid *pnode, slots []any) (err error) {
	switch {
	case kid == nil:
		_, err = d.value(true)
	case kid.slot >= 0:
		var v any
		v, err = d.value(false)
		slots[kid.slot] = v
	default:
		// A later duplicate key replaces what an earlier one gave.
		kid.forget(slots)
		switch {
		case d.i >= len(d.s):
			err = errEnd
		case d.s[d.i] == '{':
			err = d.members(&into{keys: kid, slots: slots})
		case d.s[d.i] == 'n':
			_, err = d.literal("null", nil)
		default:
			// Not an object: reading a key of it fails.
			_, err = d.value(true)
			for i := kid.lo; i < kid.hi; i++ {
				slots[i] = poison
			}
		}
	}
	return err
}
