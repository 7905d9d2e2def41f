package segment

import (
	"bytes"
	"fmt"
	"sync/atomic"
)

// sampleEvent is a realistic analytics-node track call of 620 bytes.
func sampleEvent(i int) string {
	return fmt.Sprintf(`{"type":"track","event":"Order Completed","userId":"user-%06d","anonymousId":"0f4e5c1a-7b2d-4c3e-9a8b-%012d","messageId":"node-next-1715000000000-%08d-4b7c-9d2e-1f3a5b7c9d0e","timestamp":"2024-05-06T12:34:56.789Z","properties":{"order_id":"ord-%06d","revenue":129.99,"currency":"USD","products":[{"product_id":"p-1","sku":"SKU-1","price":59.99,"quantity":1},{"product_id":"p-2","sku":"SKU-2","price":70,"quantity":1}]},"context":{"page":{"url":"https://shop.example.com/checkout/complete"},"traits":{"email":"jane@example.com"}},"integrations":{},"_metadata":{"nodeVersion":"v20.11.0","jsRuntime":"node"}}`, i, i, i, i)
}

// sampleBatch is an analytics-node /v1/batch body of n sample events.
func sampleBatch(n, from int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"batch":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(sampleEvent(from + i))
	}
	b.WriteString(`],"context":{"library":{"name":"@segment/analytics-node","version":"3.1.0"}},"sentAt":"2024-05-06T12:34:57.000Z"}`)
	return b.Bytes()
}

type atomicCounter struct{ n atomic.Int64 }

func (c *atomicCounter) next() int64 { return c.n.Add(1) }
