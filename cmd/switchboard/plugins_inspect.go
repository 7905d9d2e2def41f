package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-cdp/switchboard/core/pluginhost"
	"github.com/switchboard-cdp/switchboard/plugins"
)

// newPluginsCmd groups the commands about destination plugins.
func newPluginsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plugins",
		Short: "Inspect destination plugins: built-in ones and plugin executables",
	}
	cmd.AddCommand(newPluginsListCmd(g), newPluginsInspectCmd(g))
	return cmd
}

func newPluginsListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the built-in destinations",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			for _, name := range builtinNames() {
				fmt.Fprintln(g.stdout, name)
			}
			return nil
		},
	}
}

func newPluginsInspectCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect NAME|PATH",
		Short: "Start a destination plugin (a built-in's name or an executable's path) and print the settings it takes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := g.quietLogger()
			if err != nil {
				return err
			}
			spec, err := pluginhost.Inspect(cmd.Context(), args[0], hostOptions(log))
			if err != nil {
				return err
			}
			if asJSON {
				return printSpecJSON(g.stdout, spec)
			}
			printSpec(g.stdout, spec)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the spec as JSON")
	return cmd
}

// printSpec writes spec for people. The default of a secret setting is
// never shown.
func printSpec(w io.Writer, spec plugins.Spec) {
	fmt.Fprintf(w, "%s %s\n", spec.Name, spec.Version)
	if spec.Description != "" {
		fmt.Fprintf(w, "  %s\n", spec.Description)
	}
	fmt.Fprintln(w)
	if len(spec.Settings) == 0 {
		fmt.Fprintln(w, "Settings: none")
	} else {
		fmt.Fprintln(w, "Settings:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  NAME\tTYPE\tREQUIRED\tDEFAULT\tSECRET\tDESCRIPTION")
		for _, s := range spec.Settings {
			desc := s.Description
			if len(s.Enum) > 0 {
				desc = strings.TrimSpace(desc + " One of: " + strings.Join(s.Enum, ", ") + ".")
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Type, yesNo(s.Required), showDefault(s), yesNo(s.Secret), desc)
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Preferred batch: "+batchLimits(spec.Batch))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// showDefault prints a setting's default, hiding a secret one.
func showDefault(s plugins.Setting) string {
	switch {
	case s.Default == nil:
		return "-"
	case s.Secret:
		return "(hidden)"
	}
	v := s.Default
	if d, ok := v.(time.Duration); ok {
		v = d.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func batchLimits(b plugins.BatchLimits) string {
	var parts []string
	if b.MaxEvents > 0 {
		parts = append(parts, fmt.Sprintf("up to %d events", b.MaxEvents))
	}
	if b.MaxBytes > 0 {
		parts = append(parts, fmt.Sprintf("up to %d bytes", b.MaxBytes))
	}
	if b.MaxWait > 0 {
		parts = append(parts, "waiting at most "+b.MaxWait.String())
	}
	if len(parts) == 0 {
		return "no preference"
	}
	return strings.Join(parts, ", ")
}

// specJSON is the --json form of a spec.
type specJSON struct {
	Name        string        `json:"name"`
	Version     string        `json:"version"`
	Description string        `json:"description,omitempty"`
	Settings    []settingJSON `json:"settings"`
	Batch       struct {
		MaxEvents int    `json:"max_events,omitempty"`
		MaxBytes  int    `json:"max_bytes,omitempty"`
		MaxWait   string `json:"max_wait,omitempty"`
	} `json:"batch"`
}

type settingJSON struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Required    bool     `json:"required"`
	Default     any      `json:"default,omitempty"`
	Secret      bool     `json:"secret"`
	Description string   `json:"description"`
	Enum        []string `json:"enum,omitempty"`
}

func printSpecJSON(w io.Writer, spec plugins.Spec) error {
	out := specJSON{Name: spec.Name, Version: spec.Version, Description: spec.Description, Settings: []settingJSON{}}
	for _, s := range spec.Settings {
		sj := settingJSON{Name: s.Name, Type: string(s.Type), Required: s.Required, Secret: s.Secret, Description: s.Description, Enum: s.Enum}
		if !s.Secret {
			sj.Default = s.Default
			if d, ok := s.Default.(time.Duration); ok {
				sj.Default = d.String()
			}
		}
		out.Settings = append(out.Settings, sj)
	}
	out.Batch.MaxEvents, out.Batch.MaxBytes = spec.Batch.MaxEvents, spec.Batch.MaxBytes
	if spec.Batch.MaxWait > 0 {
		out.Batch.MaxWait = spec.Batch.MaxWait.String()
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
