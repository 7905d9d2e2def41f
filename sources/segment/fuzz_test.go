package segment

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/switchboard-cdp/switchboard/core/bus"
	"github.com/switchboard-cdp/switchboard/core/event"
)

// fuzzSeeds are request bodies that reach every branch of the decoder and
// normaliser; the table tests' bodies are added too.
var fuzzSeeds = []string{
	`{"batch":[{"type":"track","event":"E","userId":"u1"}]}`,
	`{"batch":[{"type":"track","event":"E","userId":123456789012345678901234567890,"messageId":"m1","properties":{"n":1.50e+3,"big":12345678901234567890}}],"writeKey":"wk","sentAt":"2024-05-06T12:00:01Z","context":{"library":{"name":"x"}},"integrations":{"All":true}}`,
	`{"batch":[{"type":"identify","anonymousId":"a","traits":{"email":"a@b.c"},"context":{"page":{"url":"u"},"library":{"version":"1"},"ip":""}}],"context":{"library":{"name":"n"},"ip":"9.9.9.9"}}`,
	`{"batch":[{"type":"group","userId":"u","groupId":7},{"type":"alias","userId":"u","previousId":"p"},{"type":"page","anonymousId":"a","name":"Home"},{"type":"screen","anonymousId":"a","name":3}]}`,
	`{"batch":[{"type":"track","userId":"u"}]}`,
	`{"batch":[{"type":"bogus","userId":"u"}]}`,
	`{"batch":[{"type":"track","event":"E","userId":"u","timestamp":"yesterday"}]}`,
	`{"batch":[{"type":"track","event":"E","userId":"u","originalTimestamp":"2024-05-06T11:59:00.123+02:00","timestamp":"2024-05-06T11:59:00Z","sentAt":"2024-05-06T12:00:00"}]}`,
	`{"batch":[{"type":"track","event":"E","userId":"u","properties":[1,2]}]}`,
	`{"batch":[{"type":"track","event":"E","userId":"u","messageId":"` + strings.Repeat("x", 100) + `"}]}`,
	`{"batch":[{"type":"track","event":"E","userId":"u","writeKey":"secret","WRITEKEY":"s2","UserId":"x","extra":{"a":[true,false,null]}}]}`,
	`{"batch":[]}`,
	`{"batch":null}`,
	`{"batch":"x"}`,
	`{"batch":[1]}`,
	`[1,2]`,
	`{"batch":[{"type":"track","event":"E","userId":"u"}]} x`,
	`{"batch":[{"type":"track","event":"E","user\u0049d":"u","\u0063ontext":{"\u0069p":"1.1.1.1"}}]}`,
	"\xef\xbb\xbf{\"batch\":[{\"type\":\"track\",\"event\":\"E\",\"userId\":\"u\\ud800\"}]}",
	`{"type":"track","event":"E","userId":"u","writeKey":"wk"}`,
	`{"type":"identify","event":"E","userId":"u"}`,
	`{"event":"E","anonymousId":"a","context":{"ip":"1.2.3.4"},"timestamp":null,"sentAt":""}`,
	`{"batch":[{"type":"track","event":"E","userId":"u","context":{"page":{"url":"p"},"page":5}}],"context":{"page":{"title":"t"}}}`,
	`{"batch":[{"type":"track","event":"E","userId":"u","originalTimestamp":"9999-12-31T23:59:59Z","sentAt":"2000-01-01T00:00:00Z"}]}`,
	`{"batch":[{"type":"track","event":"E","userId":"u","context":"x"}],"sentAt":5}`,
	``,
	`   `,
	`{"batch":[{"type":"track","event":"E","userId":true}]}`,
}

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpora in testdata/fuzz from fuzzSeeds")

