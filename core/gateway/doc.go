// Package gateway is Switchboard's HTTP front door: it mounts the source
// handlers (Segment under /v1/, Tealium at /event), and serves /healthz,
// /readyz, /metrics and the admin API under /api/.
//
// It owns listening, timeouts, TLS, admin authentication and graceful
// shutdown. It must not parse tracking calls itself (sources do) nor talk to
// JetStream except through the small interfaces it declares.
package gateway
