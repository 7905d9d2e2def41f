package mapping

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-cdp/switchboard/core/config"
)

// The fast path (fast.go, project.go) must decide every event exactly as
// the VM does: these tests compile each pipeline twice, once without its
// fast path, and compare Apply, Match and Map on many events.

// twins compiles body twice: with its fast path, and without.
func twins(t testing.TB, body string) (fast, slow *Program) {
	t.Helper()
	fast, problems := compileBody(t, body)
	if problems != nil {
		return nil, nil
	}
	slow, _ = compileBody(t, body)
	slow.fast = nil
	return fast, slow
}

// outcome describes a result for comparison.
func outcome(out []byte, matched bool, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("%v %s", matched, out)
}

func envOutcome(m map[string]any, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "marshal: " + err.Error()
	}
	return string(b)
}

// sameResults compares the two programs on one event, twice over so that
// pooled state from the first run is exercised.
func sameResults(t testing.TB, body string, fast, slow *Program, data []byte) {
	t.Helper()
	for range 2 {
		got, want := outcome(fast.Apply(data)), outcome(slow.Apply(data))
		if got != want {
			t.Fatalf("Apply differs for\n%s\non %s\nfast: %s\nvm:   %s", body, data, got, want)
		}
	}
	env, err := NewEnv(data)
	if err != nil {
		return
	}
	gm, gerr := fast.Match(env)
	wm, werr := slow.Match(env)
	if fmt.Sprint(gm, gerr) != fmt.Sprint(wm, werr) {
		t.Fatalf("Match differs for\n%s\non %s\nfast: %v %v\nvm:   %v %v", body, data, gm, gerr, wm, werr)
	}
	if got, want := envOutcome(fast.Map(env)), envOutcome(slow.Map(env)); got != want {
		t.Fatalf("Map differs for\n%s\non %s\nfast: %s\nvm:   %s", body, data, got, want)
	}
}