// TestFuzzCorpus writes fuzzSeeds into testdata/fuzz/{FuzzBatch,FuzzDecode,
// FuzzScan} (go's corpus file format) when run with -update-corpus; go
// test runs those files as seeds of the fuzz tests on every run.
func TestFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite testdata/fuzz")
	}
	for _, name := range []string{"FuzzBatch", "FuzzDecode", "FuzzScan"} {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, seed := range fuzzSeeds {
			var b strings.Builder
			b.WriteString("go test fuzz v1\n")
			if name != "FuzzScan" {
				fmt.Fprintf(&b, "byte(%q)\n", rune(byte(i*37)&0x7f|byte(i%2)<<6))
			}
			fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(seed))
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// kinds the fuzz tests pick a route from.
var fuzzRoutes = []route{routes["batch"], routes["track"], routes["t"], routes["identify"], routes["a"], routes["g"], routes["p"], routes["s"]}

func fuzzRoute(sel byte) route { return fuzzRoutes[int(sel)%len(fuzzRoutes)] }

func addSeeds(f *testing.F) {
	for i, s := range fuzzSeeds {
		f.Add(byte(i%3), []byte(s))
	}
}

// FuzzDecode drives the fast decoder and normaliser and the encoding/json
// reference model with the same body and requires the same answer: both
// accept and store the same events, or both refuse (with the same field
// and batch index when both name one). Every accepted event must be valid.
func FuzzDecode(f *testing.F) {
	addSeeds(f)
	recv := time.Date(2024, 5, 6, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, sel byte, body []byte) {
		rt := fuzzRoute(sel)
		fast, ferr := fastRun(rt, body, recv, "198.51.100.4", 4096, 8)
		for _, ev := range fast {
			if err := ev.Validate(); err != nil {
				t.Fatalf("accepted an invalid event: %v\n%+v", err, ev)
			}
		}
		if !utf8.Valid(body) || maxNesting(body) >= maxDepth-2 {
			return // the reference replaces invalid UTF-8 byte by byte and nests deeper
		}
		ref, rerr := refRun(rt, body, recv, "198.51.100.4", 4096, 8)
		if (ferr == nil) != (rerr == nil) {
			t.Fatalf("route %s: fast err=%v, reference err=%v\nbody: %q", rt.name, ferr, rerr, body)
		}
		if ferr != nil {
			if ferr.status != rerr.status {
				t.Fatalf("status fast %d (%s) vs reference %d (%s)", ferr.status, ferr.msg, rerr.status, rerr.msg)
			}
			if ferr.field != "" && rerr.field != "" && (ferr.field != rerr.field || ferr.hasIndex != rerr.hasIndex || ferr.index != rerr.index) {
				t.Fatalf("fast %q field=%s index=%d vs reference %q field=%s index=%d\nbody: %q", ferr.msg, ferr.field, ferr.index, rerr.msg, rerr.field, rerr.index, body)
			}
			return
		}
		if len(fast) != len(ref) {
			t.Fatalf("fast stored %d events, reference %d", len(fast), len(ref))
		}
		for i := range fast {
			a, b := fast[i], ref[i]
			if strings.HasPrefix(a.MessageID, "sb-") && strings.HasPrefix(b.MessageID, "sb-") {
				a.MessageID, b.MessageID = "", ""
			}
			if !reflect.DeepEqual(a, b) {
				ja, _ := json.Marshal(a)
				jb, _ := json.Marshal(b)
				t.Fatalf("event %d differs\nfast: %s\nref:  %s\nbody: %q", i, ja, jb, body)
			}
		}
	})
}

// maxNesting is the deepest bracket nesting in b, ignoring strings roughly.
func maxNesting(b []byte) int {
	depth, deepest := 0, 0
	for _, c := range b {
		switch c {
		case '{', '[':
			depth++
			deepest = max(deepest, depth)
		case '}', ']':
			depth--
		}
	}
	return deepest
}

// fastRun decodes and normalises body the production way and reads every
// stored event back as the pipelines will.
func fastRun(rt route, body []byte, recv time.Time, ip string, maxEvent, maxEvents int) ([]event.Event, *requestError) {
	p := getPayload()
	defer putPayload(p)
	var rerr *requestError
	if rt.kind == kindBatch {
		rerr = decodeBatch(body, p, maxEvent, maxEvents)
	} else {
		rerr = decodeSingle(body, p, maxEvent)
	}
	if rerr != nil {
		return nil, rerr
	}
	n := newNormalizer(p, "web", []byte(`"web"`), recv, ip, rt.typ)
	var out []event.Event
	for i := range p.events {
		var ev event.Event
		data, err := n.normalize(&p.events[i], &ev, nil)
		if err != nil {
			return nil, eventError(err, rt.kind == kindBatch, i)
		}
		if !json.Valid(data) {
			panic("stored invalid JSON: " + string(data))
		}
		if bytes.Contains(bytes.ToLower(data), []byte("writekey")) && !bytes.Contains(bytes.ToLower(body), []byte("writekey")) {
			panic("writeKey appeared from nowhere")
		}
		var back event.Event
		if err := json.Unmarshal(data, &back); err != nil {
			panic("stored event does not decode: " + err.Error() + ": " + string(data))
		}
		if back.MessageID != ev.MessageID || back.Type != ev.Type || back.UserID != ev.UserID {
			panic("stored event differs from the validated one: " + string(data))
		}
		out = append(out, back)
	}
	return out, nil
}

