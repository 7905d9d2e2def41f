package pluginhost

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/switchboard-cdp/switchboard/core/config"
	"github.com/switchboard-cdp/switchboard/plugins"
)

// settingsCheck is the outcome of checking one destination's settings
// against its plugin's spec.
type settingsCheck struct {
	// json is the settings object with defaults applied, for Configure.
	json json.RawMessage
	// problems are every problem found, positioned in the file.
	problems config.Problems
	// redact are values that must never appear in a message: those of
	// secret settings and every value that came from the environment.
	redact []string

	cfg    *config.Config
	prefix string     // destinations.NAME.settings
	root   *yaml.Node // the settings mapping; nil when there is none
	at     *yaml.Node // where problems about the settings as a whole go
	budget int        // nodes the checker may still visit (aliases can multiply them)
}

// maxSettingsNodes bounds the work on one destination's settings, so that
// nested aliases cannot make a small file expand into a huge object.
const maxSettingsNodes = 100_000

// maxSettingsDepth bounds the nesting of object settings.
const maxSettingsDepth = 32

var validName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// segment is a path segment for key, as core/config writes paths:
// .key for plain names, ["key"] for anything else.
func segment(key string) string {
	if validName.MatchString(key) {
		return "." + key
	}
	return "[" + strconv.Quote(key) + "]"
}

// pair is a key and its value in a mapping.
type pair struct{ key, val *yaml.Node }

