package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

func newMapCmd(g *globals) *cobra.Command {
	var file, name string
	cmd := &cobra.Command{
		Use:   "map -c FILE --pipeline NAME [EVENT.json|-]",
		Short: "Dry run: print what a pipeline's destination would receive for an event, or why it is filtered out",
		Long: `Reads one Segment-style event (a JSON object, as stored or as an SDK sends
it) from the file or standard input, runs the pipeline's when: and map: on it
and prints the mapped JSON — exactly the payload the destination receives —
or "filtered: ..." when when: leaves the event out. Exit 1 on a mapping error.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig(file)
			if err != nil {
				return err
			}
			if _, ok := cfg.Pipelines[name]; !ok {
				return fmt.Errorf("no pipeline %q in %s (pipelines: %s)", name, file, strings.Join(slices.Sorted(maps.Keys(cfg.Pipelines)), ", "))
			}
			progs, probs := compilePipelines(cfg)
			if len(probs) > 0 {
				fmt.Fprintln(g.stderr, probs.Error())
				return exitError(1)
			}
			var in io.Reader = cmd.InOrStdin()
			if len(args) == 1 && args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			data, err := io.ReadAll(io.LimitReader(in, 8<<20))
			if err != nil {
				return err
			}
			out, matched, err := progs[name].Apply(bytes.TrimSpace(data))
			if err != nil {
				fmt.Fprintf(g.stderr, "pipeline %s: %v\n", name, err)
				return exitError(1)
			}
			if !matched {
				w := cfg.Pipelines[name].When
				fmt.Fprintf(g.stdout, "filtered: when: %s is false for this event\n", w.Value)
				return nil
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, out, "", "  "); err != nil {
				pretty.Reset()
				pretty.Write(out)
			}
			fmt.Fprintln(g.stdout, pretty.String())
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "pipelines.yaml", "pipelines.yaml")
	cmd.Flags().StringVar(&name, "pipeline", "", "the pipeline to run (required)")
	_ = cmd.MarkFlagRequired("pipeline")
	return cmd
}
