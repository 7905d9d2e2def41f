package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/switchboard-cdp/switchboard/core/pipeline"
)

func newStatusCmd(g *globals) *cobra.Command {
	var af adminFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Per pipeline: pending, delivered, retried, dead-lettered, last error",
		Args:  cobra.NoArgs,
		RunE: af.run(func(ctx context.Context, c *adminClient) error {
			var resp struct {
				Pipelines []pipeline.Status `json:"pipelines"`
			}
			if err := c.get(ctx, "/api/pipelines", &resp); err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(g.stdout).Encode(resp)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PIPELINE\tDESTINATION\tPENDING\tDELIVERED\tRETRIED\tDEAD-LETTERED\tFILTERED\tLAST ERROR")
			for _, s := range resp.Pipelines {
				last := s.LastError
				if last != "" {
					last = s.LastErrorAt.Format("15:04:05") + " " + last
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", s.Pipeline, s.Destination, s.Pending, s.Delivered, s.Retried, s.DeadLetters, s.Filtered, last)
			}
			return tw.Flush()
		}),
	}
	af.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newDLQCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "List and replay a pipeline's dead letters",
		Args:  cobra.NoArgs,
	}
	var af adminFlags
	var name string
	var limit int
	list := &cobra.Command{
		Use:   "list --pipeline P",
		Short: "Print a pipeline's dead letters, one JSON object a line, with their reasons",
		Args:  cobra.NoArgs,
		RunE: af.run(func(ctx context.Context, c *adminClient) error {
			var resp struct {
				DeadLetters []json.RawMessage `json:"dead_letters"`
			}
			path := "/api/pipelines/" + url.PathEscape(name) + "/dlq?limit=" + strconv.Itoa(limit)
			if err := c.get(ctx, path, &resp); err != nil {
				return err
			}
			for _, d := range resp.DeadLetters {
				fmt.Fprintln(g.stdout, string(d))
			}
			return nil
		}),
	}
	replay := &cobra.Command{
		Use:   "replay --pipeline P",
		Short: "Deliver a pipeline's dead letters again (to that pipeline only), e.g. after fixing its destination",
		Args:  cobra.NoArgs,
		RunE: af.run(func(ctx context.Context, c *adminClient) error {
			var resp struct {
				Replayed int `json:"replayed"`
			}
			if err := c.post(ctx, "/api/pipelines/"+url.PathEscape(name)+"/dlq/replay", &resp); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "replayed %d dead letters to pipeline %s\n", resp.Replayed, name)
			return nil
		}),
	}
	for _, c := range []*cobra.Command{list, replay} {
		af.add(c)
		c.Flags().StringVar(&name, "pipeline", "", "the pipeline (required)")
		_ = c.MarkFlagRequired("pipeline")
	}
	list.Flags().IntVarP(&limit, "limit", "n", 100, "at most this many")
	cmd.AddCommand(list, replay)
	return cmd
}

func newReplayCmd(g *globals) *cobra.Command {
	var af adminFlags
	var name, since string
	cmd := &cobra.Command{
		Use:   "replay --pipeline P --since 2h|RFC3339",
		Short: "Deliver the stored events of a pipeline's sources from a point in time again, to that pipeline only",
		Args:  cobra.NoArgs,
		RunE: af.run(func(ctx context.Context, c *adminClient) error {
			var resp struct {
				Replayed int `json:"replayed"`
			}
			path := "/api/pipelines/" + url.PathEscape(name) + "/replay?since=" + url.QueryEscape(since)
			if err := c.post(ctx, path, &resp); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "replayed %d events to pipeline %s\n", resp.Replayed, name)
			return nil
		}),
	}
	af.add(cmd)
	cmd.Flags().StringVar(&name, "pipeline", "", "the pipeline (required)")
	cmd.Flags().StringVar(&since, "since", "", "a duration back from now (2h) or an RFC 3339 time (required)")
	_ = cmd.MarkFlagRequired("pipeline")
	_ = cmd.MarkFlagRequired("since")
	return cmd
}
