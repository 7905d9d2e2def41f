package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/switchboard-cdp/switchboard/core/config"
)

// exitError ends the process with a status code; its message has already
// been printed.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// run is the whole program: main only supplies the process's context,
// arguments and output streams.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

type globals struct {
	stdout, stderr io.Writer
	logLevel       string
	logFormat      string
}

func (g *globals) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", g.logLevel)
	}
	o := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(g.logFormat) {
	case "json":
		return slog.New(slog.NewJSONHandler(g.stderr, o)), nil
	case "text", "":
		return slog.New(slog.NewTextHandler(g.stderr, o)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", g.logFormat)
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "switchboard",
		Short:         "Switchboard routes Segment- and Tealium-style tracking calls through JetStream to destinations",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	root.AddCommand(
		newServeCmd(g),
		newValidateCmd(g),
		newTailCmd(g),
		newBenchCmd(g),
		newMapCmd(g),
		newQualityCmd(g),
		newTestCmd(g),
		newStatusCmd(g),
		newDLQCmd(g),
		newReplayCmd(g),
		newEmulateCmd(g),
		newPluginCmd(g),
		newPluginsCmd(g),
	)
	return root
}

// loadConfig loads a pipelines.yaml; when it has problems it prints every
// one as FILE:LINE:COL: path: message and returns exit status 1.
func (g *globals) loadConfig(file string) (*config.Config, error) {
	cfg, err := config.Load(file)
	var probs config.Problems
	if errors.As(err, &probs) {
		fmt.Fprintln(g.stderr, probs.Error())
		return nil, exitError(1)
	}
	return cfg, err
}
