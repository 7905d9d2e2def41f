// Package config loads pipelines.yaml: it parses the YAML, expands ${VAR}
// and ${VAR:-default} references from the environment, decodes the server,
// nats, sources, destinations and pipelines sections strictly (unknown and
// duplicate keys are errors), fills in defaults and checks what can be
// checked without running anything. Every problem is collected, not just
// the first, and carries FILE:LINE:COL and a path such as
// sources.web.write_keys[0] (see Problems).
//
// Destination settings and the when/map/batch/retry parts of a pipeline are
// kept as interpolated yaml nodes with their positions; core/mapping,
// core/pipeline and the destination plugins validate them later and report
// through Config.Problem and Config.Required.
//
// This package must not: compile expressions, start servers or plugins,
// open files other than the one it loads, read the environment except
// through the lookup function it is given, keep global state, or put a
// secret or any value that came from the environment into an error message.
package config
