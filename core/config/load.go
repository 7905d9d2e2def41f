package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Load reads the pipelines.yaml at path and parses it with the process
// environment. A file that cannot be read gives the *fs.PathError from
// os.ReadFile; every problem in the file's content gives Problems.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data, os.LookupEnv)
}

// Parse decodes, interpolates, defaults and validates a pipelines.yaml held
// in data. file names it in problems and becomes Config.File. lookupEnv
// resolves ${VAR} references (os.LookupEnv in production; nil means no
// variable is set). On failure the error is Problems holding every problem
// found, sorted by position, and the Config is nil.
func Parse(file string, data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	p := &parser{
		lookup: lookupEnv,
		budget: 1000,
		cfg:    withDefaults(file),
		keys:   map[string]*yaml.Node{},
		vals:   map[string]*yaml.Node{},
	}
	if root, ok := p.read(data); ok {
		if root != nil {
			p.prepare(root)
			p.decode(root, reflectValue(p.cfg), "", 0)
			if p.budget < 0 {
				p.bad = append(p.bad, "") // decoding stopped half-way: checks would mislead
			}
		}
		p.finish()
		p.validate()
	}
	if len(p.problems) > 0 {
		p.problems.Sort()
		return nil, p.problems
	}
	return p.cfg, nil
}

// withDefaults returns a Config holding every default; decoding overwrites
// what the file sets, so an explicit 0 stays 0 and is caught by validation.
func withDefaults(file string) *Config {
	return &Config{
		File: file,
		Server: Server{
			Listen:         ":8080",
			ReadTimeout:    defaultReadTimeout,
			WriteTimeout:   defaultWriteTimeout,
			IdleTimeout:    defaultIdleTimeout,
			MaxHeaderBytes: defaultMaxHeaderBytes,
			ShutdownGrace:  defaultShutdownGrace,
			QueueTimeout:   defaultQueueTimeout,
		},
		NATS: NATS{
			StoreDir:     "./data",
			Replicas:     1,
			DedupeWindow: defaultDedupeWindow,
			Retention:    defaultRetention,
			Stream:       "EVENTS",
		},
		env: map[position]envNote{},
	}
}

// finish applies the defaults that depend on other fields.
func (p *parser) finish() {
	dup := DefaultDuplicateWindowEmbedded
	if p.cfg.NATS.URL != "" {
		dup = DefaultDuplicateWindowExternal
	}
	orDefault(p, "nats.duplicate_window", &p.cfg.NATS.DuplicateWindow, dup)
	if p.cfg.NATS.URL == "" {
		orDefault(p, "nats.read_behind", &p.cfg.NATS.ReadBehind, DefaultReadBehindEmbedded)
	}
	for name, s := range p.cfg.Sources {
		if s.Type == "tealium" {
			if s.Profile == "" {
				s.Profile = DefaultTealiumProfile
			}
			orDefault(p, child(child("sources", name), "user_id_attribute"), &s.UserIDAttribute, DefaultTealiumUserIDAttribute)
		}
		if s.Burst == 0 && s.RateLimit > 0 && s.RateLimit < 1<<31 {
			s.Burst = int(s.RateLimit)
			if float64(s.Burst) < s.RateLimit {
				s.Burst++
			}
		}
		p.cfg.Sources[name] = s
	}
	for name, pl := range p.cfg.Pipelines {
		path := child("pipelines", name)
		b, r := child(path, "batch"), child(path, "retry")
		orDefault(p, child(b, "max_events"), &pl.Batch.MaxEvents, DefaultBatchMaxEvents)
		orDefault(p, child(b, "max_bytes"), &pl.Batch.MaxBytes, DefaultBatchMaxBytes)
		orDefault(p, child(b, "max_wait"), &pl.Batch.MaxWait, DefaultBatchMaxWait)
		orDefault(p, child(r, "max_attempts"), &pl.Retry.MaxAttempts, DefaultRetryMaxAttempts)
		orDefault(p, child(r, "backoff"), &pl.Retry.Backoff, DefaultRetryBackoff)
		orDefault(p, child(r, "max_backoff"), &pl.Retry.MaxBackoff, DefaultRetryMaxBackoff)
		p.cfg.Pipelines[name] = pl
	}
}

