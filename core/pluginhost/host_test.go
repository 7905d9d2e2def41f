package pluginhost

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-cdp/switchboard/core/bus"
	"github.com/switchboard-cdp/switchboard/plugins"
)

func TestDeliverMatchesResultsToEvents(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := testOptions(t)
	opts.Registerer = reg
	_, d := open(t, oneDestination("test", "target: here"), opts)
	batch := evs("b", `{"x":1}`, `{"op":"reject"}`, `{"op":"omit"}`, `{"x":2}`)
	results, err := d.Deliver(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		outcome plugins.Outcome
		code    string
	}{{plugins.OutcomeDelivered, ""}, {plugins.OutcomeRejected, "nope"}, {plugins.OutcomeRetry, "no_result"}, {plugins.OutcomeDelivered, ""}}
	if len(results) != len(batch) {
		t.Fatalf("%d results for %d events", len(results), len(batch))
	}
	for i, r := range results {
		if r.ID != batch[i].ID || r.Outcome != want[i].outcome || r.Code != want[i].code {
			t.Errorf("result %d = %+v; want ID %s outcome %v code %q", i, r, batch[i].ID, want[i].outcome, want[i].code)
		}
	}
	if got := value(d.mResults.WithLabelValues("delivered", "")); got != 2 {
		t.Errorf("delivered results counted %v; want 2", got)
	}
	if got := value(d.mUp); got != 1 {
		t.Errorf("switchboard_plugin_up = %v; want 1", got)
	}
	if spec := d.Spec(); spec.Name != "test" || spec.Batch.MaxEvents != 1000 {
		t.Errorf("spec %+v", spec)
	}
	if _, err := d.Deliver(context.Background(), evs("dup", `{}`, `{}`)[:1:1]); err != nil {
		t.Error(err)
	}
	dup := append(evs("dup", `{}`), evs("dup", `{}`)...)
	if _, err := d.Deliver(context.Background(), dup); !errors.Is(err, ErrInvalidBatch) {
		t.Errorf("duplicate IDs: %v; want ErrInvalidBatch", err)
	}
	if res, err := d.Deliver(context.Background(), nil); err != nil || len(res) != 0 {
		t.Errorf("empty batch: %v %v", res, err)
	}
}

func TestSettingsReachThePluginWithDefaults(t *testing.T) {
	yml := oneDestination("test", `target: here
ratio: 0.5
tags: [a, b]
headers: {X-Key: k1}
extra: {n: 12345678901234567, list: [1, true, "x"], nested: {ok: yes}}
wait: 90s`)
	_, d := open(t, yml, testOptions(t))
	results, err := d.Deliver(context.Background(), evs("s", `{"op":"settings"}`))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	dec := json.NewDecoder(strings.NewReader(results[0].Reason))
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("settings %q: %v", results[0].Reason, err)
	}
	want := `{"count":3,"extra":{"list":[1,true,"x"],"n":12345678901234567,"nested":{"ok":"yes"}},"headers":{"X-Key":"k1"},"level":"low","on":false,"ratio":0.5,"tags":["a","b"],"target":"here","wait":"1m30s"}`
	if b, _ := json.Marshal(got); string(b) != want {
		t.Errorf("settings\n got %s\nwant %s", b, want)
	}
}

