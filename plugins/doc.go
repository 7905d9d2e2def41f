// Package plugins is the public SDK for destination plugins: the protocol
// between Switchboard and a destination process, Serve, the Destination
// interface, result types and the host services a plugin may call.
//
// A plugin author implements Destination and calls Serve from main; the
// author never sees gRPC (see README.md, "Write a destination"). The host
// launches the plugin with ClientConfig (or plugin.ClientConfig with
// Handshake and VersionedPlugins), gets a Destination from Dispense and
// calls it as plain Go; the same types cross the process boundary both ways.
// Package destinationtest checks a destination against the contract.
//
// It is the one package third parties import. It must not import anything
// from core/: plugins know the protocol, not the engine.
package plugins
