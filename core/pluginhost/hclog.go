package pluginhost

import (
	"context"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// levelTrace is hclog's Trace level in slog terms.
const levelTrace = slog.LevelDebug - 4

// hclogAdapter is the hclog.Logger go-plugin writes to. It re-logs through
// the host's slog.Logger: the plugin's own lines (which go-plugin logs
// through a Named logger) keep their level; go-plugin's own chatter about
// starting and stopping processes is demoted to debug, because the host
// logs what an operator must act on (crashes, restarts) itself.
type hclogAdapter struct {
	log    *slog.Logger
	name   string
	args   []any
	quiet  bool      // go-plugin's own messages: at most debug
	redact *redactor // hides the destination's secret values
}

// newHCLog returns the adapter for one destination's plugin client.
func newHCLog(log *slog.Logger, r *redactor) hclog.Logger {
	return &hclogAdapter{log: log, quiet: true, redact: r}
}

// redactor replaces values that must not be shown (secret settings and
// values from the environment) with ***. It is filled once the settings
// are checked; until then the plugin has not seen them.
type redactor struct {
	values atomic.Pointer[[]string]
}

func (r *redactor) set(values []string) { r.values.Store(&values) }

func (r *redactor) hide(s string) string {
	if r == nil {
		return s
	}
	vs := r.values.Load()
	if vs == nil {
		return s
	}
	for _, v := range *vs {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, "***")
		}
	}
	return s
}

func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	lvl := slogLevel(level)
	if a.quiet && lvl > slog.LevelDebug {
		lvl = slog.LevelDebug
	}
	ctx := context.Background()
	if !a.log.Enabled(ctx, lvl) {
		return
	}
	attrs := make([]any, 0, len(a.args)+len(args))
	attrs = append(attrs, a.args...)
	for i := 0; i < len(args); i += 2 {
		key, ok := args[i].(string)
		if !ok || i+1 >= len(args) {
			attrs = append(attrs, "arg", args[i])
			i--
			continue
		}
		// go-plugin appends the plugin's own timestamp; slog stamps the
		// line itself.
		if key == "timestamp" || key == "@timestamp" || key == "@module" {
			continue
		}
		v := args[i+1]
		if str, ok := v.(string); ok {
			v = a.redact.hide(str)
		}
		attrs = append(attrs, key, v)
	}
	a.log.Log(ctx, lvl, a.redact.hide(msg), attrs...)
}

func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return levelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

func (a *hclogAdapter) enabled(l hclog.Level) bool {
	lvl := slogLevel(l)
	if a.quiet && lvl > slog.LevelDebug {
		lvl = slog.LevelDebug
	}
	return a.log.Enabled(context.Background(), lvl)
}

func (a *hclogAdapter) IsTrace() bool { return a.enabled(hclog.Trace) }
func (a *hclogAdapter) IsDebug() bool { return a.enabled(hclog.Debug) }
func (a *hclogAdapter) IsInfo() bool  { return a.enabled(hclog.Info) }
func (a *hclogAdapter) IsWarn() bool  { return a.enabled(hclog.Warn) }
func (a *hclogAdapter) IsError() bool { return a.enabled(hclog.Error) }

func (a *hclogAdapter) ImpliedArgs() []any { return a.args }

func (a *hclogAdapter) With(args ...any) hclog.Logger {
	c := *a
	c.args = append(append([]any(nil), a.args...), args...)
	return &c
}

func (a *hclogAdapter) Name() string { return a.name }

// Named is how go-plugin re-logs the plugin's stderr: lines logged through
// a named logger are the plugin's own and keep their level.
func (a *hclogAdapter) Named(name string) hclog.Logger {
	c := *a
	if c.name != "" {
		name = c.name + "." + name
	}
	c.name = name
	c.quiet = false
	return &c
}

func (a *hclogAdapter) ResetNamed(name string) hclog.Logger { return a.Named(name) }

// SetLevel is ignored: the slog handler decides.
func (a *hclogAdapter) SetLevel(hclog.Level) {}

// GetLevel reports the lowest level the slog handler accepts, so go-plugin
// skips parsing lines nobody will see.
func (a *hclogAdapter) GetLevel() hclog.Level {
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if a.log.Enabled(context.Background(), slogLevel(l)) {
			return l
		}
	}
	return hclog.Off
}

func (a *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

func (a *hclogAdapter) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	level := hclog.Info
	if opts != nil && opts.ForceLevel != hclog.NoLevel {
		level = opts.ForceLevel
	}
	return writerFunc(func(p []byte) (int, error) {
		a.Log(level, strings.TrimRight(string(p), "\n"))
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

var _ hclog.Logger = (*hclogAdapter)(nil)
