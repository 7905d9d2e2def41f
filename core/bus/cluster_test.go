package bus_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-cdp/switchboard/core/bus"
)

// testCluster is three clustered nats-servers with JetStream in this
// process, on fixed loopback ports so a node restarts where it was.
type testCluster struct {
	t       *testing.T
	dir     string
	client  []int
	cluster []int
	srv     []*server.Server
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func newTestCluster(t *testing.T) *testCluster {
	t.Helper()
	c := &testCluster{t: t, dir: t.TempDir(), srv: make([]*server.Server, 3)}
	for range 3 {
		c.client = append(c.client, freePort(t))
		c.cluster = append(c.cluster, freePort(t))
	}
	t.Cleanup(func() {
		for i := range c.srv {
			c.stop(i)
		}
	})
	return c
}

// url is every node's client URL, the way a user lists seeds.
func (c *testCluster) url() string {
	var seeds []string
	for _, p := range c.client {
		seeds = append(seeds, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	return strings.Join(seeds, ",")
}

func (c *testCluster) start(i int) {
	c.t.Helper()
	var routes []string
	for _, p := range c.cluster {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	opts := &server.Options{
		ServerName: fmt.Sprintf("n%d", i+1),
		Host:       "127.0.0.1",
		Port:       c.client[i],
		JetStream:  true,
		StoreDir:   filepath.Join(c.dir, fmt.Sprintf("n%d", i+1)),
		NoSigs:     true,
		Cluster:    server.ClusterOpts{Name: "sb", Host: "127.0.0.1", Port: c.cluster[i]},
		Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
	}
	s, err := server.NewServer(opts)
	if err != nil {
		c.t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		c.t.Fatalf("node %d not ready", i+1)
	}
	c.srv[i] = s
}

func (c *testCluster) stop(i int) {
	if s := c.srv[i]; s != nil {
		s.Shutdown()
		s.WaitForShutdown()
		c.srv[i] = nil
	}
}

// index is the position of the node named name.
func (c *testCluster) index(name string) int {
	for i := range c.srv {
		if fmt.Sprintf("n%d", i+1) == name {
			return i
		}
	}
	c.t.Fatalf("no node %q", name)
	return -1
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestClusterOpenWaitsForTheCluster opens the bus before any node of the
// cluster runs: Open keeps trying within its start deadline and returns
// once the R3 stream has a leader, instead of failing at start.
func TestClusterOpenWaitsForTheCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	c := newTestCluster(t)
	type opened struct {
		b   *bus.Bus
		err error
	}
	done := make(chan opened, 1)
	go func() {
		b, err := bus.Open(context.Background(), bus.Options{URL: c.url(), Replicas: 3, StartTimeout: 90 * time.Second})
		done <- opened{b, err}
	}()
	select {
	case o := <-done:
		t.Fatalf("Open returned before any node ran: %v", o.err)
	case <-time.After(500 * time.Millisecond):
	}
	for i := range 3 {
		c.start(i)
	}
	o := <-done
	if o.err != nil {
		t.Fatalf("Open: %v", o.err)
	}
	defer o.b.Close()
	info, err := mustStream(t, o.b).Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 || info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream replicas %d, cluster %+v; want R3 with a leader and 2 followers", info.Config.Replicas, info.Cluster)
	}
}

func mustStream(t *testing.T, b *bus.Bus) jetstream.Stream {
	t.Helper()
	st, err := b.JetStream().Stream(context.Background(), b.Stream())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestClusterPublishRidesThroughLeaderLoss publishes without pause while
// the stream's leader node is stopped and later restarted: no Publish
// fails (each retries within its deadline across the election), and the
// stream ends up with every message exactly once.
func TestClusterPublishRidesThroughLeaderLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	c := newTestCluster(t)
	for i := range 3 {
		c.start(i)
	}
	ctx := context.Background()
	b, err := bus.Open(ctx, bus.Options{URL: c.url(), Replicas: 3, PublishTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	var mu sync.Mutex
	var sent, failed int
	var firstErr error
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				_, err := b.Publish(ctx, msgs(fmt.Sprintf("w%d", w), n*20, 20))
				mu.Lock()
				if err != nil {
					failed++
					if firstErr == nil {
						firstErr = err
					}
				} else {
					sent += 20
				}
				mu.Unlock()
			}
		})
	}
	progress := func(n int) func() bool {
		return func() bool { mu.Lock(); defer mu.Unlock(); return sent >= n }
	}
	waitFor(t, 30*time.Second, "publishing under way", progress(200))

	info, err := mustStream(t, b).Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leader := c.index(info.Cluster.Leader)
	t.Logf("stopping the stream leader %s", info.Cluster.Leader)
	c.stop(leader)
	mu.Lock()
	at := sent
	mu.Unlock()
	waitFor(t, 60*time.Second, "publishing after the leader's loss", progress(at+400))
	c.start(leader)
	mu.Lock()
	at = sent
	mu.Unlock()
	waitFor(t, 60*time.Second, "publishing after the node's return", progress(at+400))
	close(stop)
	wg.Wait()
	if failed > 0 {
		t.Fatalf("%d publishes failed across the election; first: %v", failed, firstErr)
	}
	var got uint64
	waitFor(t, 30*time.Second, "the stream's count", func() bool {
		info, err := mustStream(t, b).Info(ctx)
		if err != nil {
			return false
		}
		got = info.State.Msgs
		return true
	})
	if got != uint64(sent) {
		t.Fatalf("stream holds %d messages, %d were acknowledged", got, sent)
	}
	t.Logf("%d messages published across the loss and return of the leader, none failed", sent)
}

// TestTransient classifies the errors seen during elections apart from
// those a retry cannot fix.
func TestTransient(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{jetstream.ErrNoStreamResponse, true},
		{context.DeadlineExceeded, true},
		{&jetstream.APIError{ErrorCode: 10008}, true},
		{fmt.Errorf("wrapped: %w", &jetstream.APIError{ErrorCode: 10023}), true},
		{jetstream.ErrStreamNameAlreadyInUse, true},
		{&jetstream.APIError{ErrorCode: 10074}, false}, // replicas > 1 without a cluster
		{&jetstream.APIError{ErrorCode: 10077}, false}, // store failed (full)
		{context.Canceled, false},
		{jetstream.ErrConnectionClosed, false},
		{errors.New("something else"), false},
	} {
		if got := bus.Transient(tc.err); got != tc.want {
			t.Errorf("Transient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestReplicasWithoutAClusterFailsAtOnce: replicas 3 against a single
// server is a configuration error, reported without waiting out the
// start deadline.
func TestReplicasWithoutAClusterFailsAtOnce(t *testing.T) {
	start := time.Now()
	_, err := bus.Open(context.Background(), bus.Options{StoreDir: t.TempDir(), Replicas: 3})
	if err == nil {
		t.Fatal("Open with replicas 3 on one server succeeded")
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("took %s to fail", d)
	}
	t.Logf("error: %v", err)
}
