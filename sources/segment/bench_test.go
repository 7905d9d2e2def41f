package segment

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-cdp/switchboard/core/bus"

	"github.com/switchboard-cdp/switchboard/core/event"
)

// BenchmarkDecodeBatch measures the per-request CPU of the hot path without
// HTTP or the bus: decode a 100-event batch (~600 bytes each), normalise
// and validate every event, write each event's stored JSON once.
func BenchmarkDecodeBatch(b *testing.B) {
	body := sampleBatch(100, 0)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	recv := time.Date(2024, 5, 6, 12, 35, 0, 0, time.UTC)
	for b.Loop() {
		p := getPayload()
		if rerr := decodeBatch(body, p, DefaultMaxEventBytes, DefaultMaxBatchEvents); rerr != nil {
			b.Fatal(rerr)
		}
		n := newNormalizer(p, "web", []byte(`"web"`), recv, "203.0.113.7", "")
		out := make([]byte, 0, len(body)+len(p.events)*320)
		var ev event.Event
		for i := range p.events {
			var err error
			if out, err = n.normalize(&p.events[i], &ev, out); err != nil {
				b.Fatal(err)
			}
			_ = ev.DedupeID()
		}
		putPayload(p)
	}
}

// BenchmarkServeHTTP posts 100-event batches (~600 bytes an event) through
// the whole handler into a real embedded JetStream, one request at a time.
func BenchmarkServeHTTP(b *testing.B) {
	h, bodies := benchHandler(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		serveOne(b, h, bodies[i%len(bodies)], i)
		i++
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkServeHTTPParallel is BenchmarkServeHTTP with concurrent
// clients, the way a server sees them: it measures throughput.
func BenchmarkServeHTTPParallel(b *testing.B) {
	h, bodies := benchHandler(b)
	b.ReportAllocs()
	b.SetParallelism(4)
	var ctr atomicCounter
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(ctr.next())
			serveOne(b, h, bodies[i%len(bodies)], i)
		}
	})
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
}

// benchBodies are distinct batch bodies; serveOne rewrites a marker in
// each so that every request carries new messageIds (the bus stores them
// rather than answering "duplicate").
const benchBodies = 16

func benchHandler(b *testing.B) (*Handler, [][]byte) {
	bb, err := bus.Open(context.Background(), bus.Options{StoreDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(bb.Close)
	h, err := New(Options{Sources: []Source{{Name: "web", WriteKeys: []string{"bench-key"}}}, Publisher: bb, Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	bodies := make([][]byte, benchBodies)
	for i := range bodies {
		bodies[i] = bytes.ReplaceAll(sampleBatch(100, i*100), []byte("node-next-1715000000000-"), []byte("node-next-XXXXXXXXXXXXX-"))
	}
	return h, bodies
}

var benchAuth = "Basic " + base64.StdEncoding.EncodeToString([]byte("bench-key:"))

// uniqueBody is tmpl with its messageIds made unique to request i.
func uniqueBody(tmpl []byte, i int) []byte {
	body := bytes.Clone(tmpl)
	marker := fmt.Appendf(nil, "%013d", i)
	for j := 0; ; {
		k := bytes.Index(body[j:], []byte("XXXXXXXXXXXXX"))
		if k < 0 {
			return body
		}
		copy(body[j+k:], marker)
		j += k + len(marker)
	}
}

func serveOne(b *testing.B, h *Handler, tmpl []byte, i int) {
	req := httptest.NewRequest(http.MethodPost, "/v1/batch", bytes.NewReader(uniqueBody(tmpl, i)))
	req.Header.Set("Authorization", benchAuth)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
}

// BenchmarkHTTPEndToEnd is the deployment's path: concurrent clients post
// 100-event batches over loopback HTTP (keep-alive) to an httptest server
// whose handler stores into a real embedded JetStream. Client, server and
// JetStream share the machine's cores.
func BenchmarkHTTPEndToEnd(b *testing.B) {
	h, bodies := benchHandler(b)
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.Cleanup(client.CloseIdleConnections)
	b.ReportAllocs()
	b.SetParallelism(4)
	var ctr atomicCounter
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(ctr.next())
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/batch", bytes.NewReader(uniqueBody(bodies[i%len(bodies)], i)))
			if err != nil {
				b.Error(err)
				return
			}
			req.Header.Set("Authorization", benchAuth)
			res, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
}
