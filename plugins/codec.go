package plugins

import (
	"fmt"
	"math/bits"
	"sync"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// This file is the gRPC codec of the Destination service's calls: the
// protobuf encoding, exactly as gRPC's own codec does it, but with buffers
// from a pool that does not zero them. gRPC's default pool clears a whole
// buffer (of the next power of two, 1 MiB for a 300 KiB batch) on every Get,
// twice per Deliver (to encode the batch on the host, to gather its frames
// in the plugin), a large share of the CPU a Deliver took. This codec only
// ever takes a buffer it then overwrites completely, so there is nothing
// to clear. It changes nothing on the wire: either side may use gRPC's
// codec instead (the host uses this one for Deliver calls, a plugin for
// every call it serves).

// codec is an encoding.CodecV2 for protobuf messages.
type codec struct {
	pool *dirtyPool
}

func newCodec() codec { return codec{pool: &dirtyPool{}} }

// Name is "proto", the content-subtype of gRPC's protobuf codec.
func (codec) Name() string { return "proto" }

// Marshal encodes v into one buffer of its exact size.
func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("proto codec: %T is not a proto.Message", v)
	}
	size := proto.Size(m)
	opts := proto.MarshalOptions{UseCachedSize: true} // just computed by Size
	if mem.IsBelowBufferPoolingThreshold(size) {
		buf, err := opts.Marshal(m)
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(buf)}, nil
	}
	buf := c.pool.Get(size)
	out, err := opts.MarshalAppend((*buf)[:0], m)
	if err != nil {
		c.pool.Put(buf)
		return nil, err
	}
	*buf = out // all written: exactly size bytes
	return mem.BufferSlice{mem.NewBuffer(buf, c.pool)}, nil
}

// Unmarshal decodes data into v, which must be a proto.Message. The
// message does not refer to data afterwards (protobuf copies bytes fields).
func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("proto codec: %T is not a proto.Message", v)
	}
	buf := data.MaterializeToBuffer(c.pool) // all written: a copy of data
	defer buf.Free()
	return proto.Unmarshal(buf.ReadOnlyData(), m)
}

// dirtyPool is a mem.BufferPool of power-of-two buffers that Get returns
// as they are, with whatever a previous user left in them: its users must
// write every byte they read. Buffers above 1 GiB are not pooled.
type dirtyPool struct {
	tiers [maxPoolShift + 1]sync.Pool
}

const maxPoolShift = 30

// Get returns a buffer of length n and a capacity of the next power of two.
func (p *dirtyPool) Get(n int) *[]byte {
	shift := bits.Len(uint(max(n, 1) - 1))
	if shift > maxPoolShift {
		b := make([]byte, n)
		return &b
	}
	if b, ok := p.tiers[shift].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 1<<shift)
	return &b
}

// Put keeps b for a later Get of its capacity's tier.
func (p *dirtyPool) Put(b *[]byte) {
	c := cap(*b)
	if c == 0 || c&(c-1) != 0 || bits.Len(uint(c))-1 > maxPoolShift {
		return // not one of ours
	}
	p.tiers[bits.Len(uint(c))-1].Put(b)
}

var (
	_ encoding.CodecV2 = codec{}
	_ mem.BufferPool   = (*dirtyPool)(nil)
)