// fastExprs mixes expressions the fast path evaluates with ones it leaves
// to the VM, and ones that fail on some events.
var fastExprs = []string{
	`type`, `event`, `userId ?? anonymousId`, `messageId`, `source`, `name`,
	`context.traits.email ?? traits.email`, `context.traits.address.city`,
	`context.traits.address.city ?? traits.address.city`,
	`context.page.url ?? properties.url`, `properties.revenue ?? properties.value ?? properties.price`,
	`properties["cp._fbp"]`, `properties.products[0].sku`, `properties.products[-1]`,
	`properties.products`, `properties.products[1].price`, `properties[event]`, `context[type]`,
	`properties.list[0] + 1`, `unix(timestamp)`, `unixMilli(receivedAt)`, `unix("2024-06-10T15:30:22Z")`,
	`unix(context.traits.email)`, `unix(sentAt ?? timestamp)`, `originalTimestamp`,
	`sha256(lower(trim(context.traits.email ?? traits.email)))`, `sha256(digits(context.traits.phone ?? traits.phone))`,
	`upper(properties.currency ?? "USD")`, `lower(properties.count)`, `trim(properties.s, "x")`,
	`trimPrefix(userId, "u-")`, `digits(properties.revenue)`, `len(properties.products)`, `len(context)`,
	`lookup(context, "traits.email")`, `lookup(properties, "products.0.sku")`, `get(properties, "order_id")`,
	`pluck(properties.products, "product_id")`, `contents(properties.products)`,
	`coalesce(traits.email, context.traits.email, "none")`, `coalesce(userId)`,
	`type == "page" ? "PageView" : {"Order Completed": "Purchase", "Product Viewed": "ViewContent"}[event]`,
	`{"a": 1, "b": [1]}[event]`, `type == "track" && event in ["Order Completed", "Product Viewed"]`,
	`!(type == "track")`, `not (event in ["x"])`, `event in ["Order Completed"] || properties.s`,
	`properties.product_id != nil ? flatten([properties.product_id]) : pluck(properties.products, "product_id")`,
	`[type, event, 1, 2.5, true, nil]`, `first(properties.products)`, `last(pluck(properties.products, "sku"))`,
	`sort(keys(context))`, `properties.revenue > 10`, `properties.s matches "x"`, `let x = type; x`,
	`map(properties.products, #.sku)`, `sum(properties.products ?? [], #.quantity ?? 1)`, `$env.type`,
	`timestamp.Year()`, `properties?.a?.b`, `event ?? "none"`, `context.traits ?? {}`,
	`properties.products ?? "none"`, `properties.nothing ?? false`, `!properties.nothing`, `properties.s`,
	`toJSON(properties)`, `string(properties.revenue)`, `abs(properties.revenue)`, `int(properties.revenue)`,
	`properties.count % 0`, `properties.count / 0`, `"x" + type`, `parseTime(properties.when)`,
	`parseTime("10/06/2024", "02/01/2006")`, `uniq(pluck(properties.products, "sku"))`, `concat([1], [2])`,
	`properties.n == 3`, `properties.revenue == 1.5`, `type in ["track"]`, `userId in ["u", "u-7"]`, `event in ["", "x"]`,
	`properties.n in ["3"]`, `type == nil`, `nil`, `properties.s ?? properties.products[0]`,
	`flatten(properties.products)`, `fromJSON(properties.s)`, `len(type)`, `properties.products[0]["sku"]`,
	`context.traits.address ?? context.traits`, `traits.address.postalCode ?? context.traits.address.postalCode`,
	`repeat("ab", 2)`, `now() != nil`, `{"k": type}`, `true && properties.s`, `false || properties.s`,
	`properties.count ?? 0`, `-properties.count`, `trim(context.traits.email)`, `lower(context.page)`,
	`all(properties.products, #.quantity == 2)`, `any(properties.products, #.sku == "a")`, `none(properties.list, # == 1)`,
	`one(properties.products, #.sku != nil)`, `filter(properties.products, #.quantity == 2)`, `map(properties.products, #index)`,
	`map(properties.products, [#.sku, type])`, `count(properties.products ?? [], #.sku != nil)`, `count(properties.flags)`,
	`sum(properties.list)`, `sum(properties.products ?? [], #.quantity ?? 1)`, `sum(properties.products, #.price)`,
	`sum(properties.items)`, `map(properties.products, map(properties.products, #index))`, `all(properties.s, true)`,
	`count(properties.items, any(properties.items, # == 2))`, `filter(properties.items, # == 1)`, `any(nil, true)`,
	`map(properties.products, contents(properties.products))`, `one(properties.list, #)`,
}