// orDefault sets *v to def when the file does not set path.
func orDefault[T comparable](p *parser, path string, v *T, def T) {
	if _, set := p.vals[path]; !set {
		*v = def
	}
}

// parser holds the state of one Parse.
type parser struct {
	lookup   func(string) (string, bool)
	cfg      *Config
	problems Problems
	bad      []string // paths that already have a problem; checks below them stay quiet
	segs     []string // path of the node prepare is visiting
	keys     map[string]*yaml.Node
	vals     map[string]*yaml.Node
	budget   int // nodes decode may still visit
}

// fail records a problem found while reading or decoding and marks path so
// validation does not report the same field again.
func (p *parser) fail(n *yaml.Node, path, format string, args ...any) {
	p.problems = append(p.problems, p.cfg.Problem(n, path, format, args...))
	p.bad = append(p.bad, path)
}

// check records a validation problem unless path, or a field above it,
// already has one.
func (p *parser) check(n *yaml.Node, path, format string, args ...any) {
	if !p.failed(path) {
		p.problems = append(p.problems, p.cfg.Problem(n, path, format, args...))
	}
}

// failed reports whether path, or a field above it, already has a problem.
func (p *parser) failed(path string) bool {
	for _, b := range p.bad {
		if path == b || b == "" || strings.HasPrefix(path, b) && (path[len(b)] == '.' || path[len(b)] == '[') {
			return true
		}
	}
	return false
}

func (p *parser) push(seg string) { p.segs = append(p.segs, seg) }
func (p *parser) pop()            { p.segs = p.segs[:len(p.segs)-1] }
func (p *parser) path() string    { return strings.TrimPrefix(strings.Join(p.segs, ""), ".") }

// read parses data into a yaml node tree. It returns the top-level node (nil
// for an empty file) and false when the file is not readable YAML.
func (p *parser) read(data []byte) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := safeDecode(dec, &doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, true
		}
		p.syntax(data, err)
		return nil, false
	}
	var extra yaml.Node
	switch err := safeDecode(dec, &extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		p.syntax(data, err)
		return nil, false
	default:
		p.fail(&extra, "", "only one YAML document is allowed")
		return nil, false
	}
	if len(doc.Content) == 0 {
		return nil, true
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil, true
	}
	if root.Kind != yaml.MappingNode {
		p.fail(root, "", "the file must be a mapping of server, nats, sources, destinations and pipelines")
		return nil, false
	}
	return root, true
}

// safeDecode turns a panic inside the YAML parser into an error, so a
// malformed file can never crash the process.
func safeDecode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("yaml: internal error in the YAML parser")
		}
	}()
	return dec.Decode(n)
}

var (
	syntaxLine    = regexp.MustCompile(`(?s)^yaml: line (\d+): (.*)$`)
	unknownAnchor = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
)

// syntax records a yaml.v3 parse error. yaml.v3 gives "yaml: line N: msg"
// only for some errors, and for parser errors N is the 0-based line where the
// enclosing construct starts, so the position is worked out from data
// instead (column 1 unless the offending character is known).
func (p *parser) syntax(data []byte, err error) {
	msg := syntaxMessage(err)
	line, col := locate(data, msg)
	p.fail(&yaml.Node{Line: line, Column: col}, "", "syntax error: %s", msg)
}

