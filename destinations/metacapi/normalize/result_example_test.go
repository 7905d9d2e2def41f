package normalize_test

import (
	"encoding/json"
	"fmt"

	"github.com/switchboard-cdp/switchboard/destinations/metacapi/normalize"
)

func ExampleResult() {
	var r normalize.Result
	r.Normalize(map[string]any{
		"em":                " John.Doe@Example.COM ",
		"ge":                "nonbinary",
		"client_ip_address": "203.0.113.7",
	}, normalize.Options{HashExternalID: true})
	body, ok := r.AppendJSON(nil, func(b []byte, v any) ([]byte, bool) {
		j, err := json.Marshal(v)
		return append(b, j...), err == nil
	})
	fmt.Println(string(body), ok)
	fmt.Println(r.Drops())
	// Output:
	// {"client_ip_address":"203.0.113.7","em":["836f82db99121b3481011f16b49dfa5fbc714a0d1b1b9f784a1ebbbf5b39577f"]} true
	// [{ge unknown_gender}]
}
