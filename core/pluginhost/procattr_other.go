//go:build !linux

package pluginhost

import "os/exec"

// setProcAttr does nothing where the kernel cannot kill a child with its
// parent; Close still kills every plugin.
func setProcAttr(*exec.Cmd) {}

// killGroup does nothing here; the plugin process itself is killed.
func killGroup(int) {}
