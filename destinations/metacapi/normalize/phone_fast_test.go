package normalize

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// TestFastPhoneMatchesLibrary holds the fast path to phonenumbers on
// example numbers of every region and number type, and on random digits
// after every country calling code, written in several ways: wherever the
// fast path answers, phonenumbers must give exactly the same.
func TestFastPhoneMatchesLibrary(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var numbers []string
	for cc := range phonenumbers.GetSupportedCallingCodes() {
		c := strconv.Itoa(cc)
		var nsns []string
		for _, region := range phonenumbers.GetRegionCodesForCountryCode(cc) {
			for typ := phonenumbers.FIXED_LINE; typ <= phonenumbers.VOICEMAIL; typ++ {
				var n *phonenumbers.PhoneNumber
				if region == "001" {
					n = phonenumbers.GetExampleNumberForNonGeoEntity(cc)
				} else {
					n = phonenumbers.GetExampleNumberForType(region, typ)
				}
				if n != nil {
					nsns = append(nsns, phonenumbers.GetNationalSignificantNumber(n))
				}
			}
		}
		for range 30 {
			b := make([]byte, 2+r.IntN(17))
			for i := range b {
				b[i] = byte('0' + r.IntN(10))
			}
			nsns = append(nsns, string(b))
		}
		for _, nsn := range nsns {
			numbers = append(numbers, "+"+c+nsn, "+"+c+" "+nsn, "+ "+c+" ("+nsn[:1]+") "+nsn[1:], "00"+c+nsn, "+"+c+"0"+nsn, "+"+c+"-"+nsn)
		}
	}
	regions := []string{"", "US", "GB", "DE", "JP", "FR", "IE", "BR", "RU", "IT"}
	fast, agree := 0, 0
	for _, s := range numbers {
		region := regions[r.IntN(len(regions))]
		got, ok := fastPhone(s, region)
		if !ok {
			continue
		}
		fast++
		want, err := slowPhone(s, region)
		if err != nil || want != got {
			t.Errorf("fastPhone(%q, %q) = %q; phonenumbers gives %q, %v", s, region, got, want, err)
			continue
		}
		agree++
	}
	t.Logf("%d numbers, %d on the fast path, all agreeing: %v", len(numbers), fast, agree == fast)
	if fast < len(numbers)/6 {
		t.Errorf("only %d of %d numbers took the fast path", fast, len(numbers))
	}
}

// TestPhoneInternational checks international numbers of countries beyond
// the original fast list against known E.164 forms.
func TestPhoneInternational(t *testing.T) {
	for _, tt := range []struct{ in, region, want string }{
		{"+81 3-1234-5678", "", "81312345678"},
		{"+61 2 9374 4000", "US", "61293744000"},
		{"+91 98765 43210", "", "919876543210"},
		{"0081 3 1234 5678", "", "81312345678"},
		{"+55 11 91234-5678", "", "5511912345678"},
		{"+7 495 123-45-67", "", "74951234567"},
		{"+39 06 1234 5678", "", "390612345678"}, // Italy keeps the leading 0
	} {
		got, err := Phone(tt.in, tt.region)
		if err != nil || got != tt.want {
			t.Errorf("Phone(%q, %q) = %q, %v; want %q", tt.in, tt.region, got, err, tt.want)
		}
		if slow, err := slowPhone(strings.TrimSpace(tt.in), tt.region); slow != got || err != nil {
			t.Errorf("phonenumbers gives %q, %v for %q", slow, err, tt.in)
		}
	}
}
