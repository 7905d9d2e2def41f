package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/switchboard-cdp/switchboard/plugins"
)

// target is a resolved `plugin:` value: what to execute.
type target struct {
	ref     string // as written in pipelines.yaml (or on the command line)
	path    string
	args    []string
	builtin bool
}

// resolve turns a `plugin:` value into the command that serves it: a
// built-in name runs the host's own executable as `plugin NAME`; anything
// else is an executable's path, relative to dir. The error message never
// contains ref (it may have come from the environment); callers add it.
func (o *Options) resolve(ref, dir string) (target, error) {
	if ref == "" {
		return target{}, errors.New("no plugin named")
	}
	if slices.Contains(o.Builtins, ref) {
		exe := o.Executable
		if exe == "" {
			var err error
			if exe, err = os.Executable(); err != nil {
				return target{}, fmt.Errorf("cannot find the switchboard executable to serve built-in destinations: %w", err)
			}
		}
		return target{ref: ref, path: exe, args: []string{"plugin", ref}, builtin: true}, nil
	}
	path := ref
	if !filepath.IsAbs(path) {
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
		path = filepath.Join(dir, path)
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		msg := "no such file " + path
		if len(o.Builtins) > 0 && !strings.ContainsRune(ref, filepath.Separator) && !strings.ContainsRune(ref, '/') {
			msg = "not a built-in destination (" + strings.Join(o.Builtins, ", ") + ") and " + msg
		}
		return target{}, errors.New(msg)
	case err != nil:
		return target{}, err
	case fi.IsDir():
		return target{}, fmt.Errorf("%s is a directory, not a plugin executable", path)
	case fi.Mode()&0o111 == 0:
		return target{}, fmt.Errorf("%s is not executable (chmod +x it)", path)
	}
	return target{ref: ref, path: path}, nil
}

// instance is one running plugin process.
type instance struct {
	client  *plugin.Client
	rpc     plugin.ClientProtocol
	dest    plugins.Destination
	cmd     *exec.Cmd
	pid     int
	started time.Time
	stderr  *tailBuffer
}

// launch starts t's process and completes the handshake. The error's
// message is a single line meant for a config.Problem.
func launch(ctx context.Context, t target, o *Options, log *slog.Logger, red *redactor) (*instance, error) {
	cmd := exec.Command(t.path, t.args...)
	cmd.Env = append(os.Environ(), plugins.LogLevelEnv+"="+levelName(log))
	setProcAttr(cmd)
	cc := plugins.ClientConfig(cmd)
	cc.Logger = newHCLog(log, red)
	cc.StartTimeout = o.StartTimeout
	tail := &tailBuffer{max: 4096}
	cc.Stderr = tail
	cc.GRPCDialOptions = append(cc.GRPCDialOptions, grpc.WithDefaultCallOptions(
		grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32)))
	client := plugin.NewClient(cc)

	type result struct {
		d   plugins.Destination
		err error
	}
	done := make(chan result, 1)
	started := time.Now()
	go func() {
		d, err := plugins.Dispense(client)
		done <- result{d, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		client.Kill()
		<-done
		return nil, ctx.Err()
	}
	if r.err != nil {
		if cmd.Process != nil {
			killGroup(cmd.Process.Pid) // and whatever it started, which may hold its pipes open
		}
		client.Kill()
		return nil, errors.New(launchMessage(r.err, tail, o.StartTimeout))
	}
	rpc, err := client.Client() // started: returns the connected client
	if err != nil {
		client.Kill()
		return nil, err
	}
	inst := &instance{client: client, rpc: rpc, dest: r.d, cmd: cmd, started: started, stderr: tail}
	if cmd.Process != nil {
		inst.pid = cmd.Process.Pid
	}
	return inst, nil
}

var (
	pluginVersion  = regexp.MustCompile(`Plugin version: (\S+?),`)
	unrecognised   = regexp.MustCompile(`Unrecognized remote plugin message: ([^\n]*)`)
	multipleSpaces = regexp.MustCompile(`\s+`)
)

