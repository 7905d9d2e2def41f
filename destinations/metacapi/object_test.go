package metacapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/switchboard-cdp/switchboard/plugins/destinationtest"
)

// An object must read a payload as decodePayload decodes it and write it
// as marshalJSON writes the decoded map, whatever order, spacing and
// duplicates its members come in.

var objectSeeds = []string{
	`{"b":1,"a":2,"b":3}`, ` { "z" : { "b" : [ 1 , {"d":1,"c":2} ] , "a" : "x<" } , "a" : null } `,
	`{"a":{"a":1,"a":2},"b":[{"y":1,"x":2}],"c":{"a":{"b":{"c":{}}}}}`, `{"a":[],"b":{},"c":[[]],"d":""}`,
	`{"a":"é\u2028","b":"` + "\u2029" + `","c":-0,"d":1e400,"e":true,"f":false}`, `{"a":1 , }`, `{"a" 1}`,
	`{"k0":0,"k9":9,"k8":8,"k7":7,"k6":6,"k5":5,"k4":4,"k3":3,"k2":2,"k1":1,"k10":10,"k11":11,"k12":12,"k13":13,"k1":"last"}`,
	`{"custom_data":{"currency":"usd","value":"1.5","contents":[{"quantity":1,"id":"a"}]},"app_data":{"extinfo":["a"]}}`,
	`{"a":{"x":1},"a":{"y":2}}`, `{"a":{"x":1},"a":"s"}`, `{"a":"s","a":{"b":1,"a":2}}`, `{"a":{"x":"\u00e9"}}`,
	`{"a":` + strings.Repeat(`{"a":`, maxFastDepth-1) + `1` + strings.Repeat(`}`, maxFastDepth-1) + `}`,
	`{"a":` + strings.Repeat(`{"a":`, maxFastDepth) + `1` + strings.Repeat(`}`, maxFastDepth) + `}`,
}

func checkObject(t *testing.T, data []byte) {
	t.Helper()
	want, wantOK := decodePayload(data)
	var o object
	if ok := o.parse(string(data), nil); ok != wantOK {
		t.Fatalf("parse(%q) = %v; decodePayload %v", data, ok, wantOK)
	}
	// Members read into objects of their own as the object is read come
	// out as read from their text.
	var p, sa, sz object
	sub := []subObject{{"a", &sa}, {"z", &sz}}
	if ok := p.parse(string(data), sub); ok != wantOK {
		t.Fatalf("parse(%q) with sub objects = %v; decodePayload %v", data, ok, wantOK)
	}
	if !wantOK {
		return
	}
	for _, n := range sub {
		var fresh object
		wantObj, isObj := want[n.key].(map[string]any)
		if got := p.get(n.key).object(n.o); got != isObj || got && !reflect.DeepEqual(n.o.toMap(nested{}), wantObj) {
			t.Fatalf("parse(%q): sub object %q = %v %#v; want %#v", data, n.key, got, n.o.toMap(nested{}), wantObj)
		}
		if isObj && (!p.get(n.key).object(&fresh) || !reflect.DeepEqual(fresh.toMap(nested{}), wantObj)) {
			t.Fatalf("parse(%q): object %q read again = %#v; want %#v", data, n.key, fresh.toMap(nested{}), wantObj)
		}
	}
	if got := o.toMap(nested{}); !reflect.DeepEqual(got, want) {
		t.Fatalf("parse(%q).toMap() = %#v; decodePayload %#v", data, got, want)
	}
	for k := range want {
		if !reflect.DeepEqual(o.value(k), want[k]) {
			t.Fatalf("parse(%q).value(%q) = %#v; want %#v", data, k, o.value(k), want[k])
		}
		if s, ok := o.str(k); ok != (reflect.TypeOf(want[k]) == reflect.TypeFor[string]()) || ok && s != want[k] {
			t.Fatalf("parse(%q).str(%q) = %q, %v", data, k, s, ok)
		}
	}
	wb, werr := json.Marshal(want)
	gb, gerr := o.encode(nested{})
	if !bytes.Equal(gb, wb) || (gerr == nil) != (werr == nil) {
		t.Fatalf("encode(%q) = %s, %v; json.Marshal %s, %v", data, gb, gerr, wb, werr)
	}
	// Members set are written in their place.
	o.set(member{key: "event_id", text: "x<", kind: stringMember})
	o.set(member{key: "b", n: 7, kind: intMember})
	want["event_id"], want["b"] = "x<", int64(7)
	wb, _ = json.Marshal(want)
	if gb, _ := o.encode(nested{}); !bytes.Equal(gb, wb) {
		t.Fatalf("encode(%q) after set = %s; json.Marshal %s", data, gb, wb)
	}
	var f object
	f.fromMap(want)
	if gb, _ := f.encode(nested{}); !bytes.Equal(gb, wb) {
		t.Fatalf("fromMap(%q).encode() = %s; json.Marshal %s", data, gb, wb)
	}
}

func TestObjectMatchesDecoder(t *testing.T) {
	for _, s := range slices.Concat(jsonSeeds, objectSeeds) {
		checkObject(t, []byte(s))
	}
}

