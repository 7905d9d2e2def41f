package plugins

import (
	"bytes"
	"strings"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	destinationv1 "github.com/switchboard-cdp/switchboard/plugins/proto/switchboard/destination/v1"
)

func TestDirtyPool(t *testing.T) {
	p := &dirtyPool{}
	for _, n := range []int{0, 1, 2, 3, 1000, 1 << 15, 1<<15 + 1, 300 << 10} {
		b := p.Get(n)
		if len(*b) != n || cap(*b) < n || cap(*b)&(cap(*b)-1) != 0 {
			t.Errorf("Get(%d): len %d cap %d, want len %d and a power-of-two capacity", n, len(*b), cap(*b), n)
		}
		p.Put(b)
	}
	odd := make([]byte, 10, 1000)
	p.Put(&odd) // not a power of two: ignored
	if b := p.Get(600); cap(*b) != 1024 {
		t.Errorf("Get(600) after Put of a foreign buffer: cap %d, want 1024", cap(*b))
	}
}

// TestCodecReusesDirtyBuffers encodes and decodes messages through buffers
// a previous, larger message left full of its bytes: nothing of it may
// show through.
func TestCodecReusesDirtyBuffers(t *testing.T) {
	c := newCodec()
	big := &destinationv1.DeliverRequest{
		Payloads:       bytes.Repeat([]byte{0xAA}, 200<<10),
		PayloadLengths: []uint32{200 << 10},
	}
	for _, msg := range []*destinationv1.DeliverRequest{
		big,
		{Payloads: []byte(strings.Repeat(`{"a":1}`, 20000)), PayloadLengths: []uint32{70000, 70000}, Ids: []byte("ab"), IdLengths: []uint32{1, 1}},
		{PayloadLengths: []uint32{0}},
		big,
	} {
		data, err := c.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := proto.Marshal(msg)
		if !bytes.Equal(data.Materialize(), want) {
			t.Fatalf("Marshal differs from proto.Marshal")
		}
		// The frames of a large message arrive in pieces.
		var pieces mem.BufferSlice
		for rest := data.Materialize(); len(rest) > 0; {
			n := min(len(rest), 16<<10)
			pieces = append(pieces, mem.Copy(rest[:n], c.pool))
			rest = rest[n:]
		}
		data.Free()
		var got destinationv1.DeliverRequest
		if err := c.Unmarshal(pieces, &got); err != nil {
			t.Fatal(err)
		}
		pieces.Free()
		if !proto.Equal(&got, msg) {
			t.Fatalf("Unmarshal(Marshal(m)) differs from m")
		}
	}
	if _, err := c.Marshal("not a message"); err == nil {
		t.Error("Marshal of a string succeeded")
	}
}
