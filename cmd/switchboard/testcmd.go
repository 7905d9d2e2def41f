package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/switchboard-cdp/switchboard/core/config"
)

func newTestCmd(g *globals) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "test -c FILE",
		Short: "Run the fixture cases declared under each pipeline's tests: (event → expected mapped object, or filtered)",
		Long: `Each pipeline may declare fixture cases:

    pipelines:
      web-to-meta:
        ...
        tests:
          - name: purchase
            event: {type: track, event: Order Completed, userId: u1, messageId: m1}
            expect: {event_name: Purchase, event_id: m1}
          - name: identify is not sent
            event: {type: identify, userId: u1}
            expect: filtered

test runs every case through the pipeline's when: and map: and compares the
result with expect (exactly, as JSON). It prints a diff for every mismatch
and exits 1, so a team can gate changes to pipelines.yaml in its own CI.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig(file)
			if err != nil {
				return err
			}
			progs, probs := compilePipelines(cfg)
			if len(probs) > 0 {
				fmt.Fprintln(g.stderr, probs.Error())
				return exitError(1)
			}
			passed, failed := 0, 0
			for _, name := range slices.Sorted(maps.Keys(cfg.Pipelines)) {
				for i, fx := range cfg.Pipelines[name].Tests {
					label := fmt.Sprintf("%s/%s", name, fx.Name)
					if fx.Name == "" {
						label = fmt.Sprintf("%s/tests[%d]", name, i)
					}
					where := fmt.Sprintf("%s:%d:%d", cfg.File, fx.Event.Line, fx.Event.Column)
					if msg := runFixture(progs[name].Apply, fx); msg != "" {
						failed++
						fmt.Fprintf(g.stdout, "FAIL %s (%s)\n%s\n", label, where, msg)
						continue
					}
					passed++
					fmt.Fprintf(g.stdout, "ok   %s\n", label)
				}
			}
			fmt.Fprintf(g.stdout, "%d passed, %d failed\n", passed, failed)
			if failed > 0 {
				return exitError(1)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "pipelines.yaml", "pipelines.yaml")
	return cmd
}

// runFixture applies one fixture and returns "" when it passes, else a
// readable explanation with a line diff.
func runFixture(apply func([]byte) ([]byte, bool, error), fx config.Fixture) string {
	event, err := nodeJSON(&fx.Event)
	if err != nil {
		return "  event: " + err.Error()
	}
	out, matched, err := apply(event)
	if err != nil {
		return "  mapping error: " + err.Error()
	}
	wantFiltered := fx.Expect.Kind == yaml.ScalarNode && fx.Expect.Value == "filtered"
	switch {
	case wantFiltered && !matched:
		return ""
	case wantFiltered:
		return "  expected: filtered\n  got:      " + string(out)
	case !matched:
		return "  expected a mapped object, got: filtered (when: is false)"
	}
	want, err := nodeJSON(&fx.Expect)
	if err != nil {
		return "  expect: " + err.Error()
	}
	w, g := indentJSON(want), indentJSON(out)
	if w == g {
		return ""
	}
	return lineDiff(w, g)
}

// nodeJSON turns a YAML node into canonical JSON (keys sorted).
func nodeJSON(n *yaml.Node) ([]byte, error) {
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// indentJSON re-encodes JSON with sorted keys and indentation, so two
// encodings of the same value compare equal line by line.
func indentJSON(b []byte) string {
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return string(b)
	}
	out, _ := json.MarshalIndent(v, "", "  ")
	return string(out)
}

// lineDiff prints want and got side by side as -/+ lines where they differ.
func lineDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	b.WriteString("  --- expected\n  +++ got\n")
	// Longest common subsequence, fine for fixture-sized objects.
	n, m := len(wl), len(gl)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if wl[i] == gl[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && wl[i] == gl[j]:
			b.WriteString("    " + wl[i] + "\n")
			i++
			j++
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			b.WriteString("  - " + wl[i] + "\n")
			i++
		default:
			b.WriteString("  + " + gl[j] + "\n")
			j++
		}
	}
	return strings.TrimRight(b.String(), "\n")
}
