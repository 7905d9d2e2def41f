package config

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"
)

// validate runs the pure checks on the decoded Config. Problems go through
// check, so a field that already failed to decode is not reported twice.
// when/map/batch/retry are left to core/mapping and core/pipeline.
func (p *parser) validate() {
	p.validateServer()
	p.validateNATS()
	p.validateSources()
	p.validateDestinations()
	p.validatePipelines()
}

func (p *parser) validateServer() {
	s := p.cfg.Server
	p.hostPort("server.listen", s.Listen)
	p.pair("server.tls_cert", s.TLSCert, "server.tls_key", s.TLSKey)
	for i, tp := range s.TrustedProxies {
		path := "server.trusted_proxies" + indexSegment(i)
		if tp == "" {
			p.required(path, nil, "")
			continue
		}
		if _, err := netip.ParseAddr(tp); err == nil {
			continue
		}
		if _, err := netip.ParsePrefix(tp); err == nil {
			continue
		}
		p.check(p.where(path), path, "must be an IP address or a CIDR such as 10.0.0.0/8")
	}
	p.positive("server.read_timeout", s.ReadTimeout)
	p.positive("server.write_timeout", s.WriteTimeout)
	p.positive("server.idle_timeout", s.IdleTimeout)
	p.positive("server.shutdown_grace", s.ShutdownGrace)
	if s.MaxHeaderBytes <= 0 {
		p.check(p.where("server.max_header_bytes"), "server.max_header_bytes", "must be greater than 0")
	}
	if s.MaxInFlightBytes < 0 {
		p.check(p.where("server.max_in_flight_bytes"), "server.max_in_flight_bytes", "must be 0 (1 MiB per CPU, at least 2 MiB) or greater")
	}
	p.positive("server.queue_timeout", s.QueueTimeout)
}

func (p *parser) validateNATS() {
	n := p.cfg.NATS
	if n.URL != "" {
		p.natsURL(n.URL)
	} else if n.StoreDir == "" {
		p.required("nats.store_dir", nil, "for the embedded server (nats.url is empty)")
	}
	if n.Listen != "" {
		p.hostPort("nats.listen", n.Listen)
	}
	if n.Replicas < 1 || n.Replicas > 5 {
		p.check(p.where("nats.replicas"), "nats.replicas", "must be between 1 and 5")
	}
	p.positive("nats.dedupe_window", n.DedupeWindow)
	if n.DuplicateWindow < 0 {
		p.check(p.where("nats.duplicate_window"), "nats.duplicate_window", "must not be negative (0 turns JetStream's Nats-Msg-Id dedupe off)")
	}
	if n.ReadBehind < 0 || n.ReadBehind > MaxReadBehind {
		p.check(p.where("nats.read_behind"), "nats.read_behind", "must be between 0 (off) and %v", MaxReadBehind)
	}
	p.positive("nats.retention", n.Retention)
	for _, w := range []struct {
		path string
		d    time.Duration
	}{{"nats.dedupe_window", n.DedupeWindow}, {"nats.duplicate_window", n.DuplicateWindow}} {
		if w.d > 0 && n.Retention > 0 && w.d > n.Retention {
			p.check(p.where(w.path), w.path, "must not be longer than nats.retention")
		}
	}
	if n.MaxBytes < 0 {
		p.check(p.where("nats.max_bytes"), "nats.max_bytes", "must not be negative (0 means unlimited)")
	}
	if n.User != "" && n.Password == "" {
		p.required("nats.password", p.where("nats.user"), "when nats.user is set")
	}
	p.pair("nats.tls.cert", n.TLS.Cert, "nats.tls.key", n.TLS.Key)
	switch {
	case n.Stream == "":
		p.required("nats.stream", nil, "")
	case !validName.MatchString(n.Stream):
		p.check(p.where("nats.stream"), "nats.stream", "must contain only letters, digits, _ and -")
	}
}

