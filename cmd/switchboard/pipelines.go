package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-cdp/switchboard/core/bus"
	"github.com/switchboard-cdp/switchboard/core/config"
	"github.com/switchboard-cdp/switchboard/core/mapping"
	"github.com/switchboard-cdp/switchboard/core/pipeline"
	"github.com/switchboard-cdp/switchboard/core/pluginhost"
)

// compilePipelines compiles every pipeline's when: and map:, collecting
// every problem with its position in pipelines.yaml.
func compilePipelines(cfg *config.Config) (map[string]*mapping.Program, config.Problems) {
	progs := map[string]*mapping.Program{}
	var probs config.Problems
	for _, name := range slices.Sorted(maps.Keys(cfg.Pipelines)) {
		pl := cfg.Pipelines[name]
		prog, p := mapping.Compile(cfg, "pipelines."+name, &pl.When, &pl.Map)
		probs = append(probs, p...)
		progs[name] = prog
	}
	return progs, probs
}

// pipelines is the set of running pipelines of one serve.
type pipelines struct {
	byName map[string]*pipeline.Pipeline
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
}

// startPipelines starts one pipeline per pipelines.yaml entry, each with its
// own durable consumer, delivering through host. They run until ctx is done;
// wait waits for them.
func startPipelines(ctx context.Context, cfg *config.Config, log *slog.Logger, reg prometheus.Registerer, b *bus.Bus, host *pluginhost.Host) (*pipelines, error) {
	progs, probs := compilePipelines(cfg)
	if len(probs) > 0 {
		return nil, probs
	}
	ps := &pipelines{byName: map[string]*pipeline.Pipeline{}}
	var rb pipeline.ReadBehind
	if d := cfg.NATS.ReadBehind; d > 0 && len(cfg.Pipelines) > 0 {
		rb = pipeline.ReadBehind{MaxDelay: d, BlockBytes: b.BlockBytes(), WriteRate: b.WatchWriteRate(ctx, 0).BytesPerSecond, Group: &pipeline.PaceGroup{}}
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Pipelines)) {
		pl := cfg.Pipelines[name]
		dest, err := host.Destination(pl.To)
		if err != nil {
			return nil, fmt.Errorf("pipeline %s: %w", name, err)
		}
		p, err := pipeline.New(pipeline.Options{
			Name:             name,
			Config:           pl,
			Mapper:           progs[name],
			JetStream:        b.JetStream(),
			Stream:           b.Stream(),
			Replicas:         cfg.NATS.Replicas,
			Destination:      dest,
			DestinationName:  pl.To,
			DestinationBatch: dest.Spec().Batch,
			MaxInFlight:      dest.Limits().MaxInFlight,
			CallTimeout:      dest.Limits().CallTimeout,
			ReadBehind:       rb,
			Logger:           log,
			Registerer:       reg,
		})
		if err != nil {
			return nil, fmt.Errorf("pipeline %s: %w", name, err)
		}
		ps.byName[name] = p
	}
	for name, p := range ps.byName {
		ps.wg.Add(1)
		go func() {
			defer ps.wg.Done()
			if err := p.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("pipeline stopped", "pipeline", name, "error", err)
				ps.mu.Lock()
				ps.errs = append(ps.errs, fmt.Errorf("pipeline %s: %w", name, err))
				ps.mu.Unlock()
			}
		}()
	}
	return ps, nil
}

// wait waits for every pipeline to stop and returns their errors.
func (ps *pipelines) wait() error {
	ps.wg.Wait()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return errors.Join(ps.errs...)
}
