package main

// The cluster harness: three clustered nats-server processes on loopback,
// `switchboard serve` processes given every seed, the Meta Graph API
// emulator as their destination, a load driver that records every
// messageId answered with 200, and the accounting of where each of them
// ended up. cluster_test.go runs it.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-cdp/switchboard/core/pipeline"
	"github.com/switchboard-cdp/switchboard/destinations/metacapi/graphemu"
	"github.com/switchboard-cdp/switchboard/internal/syncio"
)

const (
	clusterPixel    = "1234567890"
	clusterToken    = "cluster-access-token"
	clusterPipeline = "web-to-meta"
)

// clusterWait polls cond every `every` until it holds or d passes. The
// emulator's and JetStream's answers cost more than a flag, so the harness
// polls less often than waitFor.
func clusterWait(t *testing.T, d, every time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			diag := ""
			if clusterDiag != nil {
				diag = "\n" + clusterDiag()
			}
			t.Fatalf("timed out after %s waiting for %s%s", d, what, diag)
		}
		time.Sleep(every)
	}
}

// clusterDiag, when set by the running scenario, describes its state for a
// timeout's message.
var clusterDiag func() string

// clusterTail is the last n lines of s.
func clusterTail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// clusterNATSNode is one nats-server process of the cluster.
type clusterNATSNode struct {
	name                     string
	port, clusterPort, mport int
	conf                     string
	cmd                      *exec.Cmd
	exited                   chan struct{}
	logs                     *syncio.Buffer
}

// clusterNATS is three nats-server processes clustered over loopback
// routes, each with its own JetStream store.
type clusterNATS struct {
	t     *testing.T
	bin   string
	nodes []*clusterNATSNode
	nc    *nats.Conn // the harness's own connection, for inspection
	js    jetstream.JetStream
}

