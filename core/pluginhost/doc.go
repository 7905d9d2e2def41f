// Package pluginhost launches, validates and supervises destination plugins
// for the rest of Switchboard.
//
// A destination's plugin is either a built-in, run as the switchboard
// binary's hidden `plugin NAME` sub-command, or a third party's executable
// named by path (relative to the pipelines.yaml that names it). Every
// plugin is a separate process spoken to through hashicorp/go-plugin over
// gRPC with automatic mutual TLS, exactly as plugins.Serve expects.
//
// Validate (used by `switchboard validate`) and Open (used by `serve`)
// launch each destination's plugin, read its spec, check the destination's
// settings from pipelines.yaml against it (unknown keys, required keys,
// types, enums; defaults applied) and let the plugin's Configure check
// them too; every problem is a config.Problem with FILE:LINE:COL. Open then
// keeps each plugin running under supervision: health pings, restart with
// backoff after a crash, bounded in-flight batches and a per-call deadline.
// A Destination's Deliver either returns one Result per event or a
// *RetryError meaning "retry every event of this batch", so a crash never
// loses events. The host also serves plugins.Host to each plugin: state
// in a JetStream key-value bucket per destination and plugin-specific
// Prometheus counters.
//
// Typical use, in serve, after the bus is open:
//
//	h, err := pluginhost.Open(ctx, cfg, pluginhost.Options{
//		Logger: log, Registerer: reg, Bus: b,
//		Replicas: cfg.NATS.Replicas, Builtins: builtinNames(),
//	})
//	// err: config.Problems (print them, exit 1) or a plain error
//	defer h.Close(shutdownCtx) // before the bus closes
//	d, _ := h.Destination(pipeline.To)
//	results, err := d.Deliver(ctx, events) // *RetryError: nak every event
//
// This package must not: parse pipelines.yaml itself (core/config does),
// know any particular destination, consume or acknowledge JetStream
// messages (core/pipeline does), keep global state (loggers, registries
// and the JetStream handle are passed in), or put the value of a secret
// setting, or of any setting that came from the environment, into a
// message or a log line.
package pluginhost