func TestValidateReportsPositionedProblems(t *testing.T) {
	tests := []struct {
		name     string
		settings string
		env      map[string]string
		want     []string
	}{
		{"missing required", `level: low`, nil,
			[]string{"pipelines.yaml:7:7: destinations.d.settings.target: required"}},
		{"required from unset env", `target: ${TARGET}`, nil,
			[]string{"pipelines.yaml:7:15: destinations.d.settings.target: required (environment variable TARGET is not set)"}},
		{"required empty env quoted", `target: "${TARGET}"`, map[string]string{"TARGET": ""},
			[]string{"pipelines.yaml:7:15: destinations.d.settings.target: required (environment variable TARGET is empty)"}},
		{"unknown key", "target: x\ntargte: y", nil,
			[]string{`pipelines.yaml:8:7: destinations.d.settings.targte: unknown setting (did you mean target?)`}},
		{"unknown key far off", "target: x\ncolour: red", nil,
			[]string{`pipelines.yaml:8:7: destinations.d.settings.colour: unknown setting (want one of count, extra, headers, level, on, ratio, tags, target, token, wait)`}},
		{"types", "target: [x]\ncount: many\nratio: .nan\non: maybe\nwait: 10\ntags: a\nheaders: [a]\nextra: 3", nil, []string{
			"pipelines.yaml:7:15: destinations.d.settings.target: must be a string",
			"pipelines.yaml:8:14: destinations.d.settings.count: must be a whole number",
			"pipelines.yaml:9:14: destinations.d.settings.ratio: must be a number",
			"pipelines.yaml:10:11: destinations.d.settings.on: must be true or false",
			"pipelines.yaml:11:13: destinations.d.settings.wait: must be a duration with a unit, such as 10s (a bare number has none)",
			"pipelines.yaml:12:13: destinations.d.settings.tags: must be a list of strings",
			"pipelines.yaml:13:16: destinations.d.settings.headers: must be a mapping of names to strings",
			"pipelines.yaml:14:14: destinations.d.settings.extra: must be a mapping",
		}},
		{"enum", "target: x\nlevel: High", nil,
			[]string{`pipelines.yaml:8:14: destinations.d.settings.level: must be one of low, high (got "High"; did you mean high?)`}},
		{"enum from env is not echoed", "target: x\nlevel: ${LEVEL}", map[string]string{"LEVEL": "medium"},
			[]string{`pipelines.yaml:8:14: destinations.d.settings.level: must be one of low, high`}},
		{"list and map entries", "target: x\ntags:\n  - a\n  - [b]\n  - ${NOPE}\nheaders:\n  A: ${SECRET_A}\n  B: {c: d}\n  C D: x", nil, []string{
			"pipelines.yaml:10:11: destinations.d.settings.tags[1]: must be a string",
			"pipelines.yaml:11:11: destinations.d.settings.tags[2]: required (environment variable NOPE is not set)",
			"pipelines.yaml:13:12: destinations.d.settings.headers.A: required (environment variable SECRET_A is not set)",
			"pipelines.yaml:14:12: destinations.d.settings.headers.B: must be a string",
		}},
		{"plugin field errors are placed and secrets hidden", "target: refuse\ntoken: tok-${T}\nheaders:\n  X-Key: key-value-123\nextra: {deep: {field: 1}}",
			map[string]string{"T": "0123456789"}, []string{
				"pipelines.yaml:7:15: destinations.d.settings.target: refused",
				"pipelines.yaml:10:16: destinations.d.settings.headers.X-Key: bad key *** with token ***",
				"pipelines.yaml:11:29: destinations.d.settings.extra.deep.field: not allowed",
			}},
		{"plugin configure error", "target: error\ntoken: tok-secret-1", nil, []string{
			"pipelines.yaml:7:7: destinations.d.settings: the plugin refused its settings: configure: cannot reach error with ***",
		}},
		{"merge keys and aliases", "<<: {target: merged}\nlevel: &l high\ntags: [*l]", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := parse(t, t.TempDir(), oneDestination("test", tc.settings), tc.env)
			probs := Validate(context.Background(), cfg, testOptions(t))
			var got []string
			for _, p := range probs {
				s := p.String()
				got = append(got, strings.TrimPrefix(s, filepath.Dir(cfg.File)+string(filepath.Separator)))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			for _, secret := range []string{"0123456789", "key-value-123", "tok-secret-1", "medium"} {
				if strings.Contains(probs.Error(), secret) {
					t.Errorf("problems reveal %q", secret)
				}
			}
		})
	}
}