// resolve follows alias nodes.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || n.Kind == 0 || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// pairs returns a mapping's entries with YAML merge keys (<<) expanded:
// explicit keys win over merged ones, earlier merges over later ones.
func pairs(n *yaml.Node) ([]pair, error) {
	var out []pair
	seen := map[string]bool{}
	var merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			srcs := []*yaml.Node{resolve(v)}
			if srcs[0] != nil && srcs[0].Kind == yaml.SequenceNode {
				srcs = srcs[0].Content
			}
			for _, src := range srcs {
				src = resolve(src)
				if src == nil || src.Kind != yaml.MappingNode {
					return nil, errors.New("a merge key (<<) must refer to a mapping")
				}
				ps, err := pairs(src)
				if err != nil {
					return nil, err
				}
				merged = append(merged, ps...)
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return nil, errors.New("keys must be plain strings")
		}
		seen[k.Value] = true
		out = append(out, pair{k, v})
	}
	for _, p := range merged {
		if !seen[p.key.Value] {
			seen[p.key.Value] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// checkSettings checks d's settings against spec: unknown keys, required
// keys, types and enums, then applies defaults and builds the JSON object
// Configure receives.
func checkSettings(cfg *config.Config, name string, d *config.Destination, spec plugins.Spec) *settingsCheck {
	c := &settingsCheck{
		cfg:    cfg,
		prefix: "destinations" + segment(name) + ".settings",
		at:     &d.Node,
		budget: maxSettingsNodes,
	}
	out := map[string]any{}
	declared := map[string]plugins.Setting{}
	for _, s := range spec.Settings {
		declared[s.Name] = s
	}
	var entries []pair
	switch n := resolve(&d.Settings); {
	case isNull(n):
		if n != nil && n.Line > 0 {
			c.at = n
		}
	case n.Kind != yaml.MappingNode:
		c.problem(n, c.prefix, "must be a mapping of setting names to values")
		return c
	default:
		c.root, c.at = n, n
		var err error
		if entries, err = pairs(n); err != nil {
			c.problem(n, c.prefix, "%v", err)
			return c
		}
	}
	c.collectRedactions(entries, declared)

	given := map[string]pair{}
	for _, p := range entries {
		path := c.prefix + segment(p.key.Value)
		set, ok := declared[p.key.Value]
		if !ok {
			c.problem(p.key, path, "unknown setting%s", hint(p.key.Value, spec.Settings))
			continue
		}
		given[p.key.Value] = p
		if isNull(p.val) {
			continue // unset: required and default handling below
		}
		if v, ok := c.value(set, p.val, path); ok {
			out[set.Name] = v
		}
	}
	for _, set := range spec.Settings {
		if _, ok := out[set.Name]; ok {
			continue
		}
		p, present := given[set.Name]
		path := c.prefix + segment(set.Name)
		switch {
		case present && !isNull(p.val):
			// had a problem, reported above
		case set.Required:
			switch {
			case present && cfg.FromEnv(p.val):
				c.problems = append(c.problems, cfg.Required(p.val, path))
			case present:
				c.problems = append(c.problems, cfg.Required(p.key, path))
			default:
				c.problems = append(c.problems, cfg.Required(c.at, path))
			}
		case set.Default != nil:
			out[set.Name] = jsonDefault(set)
		}
	}
	raw, err := json.Marshal(out)
	if err != nil {
		c.problem(c.at, c.prefix, "cannot be passed to the plugin: %v", err)
		return c
	}
	c.json = raw
	return c
}

// jsonDefault is a setting's default as settings carry it: a
// time.Duration default of a duration setting as its string.
func jsonDefault(s plugins.Setting) any {
	if d, ok := s.Default.(time.Duration); ok && s.Type == plugins.TypeDuration {
		return d.String()
	}
	return s.Default
}

// hint suggests the setting a misspelt key probably meant, or lists them.
func hint(key string, settings []plugins.Setting) string {
	names := make([]string, len(settings))
	for i, s := range settings {
		names[i] = s.Name
	}
	sort.Strings(names)
	if len(names) == 0 {
		return " (this destination takes no settings)"
	}
	norm := func(s string) string { return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s)) }
	best, bestDist := "", 3
	for _, n := range names {
		if norm(n) == norm(key) {
			return " (did you mean " + n + "?)"
		}
		if d := levenshtein(norm(key), norm(n)); d < bestDist && len(key) < 64 {
			best, bestDist = n, d
		}
	}
	if best != "" {
		return " (did you mean " + best + "?)"
	}
	return " (want one of " + strings.Join(names, ", ") + ")"
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// problem records a problem at n.
func (c *settingsCheck) problem(n *yaml.Node, path, format string, args ...any) {
	if n == nil || n.Line == 0 {
		n = c.at
	}
	c.problems = append(c.problems, c.cfg.Problem(n, path, format, args...))
}

// collectRedactions records the values no message may show: every scalar
// under a secret setting, and every scalar that came from the environment.
func (c *settingsCheck) collectRedactions(entries []pair, declared map[string]plugins.Setting) {
	budget := maxSettingsNodes
	var walk func(n *yaml.Node, secret bool, depth int)
	walk = func(n *yaml.Node, secret bool, depth int) {
		n = resolve(n)
		if budget--; n == nil || budget < 0 || depth > maxSettingsDepth {
			return
		}
		switch n.Kind {
		case yaml.ScalarNode:
			v := strings.TrimSpace(n.Value)
			if secret && len(v) >= 3 || c.cfg.FromEnv(n) && len(v) >= 6 {
				c.redact = append(c.redact, n.Value)
			}
		case yaml.MappingNode, yaml.SequenceNode:
			for i, child := range n.Content {
				if n.Kind == yaml.MappingNode && i%2 == 0 {
					continue // keys are not values
				}
				walk(child, secret, depth+1)
			}
		}
	}
	for _, p := range entries {
		walk(p.val, declared[p.key.Value].Secret, 0)
	}
	// Longest first, so that a secret containing another is hidden whole.
	sort.Slice(c.redact, func(i, j int) bool { return len(c.redact[i]) > len(c.redact[j]) })
}

// hide replaces every value that must not be shown with ***.
func (c *settingsCheck) hide(msg string) string {
	for _, r := range c.redact {
		msg = strings.ReplaceAll(msg, r, "***")
	}
	return msg
}

// value checks one set value against its setting's type and returns it as
// it goes into the settings JSON.
func (c *settingsCheck) value(set plugins.Setting, orig *yaml.Node, path string) (any, bool) {
	n := resolve(orig)
	if n == nil {
		c.problem(orig, path, "alias does not resolve")
		return nil, false
	}
	fail := func(format string, args ...any) (any, bool) {
		c.problem(n, path, format, args...)
		return nil, false
	}
	switch set.Type {
	case plugins.TypeString:
		if n.Kind != yaml.ScalarNode {
			return fail("must be a string")
		}
		if set.Required && n.Value == "" {
			c.problems = append(c.problems, c.cfg.Required(n, path))
			return nil, false
		}
		if len(set.Enum) > 0 && !slices.Contains(set.Enum, n.Value) {
			return fail("must be one of %s%s", strings.Join(set.Enum, ", "), c.enumHint(set, n))
		}
		return n.Value, true
	case plugins.TypeInt:
		if v, ok := intValue(n); ok {
			return v, true
		}
		return fail("must be a whole number")
	case plugins.TypeFloat:
		if v, ok := floatValue(n); ok {
			return v, true
		}
		return fail("must be a number")
	case plugins.TypeBool:
		if n.Kind == yaml.ScalarNode {
			switch {
			case n.ShortTag() == "!!bool":
				var b bool
				if n.Decode(&b) == nil {
					return b, true
				}
			case n.Value == "true":
				return true, true
			case n.Value == "false":
				return false, true
			}
		}
		return fail("must be true or false")
	case plugins.TypeDuration:
		if n.Kind == yaml.ScalarNode {
			d, err := time.ParseDuration(strings.TrimSpace(n.Value))
			switch {
			case err != nil:
			case d < 0:
				return fail("must not be negative")
			default:
				return d.String(), true
			}
		}
		if _, err := strconv.ParseFloat(strings.TrimSpace(n.Value), 64); err == nil && n.Kind == yaml.ScalarNode {
			return fail("must be a duration with a unit, such as 10s (a bare number has none)")
		}
		return fail("must be a duration such as 500ms, 30s or 1m30s")
	case plugins.TypeStringList:
		if n.Kind != yaml.SequenceNode {
			return fail("must be a list of strings")
		}
		list := make([]string, 0, len(n.Content))
		ok := true
		for i, e := range n.Content {
			epath := path + "[" + strconv.Itoa(i) + "]"
			switch r := resolve(e); {
			case isNull(e):
				c.problems = append(c.problems, c.cfg.Required(e, epath))
				ok = false
			case r.Kind != yaml.ScalarNode:
				c.problem(r, epath, "must be a string")
				ok = false
			default:
				list = append(list, r.Value)
			}
		}
		return list, ok
	case plugins.TypeStringMap:
		if n.Kind != yaml.MappingNode {
			return fail("must be a mapping of names to strings")
		}
		ps, err := pairs(n)
		if err != nil {
			return fail("%v", err)
		}
		m := make(map[string]string, len(ps))
		ok := true
		for _, p := range ps {
			epath := path + segment(p.key.Value)
			switch r := resolve(p.val); {
			case isNull(p.val) && c.cfg.FromEnv(p.val):
				c.problems = append(c.problems, c.cfg.Required(p.val, epath))
				ok = false
			case isNull(p.val):
				c.problems = append(c.problems, c.cfg.Required(p.key, epath))
				ok = false
			case r.Kind != yaml.ScalarNode:
				c.problem(r, epath, "must be a string")
				ok = false
			default:
				m[p.key.Value] = r.Value
			}
		}
		return m, ok
	case plugins.TypeObject:
		if n.Kind != yaml.MappingNode {
			return fail("must be a mapping")
		}
		v, err := c.toAny(n, 0)
		if err != nil {
			return fail("%v", err)
		}
		return v, true
	}
	return fail("has type %q, which this switchboard does not know (the plugin is newer than the host?)", set.Type)
}

// enumHint shows the value given (unless secret or from the environment)
// and a near match.
func (c *settingsCheck) enumHint(set plugins.Setting, n *yaml.Node) string {
	if set.Secret || c.cfg.FromEnv(n) || len(n.Value) > 64 {
		return ""
	}
	for _, e := range set.Enum {
		if strings.EqualFold(e, strings.TrimSpace(n.Value)) {
			return fmt.Sprintf(" (got %q; did you mean %s?)", n.Value, e)
		}
	}
	return fmt.Sprintf(" (got %q)", n.Value)
}

func intValue(n *yaml.Node) (int64, bool) {
	if n.Kind != yaml.ScalarNode {
		return 0, false
	}
	switch n.ShortTag() {
	case "!!int":
		var v int64
		if n.Decode(&v) == nil {
			return v, true
		}
	case "!!str":
		if v, err := strconv.ParseInt(strings.TrimSpace(n.Value), 10, 64); err == nil {
			return v, true
		}
	}
	return 0, false
}

func floatValue(n *yaml.Node) (float64, bool) {
	if n.Kind != yaml.ScalarNode {
		return 0, false
	}
	var v float64
	switch n.ShortTag() {
	case "!!int", "!!float":
		if n.Decode(&v) != nil {
			return 0, false
		}
	case "!!str":
		var err error
		if v, err = strconv.ParseFloat(strings.TrimSpace(n.Value), 64); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

// toAny converts an object setting's node into JSON-ready Go values.
func (c *settingsCheck) toAny(n *yaml.Node, depth int) (any, error) {
	n = resolve(n)
	if c.budget--; c.budget < 0 {
		return nil, errors.New("too large: aliases expand it to far more values than the file contains")
	}
	if depth > maxSettingsDepth {
		return nil, errors.New("nested too deeply")
	}
	if n == nil {
		return nil, errors.New("alias does not resolve")
	}
	switch n.Kind {
	case yaml.MappingNode:
		ps, err := pairs(n)
		if err != nil {
			return nil, err
		}
		m := make(map[string]any, len(ps))
		for _, p := range ps {
			v, err := c.toAny(p.val, depth+1)
			if err != nil {
				return nil, err
			}
			m[p.key.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, e := range n.Content {
			v, err := c.toAny(e, depth+1)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			if n.Decode(&b) == nil {
				return b, nil
			}
		case "!!int":
			if v, ok := intValue(n); ok {
				return v, nil
			}
			if v, ok := floatValue(n); ok {
				return v, nil
			}
		case "!!float":
			if v, ok := floatValue(n); ok {
				return v, nil
			}
			return nil, errors.New("numbers must be finite (JSON has no NaN or infinity)")
		}
		return n.Value, nil
	}
	return nil, errors.New("unsupported YAML node")
}

// place finds where a plugin's FieldError about field belongs: the node of
// the setting it names (dotted for nested values, e.g.
// headers.Authorization) and its path. A field the file does not mention
// goes to the deepest node that is there.
func (c *settingsCheck) place(field string) (*yaml.Node, string) {
	path := c.prefix
	at := c.at
	n := c.root
	rest := field
	for rest != "" && n != nil {
		switch n.Kind {
		case yaml.MappingNode:
			ps, err := pairs(n)
			if err != nil {
				return at, path + "." + rest
			}
			var best *pair
			for i := range ps {
				k := ps[i].key.Value
				if (rest == k || strings.HasPrefix(rest, k+".") || strings.HasPrefix(rest, k+"[")) && (best == nil || len(k) > len(best.key.Value)) {
					best = &ps[i]
				}
			}
			if best == nil {
				return at, joinField(path, rest)
			}
			path += segment(best.key.Value)
			rest = strings.TrimPrefix(rest[len(best.key.Value):], ".")
			at = best.key
			if !isNull(best.val) {
				at = resolve(best.val)
			}
			n = resolve(best.val)
		case yaml.SequenceNode:
			// An index: "N" or "[N]", then ".", "[" or the end.
			head := strings.TrimPrefix(rest, "[")
			end := strings.IndexAny(head, ".[]")
			if end < 0 {
				end = len(head)
			}
			i, err := strconv.Atoi(head[:end])
			if err != nil || i < 0 || i >= len(n.Content) {
				return at, joinField(path, rest)
			}
			path += "[" + head[:end] + "]"
			rest = strings.TrimPrefix(strings.TrimPrefix(head[end:], "]"), ".")
			n = resolve(n.Content[i])
			at = n
		default:
			return at, joinField(path, rest)
		}
	}
	if rest != "" {
		return at, joinField(path, rest)
	}
	return at, path
}

// joinField appends the unmatched rest of a field to a path.
func joinField(path, rest string) string {
	if rest == "" {
		return path
	}
	var b strings.Builder
	b.WriteString(path)
	for _, part := range strings.Split(rest, ".") {
		b.WriteString(segment(part))
	}
	return b.String()
}

// fieldProblems turns a plugin's FieldErrors into problems at the nodes
// they name, with every secret hidden.
func (c *settingsCheck) fieldProblems(fe plugins.FieldErrors) config.Problems {
	var out config.Problems
	for _, e := range fe {
		n, path := c.place(e.Field)
		msg := strings.TrimSpace(c.hide(e.Message))
		if msg == "" {
			msg = "invalid"
		}
		out = append(out, c.cfg.Problem(n, path, "%s", msg))
	}
	return out
}

// checkSpec reports what makes a plugin's spec unusable; the host refuses
// such a plugin rather than guess.
func checkSpec(s plugins.Spec) []string {
	var out []string
	seen := map[string]bool{}
	for _, set := range s.Settings {
		switch {
		case set.Name == "":
			out = append(out, "a setting has no name")
		case seen[set.Name]:
			out = append(out, fmt.Sprintf("setting %q is declared twice", set.Name))
		}
		seen[set.Name] = true
		switch set.Type {
		case plugins.TypeString, plugins.TypeInt, plugins.TypeFloat, plugins.TypeBool, plugins.TypeDuration,
			plugins.TypeStringList, plugins.TypeStringMap, plugins.TypeObject:
		default:
			out = append(out, fmt.Sprintf("setting %q has unknown type %q", set.Name, set.Type))
		}
		if set.Default != nil {
			if _, err := json.Marshal(jsonDefault(set)); err != nil {
				out = append(out, fmt.Sprintf("setting %q: default cannot be written as JSON", set.Name))
			}
		}
	}
	return out
}
