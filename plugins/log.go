package plugins

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/switchboard-cdp/switchboard/internal/syncio"
)

// LogLevelEnv is the environment variable that sets the level of a plugin's
// logger: trace, debug, info (the default), warn or error. The host sets it
// on the plugin's command; lines below it are never written.
const LogLevelEnv = "SWITCHBOARD_PLUGIN_LOG_LEVEL"

// LevelTrace is the slog level a plugin's logger writes as hclog's "trace".
const LevelTrace = slog.LevelDebug - 4

// hclogTimeFormat is the one timestamp layout go-plugin's host side parses;
// a line with any other layout is not recognised as structured.
const hclogTimeFormat = hclog.TimeFormatJSON

// processStderr is the process's standard error as it was when the program
// started. go-plugin's Serve later points os.Stderr at a pipe of its own;
// log lines must go to the real file, which the host reads and parses.
// Writes are serialised, so that lines of different loggers never
// interleave.
var processStderr io.Writer = &syncio.LockedWriter{W: os.Stderr}

// Logger returns the logger a plugin writes to before Configure (Configure
// receives the same kind in Config.Logger). It writes one JSON object per
// line on the process's standard error, shaped the way go-plugin's host side
// parses hclog output ({"@level":"info","@message":"...","@timestamp":"...",
// "key":"value"}), so the host re-logs each line with its level and fields
// under the destination's name. Its level comes from LogLevelEnv.
//
// A value whose type has a String method (and no MarshalJSON) is logged as
// its String(), so redacted secret types stay redacted.
func Logger() *slog.Logger {
	return slog.New(newLogHandler(processStderr, levelFromEnv()))
}

// newLogHandler returns a handler that writes hclog-shaped JSON lines to w.
func newLogHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level:       level,
		ReplaceAttr: hclogAttr,
	})
}

// hclogAttr renames slog's built-in keys to hclog's and formats their values
// the way go-plugin's parser expects.
func hclogAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 {
		switch a.Key {
		case slog.TimeKey:
			if a.Value.Kind() == slog.KindTime {
				return slog.String("@timestamp", a.Value.Time().Format(hclogTimeFormat))
			}
		case slog.LevelKey:
			if l, ok := a.Value.Any().(slog.Level); ok {
				return slog.String("@level", hclogLevel(l))
			}
		case slog.MessageKey:
			if a.Value.Kind() == slog.KindString {
				return slog.String("@message", a.Value.String())
			}
		case slog.SourceKey:
			if src, ok := a.Value.Any().(*slog.Source); ok && src != nil {
				return slog.String("@caller", fmt.Sprintf("%s:%d", src.File, src.Line))
			}
		}
	}
	if a.Value.Kind() == slog.KindAny {
		switch v := a.Value.Any().(type) {
		case error, json.Marshaler:
		case fmt.Stringer:
			return slog.String(a.Key, v.String())
		}
	}
	return a
}

// hclogLevel names a slog level the way hclog does.
func hclogLevel(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}

// levelFromEnv reads LogLevelEnv; unknown or empty values mean info.
func levelFromEnv() slog.Level {
	switch strings.ToLower(strings.TrimSpace(os.Getenv(LogLevelEnv))) {
	case "trace":
		return LevelTrace
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// internalLogger is the hclog logger go-plugin's own server code logs to
// (handshake details, connection errors), in the same format and at the
// same level as Logger.
func internalLogger() hclog.Logger {
	level := hclog.Info
	switch l := levelFromEnv(); {
	case l < slog.LevelDebug:
		level = hclog.Trace
	case l < slog.LevelInfo:
		level = hclog.Debug
	case l >= slog.LevelError:
		level = hclog.Error
	case l >= slog.LevelWarn:
		level = hclog.Warn
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       "go-plugin",
		Level:      level,
		Output:     processStderr,
		JSONFormat: true,
	})
}

// discardLogger is used where a logger is optional and none was given.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// logPanic logs a recovered panic with its stack.
func logPanic(ctx context.Context, logger *slog.Logger, where string, v any, stack []byte) {
	logger.LogAttrs(ctx, slog.LevelError, "destination panicked; the call fails and the host retries",
		slog.String("method", where),
		slog.String("panic", fmt.Sprint(v)),
		slog.String("stack", string(stack)),
	)
}