// startClusterNATS writes a config per node and starts them all.
func startClusterNATS(t *testing.T, bin string, n int) *clusterNATS {
	t.Helper()
	dir := t.TempDir()
	c := &clusterNATS{t: t, bin: bin}
	for i := range n {
		c.nodes = append(c.nodes, &clusterNATSNode{
			name: fmt.Sprintf("n%d", i+1), port: freePort(t), clusterPort: freePort(t), mport: freePort(t),
		})
	}
	var routes []string
	for _, nd := range c.nodes {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", nd.clusterPort))
	}
	for _, nd := range c.nodes {
		nd.conf = filepath.Join(dir, nd.name+".conf")
		conf := fmt.Sprintf(`server_name: %s
host: 127.0.0.1
port: %d
http: 127.0.0.1:%d
max_payload: 8MB
jetstream {
  store_dir: %q
}
cluster {
  name: switchboard
  host: 127.0.0.1
  port: %d
  routes: [%s]
}
`, nd.name, nd.port, nd.mport, filepath.Join(dir, nd.name), nd.clusterPort, strings.Join(routes, ", "))
		if err := os.WriteFile(nd.conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for i := range c.nodes {
		c.start(i)
	}
	t.Cleanup(func() {
		if c.nc != nil {
			c.nc.Close()
		}
		for i := range c.nodes {
			c.kill(i)
		}
	})
	return c
}

// url lists every node, as an operator gives the seeds to serve.
func (c *clusterNATS) url() string {
	var seeds []string
	for _, nd := range c.nodes {
		seeds = append(seeds, fmt.Sprintf("nats://127.0.0.1:%d", nd.port))
	}
	return strings.Join(seeds, ",")
}

// start starts node i (again) and waits until it accepts connections.
func (c *clusterNATS) start(i int) {
	c.t.Helper()
	nd := c.nodes[i]
	nd.logs = &syncio.Buffer{}
	nd.cmd = exec.Command(c.bin, "-c", nd.conf)
	nd.cmd.Stdout, nd.cmd.Stderr = nd.logs, nd.logs
	if err := nd.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	nd.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) { _ = cmd.Wait(); close(exited) }(nd.cmd, nd.exited)
	clusterWait(c.t, 30*time.Second, 20*time.Millisecond, "nats-server "+nd.name+" to listen", func() bool {
		select {
		case <-nd.exited:
			c.t.Fatalf("nats-server %s exited:\n%s", nd.name, nd.logs)
		default:
		}
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", nd.port))
		if err != nil {
			return false
		}
		conn.Close()
		return true
	})
}

// kill sends SIGKILL to node i and reaps it.
func (c *clusterNATS) kill(i int) {
	nd := c.nodes[i]
	if nd.cmd == nil {
		return
	}
	_ = nd.cmd.Process.Signal(syscall.SIGKILL)
	<-nd.exited
	nd.cmd = nil
}

// index is the position of the node called name, -1 if none.
func (c *clusterNATS) index(name string) int {
	for i, nd := range c.nodes {
		if nd.name == name {
			return i
		}
	}
	return -1
}

// jetStream is the harness's own JetStream client, connected on first use.
func (c *clusterNATS) jetStream() jetstream.JetStream {
	c.t.Helper()
	if c.js == nil {
		nc, err := nats.Connect(c.url(), nats.MaxReconnects(-1), nats.ReconnectWait(200*time.Millisecond), nats.Name("cluster-harness"))
		if err != nil {
			c.t.Fatal(err)
		}
		js, err := jetstream.New(nc)
		if err != nil {
			c.t.Fatal(err)
		}
		c.nc, c.js = nc, js
	}
	return c.js
}

// streamInfo is a stream's info, nil while it cannot be read.
func (c *clusterNATS) streamInfo(name string) *jetstream.StreamInfo {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.jetStream().Stream(ctx, name)
	if err != nil {
		return nil
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil
	}
	return info
}

// consumerInfo is a consumer's info, nil while it cannot be read.
func (c *clusterNATS) consumerInfo(stream, name string) *jetstream.ConsumerInfo {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cons, err := c.jetStream().Consumer(ctx, stream, name)
	if err != nil {
		return nil
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil
	}
	return info
}

// clusterWhole reports whether the stream has a leader and every replica is
// current: the cluster healed after a node came back.
func clusterWhole(ci *jetstream.ClusterInfo, replicas int) bool {
	if ci == nil || ci.Leader == "" || len(ci.Replicas) != replicas-1 {
		return false
	}
	for _, r := range ci.Replicas {
		if !r.Current || r.Offline {
			return false
		}
	}
	return true
}

// clusterPlacement describes where an asset's leader and replicas are.
func clusterPlacement(ci *jetstream.ClusterInfo) string {
	if ci == nil {
		return "unknown"
	}
	var peers []string
	for _, r := range ci.Replicas {
		state := "current"
		switch {
		case r.Offline:
			state = "offline"
		case !r.Current:
			state = fmt.Sprintf("lag %d", r.Lag)
		}
		peers = append(peers, r.Name+" "+state)
	}
	return fmt.Sprintf("leader %s; replicas %s", ci.Leader, strings.Join(peers, ", "))
}

// deadLetteredIDs reads every dead letter and returns the messageIds of
// their events.
func (c *clusterNATS) deadLetteredIDs() (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := map[string]bool{}
	st, err := c.jetStream().Stream(ctx, pipeline.DeadLetterStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, err
	}
	if info.State.Msgs == 0 {
		return out, nil
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	for n := uint64(0); n < info.State.Msgs; n++ {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			return nil, err
		}
		var d pipeline.DeadLetter
		if err := json.Unmarshal(m.Data(), &d); err != nil {
			return nil, err
		}
		var ev struct {
			MessageID string `json:"messageId"`
		}
		_ = json.Unmarshal(d.Event, &ev)
		out[ev.MessageID] = true
	}
	return out, nil
}

// clusterEmulator is the Graph API emulator the serves deliver to, in this
// process.
type clusterEmulator struct {
	emu *graphemu.Emulator
	url string
	// accepted counts the events of every successful answer, cheaply
	// enough to poll often (the emulator's own views copy its records).
	accepted atomic.Int64
}

func startClusterEmulator(t *testing.T) *clusterEmulator {
	t.Helper()
	m := &clusterEmulator{emu: graphemu.New(graphemu.Options{Pixels: map[string]graphemu.Pixel{clusterPixel: {Tokens: []string{clusterToken}}}})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &clusterCountingWriter{ResponseWriter: w, status: http.StatusOK}
		m.emu.ServeHTTP(rec, r)
		if rec.status == http.StatusOK && !strings.HasPrefix(r.URL.Path, "/_emulator/") {
			var ok struct {
				EventsReceived int64 `json:"events_received"`
			}
			if json.Unmarshal(rec.body, &ok) == nil {
				m.accepted.Add(ok.EventsReceived)
			}
		}
	}))
	t.Cleanup(func() { srv.Close(); m.emu.Close() })
	m.url = srv.URL
	return m
}

