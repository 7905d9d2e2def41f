package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/switchboard-cdp/switchboard/plugins"
)

// Supervision timings.
const (
	exitPollInterval = 100 * time.Millisecond // how often a dead process is looked for
	pingTimeout      = 5 * time.Second        // a health check slower than this fails
	stableAfter      = 10 * time.Second       // a plugin up this long restarts without backoff
)

// Destination is one running, supervised destination plugin. Deliver is
// safe for concurrent use; at most Limits.MaxInFlight calls reach the
// plugin at once. The Host owns the Destination and closes it.
type Destination struct {
	name     string
	opts     *Options
	target   target
	spec     plugins.Spec
	settings []byte
	services *services
	redact   *redactor
	limits   Limits
	log      *slog.Logger
	sem      chan struct{}

	ctx    context.Context // ends when the destination closes
	cancel context.CancelFunc
	quit   chan struct{}  // closed when Close begins: no new calls
	wake   chan struct{}  // a call failed in a way that suggests the plugin died
	done   chan struct{}  // the supervisor has returned
	kills  sync.WaitGroup // dead instances being cleaned up
	once   sync.Once
	err    error

	mu       sync.Mutex
	cur      *instance     // nil while the plugin is down
	upCh     chan struct{} // closed while cur != nil
	restarts int
	codes    map[string]bool // result codes seen, to bound metric cardinality

	mUp       prometheus.Gauge
	mInFlight prometheus.Gauge
	mRestarts prometheus.Counter
	mLatency  prometheus.Observer
	mResults  *prometheus.CounterVec
	mFailures *prometheus.CounterVec
}

func newDestination(h *Host, p *prepared) *Destination {
	ctx, cancel := context.WithCancel(context.Background())
	limits := h.opts.limits(p.name)
	d := &Destination{
		name:      p.name,
		opts:      &h.opts,
		target:    p.target,
		spec:      p.spec,
		settings:  p.settings,
		services:  p.services,
		redact:    p.redact,
		limits:    limits,
		log:       h.opts.Logger.With("destination", p.name),
		sem:       make(chan struct{}, limits.MaxInFlight),
		ctx:       ctx,
		cancel:    cancel,
		quit:      make(chan struct{}),
		wake:      make(chan struct{}, 1),
		done:      make(chan struct{}),
		cur:       p.inst,
		upCh:      make(chan struct{}),
		codes:     map[string]bool{},
		mUp:       h.metrics.up.WithLabelValues(p.name),
		mInFlight: h.metrics.inFlight.WithLabelValues(p.name),
		mRestarts: h.metrics.restarts.WithLabelValues(p.name),
		mLatency:  h.metrics.latency.WithLabelValues(p.name),
		mResults:  h.metrics.results.MustCurryWith(prometheus.Labels{"destination": p.name}),
		mFailures: h.metrics.failures.MustCurryWith(prometheus.Labels{"destination": p.name}),
	}
	close(d.upCh)
	d.mUp.Set(1)
	d.mRestarts.Add(0)
	go d.supervise()
	return d
}

// Name is the destination's name in pipelines.yaml.
func (d *Destination) Name() string { return d.name }

// Spec is the plugin's spec, as it described itself at Open. Spec().Batch
// holds the batch limits the plugin prefers.
func (d *Destination) Spec() plugins.Spec { return d.spec }

// Limits are the destination's concurrency and deadline.
func (d *Destination) Limits() Limits { return d.limits }

// Up reports whether the plugin process is running and configured.
func (d *Destination) Up() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cur != nil
}

// Restarts is how often the plugin has died and been restarted.
func (d *Destination) Restarts() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.restarts
}

// Deliver hands batch to the plugin and returns exactly one Result per
// event, in batch order (an event the plugin gave no valid result for is
// OutcomeRetry). Event IDs must be non-empty and unique within the batch.
//
// When the batch as a whole failed, the error is a *RetryError: every
// event must be delivered again later. That is the case when the plugin
// was down or died during the call (the host restarts it), did not answer
// within Limits.CallTimeout, failed the whole batch, or the destination
// is closing; also when ctx ended first. Deliver waits for a free slot
// (Limits.MaxInFlight) and, while the plugin restarts, for the plugin.
// A batch with an empty or repeated event ID is refused with
// ErrInvalidBatch before anything is sent: a bug of the caller.
func (d *Destination) Deliver(ctx context.Context, batch []plugins.Event) ([]plugins.Result, error) {
	if len(batch) == 0 {
		return []plugins.Result{}, nil
	}
	index, err := indexBatch(batch)
	if err != nil {
		return nil, err
	}
	select {
	case d.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, d.retry("canceled", ctx.Err())
	case <-d.quit:
		return nil, d.retry("closed", ErrClosed)
	}
	defer func() { <-d.sem }()
	select {
	case <-d.quit:
		return nil, d.retry("closed", ErrClosed)
	default:
	}

	cctx, cancel := context.WithTimeout(ctx, d.limits.CallTimeout)
	defer cancel()
	inst, err := d.instance(cctx)
	if err != nil {
		switch {
		case errors.Is(err, ErrClosed):
			return nil, d.retry("closed", err)
		case ctx.Err() != nil:
			return nil, d.retry("canceled", ctx.Err())
		}
		return nil, d.retry("unavailable", fmt.Errorf("%w: it did not come back within %s", ErrUnavailable, d.limits.CallTimeout))
	}
	start := time.Now()
	d.mInFlight.Inc()
	results, err := inst.dest.Deliver(cctx, batch)
	d.mInFlight.Dec()
	d.mLatency.Observe(time.Since(start).Seconds())
	if err != nil {
		return nil, d.callFailed(ctx, cctx, inst, err)
	}
	return d.normalize(batch, index, results), nil
}

