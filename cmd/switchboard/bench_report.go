package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// writeBenchTable prints the report as a plain table.
func writeBenchTable(w io.Writer, r *benchReport) {
	fmt.Fprintf(w, "switchboard bench ingest — %d events, %d/request, %d connections, GOMAXPROCS=%d\n",
		r.Events, r.Batch, r.Connections, r.GOMAXPROCS)
	if r.Rate > 0 {
		fmt.Fprintf(w, "open loop: %.0f events/s offered, latency counted from when each request was due\n", r.Rate)
	} else {
		fmt.Fprintf(w, "closed loop: each connection sends its next request when the previous one is answered\n")
	}
	if len(r.Rounds) > 1 {
		fmt.Fprintf(w, "medians of %d rounds (peak RSS: the maximum)\n", len(r.Rounds))
	}
	if r.Server != "child" {
		fmt.Fprintf(w, "server: %s (already running)\n", r.Server)
	}
	row := func(metric, value, target string, ok bool) {
		line := fmt.Sprintf("%-31s %-10s %-10s", metric, value, target)
		if target != "" {
			if ok {
				line += " ok"
			} else {
				line += " MISSED"
			}
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	mb := func(b int64) string { return fmt.Sprintf("%d MB", (b+(1<<19))>>20) }
	t := r.Targets
	var rq, failed int
	var srvCores, loadCores, otherCores []float64
	for _, rd := range r.Rounds {
		rq += rd.Requests
		failed += rd.Failed
		srvCores = append(srvCores, rd.ServerCores)
		loadCores = append(loadCores, rd.LoadCores)
		if rd.OtherCores >= 0 && r.Server == "child" {
			otherCores = append(otherCores, rd.OtherCores)
		}
		if rd.RawOtherCores >= 0 && rd.RawPerSec > 0 {
			otherCores = append(otherCores, rd.RawOtherCores)
		}
	}

	fmt.Fprintf(w, "%-31s %-10s %s\n", "metric", "value", "target")
	if r.Rate > 0 {
		// An open loop cannot exceed what it offers: it passes when it
		// offered the target and the server kept up (within 1%).
		row("events/s (HTTP /v1/batch)", fmt.Sprintf("%.0f", r.EventsPerSec), fmt.Sprintf(">= %.0f, offered", t.EventsPerSec),
			r.Rate >= t.EventsPerSec && r.EventsPerSec >= 0.99*r.Rate)
	} else {
		row("events/s (HTTP /v1/batch)", fmt.Sprintf("%.0f", r.EventsPerSec), fmt.Sprintf(">= %.0f", t.EventsPerSec), r.EventsPerSec >= t.EventsPerSec)
	}
	row("p50 request latency", fmt.Sprintf("%.1f ms", r.P50ms), "", true)
	row("p99 request latency", fmt.Sprintf("%.1f ms", r.P99ms), fmt.Sprintf("<= %g ms", t.P99ms), r.P99ms <= t.P99ms)
	if r.PeakRSS > 0 {
		row("server peak RSS", mb(r.PeakRSS), "<= "+mb(t.PeakRSS), r.PeakRSS <= t.PeakRSS)
	} else {
		row("server peak RSS", "n/a", "", true)
	}
	if r.RawPerSec > 0 {
		row("raw JetStream async publish/s", fmt.Sprintf("%.0f", r.RawPerSec), "", true)
		if r.Rate > 0 {
			row("ratio to raw JetStream", fmt.Sprintf("%.2f (capped by --rate)", r.Ratio), "", true)
		} else {
			row("ratio to raw JetStream", fmt.Sprintf("%.2f", r.Ratio), fmt.Sprintf(">= %g", t.Ratio), r.Ratio >= t.Ratio)
		}
	}
	row("mean event size", fmt.Sprintf("%d B", r.MeanEventBytes), "", true)
	row("requests (failed)", fmt.Sprintf("%d (%d)", rq, failed), "", true)
	if r.Server == "child" {
		row("server CPU during load", fmt.Sprintf("%.2f cores", benchMedian(srvCores)), "", true)
	}
	row("load generator CPU", fmt.Sprintf("%.2f cores", benchMedian(loadCores)), "", true)
	if len(otherCores) > 0 {
		other := slices.Max(otherCores)
		row("other processes' CPU (max)", fmt.Sprintf("%.2f cores", other), "", true)
		if other > 0.2 {
			fmt.Fprintf(w, "warning: other programs used up to %.2f cores during the measurement; the figures understate Switchboard\n", other)
		}
	}

	if len(r.Rounds) > 1 {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "%-6s %10s %8s %8s %8s %8s %8s %10s %6s %10s\n",
			"round", "events/s", "p50 ms", "p99 ms", "max ms", "RSS MB", "srv CPU", "raw/s", "ratio", "other s/r")
		for i, rd := range r.Rounds {
			fmt.Fprintf(w, "%-6d %10.0f %8.1f %8.1f %8.1f %8d %8.2f %10.0f %6.2f %4.2f/%4.2f\n",
				i+1, rd.EventsPerSec, rd.P50ms, rd.P99ms, rd.Maxms, (rd.PeakRSS+(1<<19))>>20, rd.ServerCores,
				rd.RawPerSec, rd.Ratio, rd.OtherCores, rd.RawOtherCores)
		}
	}
	for i, rd := range r.Rounds {
		for _, e := range rd.Errors {
			fmt.Fprintf(w, "round %d: request error: %s\n", i+1, e)
		}
		for _, e := range rd.RawErrors {
			fmt.Fprintf(w, "round %d: raw publish error: %s\n", i+1, e)
		}
		if rd.RawFailed > 0 {
			fmt.Fprintf(w, "round %d: %d raw publishes failed\n", i+1, rd.RawFailed)
		}
		if rd.ServerExitErr != "" {
			fmt.Fprintf(w, "round %d: serve exited with: %s\n", i+1, rd.ServerExitErr)
		}
	}
}

// writeBenchJSON prints the report as indented JSON.
func writeBenchJSON(w io.Writer, r *benchReport) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
