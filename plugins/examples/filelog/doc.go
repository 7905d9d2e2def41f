// Command filelog is an example Switchboard destination plugin, the one
// plugins/README.md shows in full: it appends each event's payload as one
// JSON line to the file named by its path setting, rejects payloads that
// are not JSON objects, and writes a retried event only once by marking
// events in the host's state.
//
// Build it with go build and reference the binary by path in
// pipelines.yaml. It is an example for third-party authors: it must import
// nothing of Switchboard but the plugins SDK.
package main
