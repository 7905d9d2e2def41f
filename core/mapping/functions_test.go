package mapping

import (
	"strings"
	"testing"
	"time"
)

// TestFunctions evaluates every built-in function, through a compiled
// mapping, on this event.
func TestFunctions(t *testing.T) {
	const event = `{
		"type": "track", "event": "Order Completed", "userId": "u-1", "messageId": "m-1",
		"timestamp": "2024-06-10T15:30:22.123Z",
		"properties": {
			"revenue": 129.99, "count": 3, "big": 12345678901234567890, "when": "2024-06-10T15:30:22Z",
			"empty": "", "nothing": null, "id": 5551234,
			"products": [
				{"product_id": "p1", "sku": "s1", "price": 19.99, "quantity": 2},
				{"sku": "s2", "price": 5},
				{"id": 7},
				{"name": "no id"},
				"junk"
			]
		},
		"context": {"traits": {"email": " Jane.Doe@Example.COM ", "phone": "+1 (555) 010-9999"}, "a.b": 1},
		"traits": {"email": "fallback@example.com"}
	}`
	ts := time.Date(2024, 6, 10, 15, 30, 22, 123e6, time.UTC)
	tests := []struct {
		expr string
		want any
		err  string
	}{
		// time
		{`unix(timestamp)`, 1718033422, ""},
		{`unix("2024-06-10T15:30:22Z")`, 1718033422, ""},
		{`unix("2024-06-10T17:30:22+02:00")`, 1718033422, ""},
		{`unix("2024-06-10")`, 1717977600, ""},
		{`unix(properties.when)`, 1718033422, ""},
		{`unix(sentAt)`, nil, ""},
		{`unix(properties.nothing)`, nil, ""},
		{`unix("yesterday")`, nil, `map.x: unix: cannot read "yesterday" as a time (want RFC 3339, such as 2024-06-10T15:30:22Z)`},
		{`unix(properties.count)`, nil, "map.x: unix: want a time or an RFC 3339 string, got a number"},
		{`unixMilli(timestamp)`, 1718033422123, ""},
		{`unixMilli("2024-06-10T15:30:22.5Z")`, 1718033422500, ""},
		{`unixMilli(receivedAt)`, nil, ""},
		{`parseTime("2024-06-10T15:30:22.123Z")`, ts, ""},
		{`parseTime("2024-06-10 15:30:22")`, time.Date(2024, 6, 10, 15, 30, 22, 0, time.UTC), ""},
		{`parseTime("10/06/2024", "02/01/2006")`, time.Date(2024, 6, 10, 0, 0, 0, 0, time.UTC), ""},
		{`unix(parseTime("10/06/2024", "02/01/2006"))`, 1717977600, ""},
		{`parseTime(properties.nothing)`, nil, ""},
		{`parseTime("nope", "2006")`, nil, `map.x: parseTime: cannot read "nope" with layout "2006"`},
		{`parseTime("2024")`, nil, `map.x: parseTime: cannot read "2024" as a time (want RFC 3339, such as 2024-06-10T15:30:22Z)`},
		{`unix(now()) > 1700000000`, true, ""},
		{`timestamp.Year()`, 2024, ""},
		{`timestamp.Format("2006-01-02")`, "2024-06-10", ""},
		{`timestamp.Add(duration("1h")).Hour()`, 16, ""},
		{`sentAt.Year()`, nil, "map.x: cannot call Year on nil (a missing value)"},
		{`sentAt != nil ? sentAt.Year() : nil`, nil, ""},
		// strings
		{`lower(context.traits.email)`, " jane.doe@example.com ", ""},
		{`upper(event)`, "ORDER COMPLETED", ""},
		{`lower(context.traits.missing)`, nil, ""},
		{`upper(name)`, nil, ""},
		{`lower(properties.count)`, nil, "map.x: lower: want a string, got a number"},
		{`trim(context.traits.email)`, "Jane.Doe@Example.COM", ""},
		{`trim("xxhixx", "x")`, "hi", ""},
		{`trim(properties.nothing)`, nil, ""},
		{`trimPrefix("+15550100", "+")`, "15550100", ""},
		{`trimSuffix("id.json", ".json")`, "id", ""},
		{`trimPrefix(name, "+")`, nil, ""},
		{`replace("a-b-c", "-", "")`, "abc", ""},
		{`replace(name, "-", "")`, nil, ""},
		{`event | lower() | replace(" ", "_")`, "order_completed", ""},
		{`digits(context.traits.phone)`, "15550109999", ""},
		{`digits(properties.id)`, "5551234", ""},
		{`digits("n/a")`, "", ""},
		{`digits(traits.phone)`, nil, ""},
		{`repeat("ab", 3)`, "ababab", ""},
		{`join(["a", "b"], ",")`, "a,b", ""},
		{`join(pluck(properties.products, "sku"), "|")`, "s1|s2", ""},
		{`split("a,b", ",")`, []string{"a", "b"}, ""},
		{`split("a,b,c", ",", 2)`, []string{"a", "b,c"}, ""},
		{`splitAfter("a,b", ",")`, []string{"a,", "b"}, ""},
		{`split(name, ",")`, nil, ""},
		{`toBase64("hi")`, "aGk=", ""},
		{`string(properties.count)`, "3", ""},
		{`string(1..3)`, "[1 2 3]", ""},
		{`toJSON(timestamp)`, `"2024-06-10T15:30:22.123Z"`, ""},
		{`coalesce(split("a,b", ","))[1]`, "b", ""},
		{`coalesce(split("a,b", ","))[-1]`, "b", ""},
		{`coalesce(split("a,b", ","))[5]`, nil, ""},
		{`coalesce(split("a,b", ","))["x"]`, nil, `map.x: cannot use a string as an array index`},
		{`coalesce(1..3)[0]`, 1, ""},
		{`"id-" + userId`, "id-u-1", ""},
		// hashing
		{`sha256("jane@example.com")`, "8c87b489ce35cf2e2f39f80e282cb2e804932a56a213983eeeb428407d43b52d", ""},
		{`sha256(lower(trim(context.traits.email)))`, "86e0b9e56c17cc4d12387e1949b85053fbe73bc3ce5a1188713a9d300cc6133d", ""},
		{`sha256(properties.id)`, "087b70dc5471064780d76c826ddf2cbbeab0ad578692b833b4c93db2e045b38b", ""},
		{`sha256("")`, nil, ""},
		{`sha256(traits.phone)`, nil, ""},
		{`sha256(properties.products)`, nil, "map.x: sha256: want a string, got an array"},
		// coalesce and lookups
		{`coalesce(properties.nothing, properties.empty, context.traits.missing, "x", "y")`, "x", ""},
		{`coalesce(properties.empty, 0)`, 0, ""},
		{`coalesce(properties.nothing)`, nil, ""},
		{`lookup(context, "traits.email")`, " Jane.Doe@Example.COM ", ""},
		{`lookup(properties, "products.0.sku")`, "s1", ""},
		{`lookup(properties, "products.-1")`, "junk", ""},
		{`lookup(properties, "products.9.sku")`, nil, ""},
		{`lookup(properties, "revenue.amount")`, nil, ""},
		{`lookup(properties.nothing, "a")`, nil, ""},
		{`lookup(properties, "") == properties`, true, ""},
		{`lookup(context, "a.b")`, nil, ""},
		{`get(context, "a.b")`, 1, ""},
		{`context["a.b"]`, 1, ""},
		{`get(properties, "missing")`, nil, ""},
		// arrays
		{`pluck(properties.products, "sku")`, []any{"s1", "s2"}, ""},
		{`pluck(properties.products, "nope")`, nil, ""},
		{`pluck(properties.nothing, "sku")`, nil, ""},
		{`pluck(properties.count, "sku")`, nil, "map.x: pluck: want an array, got a number"},
		{`contents(properties.products)`, []any{
			map[string]any{"id": "p1", "quantity": 2, "item_price": 19.99},
			map[string]any{"id": "s2", "quantity": 1, "item_price": 5},
			map[string]any{"id": "7", "quantity": 1},
		}, ""},
		{`contents([])`, nil, ""},
		{`contents(properties.nothing)`, nil, ""},
		{`contents("x")`, nil, "map.x: contents: want an array, got a string"},
		{`len(properties.products)`, 5, ""},
		{`len(properties.missing)`, 0, ""},
		{`len("héllo")`, 6, ""},
		{`len(context)`, 2, ""},
		{`len(1..3)`, 3, ""},
		{`len(properties.count)`, nil, "map.x: len: want a string, an array or an object, got a number"},
		{`map(properties.missing, #.sku)`, []any{}, ""},
		{`count(properties.missing, # > 1)`, 0, ""},
		{`sum(properties.missing)`, 0, ""},
		{`all(properties.missing, # > 1)`, true, ""},
		{`reduce(properties.missing, #acc + 1, 10)`, 10, ""},
		{`map(filter(properties.products[:4], (#.price ?? 0) > 10), #.sku)`, []any{"s1"}, ""},
		{`sum(filter(properties.products, # != "junk"), #.quantity ?? 1)`, 5, ""},
		{`filter(properties.products[4:], #.price > 10)`, nil, "map.x: cannot get \"price\" from a string"},
		{`filter(properties.products[:3], #.price > 10)`, nil, "map.x: invalid operation: <nil> > int"},
		// expr-lang operators on event data
		{`userId ?? anonymousId`, "u-1", ""},
		{`anonymousId ?? userId`, "u-1", ""},
		{`context?.traits?.email ?? traits?.email`, " Jane.Doe@Example.COM ", ""},
		{`context.missing.email ?? traits.email`, "fallback@example.com", ""},
		{`{"Order Completed": "Purchase"}[event]`, "Purchase", ""},
		{`{"Order Completed": "Purchase"}[name]`, nil, ""},
		{`properties.revenue * 100`, 12999.0, ""},
		{`properties.count + 1`, 4, ""},
		{`properties.big`, 1.2345678901234567e19, ""},
		{`properties.products[1].sku`, "s2", ""},
		{`properties.products[10].sku`, nil, ""},
		{`properties.products[-1]`, "junk", ""},
		{`"Order Completed" in [event]`, true, ""},
		{`event matches "^Order"`, true, ""},
		{`type == "track" ? 1 : 2`, 1, ""},
		{`let e = lower(event); e + "!"`, "order completed!", ""},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := mapOne(t, quoteYAML(tt.expr), event)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error = %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			assertEqual(t, got, tt.want)
		})
	}
}

// quoteYAML single-quotes an expression for a YAML value.
func quoteYAML(expr string) string {
	return "'" + strings.ReplaceAll(expr, "'", "''") + "'"
}
