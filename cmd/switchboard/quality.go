package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"

	"github.com/switchboard-cdp/switchboard/destinations/metacapi"
	"github.com/switchboard-cdp/switchboard/plugins"
)

// pluginCounterPrefix is how the plugin host names plugin counters on
// /metrics: switchboard_plugin_<name>_total{destination=...}.
const pluginCounterPrefix = "switchboard_plugin_"

func newQualityCmd(g *globals) *cobra.Command {
	var af adminFlags
	var top int
	cmd := &cobra.Command{
		Use:   "quality",
		Short: "Meta match quality per destination, pixel and event: match-key coverage, estimated score, what to fix first",
		Long: `Reads the running server's /metrics and, for every meta-capi destination,
prints per pixel and event name the events Meta accepted, the share carrying
each match key, an estimated match-quality score (0-10; the heuristic is
documented in destinations/metacapi: a weighted sum of key coverage), dedupe
hits, values dropped as unusable, and the top recommendations, such as
"38% of Purchase events have no phone (ph)". Counts are since the server
started.`,
		Args: cobra.NoArgs,
		RunE: af.run(func(ctx context.Context, c *adminClient) error {
			byDest, err := scrapePluginCounters(ctx, c)
			if err != nil {
				return err
			}
			if len(byDest) == 0 {
				fmt.Fprintln(g.stdout, "no Meta events counted yet (no meta-capi destination has delivered since the server started)")
				return nil
			}
			for _, dest := range slices.Sorted(maps.Keys(byDest)) {
				printQuality(g.stdout, dest, byDest[dest], top)
			}
			return nil
		}),
	}
	af.add(cmd)
	cmd.Flags().IntVar(&top, "top", 3, "recommendations per event")
	return cmd
}

// scrapePluginCounters reads /metrics and returns the Meta plugin counters
// per destination, as the plugin reported them.
func scrapePluginCounters(ctx context.Context, c *adminClient) (map[string][]plugins.Counter, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.server+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics at %s: %w", c.server, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics at %s: %s", c.server, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("metrics at %s: %w", c.server, err)
	}
	out := map[string][]plugins.Counter{}
	for fname, fam := range families {
		name, ok := strings.CutPrefix(fname, pluginCounterPrefix)
		if !ok || !strings.HasPrefix(name, "meta_") {
			continue
		}
		name = strings.TrimSuffix(name, "_total")
		for _, m := range fam.GetMetric() {
			labels := map[string]string{}
			dest := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "destination" {
					dest = l.GetValue()
					continue
				}
				labels[l.GetName()] = l.GetValue()
			}
			out[dest] = append(out[dest], plugins.Counter{Name: name, Labels: labels, Delta: m.GetCounter().GetValue()})
		}
	}
	return out, nil
}

func printQuality(w io.Writer, dest string, counters []plugins.Counter, top int) {
	events, dropped := metacapi.Quality(counters)
	fmt.Fprintf(w, "destination %s\n", dest)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  PIXEL\tEVENT\tSENT\tREJECTED\tSCORE\tem\tph\texternal_id\tfbp\tfbc\tip\tua\tEVENT_ID\tDEDUPE HITS")
	for _, q := range events {
		// Shares and a score describe what Meta received: an event name
		// none of whose events was sent has neither.
		cells := []string{"-", "-", "-", "-", "-", "-", "-", "-", "-"}
		if q.Events > 0 {
			cells = []string{fmt.Sprintf("%.1f", q.Score)}
			for _, k := range []string{"em", "ph", "external_id", "fbp", "fbc", "client_ip_address", "client_user_agent", "event_id"} {
				cells = append(cells, fmt.Sprintf("%.0f%%", 100*q.Coverage[k]))
			}
		}
		rejected := 0.0
		for _, n := range q.Rejected {
			rejected += n
		}
		fmt.Fprintf(tw, "  %s\t%s\t%.0f\t%.0f\t%s\t%.0f\n", q.Pixel, q.EventName, q.Events, rejected, strings.Join(cells, "\t"), q.DedupeHits)
	}
	_ = tw.Flush()
	for _, q := range events {
		if q.Events > 0 {
			for _, r := range metacapi.Recommendations(q.EventName, q.Coverage, top) {
				fmt.Fprintf(w, "  - %s\n", r)
			}
		}
		for _, code := range slices.Sorted(maps.Keys(q.Rejected)) {
			fmt.Fprintf(w, "  - %.0f %s events rejected as %s (the reasons: switchboard dlq list)\n", q.Rejected[code], q.EventName, code)
		}
	}
	for _, pixel := range slices.Sorted(maps.Keys(dropped)) {
		for _, key := range slices.Sorted(maps.Keys(dropped[pixel])) {
			for _, reason := range slices.Sorted(maps.Keys(dropped[pixel][key])) {
				fmt.Fprintf(w, "  dropped %s values of pixel %s as %s: %.0f\n", key, pixel, reason, dropped[pixel][key][reason])
			}
		}
	}
}