// syntaxMessage is a yaml.v3 error without its "yaml: line N: " prefix.
func syntaxMessage(err error) string {
	if m := syntaxLine.FindStringSubmatch(err.Error()); m != nil {
		return m[2]
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// locate finds the position of an error yaml.v3 reported without a line.
func locate(data []byte, msg string) (line, col int) {
	offset := -1
	switch {
	case unknownAnchor.MatchString(msg):
		alias := "*" + unknownAnchor.FindStringSubmatch(msg)[1]
		for from := 0; from < len(data); {
			i := bytes.Index(data[from:], []byte(alias))
			if i < 0 {
				break
			}
			end := from + i + len(alias)
			if end == len(data) || strings.IndexByte(" \t\r\n,]}", data[end]) >= 0 {
				offset = from + i
				break
			}
			from = end
		}
	case strings.Contains(msg, "UTF-8") || strings.Contains(msg, "Unicode") || strings.Contains(msg, "control characters"):
		offset = badRune(data)
	default:
		return firstFailingLine(data, msg), 1
	}
	if offset < 0 {
		return 1, 1
	}
	line, col = 1, 1
	for i := 0; i < offset; {
		r, size := utf8.DecodeRune(data[i:])
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += size
	}
	return line, col
}

// firstFailingLine finds the line of a parse error: the shortest run of
// leading lines that fails to parse with the same message, found by
// bisection.
func firstFailingLine(data []byte, msg string) int {
	var ends []int // offset just after each line
	for i, b := range data {
		if b == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(ends) == 0 || ends[len(ends)-1] != len(data) {
		ends = append(ends, len(data))
	}
	fails := func(lines int) bool {
		err := parseAll(data[:ends[lines-1]])
		return err != nil && syntaxMessage(err) == msg
	}
	lo, hi := 1, len(ends) // fails(hi) is the error being located
	for lo < hi {
		mid := lo + (hi-lo)/2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// parseAll parses every document in data, for firstFailingLine.
func parseAll(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := safeDecode(dec, &n); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// badRune returns the offset of the first byte sequence YAML does not allow,
// or -1. UTF-16 input (a byte order mark) is not scanned.
func badRune(data []byte) int {
	if bytes.HasPrefix(data, []byte("\xff\xfe")) || bytes.HasPrefix(data, []byte("\xfe\xff")) {
		return -1
	}
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return i
		case r == 0x09 || r == 0x0A || r == 0x0D, r >= 0x20 && r <= 0x7E, r == 0x85,
			r >= 0xA0 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= 0x10FFFF:
		default:
			return i
		}
		i += size
	}
	return -1
}

// Problem builds a problem at n's position in c.File, for later stages
// (mapping compilation, plugin settings) that report against the yaml
// nodes kept in Destination and Pipeline. A nil node, or one without a
// position, is placed at 1:1. Never pass a secret, or a value for which
// FromEnv is true, in args.
func (c *Config) Problem(n *yaml.Node, path, format string, args ...any) Problem {
	line, col := 1, 1
	if n != nil && n.Line > 0 {
		line = n.Line
		col = max(n.Column, 1)
	}
	return Problem{File: c.File, Line: line, Col: col, Path: path, Message: fmt.Sprintf(format, args...)}
}

// Required builds a "required" problem at n, explaining an empty value that
// came from the environment, e.g.
// `required (environment variable META_PIXEL_ID is not set)`.
func (c *Config) Required(n *yaml.Node, path string) Problem {
	msg := "required"
	if notes := c.envNotes(n); len(notes) > 0 {
		msg += " (" + strings.Join(notes, "; ") + ")"
	}
	return c.Problem(n, path, "%s", msg)
}

// FromEnv reports whether n's value was produced by ${...} interpolation.
// Such values may be secrets and must never appear in a message.
func (c *Config) FromEnv(n *yaml.Node) bool {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		return false
	}
	_, ok := c.env[position{n.Line, n.Column}]
	return ok
}

// envNotes explains why an interpolated value is empty, if it is.
func (c *Config) envNotes(n *yaml.Node) []string {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.Value != "" {
		return nil
	}
	return c.env[position{n.Line, n.Column}].notes
}

// resolve follows alias nodes to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// Summary describes a loaded configuration in one line, e.g.
// "pipelines.yaml: ok (2 sources, 1 destination, 1 pipeline)".
func (c *Config) Summary() string {
	return fmt.Sprintf("%s: ok (%s, %s, %s)", c.File,
		plural(len(c.Sources), "source"), plural(len(c.Destinations), "destination"), plural(len(c.Pipelines), "pipeline"))
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
