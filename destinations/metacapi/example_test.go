package metacapi_test

import (
	"fmt"

	"github.com/switchboard-cdp/switchboard/destinations/metacapi"
)

func ExampleScore() {
	// Every event has email, IP and user agent; half have the browser ID.
	coverage := map[string]float64{"em": 1, "client_ip_address": 1, "client_user_agent": 1, "fbp": 0.5}
	fmt.Println(metacapi.Score(coverage))
	// Output: 4.3
}

func ExampleRecommendations() {
	coverage := map[string]float64{
		"em": 1, "ph": 0.62, "external_id": 1, "fbp": 1, "fbc": 1,
		"client_ip_address": 1, "client_user_agent": 1, "fn": 0.5, "event_id": 1,
	}
	for _, r := range metacapi.Recommendations("Purchase", coverage, 3) {
		fmt.Println(r)
	}
	// Output:
	// 38% of Purchase events have no phone (ph)
	// 100% of Purchase events have no last name (ln)
	// 100% of Purchase events have no ZIP code (zp)
}
