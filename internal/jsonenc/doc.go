// Package jsonenc holds the JSON encoding primitives Switchboard's hot
// paths share — strings and floats written exactly as encoding/json writes
// them, and a fast scan for the bytes a JSON string must escape — so the
// mapping engine and the Meta destination append JSON without reflection.
// It must not grow into a general JSON library: anything unusual belongs to
// encoding/json.
package jsonenc
