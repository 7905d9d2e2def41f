package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/switchboard-cdp/switchboard/core/config"
	"github.com/switchboard-cdp/switchboard/core/seen"
	"github.com/switchboard-cdp/switchboard/plugins"
)

// Host runs the destination plugins of one configuration. Open starts it;
// Close stops every plugin process.
type Host struct {
	opts    Options
	metrics *metrics
	dests   map[string]*Destination

	closeOnce sync.Once
	closeErr  error
}

// Open validates every destination of cfg as Validate does and, when
// there is no problem, keeps each plugin running, configured and
// supervised. Problems come back as config.Problems (use errors.As), with
// every plugin already stopped. Close the Host to stop the plugins.
//
// opts.Bus should be set: the plugins' state lives there.
func Open(ctx context.Context, cfg *config.Config, opts Options) (*Host, error) {
	opts.defaults()
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	counters := newCounterSet(opts.Registerer)
	prepared, problems := prepareAll(ctx, cfg, &opts, func(name string) *services {
		s := &services{destination: name, counters: counters}
		if opts.Bus != nil {
			s.state = newState(opts.Bus, name, opts.Replicas, opts.StateTTL)
			s.seen = seen.New(opts.Bus, seen.Options{
				Stream:      "SB_SEEN_" + name,
				Subject:     "sb.seen." + name,
				Description: "Switchboard plugin seen set (64-bit key hashes, one message per MarkSeen)",
				Replicas:    opts.Replicas,
				TTL:         opts.StateTTL,
				Logger:      opts.Logger.With("destination", name),
				Keys:        m.seenKeys.WithLabelValues(name).Set,
			})
		}
		return s
	})
	if len(problems) > 0 {
		stopAll(prepared, opts.StartTimeout)
		return nil, problems
	}
	h := &Host{opts: opts, metrics: m, dests: map[string]*Destination{}}
	for _, p := range prepared {
		h.dests[p.name] = newDestination(h, p)
	}
	return h, nil
}

// Validate checks every destination of cfg: it launches each plugin,
// reads its spec, checks the settings against it (unknown keys, required
// keys, types, enums), applies defaults and lets the plugin's Configure
// check them, then stops the plugin. It returns every problem found, each
// at its place in cfg.File; none means the destinations are ready to
// serve. The plugins get no state during validation (ErrNoState).
func Validate(ctx context.Context, cfg *config.Config, opts Options) config.Problems {
	opts.defaults()
	prepared, problems := prepareAll(ctx, cfg, &opts, func(name string) *services {
		return &services{destination: name}
	})
	stopAll(prepared, opts.StartTimeout)
	return problems
}

// Inspect launches the plugin ref names (a built-in name, or an
// executable's path relative to the working directory), returns its spec
// and stops it.
func Inspect(ctx context.Context, ref string, opts Options) (plugins.Spec, error) {
	opts.defaults()
	t, err := opts.resolve(ref, ".")
	if err != nil {
		return plugins.Spec{}, fmt.Errorf("plugin %q: %w", ref, err)
	}
	inst, err := launch(ctx, t, &opts, opts.Logger.With("plugin", ref), nil)
	if err != nil {
		return plugins.Spec{}, fmt.Errorf("plugin %q: %w", ref, err)
	}
	defer inst.stop(opts.StartTimeout)
	dctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	spec, err := inst.dest.Describe(dctx)
	if err != nil {
		return plugins.Spec{}, fmt.Errorf("plugin %q: describe: %w", ref, err)
	}
	return spec, nil
}

// Destination returns the running destination called name in the
// configuration, shared by every caller; the Host owns it.
func (h *Host) Destination(name string) (*Destination, error) {
	d, ok := h.dests[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownDestination, name)
	}
	return d, nil
}

// Destinations returns the names of the running destinations, sorted.
func (h *Host) Destinations() []string {
	return slices.Sorted(maps.Keys(h.dests))
}