// fastEvents are the test events and hard cases for the projection:
// duplicate keys, values that are not objects where a path goes through
// them, nulls, escapes, numbers in string fields, bad JSON.
var fastEvents = []string{
	`{}`, `{"type":"track"}`,
	`{"type":"track","event":"Order Completed","properties":{"products":[]},"context":{"traits":"str"}}`,
	`{"type":"track","context":{"traits":{"email":"a"},"traits":{"phone":"b"}}}`,
	`{"type":"track","context":{"traits":{"email":"a"}},"context":null}`,
	`{"type":"track","context":{"traits":null,"page":{"url":"u"}}}`,
	`{"type":"track","context":{"traits":[1,2]}}`,
	`{"type":"track","context":{"traits":{"address":{"city":"x"}}},"traits":{"email":"t","address":"y"}}`,
	`{"type":"track","context":{"traits":{"address":{"city":"x"},"address":5}}}`,
	`{"type":123,"event":4.5,"userId":12345678901234567890}`, `{"type":true}`, `{"type":"track","userId":{}}`,
	`{"type":"track","timestamp":""}`, `{"type":"track","timestamp":"0001-01-01T00:00:00Z"}`,
	`{"type":"track","timestamp":"bad"}`, `{"type":"track","timestamp":5}`, `{"type":"track","sentAt":"2024-06-10T15:30:22+02:00"}`,
	`{"type":"page","properties":{"revenue":1e400}}`, `{"type":"page","properties":{"other":1e400}}`,
	`{"type":"page","context":{"deep":{"x":[1e400]}}}`, `{"type":"page","unknown":1e400}`,
	`{"type":"page","properties":{"s":"\u00e9\ud800 \"q\" \\ \n"},"context":{"page":{"url":"a\"b"}}}`,
	`{"type":"track","properties":{"product_id":null,"products":[{"product_id":1},{"sku":"x"},{"id":2.5,"quantity":3}]}}`,
	`{"type":"track","properties":{"product_id":[1,2],"url":{"a":1}}}`, `{"type":"track","event":null,"userId":null}`,
	`{"type":"track","context":{"page":"home"}}`, `{"type":"track","properties":{"cp._fbp":"x","cp.":"y"}}`,
	`{"type":"track","properties":{"a":"\u0000"}}`, `{"type":"track","properties":{"s":"{\"a\":1}","count":3,"n":3,"list":[1,"a"]}}`,
	`{"type":"track","properties":{"revenue":1.5,"count":0,"when":"2024-06-10"}}`, `{"type":"track","properties":{"revenue":-2,"s":"xax"}}`,
	`{"type":"track","properties":null,"context":null,"traits":null,"integrations":null}`,
	`{"type":"track","properties":[]}`, `{"type":"track","context":"x"}`, `{"type":"track","integrations":{"a":1e400}}`,
	`{"type":"track",}`, `{"type":"track"} x`, `[]`, `{"context":{"a":1,}}`, `{"context":{"traits":{"email" "x"}}}`,
	`{"type":"tr\u0061ck","ev\u0065nt":"Order Completed","context":{"tr\u0061its":{"email":"E"}}}`,
	"{\"type\":\"track\",\"event\":\"\xff\",\"context\":{\"traits\":{\"email\":\"\xfe@x\"}}}",
	`{"type":"track","context":{"traits":{"email":"x"}}, "context":{"traits":{"email":"y"},"traits":7}}`,
	`{"type":"track","properties":{"products":[{"product_id":"a","sku":"b","price":1.25,"quantity":2}],"product_id":"p"}}`,
	`{"type":"track","properties":{"flags":[true,false,true],"items":[1,2,3,1.5],"list":[1,2],"products":[{"quantity":1e308},{"quantity":1e308}]}}`,
	`{"type":"track","properties":{"items":[` + strings.Repeat("1,", 599) + `2]}}`,
	` { "type" : "track" , "context" : { "traits" : { "email" : " A@B.C " } } } `,
	`{"type":"track","properties":{"x":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}}`,
	`{"type":"track","unknown":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`,
	`{"type":"track","context":{"traits":{"email":` + strings.Repeat(`{"a":`, 520) + `1` + strings.Repeat("}", 520) + `}}}`,
	// For the decoder's member loop (members), which reads plain keys,
	// plain strings and the comma or '}' right after them itself: escapes
	// and Unicode in keys and values, whitespace everywhere, duplicate
	// keys, numbers in odd forms, nesting at the limit, control
	// characters, and input cut short at each kind of place.
	`{"type":"track","context":{"tr\u0061its":{"em\u0061il":"x","\u0070hone":"5"},"p\"age":{"url":"u"}},"properties":{"products":[{"product\u005fid":"a","qu\u0061ntity":2}]}}`,
	`{"type":"track","context":{"traits":{"email":"é@x.com","firstName":"Zoë","lastName":"日本"},"ip":"ü"},"properties":{"currency":"€","products":[{"product_id":"ü","sku":"ß"}]},"userId":"ü"}`,
	`{"type":"track","context":{"träits":{"email":"x"},"traits":{"émail":"y","email":"z"}},"properties":{"é":1,"products":[{"prödüct_id":"x","sku":"s"}]}}`,
	" {\n\t\"type\" : \"track\" ,\r\n \"context\" :{ \"traits\" :{ \"email\" : \"A@B.C\" , \"phone\":\"1\" } , \"page\": {\"url\" :\"u\" } } ," +
		" \"properties\" : { \"products\" : [ { \"product_id\" : \"a\" , \"quantity\" : 2 } , { } ] , \"revenue\" : 1.5 } } \n",
	`{"type":"track","context":{"ip" :"x","page" : {"url"  :  "u"},"traits":{ "email":"e" ,"phone" :"p"}}}`,
	`{"type":"page","type":"track","userId":"a","userId":null,"properties":{"revenue":1,"revenue":"x","products":[{"sku":"a","sku":"b","quantity":1,"quantity":3}]},` +
		`"context":{"ip":"a","ip":"b","page":{"url":"x"},"page":{"url":"y","url":"z"}}}`,
	`{"type":"track","properties":{"revenue":-0.0e+0,"value":1E2,"currency":"usd","products":[{"product_id":12345678901234567890,"quantity":1.0,"price":-0},` +
		`{"product_id":1e2,"quantity":0.5e1,"price":1E-7}]},"userId":-1.5e3,"anonymousId":0}`,
	`{"type":"track","properties":{"revenue":01}}`, `{"type":"track","properties":{"products":[{"price":1.}]}}`, `{"type":"track","userId":-}`,
	`{"type":"track","properties":{"products":` + strings.Repeat("[", 511) + strings.Repeat("]", 511) + `}}`,
	`{"type":"track","properties":{"products":` + strings.Repeat("[", 512) + strings.Repeat("]", 512) + `}}`,
	`{"type":"track","context":{"page":` + strings.Repeat(`{"url":`, 511) + `"u"` + strings.Repeat("}", 511) + `}}`,
	"{\"type\":\"track\",\"context\":{\"ip\":\"a\tb\"}}", "{\"type\":\"track\",\"context\":{\"page\":{\"u\nrl\":\"x\"}}}",
	"{\"type\":\"track\",\"context\":{\"ip\":\"a\t,\"page\":\"b\"}}", "{\"type\":\"track\",\"event\":\"x\n,\"userId\":\"u\"}",
	`{"":"x","type":"track","context":{"":1,"ip":"","traits":{"":{"email":"x"},"email":""}}}`,
	`{"type":"track","context":{1:2}}`, `{"type":"track","context":{"ip":"x" "page":1}}`, `{"type":"track","context":{"ip":"x",}}`,
	`{"type":"track","context":{"ip":"x"}`, `{"type":"track","context":{"ip":"x",`, `{"type":"track","context":{"ip":"x"`,
	`{"type":"track","context":{"traits":{"email":"a`, `{"type":"track","context":{"traits":{"email"`, `{"type":"track","context":{"traits":{"em`,
	`{"type":"tr`, `{"type"`, `{"`, `{`, `{"context":{"ip":"12345678`, `{"context":{"ip":"1234567\`, `{"a":"b"}`, `{"a":"b","type":"track"}`,
}

func fastTestEvents(t testing.TB) [][]byte {
	var out [][]byte
	files, _ := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	files = append(files, filepath.Join("testdata", "bench", "order-completed-full.json"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// And as indented JSON, with whitespace between all its tokens.
		var indented bytes.Buffer
		if err := json.Indent(&indented, data, "\r", "\t "); err != nil {
			t.Fatal(err)
		}
		out = append(out, data, indented.Bytes())
	}
	for _, s := range fastEvents {
		out = append(out, []byte(s))
	}
	return out
}

// projects reports whether p's projection takes data, which it must do
// exactly for the events NewEnv decodes.
func projects(p *Program, data []byte) bool {
	d := decoder{s: string(data), arena: &arena{}}
	return d.project(p.fast.proj, make([]any, p.fast.proj.nslots)) == nil
}

// TestProjectAgreesWithNewEnv checks that the projection refuses exactly
// the events NewEnv refuses, and NewEnv agrees with encoding/json (the two
// share the decoder's member loop), on the test events and on every
// prefix of each but the longest ones (input cut short at every byte).
func TestProjectAgreesWithNewEnv(t *testing.T) {
	_, progs := loadPipelines(t)
	p := progs["meta-full"]
	for _, data := range fastTestEvents(t) {
		shortest := 0
		if len(data) > 1500 {
			shortest = len(data)
		}
		for n := len(data); n >= shortest; n-- {
			checkAgainstEncodingJSON(t, data[:n])
			_, err := NewEnv(data[:n])
			if got := projects(p, data[:n]); got != (err == nil) {
				t.Fatalf("projection takes %q: %v; NewEnv error: %v", data[:n], got, err)
			}
		}
	}
}

var fastWhens = []string{"", `type == "track"`, `properties.s`, `event in ["Order Completed"] || type == "page"`,
	`count(properties.products ?? [], true) > 0`, `false`, `$env.type == "track"`}

func TestFastMatchesVM(t *testing.T) {
	events := fastTestEvents(t)
	r := rand.New(rand.NewPCG(7, 7))
	for i, e := range fastExprs {
		// Each expression alone, with a fast and a VM neighbour, under a
		// random when:.
		other := fastExprs[r.IntN(len(fastExprs))]
		when := fastWhens[i%len(fastWhens)]
		var body strings.Builder
		if when != "" {
			body.WriteString("    when: " + quoteYAML(when) + "\n")
		}
		body.WriteString("    map:\n      x: " + quoteYAML(e) + "\n      n:\n        y: " + quoteYAML(other) +
			"\n        t: type\n      l: [" + quoteYAML(e) + ", 1]\n")
		fast, slow := twins(t, body.String())
		if fast == nil {
			continue
		}
		for _, data := range events {
			sameResults(t, body.String(), fast, slow, data)
		}
	}
}

// TestFastPathTaken checks that the default and the test pipelines get a
// fast path that evaluates their expressions without the VM.
func TestFastPathTaken(t *testing.T) {
	_, progs := loadPipelines(t)
	for name, p := range progs {
		if p.fast == nil {
			t.Errorf("%s has no fast path", name)
			continue
		}
		slow := 0
		for _, f := range p.fast.leaves {
			if f == nil {
				slow++
			}
		}
		if slow != 0 {
			t.Errorf("%s: %d expressions left to the VM", name, slow)
		}
		// And the fast path decides the test events without giving up.
		for _, f := range []string{"order-completed.json", "traits-fallback.json", "product-viewed-minimal.json"} {
			data, err := os.ReadFile(filepath.Join("testdata", "events", f))
			if err != nil {
				t.Fatal(err)
			}
			if _, _, ok := p.applyFast(data); !ok {
				t.Errorf("%s: the fast path gave up on %s", name, f)
			}
		}
	}
}

// TestFastDefaultPipelines compares the fast path with the VM for every
// pipeline of the default pipelines.yaml and of testdata on every test
// event.
func TestFastDefaultPipelines(t *testing.T) {
	events := fastTestEvents(t)
	for _, file := range []string{filepath.Join("..", "..", "pipelines.yaml"), filepath.Join("testdata", "pipelines.yaml")} {
		cfg, err := config.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		for name, pl := range cfg.Pipelines {
			fast, problems := Compile(cfg, "pipelines."+name, &pl.When, &pl.Map)
			if problems != nil {
				t.Fatalf("%s: %v", name, problems)
			}
			slow, _ := Compile(cfg, "pipelines."+name, &pl.When, &pl.Map)
			slow.fast = nil
			for _, data := range events {
				sameResults(t, file+" "+name, fast, slow, data)
			}
		}
	}
}

// TestEmptyArrayNotNil is a regression test: [] decoded by Apply used to be
// a nil slice on a fresh arena, which ?? took for a missing value.
func TestEmptyArrayNotNil(t *testing.T) {
	for _, fast := range []bool{true, false} {
		p := mustCompile(t, "    map:\n      x: properties.products ?? \"none\"\n")
		if !fast {
			p.fast = nil
		}
		out, _, err := p.Apply([]byte(`{"properties":{"products":[]}}`))
		if err != nil || string(out) != `{"x":[]}` {
			t.Errorf("fast %v: Apply = %s, %v; want {\"x\":[]}", fast, out, err)
		}
	}
}

// FuzzFast compiles a random expression (as map: and as when:) and
// compares the fast path with the VM on a random event.
func FuzzFast(f *testing.F) {
	for i, e := range fastExprs {
		f.Add(e, fastEvents[i%len(fastEvents)])
	}
	f.Fuzz(func(t *testing.T, expr, event string) {
		if len(expr) > 300 || strings.ContainsAny(expr, "\n\r") {
			return
		}
		for _, body := range []string{
			"    map:\n      x: " + quoteYAML(expr) + "\n      y: context.traits.email\n",
			"    when: " + quoteYAML(expr) + "\n",
		} {
			cfg, err := config.Parse("pipelines.yaml", []byte(header+body), nil)
			if err != nil {
				continue
			}
			pl := cfg.Pipelines["p"]
			fast, problems := Compile(cfg, "pipelines.p", &pl.When, &pl.Map)
			if problems != nil {
				continue
			}
			slow, _ := Compile(cfg, "pipelines.p", &pl.When, &pl.Map)
			slow.fast = nil
			sameResults(t, body, fast, slow, []byte(event))
		}
	})
}

// FuzzCase checks the fast path's lower and upper against strings.ToLower
// and strings.ToUpper.
func FuzzCase(f *testing.F) {
	for _, s := range []string{"", " Jane.Doe@Example.com ", "US", "usd", "ÉCOLE école", "ABCDEFGHIJKLMNOPQRSTUVWXYZ@[`{",
		"abcdefghijklmnopqrstuvwxyz", "MiXeD 123 \x00\x7f", "\xff", "İstanbul"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, upper := range []bool{false, true} {
			want := strings.ToLower(s)
			if upper {
				want = strings.ToUpper(s)
			}
			got, ok := fastCase(upper)(&boxes{}, s)
			if !ok || got != want {
				t.Fatalf("fastCase(%v)(%q) = %q, %v; want %q", upper, s, got, ok, want)
			}
		}
	})
}

