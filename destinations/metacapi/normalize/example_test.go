package normalize_test

import (
	"fmt"
	"time"

	"github.com/switchboard-cdp/switchboard/destinations/metacapi/normalize"
)

func ExampleUserData() {
	out, drops := normalize.UserData(map[string]any{
		"em":                []any{" John.Doe@Example.COM ", "john.doe@example.com"},
		"ph":                "(650) 555-1212",
		"country":           "United States",
		"ge":                "nonbinary",
		"client_ip_address": "203.0.113.7",
	}, normalize.Options{DefaultCountry: "US", HashExternalID: true})
	fmt.Println(out["em"])
	fmt.Println(out["ph"])
	fmt.Println(out["country"])
	fmt.Println(out["client_ip_address"])
	fmt.Println(drops)
	// Output:
	// [836f82db99121b3481011f16b49dfa5fbc714a0d1b1b9f784a1ebbbf5b39577f]
	// [e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176]
	// [79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621]
	// 203.0.113.7
	// [{ge unknown_gender}]
}

func ExamplePhone() {
	for _, in := range []string{"+44 (0)20 7946 0958", "020 7946 0958", "0044 20 7946 0958"} {
		fmt.Println(normalize.Phone(in, "GB"))
	}
	fmt.Println(normalize.Phone("(650) 555-1212", ""))
	// Output:
	// 442079460958 <nil>
	// 442079460958 <nil>
	// 442079460958 <nil>
	//  phone_missing_country
}

func ExampleDateOfBirth() {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, in := range []string{"2/16/1997", "1997-02-16", "16.02.1997", "February 16, 1997"} {
		fmt.Println(normalize.DateOfBirth(in, now))
	}
	// Output:
	// 19970216 <nil>
	// 19970216 <nil>
	// 19970216 <nil>
	// 19970216 <nil>
}

func ExampleFBCFromURL() {
	at := time.UnixMilli(1554763741205)
	fmt.Println(normalize.FBCFromURL("https://shop.example/p?fbclid=IwAR2F4-dbP_AbC", at))
	// Output: fb.1.1554763741205.IwAR2F4-dbP_AbC
}

func ExampleSHA256Hex() {
	fmt.Println(normalize.SHA256Hex("mary"))
	fmt.Println(normalize.IsSHA256Hex("6915771BE1C5AA0C886870B6951B03D7EAFC121FEA0E80A5EA83BEB7C449F4EC"))
	// Output:
	// 6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec
	// true
}
