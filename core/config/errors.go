package config

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong with a configuration file, at a position.
// Messages never contain a secret or a value that came from the environment.
type Problem struct {
	File    string // the file as named to Load or Parse
	Line    int    // 1-based
	Col     int    // 1-based
	Path    string // e.g. sources.web.write_keys[0]; empty for the file as a whole
	Message string
}

// String formats the problem as FILE:LINE:COL: path: message, leaving out
// "path: " when the problem is about the file as a whole.
func (p Problem) String() string {
	if p.Path == "" {
		return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Col, p.Message)
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", p.File, p.Line, p.Col, p.Path, p.Message)
}

// Problems is every problem found in a configuration file. It is the error
// Load and Parse return; use errors.As to get at the individual problems.
type Problems []Problem

// Error prints every problem on its own line, in file order.
func (ps Problems) Error() string {
	sorted := append(Problems(nil), ps...)
	sorted.Sort()
	var b strings.Builder
	for i, p := range sorted {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// Sort orders problems by position, then path and message, so output is
// stable whatever order maps were walked in.
func (ps Problems) Sort() {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Message < b.Message
	})
}
