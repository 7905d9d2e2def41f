package main

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-cdp/switchboard/core/gateway"
)

func newTailCmd(g *globals) *cobra.Command {
	var af adminFlags
	var source string
	var limit int
	var follow bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "tail [--source S] [-n N] [-f]",
		Short: "Print the most recent stored events, one JSON object a line",
		Args:  cobra.NoArgs,
		RunE: af.run(func(ctx context.Context, c *adminClient) error {
			var after uint64
			enc := json.NewEncoder(g.stdout)
			for {
				q := url.Values{}
				if source != "" {
					q.Set("source", source)
				}
				q.Set("limit", strconv.Itoa(limit))
				if after > 0 {
					q.Set("after", strconv.FormatUint(after, 10))
				}
				var resp struct {
					Events []gateway.StoredEvent `json:"events"`
				}
				if err := c.get(ctx, "/api/events?"+q.Encode(), &resp); err != nil {
					return err
				}
				for _, e := range resp.Events {
					if err := enc.Encode(e); err != nil {
						return err
					}
					after = max(after, e.Seq)
				}
				if !follow {
					return nil
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(interval):
				}
			}
		}),
	}
	af.add(cmd)
	cmd.Flags().StringVar(&source, "source", "", "only events of this source")
	cmd.Flags().IntVarP(&limit, "limit", "n", 20, "how many recent events (max 1000)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep polling for new events")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "polling interval with --follow")
	return cmd
}