// natsURL checks a comma-separated list of server URLs. The URLs may hold
// credentials, so they are never echoed.
func (p *parser) natsURL(list string) {
	parts := strings.Split(list, ",")
	for i, part := range parts {
		u, err := url.Parse(strings.TrimSpace(part))
		if err == nil && u.Host != "" {
			switch strings.ToLower(u.Scheme) {
			case "nats", "tls", "ws", "wss":
				continue
			}
		}
		what := "must be"
		if len(parts) > 1 {
			what = fmt.Sprintf("server %d of %d must be", i+1, len(parts))
		}
		p.check(p.where("nats.url"), "nats.url", "%s a nats://, tls://, ws:// or wss:// URL (comma-separated for a cluster)", what)
	}
}

func (p *parser) validateSources() {
	sources := p.cfg.Sources
	if len(sources) == 0 {
		p.check(p.where("sources"), "sources", "at least one source is required")
		return
	}
	firstKey := map[Secret]string{}   // write key -> path where it was first configured
	tealium := map[[3]string]string{} // account, profile, datasource -> source first configured with them
	for _, name := range ordered(p, "sources", sources) {
		s, path := sources[name], child("sources", name)
		p.name(path, name)
		entry := p.keys[path]
		typ := child(path, "type")
		switch s.Type {
		case "segment":
			p.onlyFor(path, "tealium", "account", "profile", "datasource", "key", "user_id_attribute")
			keys := child(path, "write_keys")
			if len(s.WriteKeys) == 0 {
				p.check(p.whereOr(keys, entry), keys, "at least one write key is required")
			}
			for i, k := range s.WriteKeys {
				kpath := keys + indexSegment(i)
				if k == "" {
					p.required(kpath, nil, "")
					continue
				}
				if first, dup := firstKey[k]; dup {
					p.check(p.where(kpath), kpath, "duplicate write key: also configured at %s (line %d)", first, lineOf(p.where(first)))
					continue
				}
				firstKey[k] = kpath
			}
		case "tealium":
			p.validateTealium(name, s, tealium)
		case "":
			p.required(typ, entry, "")
		default:
			p.check(p.where(typ), typ, "%s", p.unknown("source type", typ, s.Type, []string{"segment", "tealium"}))
		}
		if rl := child(path, "rate_limit"); !(s.RateLimit >= 0) || math.IsInf(s.RateLimit, 0) {
			p.check(p.where(rl), rl, "must be a number ≥ 0 (0 means unlimited)")
		}
		if b := child(path, "burst"); s.Burst < 0 {
			p.check(p.where(b), b, "must not be negative")
		}
	}
}

// validateTealium checks a tealium source. seen maps the (account,
// profile, datasource) of the sources checked before to their names: two
// sources may not answer the same requests.
func (p *parser) validateTealium(name string, s Source, seen map[[3]string]string) {
	path := child("sources", name)
	entry := p.keys[path]
	p.onlyFor(path, "segment", "write_keys")
	account := child(path, "account")
	if s.Account == "" {
		p.required(account, entry, "")
	} else {
		for _, f := range [...]struct{ key, v string }{{"account", s.Account}, {"profile", s.Profile}, {"datasource", s.Datasource}} {
			if strings.ContainsFunc(f.v, isSpaceOrControl) {
				fp := child(path, f.key)
				p.check(p.where(fp), fp, "must not contain spaces or control characters (it is matched against the request's tealium_%s)", f.key)
			}
		}
		id := [3]string{s.Account, s.Profile, s.Datasource}
		if first, dup := seen[id]; dup {
			// Values are not quoted: they may come from the environment.
			what := "account and profile"
			if s.Datasource != "" {
				what = "account, profile and datasource"
			}
			p.check(p.where(account), account, "same %s as sources.%s (line %d): requests could not tell them apart; give one a different profile or datasource",
				what, first, lineOf(p.keys[child("sources", first)]))
		} else {
			seen[id] = name
		}
	}
	// An empty key would switch authentication off: only a ${VAR:-}
	// reference with an explicitly empty default may do that; a literal
	// "" or an unset ${VAR} is a mistake.
	if key := child(path, "key"); s.Key == "" {
		if n, set := p.vals[key]; set && !(p.cfg.FromEnv(n) && len(p.cfg.envNotes(n)) == 0) {
			msg := "must not be empty"
			if notes := p.cfg.envNotes(n); len(notes) > 0 {
				msg += " (" + strings.Join(notes, "; ") + ")"
			}
			p.check(p.whereOr(key, entry), key, "%s; leave key out for no authentication", msg)
		}
	}
	if attr := child(path, "user_id_attribute"); s.UserIDAttribute == "" {
		p.check(p.where(attr), attr, "must not be empty; leave it out for the default, %s", DefaultTealiumUserIDAttribute)
	} else if strings.ContainsFunc(s.UserIDAttribute, isSpaceOrControl) {
		p.check(p.where(attr), attr, "must not contain spaces or control characters")
	}
}