// indexBatch maps event IDs to their positions, checking them.
func indexBatch(batch []plugins.Event) (map[string]int, error) {
	index := make(map[string]int, len(batch))
	for i, e := range batch {
		if e.ID == "" {
			return nil, fmt.Errorf("%w: event %d has no ID", ErrInvalidBatch, i)
		}
		if _, dup := index[e.ID]; dup {
			return nil, fmt.Errorf("%w: event ID %q appears twice", ErrInvalidBatch, e.ID)
		}
		index[e.ID] = i
	}
	return index, nil
}

// retry builds the *RetryError of a failed call and counts it.
func (d *Destination) retry(cause string, err error) error {
	d.mFailures.WithLabelValues(cause).Inc()
	return &RetryError{Destination: d.name, Err: err}
}

// callFailed classifies the error of a Deliver call.
func (d *Destination) callFailed(ctx, cctx context.Context, inst *instance, err error) error {
	code := status.Code(err)
	switch {
	case ctx.Err() != nil:
		return d.retry("canceled", err)
	case errors.Is(err, plugins.ErrPluginExited) || code == codes.Unavailable || code == codes.Canceled || !inst.alive():
		d.suspect()
		return d.retry("unavailable", fmt.Errorf("%w: it died during the call: %w", ErrUnavailable, err))
	case cctx.Err() != nil || code == codes.DeadlineExceeded:
		return d.retry("timeout", fmt.Errorf("%w (%s): %w", ErrTimeout, d.limits.CallTimeout, err))
	}
	return d.retry("failed", fmt.Errorf("%w: %w", ErrFailed, err))
}

// normalize returns one valid result per event, in batch order, and
// counts them.
func (d *Destination) normalize(batch []plugins.Event, index map[string]int, results []plugins.Result) []plugins.Result {
	out := make([]plugins.Result, len(batch))
	aligned := len(results) == len(batch)
	for i := 0; aligned && i < len(results); i++ {
		aligned = results[i].ID == batch[i].ID
	}
	if aligned {
		copy(out, results)
	} else {
		for _, r := range results {
			if i, ok := index[r.ID]; ok && out[i].ID == "" {
				out[i] = r
			}
		}
	}
	// Few distinct (outcome, code) pairs per batch: a short list beats a map.
	type key struct {
		outcome plugins.Outcome
		code    string
	}
	var keys []key
	var counts []int
	last := -1
	for i := range out {
		r := &out[i]
		switch {
		case r.ID == "":
			*r = plugins.Retry(batch[i].ID, 0, "no_result", "the destination returned no result for this event")
		case r.Outcome < plugins.OutcomeRetry || r.Outcome > plugins.OutcomeHold:
			*r = plugins.Retry(batch[i].ID, 0, "invalid_result", "the destination returned an invalid outcome for this event")
		case r.RetryAfter < 0:
			r.RetryAfter = 0
		}
		k := key{r.Outcome, r.Code}
		if last < 0 || keys[last] != k {
			last = slices.Index(keys, k)
			if last < 0 {
				keys, counts = append(keys, k), append(counts, 0)
				last = len(keys) - 1
			}
		}
		counts[last]++
	}
	d.mu.Lock()
	for j, k := range keys {
		n := counts[j]
		code := k.code
		if !d.codes[code] {
			if len(d.codes) >= maxResultCodes || len(code) > 64 {
				code = "other"
			} else {
				d.codes[code] = true
			}
		}
		d.mResults.WithLabelValues(k.outcome.String(), code).Add(float64(n))
	}
	d.mu.Unlock()
	return out
}

// instance returns the running plugin, waiting while it restarts.
func (d *Destination) instance(ctx context.Context) (*instance, error) {
	for {
		d.mu.Lock()
		inst, up := d.cur, d.upCh
		d.mu.Unlock()
		if inst != nil {
			return inst, nil
		}
		select {
		case <-up:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-d.quit:
			return nil, ErrClosed
		}
	}
}