// TestObjectOrderSizes checks objects of 1 to 40 members in shuffled order
// with repeated keys, on both sides of maxInsertionSort.
func TestObjectOrderSizes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for n := 1; n <= 40; n++ {
		for range 20 {
			var b strings.Builder
			b.WriteByte('{')
			for i := range n {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `"k%02d":%d`, r.IntN(n+n/3+1), i)
			}
			b.WriteByte('}')
			checkObject(t, []byte(b.String()))
		}
	}
}

func FuzzObject(f *testing.F) {
	for _, s := range slices.Concat(jsonSeeds, objectSeeds) {
		f.Add([]byte(s))
	}
	f.Fuzz(checkObject)
}

// rawMemberPayloads are events whose members prepare copies through, or
// reads in place, in the forms an object must handle like a map: out of
// order, duplicated, spaced, nested out of order, many, and ones only
// encoding/json decodes.
var rawMemberPayloads = []string{
	`{"event_name":"Lead","event_time":1795168800,"action_source":"app","app_data":{"extinfo":["a","b"],"advertiser_tracking_enabled":1},"user_data":{"em":"a@b.co"}}`,
	`{"user_data":{"em":"a@b.co","client_user_agent":"UA","ph":["+1 650 555 1212",1]},"event_name":"Purchase","custom_data":{"value":12,"currency":" eur ","contents":[{"quantity":1,"id":"a<b"}],"order_id":"o-1"},"event_time":"1795168800","action_source":" Website ","event_source_url":"https://x.example/?fbclid=abc","opt_out":false}`,
	`{ "event_name" : "Purchase" , "event_time" : 1795168800 , "action_source" : "website" , "event_source_url" : "https://x.example/" , "user_data" : { "em" : "a@b.co" , "client_user_agent" : "UA" } , "custom_data" : { "value" : "1e2" , "currency" : "USD" } }`,
	`{"event_name":"A","event_name":"Lead","event_time":1,"event_time":1795168800,"action_source":"email","user_data":{"em":"a@b.co","em":"c@d.co"},"custom_data":{"value":1,"value":"x"}}`,
	`{"event_name":"Lead","event_time":1795168800,"action_source":"email","user_data":{"em":"a@b.co"},"z9":1,"z8":{"b":1,"a":[{"d":1,"c":2}]},"z7":[],"z6":{},"z5":"<&>","z4":null,"z3":true,"z2":-1.5e-7,"z1":"\u2028","z0":0,"y":1,"x":2}`,
	`{"event_name":"Lead","event_time":1795168800,"action_source":"email","event_id":12,"user_data":{"em":"a@b.co"},"x":"\u00e9"}`,
	`{"event_name":"Lead","event_time":1795168800,"action_source":"email","event_id":true,"user_data":{"em":"a@b.co"}}`,
	`{"event_name":"Lead","event_time":1795168800.5,"action_source":"email","event_id":null,"user_data":{"em":"a@b.co"},"custom_data":null,"data_processing_options":["LDU"],"data_processing_options_country":1,"data_processing_options_state":1000}`,
	`{"event_name":"Lead","event_time":1795168800,"action_source":"email","user_data":{"em":"a@b.co"},"custom_data":[1],"data_processing_options":"LDU"}`,
	`{"event_name":"Purchase","event_time":1795168800,"action_source":"email","user_data":{"em":"a@b.co"},"custom_data":{"value":1,"currency":"usd"},"user_data":{"ph":"+1 650 555 1212"},"custom_data":{"value":"2.50"}}`,
	`{"event_name":"Lead","event_time":1795168800,"action_source":"email","user_data":{"em":"a@b.co"},"user_data":"x","custom_data":{"value":1},"custom_data":null}`,
	`{"event_name":"Lead","event_time":1795168800,"action_source":"email","user_data":{"em":"a@b.co"},"custom_data":{"value":"9007199254740993","currency":" eur"},"x":"\u00e9"}`,
	`{"event_name":"Lead","event_time":1795168800,"action_source":"email","user_data":{"em":"a@b.co"},"deep":` + strings.Repeat(`{"a":`, 600) + `1` + strings.Repeat(`}`, 600) + `}`,
	`{"event_name":"Lead","event_time":1795168800,"action_source":"email","user_data":{"em":"a@b.co"},"deep":` + strings.Repeat(`[`, 510) + strings.Repeat(`]`, 510) + `}`,
}

func TestPrepareRawMembersMatchReference(t *testing.T) {
	r := newRemote(t, "")
	d, _ := newDest(t, &destinationtest.MemoryHost{}, r, nil)
	c := d.config()
	for _, s := range rawMemberPayloads {
		comparePrepare(t, c, []byte(s))
	}
}

func FuzzPrepareRawMembers(f *testing.F) {
	for _, s := range rawMemberPayloads {
		f.Add([]byte(s))
	}
	r := newRemote(f, "")
	d, _ := newDest(f, &destinationtest.MemoryHost{}, r, nil)
	c := d.config()
	f.Fuzz(func(t *testing.T, payload []byte) { comparePrepare(t, c, payload) })
}
