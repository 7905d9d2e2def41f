// Package mapping compiles and evaluates the expressions of a pipeline in
// pipelines.yaml: its when: filter and its map: of output fields. The
// expressions are expr-lang (https://expr-lang.org) expressions, compiled and
// type-checked once when the configuration is loaded (Compile) and evaluated
// for every stored event (NewEnv, then Program.Match and Program.Map, or
// Program.Apply from JSON to JSON).
//
// # The event
//
// Expressions see the event's Segment fields by name:
//
//	type, event, name, category, userId, anonymousId, groupId,
//	previousId, messageId, source                         strings
//	timestamp, originalTimestamp, sentAt, receivedAt      times (time.Time)
//	properties, traits, context, integrations             objects
//
// Any other name is a compile error, so userID (for userId) or type + 1 is
// caught when the file is loaded, with its FILE:LINE:COL. A field the event
// does not have is nil, not "" or 0, and reading through nil gives nil:
// context.page.url is nil when the event has no context, no page or no url
// (as if written context?.page?.url), and so is products[5] past the end of
// the array. A missing list counts as an empty one in map, filter, all,
// any, count, sum, reduce and the other loops, and len(nil) is 0. So these
// work as they read:
//
//	userId ?? anonymousId
//	context.traits.email ?? traits.email
//	{"Order Completed": "Purchase", "Product Viewed": "ViewContent"}[event]
//	properties.revenue
//
// Objects inside the event are map[string]any, arrays []any, whole numbers
// that fit in 64 bits int, other numbers float64.
//
// # when:
//
// when: is a boolean expression: the event goes through the pipeline when it
// gives true. Absent, every event goes through; nil (a missing field) counts
// as false. The literals true and false are allowed.
//
// # map:
//
// map: is a YAML mapping that describes the output object:
//
//   - a nested mapping builds a nested object, a sequence builds an array
//     (its items are expressions or nested mappings);
//   - a number, true, false or null written plainly in YAML is that literal
//     value;
//   - every string is an expression, whether plain or quoted in YAML. So a
//     constant string needs expression quotes inside the YAML ones:
//     action_source: '"website"' (YAML single quotes around an expr string
//     literal). action_source: website would read a field named website,
//     and fail to compile. Quote in YAML any expression that contains ": "
//     or " #" (YAML would read a comment: 'map(items, #.sku)'), or that
//     starts with a character YAML treats specially ({, [, ", ', *, &, !,
//     |, >, %, @, `).
//
// A value that is nil is left out of the output, and so is an object or
// array of map: that ends up empty; "", 0 and false are kept. Without
// map:, Map returns the event's own fields and Apply returns the event
// unchanged.
//
// # Functions
//
// Besides expr-lang's built-ins (len, map, filter, all, any, reduce, keys,
// split, join, now, date, duration, ...) and operators (??, ?., in,
// matches, ternaries, map and array literals, let), expressions may call
// these functions. Every one returns nil when its main argument is nil, so
// a missing field flows through a chain such as
// sha256(lower(trim(traits.email))) and the field is left out.
//
//	Function                  Example                                        Result
//	unix(t)                   unix(timestamp)                                1718033422
//	                          unix("2024-06-10T15:30:22Z")                   1718033422
//	unixMilli(t)              unixMilli(timestamp)                           1718033422123
//	parseTime(s)              parseTime("2024-06-10T15:30:22Z")              a time.Time
//	parseTime(s, layout)      parseTime("10/06/2024", "02/01/2006")          a time.Time (Go layout)
//	now()                     unix(now())                                    the current Unix time
//	lower(s), upper(s)        lower(" Jane@Example.COM ")                    " jane@example.com "
//	trim(s), trim(s, cutset)  trim(" Jane ")                                 "Jane"
//	trimPrefix(s, p)          trimPrefix("+15550100", "+")                   "15550100"
//	trimSuffix(s, p)          trimSuffix("id.json", ".json")                 "id"
//	replace(s, old, new)      replace("a-b-c", "-", "")                      "abc"
//	digits(s)                 digits("+1 (555) 010-9999")                    "15550109999"
//	sha256(s)                 sha256("jane@example.com")                     lowercase hex digest; sha256("") is nil
//	coalesce(a, b, ...)       coalesce(traits.email, context.traits.email)   first value that is not nil or ""
//	lookup(obj, path)         lookup(context, "traits.email")                the value at a dotted path, or nil
//	                          lookup(properties, "products.0.sku")           numbers index arrays
//	get(obj, key)             get(properties, "order-id")                    expr-lang's get: one key or index
//	pluck(array, field)       pluck(properties.products, "sku")              ["45790-32", "46493-32"]; nil if none has it
//	contents(products)        contents(properties.products)                  [{"id": "507f1f77", "quantity": 2, "item_price": 19.99}, ...]
//
// contents turns Segment products into Meta's contents: id from
// product_id, sku or id (as text), quantity (default 1), item_price from
// price; products without an id are skipped and an empty result is nil.
// Numbers given to digits and sha256 are read as their decimal text. The
// functions expr-lang also has (len, lower, upper, trim, trimPrefix,
// trimSuffix, replace, split, splitAfter, repeat, join, string, toJSON,
// toBase64) keep its signatures and results but give nil for a nil string
// (len gives 0), and those that build strings count against
// MaxStringBytes. expr-lang's get(obj, key) is kept as it is; lookup(obj,
// "a.b.c") follows a dotted path. expr-lang's type() is not available:
// type is the event's field.
//
// # Limits
//
// An expression is at most MaxExpressionBytes long and MaxNodes nodes. One
// evaluation may create at most MemoryBudget array and map elements, run at
// most MaxSteps loop iterations and build at most MaxStringBytes of
// strings; past that it fails with an error wrapping ErrLimit, so no
// expression and no event can make evaluation hang or use unbounded memory.
//
// # Errors and positions
//
// Compile reports problems as config.Problem at the position of the
// expression inside the file, exact for expressions on one line (quoted or
// not) and, in lines, for literal block scalars (|). Evaluation errors are
// *EvalError naming the output field ("map.user_data.em: ...") or "when".
//
// This package must not do I/O, keep global state beyond caches of
// reusable scratch memory, or log: it compiles and evaluates, and callers
// decide what to do with events that fail.
package mapping