func TestValidateRefusesWhatIsNotAPlugin(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "plain.txt")
	if err := os.WriteFile(notExec, []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		plugin string
		want   string
	}{
		{"garbage", `destinations.d.plugin: "garbage": not a Switchboard destination plugin: it printed "Usage: garbage [options] — I am not a plugin" on stdout instead of the plugin handshake`},
		{"silent", `destinations.d.plugin: "silent": not a Switchboard destination plugin: it exited before the plugin handshake (a plugin's main calls plugins.Serve); its last words on stderr: "silent: refusing to start"`},
		{"v99", `destinations.d.plugin: "v99": the plugin speaks Switchboard plugin protocol version 99, this switchboard speaks version 1: rebuild the plugin against a matching github.com/switchboard-cdp/switchboard/plugins`},
		{"./missing", `destinations.d.plugin: "./missing": no such file ` + filepath.Join(dir, "missing")},
		{"nothing", `destinations.d.plugin: "nothing": not a built-in destination (test, webhook, v99, garbage, silent) and no such file ` + filepath.Join(dir, "nothing")},
		{notExec, `destinations.d.plugin: "` + notExec + `": ` + notExec + ` is not executable (chmod +x it)`},
		{"/bin/true", `destinations.d.plugin: "/bin/true": not a Switchboard destination plugin: it exited before the plugin handshake`},
	}
	for _, tc := range tests {
		t.Run(tc.plugin, func(t *testing.T) {
			cfg := parse(t, dir, oneDestination(tc.plugin, "target: x"), nil)
			start := time.Now()
			probs := Validate(context.Background(), cfg, testOptions(t))
			if len(probs) != 1 {
				t.Fatalf("problems %v; want one", probs)
			}
			p := probs[0]
			if p.Line != 5 || p.Col != 13 || !strings.HasPrefix(p.Path+": "+p.Message, tc.want) {
				t.Errorf("problem %s\nwant at 5:13: %s", p, tc.want)
			}
			// Not a speed check: a refusal must not wait for a handshake
			// that never comes (a hang would take the go test timeout).
			if d := time.Since(start); d > time.Minute {
				t.Errorf("took %s", d)
			}
		})
	}
}

