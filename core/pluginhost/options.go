package pluginhost

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-cdp/switchboard/core/bus"
)

// Defaults for the zero values of Options and Limits.
const (
	DefaultMaxInFlight       = 4
	DefaultCallTimeout       = 30 * time.Second
	DefaultStartTimeout      = 10 * time.Second
	DefaultPingInterval      = 5 * time.Second
	DefaultRestartBackoff    = 100 * time.Millisecond
	DefaultMaxRestartBackoff = 30 * time.Second
	DefaultStateTTL          = 48 * time.Hour
)

// Options configures Open, Validate and Inspect. The zero value of each
// field takes the default noted beside it.
type Options struct {
	// Logger receives the host's logs and every plugin's re-logged
	// output, under "destination"=name (default: discard).
	Logger *slog.Logger
	// Registerer receives the host's metrics and the plugins' counters
	// (default: a private registry nobody scrapes).
	Registerer prometheus.Registerer

	// Bus backs the plugins' state (plugins.Host's State methods: one
	// key-value bucket per destination named sb_state_<destination>) and
	// seen sets (Seen and MarkSeen: one stream per destination named
	// SB_SEEN_<destination>). nil: those methods fail with ErrNoState.
	Bus *bus.Bus
	// Replicas of each state bucket and seen-set stream; use the events
	// stream's (default 1).
	Replicas int
	// StateTTL is how long a state key or seen mark lives when the plugin
	// asks for no TTL of its own (default 48h).
	StateTTL time.Duration

	// Executable is the binary that serves built-in destinations as
	// `Executable plugin NAME` (default: os.Executable()).
	Executable string
	// Builtins are the names `plugin:` may give for a built-in
	// destination; any other value is the path of a plugin executable,
	// relative to the directory of the pipelines.yaml.
	Builtins []string

	// Limits apply to every destination without an entry in
	// DestinationLimits.
	Limits Limits
	// DestinationLimits overrides Limits per destination name; zero
	// fields take Limits' values.
	DestinationLimits map[string]Limits

	// StartTimeout bounds a plugin's start and handshake, and each of the
	// Describe, Configure and Close calls (default 10s).
	StartTimeout time.Duration
	// PingInterval is how often a running plugin is health-checked
	// (default 5s). A dead process is noticed within 100ms regardless.
	PingInterval time.Duration
	// RestartBackoff is the delay before restarting a plugin that crashed
	// again soon after its last start; it doubles up to MaxRestartBackoff
	// (defaults 100ms and 30s). A plugin that ran for a while is
	// restarted at once.
	RestartBackoff    time.Duration
	MaxRestartBackoff time.Duration
}

// Limits bound the calls to one destination.
type Limits struct {
	// MaxInFlight is the most Deliver calls in progress at once (default
	// 4); further calls wait for a slot.
	MaxInFlight int
	// CallTimeout bounds one Deliver, including the wait for a plugin
	// that is restarting (default 30s).
	CallTimeout time.Duration
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.StateTTL <= 0 {
		o.StateTTL = DefaultStateTTL
	}
	o.Limits = o.Limits.or(Limits{MaxInFlight: DefaultMaxInFlight, CallTimeout: DefaultCallTimeout})
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.PingInterval <= 0 {
		o.PingInterval = DefaultPingInterval
	}
	if o.RestartBackoff <= 0 {
		o.RestartBackoff = DefaultRestartBackoff
	}
	if o.MaxRestartBackoff <= 0 {
		o.MaxRestartBackoff = DefaultMaxRestartBackoff
	}
	if o.MaxRestartBackoff < o.RestartBackoff {
		o.MaxRestartBackoff = o.RestartBackoff
	}
}

// limits returns the limits of one destination.
func (o *Options) limits(name string) Limits {
	return o.DestinationLimits[name].or(o.Limits)
}

// or fills l's zero fields from def.
func (l Limits) or(def Limits) Limits {
	if l.MaxInFlight <= 0 {
		l.MaxInFlight = def.MaxInFlight
	}
	if l.CallTimeout <= 0 {
		l.CallTimeout = def.CallTimeout
	}
	return l
}
