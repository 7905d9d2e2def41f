package main

import (
	"context"
	"os"
	"strconv"
	"time"

	"github.com/switchboard-cdp/switchboard/plugins"
)

// metaRetryDivisorEnv, set to N > 1 in the environment of a `switchboard
// serve` started from this test binary, makes the meta-capi plugin
// processes it starts (this binary again, as `plugin meta-capi`) divide
// every retry-after they return by N. The meta-capi destination holds
// throttled events (codes 4, 17, 613, …) for 60s, transient ones (1, 2)
// for 5s and token errors for 10m; its unit tests check those exact values,
// while the end-to-end tests need the same behaviour in a time frame a test
// can wait for: with N = 100, 600ms, 50ms and 6s, each still far above the
// tests' pipeline backoff (50–200ms), so that a retry honouring the
// destination's retry-after stays distinguishable from one that does not.
const metaRetryDivisorEnv = "SWITCHBOARD_TEST_META_RETRY_DIVISOR"

// metaRetryDivisor is the divisor the end-to-end tests use.
const metaRetryDivisor = 100

func init() {
	n, err := strconv.Atoi(os.Getenv(metaRetryDivisorEnv))
	if err != nil || n <= 1 {
		return
	}
	newMeta := builtinDestinations["meta-capi"]
	builtinDestinations["meta-capi"] = func() plugins.Destination {
		return retryDivider{Destination: newMeta(), n: time.Duration(n)}
	}
}

// retryDivider is a destination whose retry-afters are divided by n.
type retryDivider struct {
	plugins.Destination
	n time.Duration
}

func (d retryDivider) Deliver(ctx context.Context, batch []plugins.Event) ([]plugins.Result, error) {
	results, err := d.Destination.Deliver(ctx, batch)
	for i := range results {
		results[i].RetryAfter /= d.n
	}
	return results, err
}