// clusterCountingWriter keeps a response's status and body.
type clusterCountingWriter struct {
	http.ResponseWriter
	status int
	body   []byte
}

func (w *clusterCountingWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *clusterCountingWriter) Write(b []byte) (int, error) {
	if len(w.body) < 4096 {
		w.body = append(w.body, b...)
	}
	return w.ResponseWriter.Write(b)
}

// received is how many events the emulator accepted.
func (m *clusterEmulator) received() int { return len(m.emu.Counts(clusterPixel)) }

// clusterDelivery is what the emulator saw of one (event_name, event_id).
type clusterDelivery struct {
	copies int
	// by is the serve instance (its partner_agent) that sent each copy,
	// first is when the first copy arrived.
	by    []string
	first time.Time
}

// deliveries indexes every accepted event by its event_id (the
// messageId), with the serve instance that sent it.
func (m *clusterEmulator) deliveries() map[string]*clusterDelivery {
	reqs := m.emu.Requests()
	agent := make(map[int]string, len(reqs))
	for _, r := range reqs {
		agent[r.ID] = strings.TrimPrefix(r.Params["partner_agent"], "switchboard-")
	}
	out := map[string]*clusterDelivery{}
	for _, ev := range m.emu.Received(clusterPixel) {
		d := out[ev.EventID]
		if d == nil {
			d = &clusterDelivery{first: ev.Received}
			out[ev.EventID] = d
		}
		d.copies++
		d.by = append(d.by, agent[ev.RequestID])
	}
	return out
}

// clusterServe is one `switchboard serve` process of the harness. Its
// name is sent to Meta as partner_agent, so the emulator tells which
// process (and which incarnation of it) delivered each event.
type clusterServe struct {
	name   string
	cfg    string
	p      *proc
	killed time.Time
	last   clusterMetrics // last scrape of /metrics
}

// clusterServeConfig is a serve's pipelines.yaml: the Segment source, the
// meta-capi destination pointed at the emulator, one pipeline sending
// every track call to Meta.
func clusterServeConfig(t *testing.T, dir, name, natsSection, graphURL string, maxWait time.Duration) string {
	t.Helper()
	y := fmt.Sprintf(`server:
  listen: "127.0.0.1:0"
nats:
%s
sources:
  web: {type: segment, write_keys: [%q]}
destinations:
  meta:
    plugin: meta-capi
    timeout: 10s
    settings: {pixel_id: %q, access_token: %q, graph_url: %q, default_country: US, partner_agent: "switchboard-%s", timeout: 2s}
pipelines:
  %s:
    from: [web]
    to: meta
    when: type == "track"
    map:
      event_name: '"Purchase"'
      event_time: unix(timestamp)
      event_id: messageId
      action_source: '"website"'
      event_source_url: context.page.url
      user_data:
        em: context.traits.email
        external_id: userId
        client_ip_address: context.ip
        client_user_agent: context.userAgent
      custom_data: {value: properties.revenue, currency: properties.currency}
    batch: {max_events: 1000, max_wait: %s}
    retry: {max_attempts: 50, backoff: 200ms, max_backoff: 2s}
`, natsSection, testWriteKey, clusterPixel, clusterToken, graphURL, name, clusterPipeline, maxWait)
	p := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// clusterMetrics are the counters of one serve that the harness reports.
type clusterMetrics struct {
	stored, duplicate                          float64 // switchboard_events_total by outcome
	consumed, delivered, retried, deadLettered float64 // switchboard_pipeline_events_total
}

func (m clusterMetrics) String() string {
	return fmt.Sprintf("ingested %.0f (+%.0f duplicates), pipeline consumed %.0f, delivered %.0f, retried %.0f, dead-lettered %.0f",
		m.stored, m.duplicate, m.consumed, m.delivered, m.retried, m.deadLettered)
}

// scrape reads the serve's /metrics; false when it does not answer.
func (s *clusterServe) scrape() bool {
	if s.p == nil {
		return false
	}
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(s.p.url + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var m clusterMetrics
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(line, "switchboard_events_total{"):
			switch {
			case strings.Contains(line, `outcome="stored"`):
				m.stored += v
			case strings.Contains(line, `outcome="duplicate"`):
				m.duplicate += v
			}
		case strings.HasPrefix(line, "switchboard_pipeline_events_total{"):
			switch {
			case strings.Contains(line, `outcome="consumed"`):
				m.consumed += v
			case strings.Contains(line, `outcome="delivered"`):
				m.delivered += v
			case strings.Contains(line, `outcome="retried"`):
				m.retried += v
			case strings.Contains(line, `outcome="dead_lettered"`):
				m.deadLettered += v
			}
		}
	}
	if sc.Err() != nil {
		return false
	}
	s.last = m
	return true
}