// onlyFor reports the keys of the source at path that belong to another
// source type.
func (p *parser) onlyFor(path, otherType string, keys ...string) {
	for _, k := range keys {
		if kp := child(path, k); p.keys[kp] != nil {
			p.check(p.keys[kp], kp, "only for sources of type %s", otherType)
		}
	}
}

func isSpaceOrControl(r rune) bool {
	return r <= ' ' || r == 0x7f || unicode.IsSpace(r) || unicode.IsControl(r)
}

func (p *parser) validateDestinations() {
	for _, name := range ordered(p, "destinations", p.cfg.Destinations) {
		d, path := p.cfg.Destinations[name], child("destinations", name)
		p.name(path, name)
		if d.Plugin == "" {
			p.required(child(path, "plugin"), p.keys[path], "")
		}
		if f := child(path, "max_in_flight"); d.MaxInFlight < 0 {
			p.check(p.where(f), f, "must not be negative")
		}
		if f := child(path, "timeout"); d.Timeout < 0 {
			p.check(p.where(f), f, "must not be negative")
		}
	}
}

func (p *parser) validatePipelines() {
	sourceNames := sortedKeys(p.cfg.Sources)
	destNames := sortedKeys(p.cfg.Destinations)
	for _, name := range ordered(p, "pipelines", p.cfg.Pipelines) {
		pl, path := p.cfg.Pipelines[name], child("pipelines", name)
		entry := p.keys[path]
		p.name(path, name)
		from := child(path, "from")
		if len(pl.From) == 0 {
			p.check(p.whereOr(from, entry), from, "at least one source is required")
		}
		listed := map[string]bool{}
		for i, src := range pl.From {
			fpath := from + indexSegment(i)
			switch _, ok := p.cfg.Sources[src]; {
			case src == "":
				p.required(fpath, nil, "")
			case !ok && !p.failed("sources"):
				p.check(p.where(fpath), fpath, "%s", p.unknown("source", fpath, src, sourceNames))
			case listed[src]:
				p.check(p.where(fpath), fpath, "source listed more than once")
			}
			listed[src] = true
		}
		p.validateBatchRetry(path, pl)
		to := child(path, "to")
		switch _, ok := p.cfg.Destinations[pl.To]; {
		case pl.To == "":
			p.required(to, entry, "")
		case !ok && !p.failed("destinations"):
			p.check(p.where(to), to, "%s", p.unknown("destination", to, pl.To, destNames))
		}
	}
}

func (p *parser) validateBatchRetry(path string, pl Pipeline) {
	b, r := child(path, "batch"), child(path, "retry")
	if f := child(b, "max_events"); pl.Batch.MaxEvents < 1 {
		p.check(p.where(f), f, "must be at least 1")
	}
	if f := child(b, "max_bytes"); pl.Batch.MaxBytes < 1 {
		p.check(p.where(f), f, "must be at least 1")
	}
	if f := child(b, "max_wait"); pl.Batch.MaxWait < 0 {
		p.check(p.where(f), f, "must not be negative")
	}
	if f := child(r, "max_attempts"); pl.Retry.MaxAttempts < 1 {
		p.check(p.where(f), f, "must be at least 1")
	}
	p.positive(child(r, "backoff"), pl.Retry.Backoff)
	if f := child(r, "max_backoff"); pl.Retry.MaxBackoff < pl.Retry.Backoff {
		p.check(p.where(f), f, "must not be shorter than retry.backoff")
	}
	if f := child(r, "max_age"); pl.Retry.MaxAge < 0 {
		p.check(p.where(f), f, "must not be negative")
	}
}

