package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/switchboard-cdp/switchboard/core/pluginhost"
	"github.com/switchboard-cdp/switchboard/destinations/file"
	"github.com/switchboard-cdp/switchboard/destinations/metacapi"
	"github.com/switchboard-cdp/switchboard/destinations/webhook"
	"github.com/switchboard-cdp/switchboard/plugins"
)

// builtinDestinations is the one table of destinations built into the
// binary. Each still runs out of process: the plugin host starts
// `switchboard plugin NAME`, which serves the table's entry. Add a
// built-in here and nowhere else.
var builtinDestinations = map[string]func() plugins.Destination{
	"file":      func() plugins.Destination { return file.New() },
	"meta-capi": func() plugins.Destination { return metacapi.New() },
	"webhook":   func() plugins.Destination { return webhook.New() },
}

// builtinNames returns the names of the built-in destinations, sorted.
func builtinNames() []string {
	return slices.Sorted(maps.Keys(builtinDestinations))
}

// newPluginCmd is the hidden `plugin NAME` sub-command the plugin host
// launches to serve a built-in destination over go-plugin.
func newPluginCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:    "plugin NAME",
		Short:  "Serve a built-in destination as a plugin process (started by the plugin host, not by people)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			newDest, ok := builtinDestinations[args[0]]
			if !ok {
				return fmt.Errorf("unknown built-in destination %q (built-ins: %s)", args[0], strings.Join(builtinNames(), ", "))
			}
			if os.Getenv(plugins.Handshake.MagicCookieKey) != plugins.Handshake.MagicCookieValue {
				fmt.Fprintf(g.stderr, "switchboard plugin %[1]s serves the built-in destination %[1]s to switchboard itself; people don't run it.\n"+
					"Use it in pipelines.yaml as\n\n    destinations:\n      mine:\n        plugin: %[1]s\n        settings: {...}\n\n"+
					"and run \"switchboard plugins inspect %[1]s\" to see the settings it takes.\n", args[0])
				return exitError(1)
			}
			plugins.Serve(newDest())
			return nil
		},
	}
}

// hostOptions are the plugin host options every command uses: the table
// of built-ins, served by this very executable.
func hostOptions(log *slog.Logger) pluginhost.Options {
	return pluginhost.Options{Logger: log, Builtins: builtinNames()}
}

// quietLogger is g's logger, but at least at warn level unless debug was
// asked for: commands that launch plugins only to look at them (validate,
// plugins inspect) should not print the plugins' chatter.
func (g *globals) quietLogger() (*slog.Logger, error) {
	log, err := g.logger()
	if err != nil {
		return nil, err
	}
	if log.Enabled(context.Background(), slog.LevelDebug) {
		return log, nil
	}
	return slog.New(minLevel{log.Handler(), slog.LevelWarn}), nil
}

// minLevel drops records below level.
type minLevel struct {
	slog.Handler
	level slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(attrs), h.level}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.level}
}