// suspect asks the supervisor to check the plugin now.
func (d *Destination) suspect() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// supervise watches the running plugin and restarts it when it dies,
// until the destination closes.
func (d *Destination) supervise() {
	defer close(d.done)
	var backoff time.Duration
	for {
		d.mu.Lock()
		inst := d.cur
		d.mu.Unlock()
		if inst == nil {
			if inst = d.restart(&backoff); inst == nil {
				return
			}
		}
		reason := d.watch(inst)
		if reason == "" {
			return
		}
		d.mu.Lock()
		if d.cur == inst {
			d.cur = nil
			d.upCh = make(chan struct{})
		}
		d.restarts++
		d.mu.Unlock()
		d.mUp.Set(0)
		d.mRestarts.Inc()
		d.log.Error("destination plugin died; restarting it", "reason", reason, "pid", inst.pid,
			"uptime", time.Since(inst.started).Round(time.Millisecond).String())
		d.kills.Add(1)
		go func() {
			defer d.kills.Done()
			inst.kill()
		}()
		if time.Since(inst.started) >= stableAfter {
			backoff = 0
		} else {
			backoff = d.nextBackoff(backoff)
		}
	}
}

func (d *Destination) nextBackoff(b time.Duration) time.Duration {
	if b == 0 {
		return d.opts.RestartBackoff
	}
	return min(2*b, d.opts.MaxRestartBackoff)
}

// watch returns why inst is no longer usable, or "" when the destination
// closes first.
func (d *Destination) watch(inst *instance) string {
	exits := time.NewTicker(exitPollInterval)
	defer exits.Stop()
	pings := time.NewTicker(d.opts.PingInterval)
	defer pings.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return ""
		case <-exits.C:
			if !inst.alive() {
				return exitReason(inst)
			}
		case <-d.wake:
			if reason := d.check(inst); reason != "" {
				return reason
			}
		case <-pings.C:
			if reason := d.check(inst); reason != "" {
				return reason
			}
		}
	}
}

// check health-checks inst; "" means healthy.
func (d *Destination) check(inst *instance) string {
	if !inst.alive() {
		return exitReason(inst)
	}
	err := inst.ping(pingTimeout)
	if err == nil {
		return ""
	}
	// A process that just died fails the ping before go-plugin notices
	// the exit; give it a moment, for a better reason in the log.
	for deadline := time.Now().Add(200 * time.Millisecond); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if !inst.alive() {
			return exitReason(inst)
		}
	}
	return "health check failed: " + err.Error()
}

// exitReason describes how a dead process ended.
func exitReason(inst *instance) string {
	// Exited() is true only after go-plugin's cmd.Wait returned, under
	// its lock, so ProcessState is safe to read here.
	if ps := inst.cmd.ProcessState; ps != nil {
		return "the plugin process exited: " + ps.String()
	}
	return "the plugin process exited"
}

// restart starts a new plugin process and configures it, retrying with
// backoff; nil means the destination closed first.
func (d *Destination) restart(backoff *time.Duration) *instance {
	for {
		if *backoff > 0 {
			t := time.NewTimer(*backoff)
			select {
			case <-t.C:
			case <-d.ctx.Done():
				t.Stop()
				return nil
			}
		}
		began := time.Now()
		inst, err := launch(d.ctx, d.target, d.opts, d.log, d.redact)
		if err == nil {
			if err = d.configure(inst); err != nil {
				inst.kill()
			}
		}
		if d.ctx.Err() != nil {
			if inst != nil && err == nil {
				inst.kill()
			}
			return nil
		}
		if err == nil {
			d.mu.Lock()
			d.cur = inst
			close(d.upCh)
			d.mu.Unlock()
			d.mUp.Set(1)
			d.log.Info("destination plugin restarted", "pid", inst.pid, "took", time.Since(began).Round(time.Millisecond).String())
			return inst
		}
		*backoff = d.nextBackoff(*backoff)
		d.log.Error("destination plugin failed to restart; trying again", "error", err, "in", backoff.String())
	}
}

// configure sends the validated settings to a restarted plugin.
func (d *Destination) configure(inst *instance) error {
	ctx, cancel := context.WithTimeout(d.ctx, d.opts.StartTimeout)
	defer cancel()
	err := inst.dest.Configure(ctx, plugins.Config{Destination: d.name, Settings: d.settings, Host: d.services, Logger: d.log})
	if err != nil {
		var fe plugins.FieldErrors
		if errors.As(err, &fe) {
			// The settings passed validation at start; say which fields
			// without their values.
			fields := make([]string, len(fe))
			for i, e := range fe {
				fields[i] = e.Field
			}
			return fmt.Errorf("the plugin now refuses its settings (fields %v)", fields)
		}
		return errors.New("configure: " + d.redact.hide(err.Error()))
	}
	return nil
}

// close stops new calls, waits for calls in progress (until ctx is done),
// stops the supervisor and ends the plugin process.
func (d *Destination) close(ctx context.Context) error {
	d.once.Do(func() {
		close(d.quit)
		drained := true
	drain:
		for range cap(d.sem) {
			select {
			case d.sem <- struct{}{}:
			case <-ctx.Done():
				drained = false
				break drain
			}
		}
		d.cancel()
		<-d.done
		d.mu.Lock()
		inst := d.cur
		d.cur = nil
		d.mu.Unlock()
		if inst != nil {
			inst.stop(d.opts.StartTimeout)
		}
		d.kills.Wait()
		d.services.close()
		d.mUp.Set(0)
		if !drained {
			d.err = fmt.Errorf("destination %s: closed with deliveries in progress: %w", d.name, ctx.Err())
		}
	})
	return d.err
}