func TestKill9MidBatchRestartsAndRetries(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := testOptions(t)
	log, lb := testLogger(t)
	opts.Registerer, opts.Logger = reg, log
	_, d := open(t, oneDestination("test", "target: here"), opts)
	pid := d.pid()

	batch := append(evs("slow", `{"op":"sleep","ms":20000}`), many("k", 99)...)
	type outcome struct {
		results []plugins.Result
		err     error
	}
	done := make(chan outcome, 1)
	go func() {
		r, err := d.Deliver(context.Background(), batch)
		done <- outcome{r, err}
	}()
	waitFor(t, 10*time.Second, "the batch to be in flight", func() bool { return value(d.mInFlight) == 1 })
	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	o := <-done
	var re *RetryError
	if !errors.As(o.err, &re) || !errors.Is(o.err, ErrUnavailable) || o.results != nil {
		t.Fatalf("Deliver during kill -9 = %v, %v; want a *RetryError wrapping ErrUnavailable and no results", o.results, o.err)
	}
	waitFor(t, 10*time.Second, "the plugin to come back", func() bool { return d.pid() != 0 && d.pid() != pid })
	t.Logf("plugin back %s after kill -9", time.Since(killed).Round(time.Millisecond))

	// The pipeline retries every event of the batch: all are delivered.
	retry := append(evs("slow", `{"x":"no sleep this time"}`), many("k", 99)...)
	results, err := d.Deliver(context.Background(), retry)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if r.Outcome != plugins.OutcomeDelivered || r.ID != batch[i].ID {
			t.Fatalf("after restart: %+v", r)
		}
	}
	if d.Restarts() != 1 || value(d.mRestarts) != 1 || value(d.mUp) != 1 {
		t.Errorf("restarts %d, metric %v, up %v", d.Restarts(), value(d.mRestarts), value(d.mUp))
	}
	if value(d.mFailures.WithLabelValues("unavailable")) != 1 {
		t.Error("the failed batch is not counted")
	}
	if alive(pid) {
		t.Errorf("killed plugin %d still around", pid)
	}
	logs := lb.String()
	for _, want := range []string{`"msg":"destination plugin died; restarting it","destination":"d","reason":"the plugin process exited: signal: killed"`, `"msg":"destination plugin restarted"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s", want)
		}
	}
}

func TestIdleCrashIsNoticedAndRestarted(t *testing.T) {
	_, d := open(t, oneDestination("test", "target: here"), testOptions(t))
	pid := d.pid()
	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the plugin to come back", func() bool { return d.pid() != 0 && d.pid() != pid })
	t.Logf("plugin back %s after kill -9 while idle", time.Since(killed).Round(time.Millisecond))
	if _, err := d.Deliver(context.Background(), many("after", 3)); err != nil {
		t.Fatal(err)
	}
}

func TestPanicsAndExitsAreRetriedAndSurvived(t *testing.T) {
	tests := []struct {
		op      string
		cause   error
		restart bool
	}{
		{"panic", ErrFailed, false},
		{"fail", ErrFailed, false},
		{"crash", ErrUnavailable, true},
		{"exit", ErrUnavailable, true},
	}
	for _, tc := range tests {
		t.Run(tc.op, func(t *testing.T) {
			t.Parallel()
			opts := testOptions(t)
			_, d := open(t, oneDestination("test", "target: here"), opts)
			pid := d.pid()
			batch := append(many("a", 10), evs("p", `{"op":"`+tc.op+`"}`)...)
			_, err := d.Deliver(context.Background(), batch)
			var re *RetryError
			if !errors.As(err, &re) || !errors.Is(err, tc.cause) {
				t.Fatalf("Deliver = %v; want a *RetryError wrapping %v", err, tc.cause)
			}
			if tc.restart {
				waitFor(t, 10*time.Second, "a restart", func() bool { return d.Restarts() == 1 && d.Up() })
			} else if d.pid() != pid {
				t.Errorf("the plugin was restarted")
			}
			results, err := d.Deliver(context.Background(), many("b", 10))
			if err != nil || len(results) != 10 || results[9].Outcome != plugins.OutcomeDelivered {
				t.Fatalf("next batch: %v %v", results, err)
			}
		})
	}
}

func TestCallTimeout(t *testing.T) {
	opts := testOptions(t)
	opts.Limits.CallTimeout = 300 * time.Millisecond
	_, d := open(t, oneDestination("test", "target: here"), opts)
	start := time.Now()
	_, err := d.Deliver(context.Background(), evs("t", `{"op":"sleep","ms":10000}`))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Deliver = %v; want ErrTimeout", err)
	}
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("took %s", took)
	}
	if _, err := d.Deliver(context.Background(), many("ok", 2)); err != nil {
		t.Fatal(err)
	}
	if d.Restarts() != 0 {
		t.Error("a slow plugin was restarted")
	}
}

func TestMaxInFlightBoundsConcurrentCalls(t *testing.T) {
	opts := testOptions(t)
	opts.Limits.MaxInFlight = 2
	_, d := open(t, oneDestination("test", "target: here"), opts)
	var wg sync.WaitGroup
	var mu sync.Mutex
	maxSeen := 0.0
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			v := value(d.mInFlight)
			mu.Lock()
			maxSeen = max(maxSeen, v)
			mu.Unlock()
			time.Sleep(time.Millisecond)
		}
	}()
	start := time.Now()
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := d.Deliver(context.Background(), evs(fmt.Sprint("c", i), `{"op":"sleep","ms":200}`)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	close(stop)
	if took := time.Since(start); took < 600*time.Millisecond {
		t.Errorf("6 calls of 200ms with 2 in flight took %s; want ≥ 600ms", took)
	}
	mu.Lock()
	defer mu.Unlock()
	if maxSeen > 2 {
		t.Errorf("%v calls in flight; want at most 2", maxSeen)
	}
}

func TestCloseEndsEveryPlugin(t *testing.T) {
	yml := `sources:
  web: {type: segment, write_keys: [k]}
destinations:
  a: {plugin: test, settings: {target: x}}
  b: {plugin: test, settings: {target: y}}
  c: {plugin: webhook, settings: {url: "http://127.0.0.1:1/"}}
`
	cfg := parse(t, t.TempDir(), yml, nil)
	h, err := Open(context.Background(), cfg, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, name := range h.Destinations() {
		d, _ := h.Destination(name)
		pids = append(pids, d.pid())
	}
	// A call in progress is waited for.
	a, _ := h.Destination("a")
	done := make(chan error, 1)
	go func() {
		_, err := a.Deliver(context.Background(), evs("w", `{"op":"sleep","ms":300}`))
		done <- err
	}()
	waitFor(t, 5*time.Second, "the call to start", func() bool { return value(a.mInFlight) == 1 })
	if err := h.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("call in progress at Close: %v", err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("plugin %d outlived Close", pid)
		}
	}
	if _, err := a.Deliver(context.Background(), many("late", 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Deliver after Close = %v; want ErrClosed", err)
	}
	if _, err := h.Destination("nope"); !errors.Is(err, ErrUnknownDestination) {
		t.Error(err)
	}
}

func TestPluginsDieWithAKilledHost(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the kernel kills a dead host's plugins on Linux only (Pdeathsig)")
	}
	dir := t.TempDir()
	cfg := parse(t, dir, `sources:
  web: {type: segment, write_keys: [k]}
destinations:
  a: {plugin: test, settings: {target: x}}
  b: {plugin: webhook, settings: {url: "http://127.0.0.1:1/"}}
`, nil)
	exe, _ := os.Executable()
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "PLUGINHOST_TEST_HOST="+cfg.File)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pids := readPids(t, bufio.NewScanner(out), 2)
	for _, pid := range pids {
		if !alive(pid) {
			t.Fatalf("plugin %d not running", pid)
		}
	}
	_ = cmd.Process.Kill() // SIGKILL: the host gets no chance to clean up
	_ = cmd.Wait()
	waitFor(t, 5*time.Second, "the plugins to die with their host", func() bool {
		return !alive(pids[0]) && !alive(pids[1])
	})
}

func TestPluginLogsAreRelogged(t *testing.T) {
	opts := testOptions(t)
	log, lb := testLogger(t)
	opts.Logger = log
	// The plugin logs its target; here the target is also the token, a
	// secret, which the host hides in whatever the plugin logs.
	_, _ = open(t, oneDestination("test", "target: here"), opts)
	_, _ = open(t, oneDestination("test", "target: also-secret-1\ntoken: also-secret-1"), opts)
	found := 0
	waitFor(t, 5*time.Second, "the plugin's log lines", func() bool {
		found = 0
		for _, line := range strings.Split(lb.String(), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "test plugin configured" &&
				rec["destination"] == "d" && rec["level"] == "INFO" && (rec["target"] == "here" || rec["target"] == "***") {
				found++
			}
		}
		return found == 2
	})
	if strings.Contains(lb.String(), "also-secret-1") {
		t.Error("a plugin's log line reveals a secret setting")
	}
}

func TestThirdPartyPluginByRelativePath(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the example plugin")
	}
	bin := build(t, "github.com/switchboard-cdp/switchboard/plugins/examples/filelog")
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "filelog"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "events.jsonl")
	cfg := parse(t, dir, fmt.Sprintf(`sources:
  web: {type: segment, write_keys: [k]}
destinations:
  log:
    plugin: ./bin/filelog
    settings: {path: %q}
`, out), nil)

	b, err := bus.Open(context.Background(), bus.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	reg := prometheus.NewRegistry()
	opts := testOptions(t)
	opts.Bus, opts.Registerer = b, reg
	h, err := Open(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	d, err := h.Destination("log")
	if err != nil {
		t.Fatal(err)
	}
	batch := many("f", 50)
	for attempt := range 2 { // the second delivery is deduplicated through the state bucket
		results, err := d.Deliver(context.Background(), batch)
		if err != nil {
			t.Fatalf("attempt %d: %v", attempt+1, err)
		}
		for _, r := range results {
			if r.Outcome != plugins.OutcomeDelivered {
				t.Fatalf("attempt %d: %+v", attempt+1, r)
			}
		}
	}
	data, err = os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n != 50 {
		t.Errorf("%d lines written; want 50 (each event once)", n)
	}
	if got := counterOf(t, reg, "switchboard_plugin_lines_written_total", map[string]string{"destination": "log"}); got != 50 {
		t.Errorf("lines_written counter = %v; want 50", got)
	}
}

// counterOf finds a registered counter's value by name and labels.
func counterOf(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no %s%v in the registry", name, labels)
	return 0
}

func TestBuiltinWebhookDeliversThroughTheHost(t *testing.T) {
	var mu sync.Mutex
	var got []json.RawMessage
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var arr []json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&arr); err != nil || r.Header.Get("Authorization") != "Bearer t0ken-value" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, arr...)
		mu.Unlock()
	}))
	defer srv.Close()
	_, d := open(t, oneDestination("webhook", fmt.Sprintf("url: %s\nmode: array\nmax_batch: 40\nheaders: {Authorization: Bearer t0ken-value}", srv.URL)), testOptions(t))
	batch := many("w", 100)
	results, err := d.Deliver(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if r.ID != batch[i].ID || r.Outcome != plugins.OutcomeDelivered {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 100 {
		t.Errorf("the endpoint got %d events; want 100", len(got))
	}
}

func TestInspect(t *testing.T) {
	spec, err := Inspect(context.Background(), "webhook", testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	if spec.Name != "webhook" || len(spec.Settings) == 0 {
		t.Errorf("spec %+v", spec)
	}
	if _, err := Inspect(context.Background(), "garbage", testOptions(t)); err == nil || !strings.Contains(err.Error(), "not a Switchboard destination plugin") {
		t.Errorf("Inspect(garbage) = %v", err)
	}
	if _, err := Inspect(context.Background(), "./"+strconv.Itoa(os.Getpid()), testOptions(t)); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("Inspect(missing) = %v", err)
	}
}
