package mapping_test

import (
	"fmt"

	"github.com/switchboard-cdp/switchboard/core/config"
	"github.com/switchboard-cdp/switchboard/core/mapping"
)

// load parses a pipelines.yaml held in text and compiles its pipeline p.
func load(text string) (*mapping.Program, config.Problems) {
	cfg, err := config.Parse("pipelines.yaml", []byte(text), nil)
	if err != nil {
		panic(err)
	}
	pl := cfg.Pipelines["p"]
	return mapping.Compile(cfg, "pipelines.p", &pl.When, &pl.Map)
}

const head = `sources: {web: {type: segment, write_keys: [k]}}
destinations: {meta: {plugin: meta-capi}}
pipelines:
  p:
    from: [web]
    to: meta
`

func ExampleCompile() {
	_, problems := load(head + `    when: type == "track" && event = "Order Completed"
    map:
      event_id: messageID
      event_time: unix(timestamp) + "s"
`)
	for _, p := range problems {
		fmt.Println(p)
	}
	// Output:
	// pipelines.yaml:7:36: pipelines.p.when: unexpected token Operator("=")
	// pipelines.yaml:9:17: pipelines.p.map.event_id: unknown name messageID (did you mean messageId?)
	// pipelines.yaml:10:35: pipelines.p.map.event_time: invalid operation: + (mismatched types int and string)
}

func ExampleProgram_Apply() {
	p, problems := load(head + `    when: type == "track"
    map:
      event_name: '{"Order Completed": "Purchase"}[event] ?? event'
      event_time: unix(timestamp)
      action_source: '"website"'
      user_data:
        em: sha256(lower(trim(context.traits.email ?? traits.email)))
        ph: sha256(digits(context.traits.phone ?? traits.phone))
      custom_data:
        value: properties.revenue
        currency: properties.currency
`)
	if problems != nil {
		panic(problems)
	}
	out, matched, err := p.Apply([]byte(`{"type":"track","event":"Order Completed",
		"timestamp":"2024-06-10T15:30:22Z","traits":{"email":" Jane@Example.com"},
		"properties":{"revenue":19.99}}`))
	fmt.Println(string(out), matched, err)
	_, matched, err = p.Apply([]byte(`{"type":"identify","userId":"u"}`))
	fmt.Println(matched, err)
	// Output:
	// {"event_name":"Purchase","event_time":1718033422,"action_source":"website","user_data":{"em":"8c87b489ce35cf2e2f39f80e282cb2e804932a56a213983eeeb428407d43b52d"},"custom_data":{"value":19.99}} true <nil>
	// false <nil>
}

// Example_functions shows the built-in functions on one event.
func Example_functions() {
	exprs := []string{
		`unix(timestamp)`,
		`unixMilli("2024-06-10T15:30:22.5Z")`,
		`parseTime("10/06/2024", "02/01/2006").Format("2006-01-02")`,
		`digits(context.traits.phone)`,
		`sha256("jane@example.com")`,
		`sha256(traits.missing)`,
		`coalesce(userId, traits.email, anonymousId)`,
		`lookup(properties, "products.0.sku")`,
		`pluck(properties.products, "sku")`,
		`contents(properties.products)`,
		`lower(trim(context.traits.email))`,
	}
	text := head + "    map:\n"
	for i, e := range exprs {
		text += fmt.Sprintf("      f%02d: '%s'\n", i, e)
	}
	p, problems := load(text)
	if problems != nil {
		panic(problems)
	}
	env, err := mapping.NewEnv([]byte(`{"type":"track","userId":"","anonymousId":"a-1",
		"timestamp":"2024-06-10T15:30:22.123Z",
		"context":{"traits":{"email":" Jane@Example.COM ","phone":"+1 (555) 010-9999"}},
		"properties":{"products":[{"product_id":"p1","sku":"s1","price":9.5,"quantity":2},{"sku":"s2"}]}}`))
	if err != nil {
		panic(err)
	}
	out, err := p.Map(env)
	if err != nil {
		panic(err)
	}
	for i, e := range exprs {
		fmt.Printf("%-60s %v\n", e, out[fmt.Sprintf("f%02d", i)])
	}
	// Output:
	// unix(timestamp)                                              1718033422
	// unixMilli("2024-06-10T15:30:22.5Z")                          1718033422500
	// parseTime("10/06/2024", "02/01/2006").Format("2006-01-02")   2024-06-10
	// digits(context.traits.phone)                                 15550109999
	// sha256("jane@example.com")                                   8c87b489ce35cf2e2f39f80e282cb2e804932a56a213983eeeb428407d43b52d
	// sha256(traits.missing)                                       <nil>
	// coalesce(userId, traits.email, anonymousId)                  a-1
	// lookup(properties, "products.0.sku")                         s1
	// pluck(properties.products, "sku")                            [s1 s2]
	// contents(properties.products)                                [map[id:p1 item_price:9.5 quantity:2] map[id:s2 quantity:1]]
	// lower(trim(context.traits.email))                            jane@example.com
}