// fastChains are chains of string functions, which the fast path runs on
// the string itself (fastCompiler.chain): links that change their argument
// and links that leave it, strings with spaces, digits and Unicode, and
// values that are not strings.
var fastChains = []string{
	`lower(trim(properties.s))`, `upper(lower(trim(properties.s)))`, `sha256(trim(properties.s))`,
	`sha256(lower(trim(properties.s)))`, `sha256(digits(properties.s))`, `digits(trim(properties.s))`,
	`trim(digits(properties.s))`, `sha256(upper(digits(properties.s)))`, `unix(trim(properties.s))`,
	`unixMilli(lower(properties.s))`, `sha256(lower(properties.count))`, `sha256(digits(properties.revenue))`,
	`lower(trim(properties.products))`, `upper(trim(lower(properties.s)))`, `sha256(lower(trim(properties.s ?? event)))`,
	`[sha256(trim(properties.s)), lower(trim(properties.s))]`, `map(properties.list, sha256(lower(trim(#))))`,
	`sha256(properties.s)`, `sha256(properties.s) ?? "none"`, `sha256(event) == sha256(properties.s)`,
}

// chainValues are the strings FuzzChains starts from.
var chainValues = []string{"", " ", "Jane", " Jane.Doe@Example.COM ", "+1 (555) 010-9999", "123", " 2024-06-10T15:30:22Z",
	"2024-06-10T15:30:22.123Z", "ÉCOLE école", "İstanbul", "\u00a0x\u2028", "\xff\xfe", "a\tb\n", "US"}

