package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/switchboard-cdp/switchboard/core/config"
)

func newValidateCmd(g *globals) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "validate -c FILE",
		Short: "Check a pipelines.yaml: exit 0 with a summary, or exit 1 with every problem as FILE:LINE:COL: path: message",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(file)
			if err != nil {
				var probs config.Problems
				if errors.As(err, &probs) {
					fmt.Fprintln(g.stderr, probs.Error())
					return exitError(1)
				}
				return err
			}
			fmt.Fprintln(g.stdout, cfg.Summary())
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "pipelines.yaml", "pipelines.yaml to check")
	return cmd
}
