// Package testplugins holds the plugin binaries the SDK's tests build and
// run as child processes. They exist for tests only: nothing imports them.
package testplugins
