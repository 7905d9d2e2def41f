// Package jsonenc holds the JSON primitives Switchboard's hot paths share
// — strings and floats written exactly as encoding/json writes them, a fast
// scan for the bytes a JSON string must escape, and the grammar of a
// number and of a string for the decoders that walk JSON themselves — so
// the sources, the mapping engine and the Meta destination read and write
// JSON without reflection. It must not grow into a general JSON library:
// anything unusual belongs to encoding/json.
package jsonenc