// launchMessage explains why a process did not become a plugin, in one
// line.
func launchMessage(err error, stderr *tailBuffer, timeout time.Duration) string {
	msg := err.Error()
	switch {
	case errors.Is(err, plugins.ErrProtocolVersion):
		theirs := "another version"
		if m := pluginVersion.FindStringSubmatch(msg); m != nil {
			theirs = "version " + m[1]
		}
		return fmt.Sprintf("the plugin speaks Switchboard plugin protocol %s, this switchboard speaks version %d: "+
			"rebuild the plugin against a matching github.com/switchboard-cdp/switchboard/plugins", theirs, plugins.ProtocolVersion)
	case strings.Contains(msg, "Failed to read any lines from plugin's stdout"),
		strings.Contains(msg, "plugin exited before we could connect"):
		m := "not a Switchboard destination plugin: it exited before the plugin handshake (a plugin's main calls plugins.Serve)"
		if last := stderr.lastLine(); last != "" {
			m += fmt.Sprintf("; its last words on stderr: %q", trim(last, 160))
		}
		return m
	case strings.Contains(msg, "Unrecognized remote plugin message"):
		out := ""
		if m := unrecognised.FindStringSubmatch(msg); m != nil {
			out = m[1]
		}
		return fmt.Sprintf("not a Switchboard destination plugin: it printed %q on stdout instead of the plugin handshake "+
			"(a plugin's main calls plugins.Serve)", trim(out, 80))
	case strings.Contains(msg, "timeout while waiting for plugin to start"):
		return fmt.Sprintf("the plugin did not complete the handshake within %s (is it a Switchboard destination plugin?)", timeout)
	case strings.Contains(msg, "exec format error"):
		return "cannot run it: not an executable for this system (exec format error)"
	case strings.Contains(msg, "permission denied"):
		return "cannot run it: permission denied"
	}
	return "cannot start the plugin: " + trim(multipleSpaces.ReplaceAllString(msg, " "), 300)
}

// trim shortens s to at most n runes, marking the cut.
func trim(s string, n int) string {
	s = strings.TrimSpace(s)
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// levelName is the plugin log level matching the lowest level log accepts.
func levelName(log *slog.Logger) string {
	ctx := context.Background()
	switch {
	case log.Enabled(ctx, levelTrace):
		return "trace"
	case log.Enabled(ctx, slog.LevelDebug):
		return "debug"
	case log.Enabled(ctx, slog.LevelInfo):
		return "info"
	case log.Enabled(ctx, slog.LevelWarn):
		return "warn"
	}
	return "error"
}

// tailBuffer keeps the last bytes a plugin wrote on stderr, to explain a
// failed start.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

// lastLine returns the last non-empty line written.
func (t *tailBuffer) lastLine() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(t.buf)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// alive reports whether the process is still running.
func (i *instance) alive() bool { return !i.client.Exited() }

// ping health-checks the plugin, giving up after timeout (go-plugin's
// Ping takes no context).
func (i *instance) ping(timeout time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- i.rpc.Ping() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		return fmt.Errorf("no answer to a health check within %s", timeout)
	}
}

// stop closes the destination politely and ends the process: Close with
// timeout, then go-plugin's Kill (graceful shutdown, then SIGKILL), then
// whatever the plugin left behind in its process group.
func (i *instance) stop(timeout time.Duration) {
	if i.alive() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		_ = i.dest.Close(ctx) // the process ends anyway
		cancel()
	}
	i.client.Kill()
	killGroup(i.pid)
}

// kill ends the process at once, for a plugin that is dead or wedged.
func (i *instance) kill() {
	killGroup(i.pid)
	if i.cmd.Process != nil {
		_ = i.cmd.Process.Kill() // os.Process signals through a pidfd: never a recycled pid
	}
	i.client.Kill()
}