// FuzzChains compares chains of string functions on the fast path with
// the VM, on events holding a string in the fields the chains read.
func FuzzChains(f *testing.F) {
	for _, s := range chainValues {
		f.Add(s)
	}
	type twin struct {
		body       string
		fast, slow *Program
	}
	var progs []twin
	for _, e := range fastChains {
		body := "    map:\n      x: " + quoteYAML(e) + "\n      y: " + quoteYAML(e) + "\n"
		fast, slow := twins(f, body)
		if fast == nil {
			f.Fatalf("%s does not compile", e)
		}
		progs = append(progs, twin{body, fast, slow})
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := json.Marshal(s)
		if err != nil {
			return
		}
		event := fmt.Sprintf(`{"type":"track","event":%s,"sentAt":"2024-06-10T15:30:22Z","properties":{"s":%s,`+
			`"count":12,"revenue":19.99,"products":[{"sku":%s}],"list":[%s,5,null]}}`, q, q, q, q)
		for _, p := range progs {
			sameResults(t, p.body, p.fast, p.slow, []byte(event))
		}
	})
}

// TestAppendDigest checks the hex appendDigest writes against encoding/hex,
// for digests holding every byte value.
func TestAppendDigest(t *testing.T) {
	var sum [sha256.Size]byte
	for start := 0; start < 256; start += sha256.Size {
		for i := range sum {
			sum[i] = byte(start + i)
		}
		got := appendDigest([]byte("x"), &sum)
		if want := `x"` + hex.EncodeToString(sum[:]) + `"`; string(got) != want {
			t.Fatalf("appendDigest = %s, want %s", got, want)
		}
	}
}
