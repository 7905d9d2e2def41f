package config

import (
	"errors"
	"strings"

	"gopkg.in/yaml.v3"
)

// position is a scalar's place in the file; it identifies the scalar even
// after its yaml.Node has been copied into a Config field.
type position struct{ line, col int }

// envNote marks a scalar whose value came from ${...} interpolation. notes
// explain an empty result, e.g. "environment variable X is not set".
type envNote struct{ notes []string }

// maxDefaultNesting bounds ${A:-${B:-...}} nesting.
const maxDefaultNesting = 8

var (
	errUnterminated = errors.New("unterminated ${ (missing })")
	errMalformed    = errors.New("malformed ${...}: want ${NAME} or ${NAME:-default}, NAME made of letters, digits and _")
	errTooDeep      = errors.New("${...} defaults nested too deeply")
)

// expander expands one scalar.
type expander struct {
	lookup func(string) (string, bool)
	refs   bool // a ${...} reference was evaluated
}

// expand replaces ${NAME} and ${NAME:-default} with the environment's
// values (the default when NAME is unset or empty, as in the shell) and $$
// with a literal $. Any other $ is kept. It returns notes on references that
// expanded to nothing.
func (e *expander) expand(s string) (string, []string, error) {
	out, notes, _, err := e.run(s, 0, 0)
	return out, notes, err
}

// run expands s from i. Inside a default (depth > 0) it stops at the
// closing } and returns its index.
func (e *expander) run(s string, i, depth int) (string, []string, int, error) {
	var b strings.Builder
	var notes []string
	for i < len(s) {
		c := s[i]
		switch {
		case depth > 0 && c == '}':
			return b.String(), notes, i, nil
		case c == '$' && i+1 < len(s) && s[i+1] == '$':
			b.WriteByte('$')
			i += 2
		case c == '$' && i+1 < len(s) && s[i+1] == '{':
			j := i + 2
			for j < len(s) && isNameByte(s[j]) {
				j++
			}
			name := s[i+2 : j]
			if j >= len(s) {
				return "", nil, 0, errUnterminated
			}
			if name == "" || (name[0] >= '0' && name[0] <= '9') {
				return "", nil, 0, errMalformed
			}
			e.refs = true
			val, set := e.lookup(name)
			switch {
			case s[j] == '}':
				switch {
				case !set:
					notes = append(notes, "environment variable "+name+" is not set")
				case val == "":
					notes = append(notes, "environment variable "+name+" is empty")
				}
				b.WriteString(val)
				i = j + 1
			case strings.HasPrefix(s[j:], ":-"):
				if depth >= maxDefaultNesting {
					return "", nil, 0, errTooDeep
				}
				def, defNotes, end, err := e.run(s, j+2, depth+1)
				if err != nil {
					return "", nil, 0, err
				}
				if !set || val == "" {
					b.WriteString(def)
					notes = append(notes, defNotes...)
				} else {
					b.WriteString(val)
				}
				i = end + 1
			default:
				return "", nil, 0, errMalformed
			}
		default:
			b.WriteByte(c)
			i++
		}
	}
	if depth > 0 {
		return "", nil, 0, errUnterminated
	}
	return b.String(), notes, i, nil
}

func isNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// prepare walks the whole document once: it reports duplicate keys in every
// mapping and interpolates every scalar value (keys are left alone). Alias
// nodes are skipped; the node they point to is handled where it is defined.
func (p *parser) prepare(n *yaml.Node) {
	p.budget += 4
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			p.prepare(c)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p.push(indexSegment(i))
			p.prepare(c)
			p.pop()
		}
	case yaml.MappingNode:
		seen := make(map[string]*yaml.Node, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			seg := keySegment(k)
			if k.Kind == yaml.ScalarNode && !isMerge(k) {
				if first, dup := seen[k.Value]; dup {
					p.push(seg)
					p.fail(k, p.path(), "duplicate key (first defined at line %d)", first.Line)
					p.pop()
				} else {
					seen[k.Value] = k
				}
			}
			p.push(seg)
			p.prepare(v)
			p.pop()
		}
	case yaml.ScalarNode:
		p.interpolate(n)
	}
}

// interpolate expands ${...} in one scalar value in place. A plain scalar
// whose value changed is re-resolved, so `replicas: ${R:-3}` is an int and
// an empty result is null (the field keeps its default); a non-empty result
// is never null.
func (p *parser) interpolate(n *yaml.Node) {
	if !strings.Contains(n.Value, "$") {
		return
	}
	e := expander{lookup: p.lookup}
	out, notes, err := e.expand(n.Value)
	at := position{n.Line, n.Column}
	if err != nil {
		// Keep the value but never show it: it may hold a default secret.
		p.cfg.env[at] = envNote{}
		p.fail(n, p.path(), "%v", err)
		return
	}
	if e.refs {
		p.cfg.env[at] = envNote{notes: notes}
	}
	if out == n.Value {
		return
	}
	n.Value = out
	const notPlain = yaml.TaggedStyle | yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle | yaml.LiteralStyle | yaml.FoldedStyle
	if n.Style&notPlain == 0 {
		n.Tag = ""
		n.Tag = n.ShortTag()
		if n.Tag == "!!null" && out != "" {
			n.Tag = "!!str" // a variable holding "null" or "~" is that text
		}
	}
}

// isMerge reports whether k is the YAML merge key <<.
func isMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge"
}