// pid is the serve's process id, 0 when it is not running.
func (s *clusterServe) pid() int {
	if s.p == nil {
		return 0
	}
	return s.p.cmd.Process.Pid
}

// startClusterServes starts `switchboard serve -c cfg` for every serve at once
// and waits until each answers /readyz: against a cluster that is still
// electing leaders they start in parallel, as they would in production.
func startClusterServes(t *testing.T, ss ...*clusterServe) {
	t.Helper()
	for _, s := range ss {
		cmd := exec.Command(os.Args[0], "serve", "-c", s.cfg)
		cmd.Env = append(os.Environ(), "SWITCHBOARD_TEST_MAIN=1")
		s.p = &proc{cmd: cmd, logs: &syncio.Buffer{}}
		cmd.Stdout, cmd.Stderr = s.p.logs, s.p.logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	}
	for _, s := range ss {
		clusterWait(t, 2*time.Minute, 50*time.Millisecond, "serve "+s.name+" ready", func() bool {
			if s.p.cmd.ProcessState != nil {
				t.Fatalf("serve %s exited:\n%s", s.name, s.p.logs)
			}
			if s.p.url == "" {
				for _, line := range strings.Split(s.p.logs.String(), "\n") {
					if strings.Contains(line, "msg=serving") {
						if _, after, ok := strings.Cut(line, "addr="); ok {
							s.p.url = "http://" + strings.Fields(after)[0]
						}
					}
				}
				if s.p.url == "" {
					return false
				}
			}
			resp, err := http.Get(s.p.url + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	}
}

// kill sends SIGKILL to the serve (its plugin child dies with it).
func (s *clusterServe) kill(t *testing.T) {
	t.Helper()
	s.scrape()
	if err := s.p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = s.p.cmd.Wait()
	s.killed = time.Now()
	s.p = nil
}

// clusterLoad drives Segment /v1/batch calls through every live serve and
// records each messageId answered with 200. A call that fails is sent again
// with the same messageIds to the next serve, as an SDK behind a load
// balancer would: JetStream's dedupe window stores it once.
type clusterLoad struct {
	batch    int
	interval time.Duration // between one worker's calls; 0: closed loop
	client   *http.Client

	mu      sync.Mutex
	targets []clusterTarget
	acked   map[string]string // messageId → the serve that answered 200
	perName map[string]int
	failed  int // calls that failed and were sent again
	refused int // of which answered 503 (JetStream did not acknowledge in time)
	gaveUp  int // events never acknowledged (load stopped first)

	seq  atomic.Int64
	stop chan struct{}
	wg   sync.WaitGroup
}

func newClusterLoad(batch int, interval time.Duration) *clusterLoad {
	return &clusterLoad{
		batch: batch, interval: interval,
		client:  &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		acked:   map[string]string{},
		perName: map[string]int{},
		stop:    make(chan struct{}),
	}
}

// clusterTarget is a serve the load goes to.
type clusterTarget struct{ name, url string }

// setTargets replaces the serves the load goes to with the running ones
// of ss.
func (l *clusterLoad) setTargets(ss ...*clusterServe) {
	var ts []clusterTarget
	for _, s := range ss {
		if s.p != nil {
			ts = append(ts, clusterTarget{s.name, s.p.url})
		}
	}
	l.mu.Lock()
	l.targets = ts
	l.mu.Unlock()
}

// start runs workers until halt.
func (l *clusterLoad) start(workers int) {
	for w := range workers {
		l.wg.Go(func() { l.work(w) })
	}
}

// halt stops the workers and waits for them.
func (l *clusterLoad) halt() {
	close(l.stop)
	l.wg.Wait()
}

// ackedCount is how many distinct events were answered with 200.
func (l *clusterLoad) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

func (l *clusterLoad) countFor(name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.perName[name]
}

func (l *clusterLoad) work(w int) {
	var tick <-chan time.Time
	if l.interval > 0 {
		t := time.NewTicker(l.interval)
		defer t.Stop()
		tick = t.C
	}
	for call := 0; ; call++ {
		pick := w + call // round robin over the serves
		if tick != nil {
			select {
			case <-l.stop:
				return
			case <-tick:
			}
		} else {
			select {
			case <-l.stop:
				return
			default:
			}
		}
		ids, body := l.body(fmt.Sprintf("c%d", w))
		for attempt := 0; ; attempt++ {
			l.mu.Lock()
			var tg clusterTarget
			if len(l.targets) > 0 {
				tg = l.targets[pick%len(l.targets)]
			}
			l.mu.Unlock()
			status := 0
			if tg.url != "" {
				status = clusterPostStatus(l.client, tg.url, body)
			}
			if status == http.StatusOK {
				l.mu.Lock()
				for _, id := range ids {
					l.acked[id] = tg.name
				}
				l.perName[tg.name] += len(ids)
				l.mu.Unlock()
				break
			}
			l.mu.Lock()
			l.failed++
			if status == http.StatusServiceUnavailable {
				l.refused++
			}
			l.mu.Unlock()
			pick++ // fail over to the next serve
			select {
			case <-l.stop:
				l.mu.Lock()
				l.gaveUp += len(ids)
				l.mu.Unlock()
				return
			case <-time.After(min(time.Duration(attempt+1)*50*time.Millisecond, time.Second)):
			}
		}
	}
}

// body is the next call: batch track events with fresh messageIds
// starting with prefix.
func (l *clusterLoad) body(prefix string) ([]string, []byte) {
	ids := make([]string, l.batch)
	var b strings.Builder
	b.WriteString(`{"batch":[`)
	ts := time.Now().UTC().Format(time.RFC3339Nano)
	for i := range ids {
		n := l.seq.Add(1)
		ids[i] = fmt.Sprintf("%s-%d", prefix, n)
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"track","event":"Order Completed","userId":"u%d","messageId":%q,"timestamp":%q,`+
			`"context":{"ip":"203.0.113.9","userAgent":"Mozilla/5.0","page":{"url":"https://shop.example/"},"traits":{"email":"u%d@example.com"}},`+
			`"properties":{"revenue":%d.5,"currency":"USD"}}`, n, ids[i], ts, n, n%500)
	}
	b.WriteString(`]}`)
	return ids, []byte(b.String())
}

// clusterPost sends one /v1/batch call; true when it was answered 200.
func clusterPost(client *http.Client, url string, body []byte) bool {
	return clusterPostStatus(client, url, body) == http.StatusOK
}

// clusterPostStatus sends one /v1/batch call and returns the answer's status, 0
// when there was none.
func clusterPostStatus(client *http.Client, url string, body []byte) int {
	req, err := http.NewRequest(http.MethodPost, url+"/v1/batch", bytes.NewReader(body))
	if err != nil {
		return 0
	}
	req.SetBasicAuth(testWriteKey, "")
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// clusterProcCPU is the user+system CPU time a process used so far, 0 if gone.
func clusterProcCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(stat[i+2:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// clusterChildPIDs lists the processes whose parent is pid (a serve's plugin
// processes).
func clusterChildPIDs(pid int) []int {
	if pid <= 0 {
		return nil
	}
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		// stat: pid (comm) state ppid ...
		if f := strings.Fields(string(stat[i+2:])); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, n)
		}
	}
	return out
}