// refRun is fastRun for the reference model.
func refRun(rt route, body []byte, recv time.Time, ip string, maxEvent, maxEvents int) ([]event.Event, *requestError) {
	p := &refPayload{}
	var rerr *requestError
	if rt.kind == kindBatch {
		rerr = refDecodeBatch(body, p, maxEvent, maxEvents)
	} else {
		rerr = refDecodeSingle(body, p, maxEvent)
	}
	if rerr != nil {
		return nil, rerr
	}
	n := &refNormalizer{source: "web", received: recv, ip: ip, batchSentAt: p.sentAt, context: p.context, integrations: p.integrations, pathType: rt.typ}
	var out []event.Event
	for i, m := range p.events {
		var ev event.Event
		if err := n.normalize(m, &ev); err != nil {
			return nil, eventError(err, rt.kind == kindBatch, i)
		}
		data, err := ev.MarshalJSON()
		if err != nil {
			return nil, &requestError{status: 500, msg: err.Error()}
		}
		var back event.Event
		if err := json.Unmarshal(data, &back); err != nil {
			return nil, &requestError{status: 500, msg: err.Error()}
		}
		out = append(out, back)
	}
	return out, nil
}

// FuzzScan checks the scanner's grammar against encoding/json's.
func FuzzScan(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	for _, s := range []string{`1`, `-0.5e+10`, `01`, `1.`, `-`, `"\u12"`, `"\x"`, "\"a\tb\"", `[1,]`, `{"a":1,}`, `{"a" 1}`, `tru`, `nul`, `[[[]]]`, `{"a":{"b":[{}]}}`, `"\/\b\f\n\r\t\"\\"`, `1e5`, `1E-5`, `0.0`, `-01`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) || maxNesting(b) >= maxDepth-2 {
			return
		}
		s := &scanner{b: b}
		_, err := s.value(0)
		if err == nil {
			err = s.end()
		}
		if want := json.Valid(b); (err == nil) != want {
			t.Fatalf("scanner accepts=%v, encoding/json=%v for %q (err %v)", err == nil, want, b, err)
		}
	})
}

// recordingPublisher stores what it is given, like a bus that never fails.
type recordingPublisher struct {
	mu   sync.Mutex
	msgs []bus.Message
	fail error
}

func (p *recordingPublisher) Publish(_ context.Context, msgs []bus.Message) (bus.PublishResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return bus.PublishResult{}, p.fail
	}
	p.msgs = append(p.msgs, msgs...)
	return bus.PublishResult{Stored: len(msgs)}, nil
}

// FuzzBatch posts arbitrary bodies through the whole handler (gzipped or
// not) and checks its invariants: it never panics, answers only the
// statuses the API documents, and when it answers 200 every stored message
// is a valid event of the authenticated source without its write key.
func FuzzBatch(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, sel byte, body []byte) {
		pub := &recordingPublisher{}
		h, err := New(Options{
			Sources:         []Source{{Name: "web", WriteKeys: []string{"wk"}}},
			Publisher:       pub,
			MaxRequestBytes: 64 << 10,
			MaxEventBytes:   8 << 10,
			MaxBatchEvents:  50,
		})
		if err != nil {
			t.Fatal(err)
		}
		rt := fuzzRoute(sel)
		payload := body
		gz := sel&0x80 != 0
		if gz {
			var zb bytes.Buffer
			zw := gzip.NewWriter(&zb)
			_, _ = zw.Write(body)
			_ = zw.Close()
			payload = zb.Bytes()
		}
		req := httptest.NewRequest(http.MethodPost, "/v1/"+rt.name, bytes.NewReader(payload))
		if gz {
			req.Header.Set("Content-Encoding", "gzip")
		}
		if sel&0x40 != 0 {
			req.SetBasicAuth("wk", "")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 400, 401:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		var resp struct {
			Success *bool `json:"success"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || resp.Success == nil || *resp.Success != (rec.Code == 200) {
			t.Fatalf("response body %q (status %d)", rec.Body, rec.Code)
		}
		if rec.Code != 200 {
			if len(pub.msgs) != 0 {
				t.Fatalf("refused request stored %d events", len(pub.msgs))
			}
			return
		}
		if len(pub.msgs) == 0 {
			t.Fatal("200 without storing anything")
		}
		for _, m := range pub.msgs {
			var ev event.Event
			if err := json.Unmarshal(m.Data, &ev); err != nil {
				t.Fatalf("stored event does not decode: %v: %s", err, m.Data)
			}
			if err := ev.Validate(); err != nil {
				var fe *event.FieldError
				if !errors.As(err, &fe) {
					t.Fatalf("Validate returned %T", err)
				}
				t.Fatalf("stored an invalid event (%v): %s", err, m.Data)
			}
			if ev.Source != "web" || m.Subject != event.Subject("web", ev.Type) || m.ID != ev.DedupeID() {
				t.Fatalf("message %s/%s does not match event %s", m.Subject, m.ID, m.Data)
			}
			for k := range ev.Extra {
				if strings.EqualFold(k, "writeKey") {
					t.Fatalf("writeKey kept in Extra: %s", m.Data)
				}
			}
		}
	})
}
