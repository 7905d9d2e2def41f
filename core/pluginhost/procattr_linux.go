//go:build linux

package pluginhost

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts the plugin in a process group of its own, so the host
// can end it with everything it started (and a Ctrl-C in the terminal
// reaches only the host, which then stops its plugins in order), and
// makes the kernel SIGKILL the plugin when the host dies, even by SIGKILL,
// so no plugin outlives `switchboard serve`. (Pdeathsig follows the thread
// that started the child; Go only ends threads locked with LockOSThread,
// which the host never starts plugins from.)
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup SIGKILLs the process group a plugin leads. The kernel does not
// hand out a pid that is still in use as a process group id, so the call
// cannot hit an unrelated process while the group has members.
func killGroup(pid int) {
	if pid > 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}