// unknown words a reference to a name that is not configured.
func (p *parser) unknown(what, path, name string, names []string) string {
	msg := "unknown " + what + p.show(path, name)
	if p.cfg.FromEnv(p.vals[path]) {
		return msg
	}
	if s := Suggest(name, names); s != "" {
		return msg + " (did you mean " + s + "?)"
	}
	if len(names) == 0 {
		return msg + " (none is configured)"
	}
	return msg + " (want one of " + strings.Join(names, ", ") + ")"
}

// name checks a source, destination or pipeline name.
func (p *parser) name(path, name string) {
	if !validName.MatchString(name) {
		p.check(p.keys[path], path, "name must contain only letters, digits, _ and - (names become NATS subject tokens)")
	}
}

func (p *parser) hostPort(path, v string) {
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		p.check(p.where(path), path, "must be host:port, such as :8080 or 127.0.0.1:8080")
	}
}

func (p *parser) positive(path string, d time.Duration) {
	if d <= 0 {
		p.check(p.where(path), path, "must be greater than 0")
	}
}

// pair checks two settings that go together, such as a TLS certificate and
// its key: both or neither.
func (p *parser) pair(aPath, a, bPath, b string) {
	switch {
	case a != "" && b == "":
		p.required(bPath, p.where(aPath), "when "+aPath+" is set")
	case b != "" && a == "":
		p.required(aPath, p.where(bPath), "when "+bPath+" is set")
	}
}

// required reports a missing value at path: at the value or key when the
// file has one, else at fallback. An empty value that came from the
// environment says which variable was unset or empty.
func (p *parser) required(path string, fallback *yaml.Node, why string) {
	msg := "required"
	if why != "" {
		msg += " " + why
	}
	if notes := p.cfg.envNotes(p.vals[path]); len(notes) > 0 {
		msg += " (" + strings.Join(notes, "; ") + ")"
	}
	p.check(p.whereOr(path, fallback), path, "%s", msg)
}

// where is the node a problem about path is placed at: its value if it has
// one, else its key, else nil (1:1).
func (p *parser) where(path string) *yaml.Node {
	if v := p.vals[path]; v != nil && !isNull(resolve(v)) {
		return v
	}
	if k := p.keys[path]; k != nil {
		return k
	}
	return p.vals[path]
}

// whereOr is where, falling back to another node when the file does not
// mention path at all.
func (p *parser) whereOr(path string, fallback *yaml.Node) *yaml.Node {
	if n := p.where(path); n != nil {
		return n
	}
	return fallback
}

// lineOf is n's line, 1 when unknown.
func lineOf(n *yaml.Node) int {
	if n == nil || n.Line < 1 {
		return 1
	}
	return n.Line
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// show quotes a value for a message, or gives "" when the value came from
// the environment (it may be a secret) or is too long to be useful.
func (p *parser) show(path, v string) string {
	if p.cfg.FromEnv(p.vals[path]) || len(v) > 64 {
		return ""
	}
	return fmt.Sprintf(" %q", v)
}

// ordered returns m's names in the order the file lists them.
func ordered[V any](p *parser, parent string, m map[string]V) []string {
	names := sortedKeys(m)
	sort.SliceStable(names, func(i, j int) bool {
		a, b := p.keys[child(parent, names[i])], p.keys[child(parent, names[j])]
		if a == nil || b == nil {
			return a != nil
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return names
}

func sortedKeys[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
