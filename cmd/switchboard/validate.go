package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/switchboard-cdp/switchboard/core/pluginhost"
)

func newValidateCmd(g *globals) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "validate -c FILE",
		Short: "Check a pipelines.yaml, destination settings included (each destination's plugin is started to check them): exit 0 with a summary, or exit 1 with every problem as FILE:LINE:COL: path: message",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig(file)
			if err != nil {
				return err
			}
			log, err := g.quietLogger()
			if err != nil {
				return err
			}
			_, probs := compilePipelines(cfg)
			probs = append(probs, pluginhost.Validate(cmd.Context(), cfg, hostOptions(log))...)
			if len(probs) > 0 {
				probs.Sort()
				fmt.Fprintln(g.stderr, probs.Error())
				return exitError(1)
			}
			fmt.Fprintln(g.stdout, cfg.Summary())
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "pipelines.yaml", "pipelines.yaml to check")
	return cmd
}