// Close stops accepting Deliver calls, waits until the calls in progress
// end or ctx is done, closes every destination and ends every plugin
// process. It is safe to call more than once.
func (h *Host) Close(ctx context.Context) error {
	h.closeOnce.Do(func() {
		var wg sync.WaitGroup
		errs := make([]error, 0, len(h.dests))
		var mu sync.Mutex
		for _, d := range h.dests {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := d.close(ctx); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		h.closeErr = errors.Join(errs...)
	})
	return h.closeErr
}

// prepared is a destination whose plugin runs, is configured and passed
// validation.
type prepared struct {
	name     string
	target   target
	inst     *instance
	spec     plugins.Spec
	settings []byte
	services *services
	redact   *redactor // values no log line may show
}

// prepareAll prepares every destination of cfg concurrently.
func prepareAll(ctx context.Context, cfg *config.Config, opts *Options, svc func(string) *services) ([]*prepared, config.Problems) {
	names := slices.Sorted(maps.Keys(cfg.Destinations))
	out := make([]*prepared, len(names))
	probs := make([]config.Problems, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], probs[i] = prepare(ctx, cfg, name, opts, svc(name))
		}()
	}
	wg.Wait()
	var ready []*prepared
	var all config.Problems
	for i := range names {
		if out[i] != nil {
			ready = append(ready, out[i])
		}
		all = append(all, probs[i]...)
	}
	sort.SliceStable(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		return a.Path < b.Path
	})
	return ready, all
}

func stopAll(ps []*prepared, timeout time.Duration) {
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.inst.stop(timeout)
		}()
	}
	wg.Wait()
}

// prepare launches one destination's plugin, checks its settings and
// configures it. On problems the plugin is already stopped.
func prepare(ctx context.Context, cfg *config.Config, name string, opts *Options, svc *services) (*prepared, config.Problems) {
	d := cfg.Destinations[name]
	log := opts.Logger.With("destination", name)
	pluginPath := "destinations" + segment(name) + ".plugin"
	pluginNode := valueOf(&d.Node, "plugin")
	fail := func(format string, args ...any) config.Problems {
		prefix := ""
		if !cfg.FromEnv(pluginNode) {
			prefix = fmt.Sprintf("%q: ", d.Plugin)
		}
		return config.Problems{cfg.Problem(pluginNode, pluginPath, "%s%s", prefix, fmt.Sprintf(format, args...))}
	}

	t, err := opts.resolve(d.Plugin, filepath.Dir(cfg.File))
	if err != nil {
		if cfg.FromEnv(pluginNode) {
			return nil, config.Problems{cfg.Problem(pluginNode, pluginPath, "not a built-in destination and no such executable")}
		}
		return nil, fail("%v", err)
	}
	red := &redactor{}
	inst, err := launch(ctx, t, opts, log, red)
	if err != nil {
		return nil, fail("%v", err)
	}
	ok := false
	defer func() {
		if !ok {
			inst.stop(opts.StartTimeout)
		}
	}()

	cctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	spec, err := inst.dest.Describe(cctx)
	if err != nil {
		return nil, fail("the plugin failed to describe itself: %v", err)
	}
	if bad := checkSpec(spec); len(bad) > 0 {
		return nil, fail("the plugin's spec is invalid: %s", bad[0])
	}
	check := checkSettings(cfg, name, &d, spec)
	red.set(check.redact)
	if len(check.problems) > 0 {
		return nil, check.problems
	}
	err = inst.dest.Configure(cctx, plugins.Config{Destination: name, Settings: check.json, Host: svc, Logger: log})
	if err != nil {
		var fe plugins.FieldErrors
		if errors.As(err, &fe) && len(fe) > 0 {
			return nil, check.fieldProblems(fe)
		}
		return nil, config.Problems{cfg.Problem(check.at, check.prefix, "the plugin refused its settings: %s", check.hide(err.Error()))}
	}
	ok = true
	return &prepared{name: name, target: t, inst: inst, spec: spec, settings: check.json, services: svc, redact: red}, nil
}

// valueOf returns the value node of key in mapping m, or m itself when
// the key is absent.
func valueOf(m *yaml.Node, key string) *yaml.Node {
	m = resolve(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return m
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return m
}
